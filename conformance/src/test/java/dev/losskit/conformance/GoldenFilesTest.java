package dev.losskit.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** Every case of every committed golden file, one dynamic test each, named by file and case id. */
class GoldenFilesTest {
  static Path goldens() {
    return Path.of(System.getProperty("losskit.fixtures", "../fixtures")).resolve("goldens");
  }

  static List<Path> goldenFiles() throws IOException {
    try (Stream<Path> s = Files.list(goldens())) {
      return s.filter(p -> p.toString().endsWith(".json")).sorted().collect(Collectors.toList());
    }
  }

  @TestFactory
  Stream<DynamicContainer> everyGoldenCasePasses() throws Exception {
    GoldenVerifier verifier = GoldenVerifier.withDefaults();
    return goldenFiles().stream().map(path -> {
      GoldenReader.GoldenFile file;
      try {
        file = GoldenReader.read(path);
      } catch (GoldenFormatException e) {
        throw new AssertionError(e.getMessage(), e);
      }
      return DynamicContainer.dynamicContainer(path.getFileName().toString(),
          file.cases().stream().map(c -> DynamicTest.dynamicTest(c.id(), () -> {
            CaseOutcome o = verifier.check(c);
            assertTrue(o.passed(), o.message());
          })));
    });
  }

  /**
   * The numerics standard: in float32, float16 and bfloat16 the core is never further from PyTorch's float64 result
   * than PyTorch is at the same dtype.
   */
  @Test
  void narrowResultsAreAtLeastAsAccurateAsPytorchAgainstFloat64() throws Exception {
    GoldenVerifier verifier = GoldenVerifier.withDefaults();
    java.util.Map<dev.losskit.core.DType, Integer> checked = new java.util.TreeMap<>();
    for (Path p : goldenFiles()) {
      for (GoldenCase c : GoldenReader.read(p).cases()) {
        if (c.oracleLoss() == null || c.dtype() == dev.losskit.core.DType.FLOAT64) {
          continue;
        }
        CaseOutcome o = verifier.check(c);
        for (Comparison k : new Comparison[] {o.loss(), o.grad()}) {
          assertTrue(!(k.errorVsOracle() > k.expectedErrorVsOracle()), c.id() + ": error vs float64 "
              + k.errorVsOracle() + " is worse than PyTorch " + c.dtype() + "'s " + k.expectedErrorVsOracle());
        }
        checked.merge(c.dtype(), 1, Integer::sum);
      }
    }
    assertTrue(checked.getOrDefault(dev.losskit.core.DType.FLOAT32, 0) >= 500, "cases with an oracle: " + checked);
    assertTrue(checked.getOrDefault(dev.losskit.core.DType.FLOAT16, 0) >= 150, "cases with an oracle: " + checked);
    assertTrue(checked.getOrDefault(dev.losskit.core.DType.BFLOAT16, 0) >= 150, "cases with an oracle: " + checked);
  }

  @Test
  void atLeast300BceAnd200LogLossCasesWithErrorsAndLegacyCasesForEveryLossAreCommitted() throws Exception {
    int bce = 0;
    int bceErrors = 0;
    int logLoss = 0;
    int logLossErrors = 0;
    java.util.Set<String> legacy = new java.util.TreeSet<>();
    for (Path p : goldenFiles()) {
      for (GoldenCase c : GoldenReader.read(p).cases()) {
        if (c.logLoss() != null) {
          logLoss++;
          logLossErrors += c.expectsError() ? 1 : 0;
          continue;
        }
        if (c.call().loss().equals(dev.losskit.core.BceLoss.NAME)) {
          bce++;
          bceErrors += c.expectsError() ? 1 : 0;
        }
        if (c.id().startsWith("legacy-")) {
          legacy.add(c.call().loss());
        }
      }
    }
    assertTrue(bce >= 300, "bce cases: " + bce);
    assertTrue(bceErrors >= 10, "bce error cases: " + bceErrors);
    assertTrue(logLoss >= 200, "log_loss cases: " + logLoss);
    assertTrue(logLossErrors >= 10, "log_loss error cases: " + logLossErrors);
    assertEquals(java.util.Set.of("cross_entropy", "nll_loss", "bce", "bce_with_logits"), legacy);
  }

  @Test
  void theSeedExamplesAndAtLeast500GeneratedCasesAreCommitted() throws Exception {
    assertTrue(Files.exists(goldens().resolve("seed-examples.json")));
    int generated = 0;
    for (Path p : goldenFiles()) {
      if (!p.getFileName().toString().equals("seed-examples.json")) {
        generated += GoldenReader.read(p).cases().size();
      }
    }
    assertTrue(generated >= 500, "generated golden cases: " + generated);
  }
}
