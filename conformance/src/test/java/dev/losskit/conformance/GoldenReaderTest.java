package dev.losskit.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/** Broken golden files give one-line errors that name the file and, where there is one, the case. */
class GoldenReaderTest {
  @TempDir Path dir;

  private static final String CASE = "{\"id\": \"c1\", \"loss\": \"cross_entropy\", \"dtype\": \"float32\","
      + " \"reduction\": \"mean\", \"weight\": null, \"ignore_index\": -100, \"label_smoothing\": 0.0,"
      + " \"input\": {\"shape\": [1, 2], \"data\": [0.0, 0.0]},"
      + " \"target\": {\"shape\": [1], \"data\": [1], \"dtype\": \"int64\"},"
      + " \"expected\": {\"loss\": {\"shape\": [], \"data\": [0.6931471824645996]},"
      + " \"grad_input\": {\"shape\": [1, 2], \"data\": [0.5, -0.5]}}}";

  private static String file(String... cases) {
    return "{\"format\": \"losskit-goldens\", \"version\": 1, \"cases\": [" + String.join(",", cases) + "]}";
  }

  private Path write(String name, String content) throws IOException {
    Path p = dir.resolve(name);
    Files.writeString(p, content, StandardCharsets.UTF_8);
    return p;
  }

  @Test
  void aWellFormedFileReadsAndPasses() throws Exception {
    GoldenReader.GoldenFile f = GoldenReader.read(write("ok.json", file(CASE)));
    assertEquals(1, f.cases().size());
    assertTrue(GoldenVerifier.withDefaults().check(f.cases().get(0)).passed());
  }

  @Test
  void unknownKeysAreIgnored() throws Exception {
    String withExtra = CASE.replace("\"id\": \"c1\",", "\"id\": \"c1\", \"comment\": {\"x\": [1]},");
    assertEquals(1, GoldenReader.read(write("extra.json", file(withExtra))).cases().size());
  }

  @Test
  void aWrongExpectedValueFailsWithTheWorstElement() throws Exception {
    String wrong = CASE.replace("[0.5, -0.5]", "[0.5, -0.25]");
    CaseOutcome o = GoldenVerifier.withDefaults().check(GoldenReader.read(write("w.json", file(wrong))).cases().get(0));
    assertFalse(o.passed());
    assertTrue(o.message().contains("grad_input[0, 1]"), o.message());
  }

  @Test
  void nonFiniteStringsAreNumbers() throws Exception {
    String nan = CASE.replace("[0.0, 0.0]", "[\"NaN\", \"-Infinity\"]")
        .replace("[0.6931471824645996]", "[\"NaN\"]").replace("[0.5, -0.5]", "[\"NaN\", \"NaN\"]");
    assertTrue(GoldenVerifier.withDefaults()
        .check(GoldenReader.read(write("nan.json", file(nan))).cases().get(0)).passed());
  }

  private DynamicTest broken(String name, String content, String... mustMention) {
    return DynamicTest.dynamicTest(name, () -> {
      Path p = write(name.replace(' ', '_') + ".json", content);
      GoldenFormatException e = assertThrows(GoldenFormatException.class, () -> GoldenReader.read(p));
      assertFalse(e.getMessage().contains("\n"), e.getMessage());
      assertTrue(e.getMessage().startsWith(p.toString()), e.getMessage());
      for (String s : mustMention) {
        assertTrue(e.getMessage().contains(s), "'" + e.getMessage() + "' should mention '" + s + "'");
      }
    });
  }

  /** The mean case with the legacy pair in place of (or beside) "reduction". */
  private static String legacy(String pair, boolean keepReduction) {
    String c = keepReduction ? CASE.replace("\"reduction\": \"mean\"", "\"reduction\": \"none\"")
        : CASE.replace(" \"reduction\": \"mean\",", "");
    return c.replace("\"id\": \"c1\",", "\"id\": \"c1\", " + pair + ",");
  }

  @Test
  void legacySizeAverageAndReduceDecideTheReductionAsTorchMapsThem() throws Exception {
    // torch's legacy_get_string: a missing flag counts as true; both true give mean, reduce alone sum, else none.
    String[][] pairs = {
        {"\"size_average\": true", "MEAN"}, {"\"size_average\": false", "SUM"},
        {"\"reduce\": true", "MEAN"}, {"\"reduce\": false", "NONE"},
        {"\"size_average\": false, \"reduce\": true", "SUM"}, {"\"size_average\": true, \"reduce\": false", "NONE"},
        {"\"size_average\": null, \"reduce\": false", "NONE"}};
    for (String[] pair : pairs) {
      for (boolean keep : new boolean[] {false, true}) {
        GoldenReader.GoldenFile f = GoldenReader.read(write("legacy.json", file(legacy(pair[0], keep))));
        assertEquals(pair[1], f.cases().get(0).call().reduction().name(), pair[0] + (keep ? " over none" : ""));
      }
    }
    // Both null: absent, so "reduction" is required again.
    GoldenFormatException e = assertThrows(GoldenFormatException.class, () -> GoldenReader.read(
        write("nulls.json", file(legacy("\"size_average\": null, \"reduce\": null", false)))));
    assertTrue(e.getMessage().contains("reduction"), e.getMessage());
    e = assertThrows(GoldenFormatException.class,
        () -> GoldenReader.read(write("bad.json", file(legacy("\"reduce\": 1", false)))));
    assertTrue(e.getMessage().contains("reduce must be true, false or null, got 1"), e.getMessage());
  }

  @Test
  void bceCasesTakeAWeightButNoPosWeight() throws Exception {
    String bce = "{\"id\": \"b1\", \"loss\": \"bce\", \"dtype\": \"float64\", \"reduction\": \"sum\","
        + " \"weight\": {\"shape\": [1], \"data\": [2.0]},"
        + " \"input\": {\"shape\": [2], \"data\": [0.5, 0.5]}, \"target\": {\"shape\": [2], \"data\": [1.0, 0.0]},"
        + " \"expected\": {\"loss\": {\"shape\": [], \"data\": [" + (-4 * Math.log(0.5)) + "]},"
        + " \"grad_input\": {\"shape\": [2], \"data\": [-4.0, 4.0]}}}";
    GoldenReader.GoldenFile f = GoldenReader.read(write("bce.json", file(bce)));
    assertTrue(GoldenVerifier.withDefaults().check(f.cases().get(0)).passed());
    GoldenFormatException e = assertThrows(GoldenFormatException.class, () -> GoldenReader.read(write("pw.json",
        file(bce.replace("\"weight\":", "\"pos_weight\": {\"shape\": [1], \"data\": [2.0]}, \"weight\":")))));
    assertTrue(e.getMessage().contains("pos_weight does not apply to bce"), e.getMessage());
  }

  @TestFactory
  Stream<DynamicTest> brokenFiles() {
    String full = file(CASE);
    return Stream.of(
        broken("truncated", full.substring(0, full.length() / 2), "not valid JSON"),
        broken("empty", "", "not valid JSON"),
        broken("not json", "hello, world", "not valid JSON"),
        broken("trailing garbage", full + " }", "not valid JSON"),
        broken("wrong format", full.replace("losskit-goldens", "other"), "format"),
        broken("wrong version", full.replace("\"version\": 1", "\"version\": 2"), "version 2"),
        broken("no cases", "{\"format\": \"losskit-goldens\", \"version\": 1}", "cases"),
        broken("shape data mismatch", file(CASE.replace("[0.0, 0.0]", "[0.0, 0.0, 1.0]")), "case 'c1'",
            "input has 3 numbers", "[1, 2]", "needs 2"),
        broken("missing input", file(CASE.replace("\"input\"", "\"inptu\"")), "case 'c1'", "missing key 'input'"),
        broken("missing expected grad", file(CASE.replace("\"grad_input\"", "\"grad\"")), "expected.grad_input"),
        broken("unknown loss", file(CASE.replace("cross_entropy", "hinge")), "unknown loss 'hinge'"),
        broken("bad dtype", file(CASE.replace("\"float32\"", "\"float8\"")), "float8"),
        broken("bad reduction", file(CASE.replace("\"mean\"", "\"avg\"")), "avg"),
        broken("fractional target", file(CASE.replace("\"data\": [1]", "\"data\": [1.5]")), "target.data[0]"),
        broken("string number", file(CASE.replace("[0.0, 0.0]", "[\"zero\", 0.0]")), "input.data[0]"),
        broken("duplicate id", file(CASE, CASE), "case 'c1'", "earlier case"),
        broken("pos_weight on cross_entropy",
            file(CASE.replace("\"weight\": null", "\"weight\": null, \"pos_weight\": {\"shape\": [2], \"data\": [1, 1]}")),
            "pos_weight does not apply"),
        broken("error and values", file(CASE.replace("\"expected\": {", "\"expected\": {\"error\": true, ")),
            "both error"),
        broken("negative extent", file(CASE.replace("\"shape\": [1, 2]", "\"shape\": [-1, 2]")), "input.shape[0]"),
        broken("case not an object", file("[1, 2]"), "case #0"));
  }

  @Test
  void aMissingFileIsOneLine() {
    GoldenFormatException e = assertThrows(GoldenFormatException.class,
        () -> GoldenReader.read(dir.resolve("absent.json")));
    assertTrue(e.getMessage().endsWith("absent.json: no such file"), e.getMessage());
  }
}
