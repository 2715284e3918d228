package dev.losskit.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.losskit.cli.VerifyCommandTest.Run;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code losskit conform}: argument errors, and a real run's table and reports. */
class ConformCommandTest {
  @TempDir Path dir;

  @Test
  void unknownLossesAndBackendsExitTwoListingTheValidOnes() {
    Run loss = VerifyCommandTest.run("conform", "--losses", "cross_entropy,hinge", "--out", dir.toString());
    assertEquals(2, loss.code());
    assertEquals(1, loss.err().size(), loss.err().toString());
    assertTrue(loss.err().get(0).contains("'hinge'") && loss.err().get(0).contains("nll_loss"), loss.err().get(0));

    Run backend = VerifyCommandTest.run("conform", "--backends", "core,tensorflow", "--out", dir.toString());
    assertEquals(2, backend.code());
    assertEquals(1, backend.err().size(), backend.err().toString());
    assertTrue(backend.err().get(0).contains("'tensorflow'") && backend.err().get(0).contains("core-reference"),
        backend.err().get(0));
  }

  @Test
  void anUnknownDtypeExitsTwoAndADtypeSelectionRunsOnlyThatDtype() throws Exception {
    Run bad = VerifyCommandTest.run("conform", "--dtypes", "float32,float8", "--out", dir.toString());
    assertEquals(2, bad.code());
    assertEquals(1, bad.err().size(), bad.err().toString());
    assertTrue(bad.err().get(0).contains("'float8'") && bad.err().get(0).contains("bfloat16"), bad.err().get(0));

    Path out = dir.resolve("half");
    Run r = VerifyCommandTest.run("conform", "--quick", "--losses", "nll_loss", "--dtypes", "bfloat16",
        "--backends", "core", "--out", out.toString());
    assertEquals(0, r.code(), String.join("\n", r.out()) + String.join("\n", r.err()));
    String table = String.join("\n", r.out());
    assertTrue(table.contains("bfloat16 accuracy, core: at least as close to libtorch float64 as libtorch bfloat16"),
        table);
    assertFalse(table.contains("float32 accuracy"), table);
    var cases = JsonParser.parseString(Files.readString(out.resolve("conformance.json"))).getAsJsonObject()
        .getAsJsonArray("cases");
    assertTrue(cases.size() > 10, "cases: " + cases.size());
    for (JsonElement e : cases) {
      assertEquals("bfloat16", e.getAsJsonObject().get("dtype").getAsString());
    }
  }

  @Test
  void aQuickRunPrintsTheTableAndWritesThreeReports() throws Exception {
    Path out = dir.resolve("reports");
    Run r = VerifyCommandTest.run("conform", "--quick", "--losses", "nll_loss,bce_with_logits", "--out",
        out.toString());
    assertEquals(0, r.code(), String.join("\n", r.out()) + String.join("\n", r.err()));
    String table = String.join("\n", r.out());
    assertTrue(table.contains("nll_loss") && table.contains("bce_with_logits") && !table.contains("cross_entropy"),
        table);
    assertTrue(table.contains("libtorch 2.7.1"), table);

    JsonObject json = JsonParser.parseString(Files.readString(out.resolve("conformance.json"))).getAsJsonObject();
    assertTrue(json.get("libtorch").getAsString().startsWith("2.7.1"));
    var cases = json.getAsJsonArray("cases");
    assertTrue(cases.size() > 50, "cases: " + cases.size());
    for (JsonElement e : cases) {
      JsonObject c = e.getAsJsonObject();
      for (String key : new String[] {"combination", "loss", "backend", "dtype", "status", "max_abs_error",
          "max_rel_error", "grad_max_abs_error", "grad_max_rel_error", "error_vs_float64",
          "libtorch_error_vs_float64", "reason"}) {
        assertTrue(c.has(key), key + " missing in " + c);
      }
      String status = c.get("status").getAsString();
      assertTrue(status.equals("pass") || status.equals("skip") && !c.get("reason").isJsonNull(), c.toString());
    }
    String html = Files.readString(out.resolve("conformance.html"));
    assertTrue(html.contains("<table id=\"map\">") && html.contains("const DATA = ["), "heat map and data");
    assertFalse(html.contains("http://") || html.contains("https://") || html.contains("src="),
        "the page loads no external resource");
    assertTrue(Files.readString(out.resolve("conformance.md")).contains("| loss | backend |"));
  }
}
