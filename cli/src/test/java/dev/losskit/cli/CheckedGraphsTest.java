package dev.losskit.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.losskit.cli.VerifyCommandTest.Run;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The graphs that fixtures/check_losskit_graphs.py ran through {@code onnx.checker.check_model(full_check=True)}
 * and ONNX Runtime (fixtures/models/losskit-graphs-checked.json): each export/attach is run again through
 * {@link Main#run} and must write exactly the recorded bytes (sha256), so that the recorded verdict, which must be
 * a pass, holds for the code under test. A change to the emitters that changes these bytes means rerunning the
 * script (CONTRIBUTING.md) and committing its JSON.
 */
class CheckedGraphsTest {
  @TempDir static Path dir;

  private static Path models() {
    return Path.of(System.getProperty("losskit.fixtures"), "models");
  }

  private static JsonObject checked() throws IOException {
    return JsonParser.parseString(Files.readString(models().resolve("losskit-graphs-checked.json")))
        .getAsJsonObject();
  }

  @Test
  void everyOpsetAndEveryFixtureModelWasChecked() throws IOException {
    JsonObject counts = checked().getAsJsonObject("counts");
    int total = counts.get("total").getAsInt();
    assertEquals(total, checked().getAsJsonArray("graphs").size());
    assertEquals(total, counts.get("checker_pass").getAsInt());
    assertEquals(total, counts.get("ort_load_ok").getAsInt());
    List<Integer> opsets = new ArrayList<>();
    List<String> attached = new ArrayList<>();
    for (JsonElement g : checked().getAsJsonArray("graphs")) {
      JsonObject e = g.getAsJsonObject();
      String file = e.get("file").getAsString();
      if (file.startsWith("export.")) {
        opsets.add(e.get("opset").getAsInt());
      } else {
        List<String> args = strings(e);
        attached.add(args.get(args.size() - 3).replace("{models}/", ""));
      }
    }
    for (int opset = 11; opset <= 26; opset++) {
      assertTrue(opsets.contains(opset), "no exported graph checked at opset " + opset);
    }
    for (JsonElement m : JsonParser.parseString(Files.readString(models().resolve("manifest.json")))
        .getAsJsonObject().getAsJsonArray("models")) {
      String file = m.getAsJsonObject().get("file").getAsString();
      assertTrue(attached.contains(file), "no attach checked on " + file);
    }
  }

  @TestFactory
  Stream<DynamicTest> eachCheckedGraphIsWhatTheCurrentCodeWrites() throws IOException {
    List<DynamicTest> tests = new ArrayList<>();
    for (JsonElement g : checked().getAsJsonArray("graphs")) {
      JsonObject e = g.getAsJsonObject();
      String file = e.get("file").getAsString();
      tests.add(DynamicTest.dynamicTest(file, () -> {
        assertEquals("pass", e.get("checker").getAsString(), () -> file + ": " + e.get("checker_message"));
        assertEquals("ok", e.get("ort_load").getAsString(), () -> file + ": " + e.get("ort_message"));
        Path out = dir.resolve(file);
        String[] args = strings(e).stream()
            .map(a -> a.replace("{out}", out.toString()).replace("{models}", models().toString()))
            .toArray(String[]::new);
        Run run = VerifyCommandTest.run(args);
        assertEquals(0, run.code(), () -> String.join(" ", args) + ": " + run.err());
        assertEquals(e.get("sha256").getAsString(), sha256(Files.readAllBytes(out)),
            () -> file + " differs from the bytes onnx.checker passed: rerun fixtures/check_losskit_graphs.py");
      }));
    }
    assertTrue(tests.size() >= 100, "only " + tests.size() + " checked graphs");
    return tests.stream();
  }

  private static List<String> strings(JsonObject e) {
    List<String> args = new ArrayList<>();
    e.getAsJsonArray("args").forEach(a -> args.add(a.getAsString()));
    return args;
  }

  private static String sha256(byte[] bytes) throws NoSuchAlgorithmException {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
  }
}
