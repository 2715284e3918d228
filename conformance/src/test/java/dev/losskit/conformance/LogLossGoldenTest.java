package dev.losskit.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.losskit.core.DType;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * scikit-learn's {@code log_loss} cases in golden files: how they are read and verified, and what
 * {@code sklearn-1.9.json} covers. (Every case of that file also runs in {@link GoldenFilesTest}.)
 */
class LogLossGoldenTest {
  @TempDir Path dir;

  /** scikit-learn 1.9.1: log_loss([[0,1],[1,0]], [[0.3,0.7],[0.8,0.2]]) = 0.2899092476264711. */
  private static final String CASE = "{\"id\": \"l1\", \"loss\": \"log_loss\", \"dtype\": \"float64\","
      + " \"input\": {\"shape\": [2, 2], \"data\": [0.3, 0.7, 0.8, 0.2]},"
      + " \"target\": {\"shape\": [2, 2], \"data\": [0, 1, 1, 0], \"dtype\": \"int64\"},"
      + " \"sample_weight\": null, \"normalize\": true, \"labels\": null,"
      + " \"expected\": {\"loss\": {\"shape\": [], \"data\": [0.2899092476264711]}},"
      + " \"warns_not_sum_to_one\": false}";

  private static String file(String... cases) {
    return "{\"format\": \"losskit-goldens\", \"version\": 1, \"cases\": [" + String.join(",", cases) + "]}";
  }

  private GoldenCase read(String... cases) throws Exception {
    Path p = dir.resolve("g" + System.nanoTime() + ".json");
    Files.writeString(p, file(cases), StandardCharsets.UTF_8);
    return GoldenReader.read(p).cases().get(0);
  }

  private static CaseOutcome check(GoldenCase c) {
    return GoldenVerifier.withDefaults().check(c);
  }

  @Test
  void aLogLossCaseReadsWithItsOptionsAndPassesOnItsValueAlone() throws Exception {
    GoldenCase c = read(CASE);
    assertNull(c.call());
    assertEquals(DType.FLOAT64, c.dtype());
    LogLossCase l = c.logLoss();
    assertTrue(l.normalize());
    assertNull(l.labels());
    assertNull(l.sampleWeight());
    assertEquals(Boolean.FALSE, l.warnsNotSumToOne());
    CaseOutcome o = check(c);
    assertTrue(o.passed(), o.message());
    assertNull(o.grad());
    assertEquals(LogLossCase.FLOAT64, GoldenVerifier.withDefaults().toleranceFor(c));
    assertEquals(new Tolerance(0.5, LogLossCase.FLOAT64.atol()), new GoldenVerifier(0.5, null).toleranceFor(c));
  }

  @Test
  void theOptionalKeysDefaultToScikitLearnsDefaults() throws Exception {
    String bare = CASE.replace(" \"sample_weight\": null, \"normalize\": true, \"labels\": null,", "")
        .replace(", \"warns_not_sum_to_one\": false", "");
    GoldenCase c = read(bare);
    assertTrue(c.logLoss().normalize());
    assertNull(c.logLoss().warnsNotSumToOne());
    assertTrue(check(c).passed());
    // scikit-learn 1.9.1: log_loss([1, 0], [[.3, .7], [.8, .2]], normalize=False, labels=[0, 1]).
    GoldenCase withOptions = read(CASE.replace("\"normalize\": true, \"labels\": null",
        "\"normalize\": false, \"labels\": [0, 1]").replace("\"shape\": [2, 2], \"data\": [0, 1, 1, 0]",
        "\"shape\": [2], \"data\": [1, 0]").replace("0.2899092476264711", "0.5798184952529422"));
    assertEquals(List.of(0L, 1L), List.of(withOptions.logLoss().labels()[0], withOptions.logLoss().labels()[1]));
    assertTrue(check(withOptions).passed(), check(withOptions).message());
  }

  @Test
  void aWrongValueFails() throws Exception {
    CaseOutcome o = check(read(CASE.replace("0.2899092476264711", "0.2899092476")));
    assertFalse(o.passed());
    assertTrue(o.message().contains("loss"), o.message());
  }

  @Test
  void aWrongRowSumWarningFails() throws Exception {
    CaseOutcome o = check(read(CASE.replace("\"warns_not_sum_to_one\": false", "\"warns_not_sum_to_one\": true")));
    assertFalse(o.passed());
    assertTrue(o.message().contains("warned") && o.message().contains("counted 0"), o.message());
  }

  @Test
  void anErrorCasePassesOnlyWhenTheCoreRejectsIt() throws Exception {
    String error = "\"expected\": {\"error\": true, \"message\": \"ValueError: ...\"}";
    String expectedLoss = "\"expected\": {\"loss\": {\"shape\": [], \"data\": [0.2899092476264711]}}";
    // A single class without labels: scikit-learn raises, and so does the core.
    String single = CASE.replace("\"shape\": [2, 2], \"data\": [0, 1, 1, 0]", "\"shape\": [2], \"data\": [1, 1]")
        .replace(expectedLoss, error);
    CaseOutcome rejected = check(read(single));
    assertTrue(rejected.passed(), rejected.message());
    assertTrue(rejected.message().contains("only one label"), rejected.message());
    // A valid input marked as an error fails.
    CaseOutcome accepted = check(read(CASE.replace(expectedLoss, error)));
    assertFalse(accepted.passed());
    assertTrue(accepted.message().contains("scikit-learn rejects"), accepted.message());
  }

  private DynamicTest broken(String name, String caseJson, String... mustMention) {
    return DynamicTest.dynamicTest(name, () -> {
      Path p = dir.resolve(name.replace(' ', '_') + ".json");
      Files.writeString(p, file(caseJson), StandardCharsets.UTF_8);
      GoldenFormatException e = assertThrows(GoldenFormatException.class, () -> GoldenReader.read(p));
      assertFalse(e.getMessage().contains("\n"), e.getMessage());
      assertTrue(e.getMessage().contains("case 'l1'"), e.getMessage());
      for (String s : mustMention) {
        assertTrue(e.getMessage().contains(s), "'" + e.getMessage() + "' should mention '" + s + "'");
      }
    });
  }

  @TestFactory
  Stream<DynamicTest> brokenLogLossCases() {
    return Stream.of(
        broken("normalize not a boolean", CASE.replace("\"normalize\": true", "\"normalize\": 1"), "normalize"),
        broken("fractional label", CASE.replace("\"labels\": null", "\"labels\": [0, 1.5]"), "labels[1]"),
        broken("labels not a list", CASE.replace("\"labels\": null", "\"labels\": 3"), "labels must be a list"),
        broken("warning flag not a boolean",
            CASE.replace("\"warns_not_sum_to_one\": false", "\"warns_not_sum_to_one\": \"no\""),
            "warns_not_sum_to_one"),
        broken("a gradient", CASE.replace("}},", "}, \"grad_input\": {\"shape\": [], \"data\": [0]}},"),
            "no gradient"),
        broken("a reduction", CASE.replace("\"normalize\": true", "\"normalize\": true, \"reduction\": \"sum\""),
            "reduction does not apply to log_loss"),
        broken("a loss of shape [1]", CASE.replace("\"shape\": [], \"data\": [0.2899092476264711]",
            "\"shape\": [1], \"data\": [0.2899092476264711]"), "must be a scalar"),
        broken("error not true", CASE.replace("\"expected\": {", "\"expected\": {\"error\": false, "),
            "expected.error must be true"),
        broken("error and loss", CASE.replace("\"expected\": {", "\"expected\": {\"error\": true, "), "both"),
        broken("missing target", CASE.replace("\"target\"", "\"targte\""), "missing key 'target'"),
        broken("integer dtype", CASE.replace("\"dtype\": \"float64\"", "\"dtype\": \"int64\""), "float32 or"));
  }

  // ---- what sklearn-1.9.json covers --------------------------------------------------------------------------------

  private static List<GoldenCase> sklearnCases() throws GoldenFormatException {
    return GoldenReader.read(GoldenFilesTest.goldens().resolve("sklearn-1.9.json")).cases();
  }

  private static long count(List<GoldenCase> cases, Predicate<GoldenCase> p) {
    return cases.stream().filter(p).count();
  }

  @Test
  void theScikitLearnGoldensCoverEveryOptionInBothDtypes() throws Exception {
    List<GoldenCase> cases = sklearnCases();
    assertTrue(cases.size() >= 200, "cases: " + cases.size());
    assertTrue(cases.stream().allMatch(c -> c.logLoss() != null), "every case is log_loss");
    for (DType d : List.of(DType.FLOAT32, DType.FLOAT64)) {
      List<GoldenCase> of = cases.stream().filter(c -> c.dtype() == d).toList();
      String in = " (" + d + ")";
      assertTrue(count(of, c -> !c.expectsError() && c.logLoss().yPred().dim() == 1) >= 10, "1-D y_pred" + in);
      assertTrue(count(of, c -> !c.expectsError() && c.logLoss().yPred().dim() == 2
          && c.logLoss().yPred().size(1) == 2) >= 5, "(N, 2) y_pred" + in);
      assertTrue(count(of, c -> !c.expectsError() && c.logLoss().yPred().dim() == 2
          && c.logLoss().yPred().size(1) > 2) >= 20, "multiclass" + in);
      assertTrue(count(of, c -> !c.expectsError() && c.logLoss().yTrue().dim() == 2
          && c.logLoss().yTrue().size(1) > 1) >= 10, "indicator y_true" + in);
      assertTrue(count(of, c -> !c.expectsError() && c.logLoss().sampleWeight() != null) >= 20, "weights" + in);
      assertTrue(count(of, c -> !c.expectsError() && !c.logLoss().normalize()) >= 10, "normalize false" + in);
      assertTrue(count(of, c -> !c.expectsError() && c.logLoss().labels() != null) >= 10, "labels" + in);
      assertTrue(count(of, c -> Boolean.TRUE.equals(c.logLoss().warnsNotSumToOne())) >= 5, "rows not 1" + in);
      assertTrue(count(of, c -> !c.expectsError() && hasZeroOrOne(c)) >= 5, "exact 0 and 1" + in);
      assertTrue(count(of, GoldenCase::expectsError) >= 30, "errors" + in);
    }
  }

  private static boolean hasZeroOrOne(GoldenCase c) {
    double[] p = c.logLoss().yPred().toDoubleArray();
    return java.util.Arrays.stream(p).anyMatch(v -> v == 0) && java.util.Arrays.stream(p).anyMatch(v -> v == 1);
  }

  /**
   * The tolerances' margin: on sklearn-1.9.json the core is within 1e-6 relative of scikit-learn's float32 results
   * (scikit-learn's own float32 rounding; {@link LogLossCase#FLOAT32} allows 1e-5) and within 1e-14 of its float64
   * results ({@link LogLossCase#FLOAT64} allows 1e-12).
   */
  @Test
  void theCoreIsWellInsideTheTolerances() throws Exception {
    double worst32 = 0;
    double worst64 = 0;
    for (GoldenCase c : sklearnCases()) {
      CaseOutcome o = check(c);
      assertTrue(o.passed(), c.id() + ": " + o.message());
      if (o.loss() != null) {
        if (c.dtype() == DType.FLOAT32) {
          worst32 = Math.max(worst32, o.loss().maxRelError());
        } else {
          worst64 = Math.max(worst64, o.loss().maxRelError());
        }
      }
    }
    assertTrue(worst32 < 1e-6 && worst32 > 0, "float32: " + worst32);
    assertTrue(worst64 < 1e-14, "float64: " + worst64);
  }

  /** Reads a golden file's text: kept for the seed examples' check below. */
  private static String text(String name) throws IOException {
    return Files.readString(GoldenFilesTest.goldens().resolve(name), StandardCharsets.UTF_8);
  }

  @Test
  void theSeedExamplesHoldBothLogLossExamples() throws Exception {
    List<GoldenCase> seeds = GoldenReader.read(GoldenFilesTest.goldens().resolve("seed-examples.json")).cases();
    List<String> ids = seeds.stream().filter(c -> c.logLoss() != null).map(GoldenCase::id).toList();
    assertEquals(List.of("seed003-log-loss-a", "seed003-log-loss-b"), ids);
    assertTrue(text("seed-examples.json").contains("0.2899092476264711"));
    assertTrue(text("seed-examples.json").contains("0.916290731874155"));
  }
}
