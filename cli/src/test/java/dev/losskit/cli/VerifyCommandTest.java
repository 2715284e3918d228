package dev.losskit.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.losskit.onnx.AtomicFiles;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code losskit verify}: exit codes, one-line errors, the summary line and the report. */
class VerifyCommandTest {
  @TempDir Path dir;

  static final Path GOLDENS = Path.of(System.getProperty("losskit.fixtures", "../fixtures")).resolve("goldens");

  /** What one run printed and returned. */
  record Run(int code, List<String> out, List<String> err) {
    String lastOut() {
      return out.get(out.size() - 1);
    }
  }

  static Run run(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Run(code, lines(out), lines(err));
  }

  private static List<String> lines(ByteArrayOutputStream b) {
    String s = b.toString(StandardCharsets.UTF_8);
    return s.isEmpty() ? List.of() : List.of(s.split("\n"));
  }

  static final String CASE = "{\"id\": \"c1\", \"loss\": \"nll_loss\", \"dtype\": \"float64\","
      + " \"reduction\": \"sum\", \"weight\": null, \"ignore_index\": -100,"
      + " \"input\": {\"shape\": [1, 2], \"data\": [-0.25, -2.0]},"
      + " \"target\": {\"shape\": [1], \"data\": [1], \"dtype\": \"int64\"},"
      + " \"expected\": {\"loss\": {\"shape\": [], \"data\": [2.0]},"
      + " \"grad_input\": {\"shape\": [1, 2], \"data\": [0.0, -1.0]}}}";

  private Path golden(String name, String... cases) throws IOException {
    Path p = dir.resolve(name);
    Files.writeString(p, "{\"format\": \"losskit-goldens\", \"version\": 1, \"cases\": ["
        + String.join(",", cases) + "]}");
    return p;
  }

  private static void assertOneLineError(Run r, int code, String... mustMention) {
    assertEquals(code, r.code(), "exit code; stderr: " + r.err());
    assertEquals(1, r.err().size(), "exactly one line on stderr: " + r.err());
    String line = r.err().get(0);
    assertFalse(line.contains("\tat "), "no stack trace: " + line);
    for (String s : mustMention) {
      assertTrue(line.contains(s), "'" + line + "' should mention '" + s + "'");
    }
  }

  @Test
  void seedExamplesAllPass() throws Exception {
    Run r = run("verify", GOLDENS.resolve("seed-examples.json").toString());
    assertEquals(0, r.code(), String.join("\n", r.out()));
    // Every case of the seed documents, among them 003's BCELoss example and its two log_loss examples.
    java.util.List<String> ids = dev.losskit.conformance.GoldenReader.read(GOLDENS.resolve("seed-examples.json"))
        .cases().stream().map(dev.losskit.conformance.GoldenCase::id).collect(java.util.stream.Collectors.toList());
    assertTrue(ids.containsAll(java.util.List.of("seed003-bce-probabilities", "seed003-log-loss-a",
        "seed003-log-loss-b")), ids.toString());
    assertEquals(ids.size() + " passed, 0 failed", r.lastOut());
  }

  @Test
  void scikitLearnGoldensAllPass() {
    Run r = run("verify", GOLDENS.resolve("sklearn-1.9.json").toString());
    assertEquals(0, r.code(), String.join("\n", r.out()));
    assertTrue(r.out().get(0).contains("(producer: scikit-learn 1.9.1"), r.out().get(0));
    String[] counts = r.lastOut().split(" ");
    assertTrue(Integer.parseInt(counts[0]) >= 200, r.lastOut());
    assertTrue(r.lastOut().endsWith(", 0 failed"), r.lastOut());
  }

  @Test
  void generatedGoldensAllPass() {
    Run r = run("verify", GOLDENS.resolve("torch-1.13.json").toString());
    assertEquals(0, r.code(), String.join("\n", r.out()));
    String[] counts = r.lastOut().split(" ");
    assertTrue(Integer.parseInt(counts[0]) >= 500, r.lastOut());
    assertTrue(r.lastOut().endsWith(", 0 failed"), r.lastOut());
  }

  @Test
  void aMismatchExitsOneAndNamesTheCaseAndItsWorstElement() throws IOException {
    Path p = golden("bad.json", CASE.replace("[0.0, -1.0]", "[0.0, -1.5]"));
    Run r = run("verify", p.toString());
    assertEquals(1, r.code());
    assertTrue(r.out().stream().anyMatch(l -> l.startsWith("FAIL ") && l.contains("c1")
        && l.contains("grad_input[0, 1]") && l.contains("-1.5")), String.join("\n", r.out()));
    assertEquals("0 passed, 1 failed", r.lastOut());
  }

  @Test
  void wideToleranceOptionsAreHonoured() throws IOException {
    Path p = golden("close.json", CASE.replace("[2.0]", "[2.001]"));
    assertEquals(1, run("verify", p.toString()).code());
    assertEquals(0, run("verify", "--atol", "0.01", p.toString()).code());
    assertEquals(0, run("verify", "--rtol", "0.001", p.toString()).code());
  }

  @Test
  void aMissingFileIsOneLineAndExitTwo() {
    assertOneLineError(run("verify", dir.resolve("absent.json").toString()), 2, "absent.json", "no such file");
  }

  @Test
  void truncatedJsonIsOneLineAndExitTwo() throws IOException {
    String text = Files.readString(GOLDENS.resolve("seed-examples.json"));
    Path p = dir.resolve("truncated.json");
    Files.writeString(p, text.substring(0, text.length() / 3));
    assertOneLineError(run("verify", p.toString()), 2, "truncated.json", "not valid JSON");
  }

  @Test
  void shapeDataMismatchIsOneLineNamingTheCase() throws IOException {
    Path p = golden("mismatch.json", CASE.replace("[-0.25, -2.0]", "[-0.25, -2.0, 7.0]"));
    assertOneLineError(run("verify", p.toString()), 2, "mismatch.json", "case 'c1'", "3 numbers", "[1, 2]");
  }

  @Test
  void oneBadFileAmongGoodOnesStillExitsTwo() throws IOException {
    Path good = golden("good.json", CASE);
    Path bad = dir.resolve("bad.json");
    Files.writeString(bad, "[]");
    assertOneLineError(run("verify", good.toString(), bad.toString()), 2, "bad.json");
  }

  @Test
  void badArgumentsAreOneLineAndExitTwo() {
    assertOneLineError(run("verify"), 2, "FILE");
    assertOneLineError(run("verify", "--frobnicate", "x.json"), 2, "--frobnicate");
    assertOneLineError(run("verify", "--rtol", "abc", "x.json"), 2, "abc");
    assertOneLineError(run("verify", "--rtol", "-1", "x.json"), 2, "--rtol", "-1");
    assertOneLineError(run("verify", "--atol", "NaN", "x.json"), 2, "--atol");
    assertOneLineError(run(), 2, "verify");
    assertOneLineError(run("conjure"), 2, "conjure");
  }

  @Test
  void helpAndVersionExitZero() {
    Run help = run("verify", "--help");
    assertEquals(0, help.code());
    assertTrue(String.join("\n", help.out()).contains("--report"));
    assertEquals(0, run("--version").code());
  }

  /** Surefire runs the CLI's tests with the Vector API module, as the launcher runs the command. */
  @Test
  void versionSaysWhetherTheVectorApiKernelsAreOn() {
    Run r = run("--version");
    assertEquals(0, r.code());
    assertEquals(2, r.out().size(), r.out().toString());
    assertTrue(r.out().get(0).startsWith("losskit "), r.out().get(0));
    assertEquals("kernels: " + dev.losskit.core.Kernels.describe(), r.out().get(1));
    boolean module = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    assertEquals(module, r.out().get(1).startsWith("kernels: Vector API (jdk.incubator.vector), "), r.out().get(1));
  }

  @Test
  void reportHoldsEveryCaseWithItsErrors() throws IOException {
    Path report = dir.resolve("report.json");
    Path p = golden("two.json", CASE, CASE.replace("\"c1\"", "\"c2\"").replace("[2.0]", "[3.0]"));
    Run r = run("verify", p.toString(), "--report", report.toString());
    assertEquals(1, r.code());
    JsonObject json = JsonParser.parseString(Files.readString(report)).getAsJsonObject();
    var cases = json.getAsJsonArray("cases");
    assertEquals(2, cases.size());
    JsonObject c1 = cases.get(0).getAsJsonObject();
    assertEquals("c1", c1.get("id").getAsString());
    assertEquals("pass", c1.get("status").getAsString());
    assertEquals(0.0, c1.get("loss_max_abs_error").getAsDouble());
    for (String key : new String[] {"loss_max_rel_error", "grad_max_abs_error", "grad_max_rel_error"}) {
      assertTrue(c1.has(key), key);
    }
    JsonObject c2 = cases.get(1).getAsJsonObject();
    assertEquals("fail", c2.get("status").getAsString());
    assertEquals(1.0, c2.get("loss_max_abs_error").getAsDouble());
    assertEquals(1.0 / 3, c2.get("loss_max_rel_error").getAsDouble(), 1e-15);
  }

  @Test
  void anUnwritableReportIsOneLineAndLeavesNoFile() throws IOException {
    Path p = golden("ok.json", CASE);
    Path report = dir.resolve("no-such-dir").resolve("report.json");
    assertOneLineError(run("verify", p.toString(), "--report", report.toString()), 2, "report.json");
    assertFalse(Files.exists(report.getParent()));
    assertOneLineError(run("verify", p.toString(), "--report", dir.toString()), 2, "directory");
  }

  @Test
  void atomicWritesGiveOrdinaryPermissionsAndKeepExistingOnes() throws IOException {
    Path fresh = dir.resolve("fresh.json");
    AtomicFiles.write(fresh, out -> out.write('x'));
    assertEquals("rw-r--r--", java.nio.file.attribute.PosixFilePermissions.toString(
        Files.getPosixFilePermissions(fresh)));
    Files.setPosixFilePermissions(fresh, java.nio.file.attribute.PosixFilePermissions.fromString("rw-rw----"));
    AtomicFiles.write(fresh, out -> out.write('y'));
    assertEquals("rw-rw----", java.nio.file.attribute.PosixFilePermissions.toString(
        Files.getPosixFilePermissions(fresh)));
    assertEquals("y", Files.readString(fresh));
  }

  @Test
  void aFailedReportWriteKeepsTheOldFileAndLeavesNoTemporary() throws IOException {
    Path target = dir.resolve("keep.json");
    Files.writeString(target, "old");
    IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class,
        () -> AtomicFiles.write(target, out -> {
          out.write("half of the new cont".getBytes(StandardCharsets.UTF_8));
          throw new IOException("disk full");
        }));
    assertEquals("disk full", e.getMessage());
    assertEquals("old", Files.readString(target));
    try (Stream<Path> s = Files.list(dir)) {
      assertEquals(List.of(target), s.toList());
    }
  }
}
