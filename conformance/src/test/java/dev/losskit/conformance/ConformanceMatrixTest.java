package dev.losskit.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.losskit.conformance.Matrix.Combination;
import dev.losskit.core.DType;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The whole conformance matrix against libtorch 2.7.1, one dynamic test per combination, named by it: CI fails on
 * any mismatch of any backend, forward or gradient.
 */
class ConformanceMatrixTest {
  private static TorchOracle oracle;
  /** Every backend, or those named by {@code -Dlosskit.backends} (the scalar-fallback run needs only two). */
  private static final List<Backend> BACKENDS = System.getProperty("losskit.backends") == null ? Backends.all()
      : Backends.byNames(List.of(System.getProperty("losskit.backends").split(",")));

  @BeforeAll
  static void loadLibtorch() throws Exception {
    oracle = TorchOracle.open();
  }

  @AfterAll
  static void close() {
    if (oracle != null) {
      oracle.close();
    }
  }

  @TestFactory
  Stream<DynamicTest> everyCombinationMatchesLibtorch() {
    return Matrix.all().stream().map(c -> DynamicTest.dynamicTest(c.id(), () -> {
      ConformanceRunner.Reference ref = ConformanceRunner.reference(oracle, c);
      List<String> failures = BACKENDS.stream()
          .map(b -> ConformanceRunner.judge(c, b, ref.torch(), ref.torch64()))
          .filter(r -> !r.ok())
          .map(r -> r.backend() + ": " + r.reason())
          .collect(Collectors.toList());
      assertTrue(failures.isEmpty(), String.join("; ", failures));
    }));
  }

  @Test
  void theMatrixHasAtLeast1000DistinctCombinationsWithStableIds() {
    List<Combination> all = Matrix.all();
    assertTrue(all.size() >= 1000, "combinations: " + all.size());
    assertTrue(all.stream().map(Combination::id).distinct().count() == all.size(), "ids must be unique");
    List<Combination> quick = Matrix.select(all, null, true);
    assertTrue(quick.size() > all.size() / 4 && quick.size() < all.size() / 2, "quick: " + quick.size());
  }

  /**
   * The run faces libtorch with the kernels it says it does: the Vector API ones in the default run (the build adds
   * the module), the scalar fallback in the run with {@code -Dlosskit.vector=false}. A build that silently lost the
   * module would otherwise check only the scalar kernels.
   */
  @Test
  void theKernelsUnderTestAreTheOnesThisRunIsFor() {
    boolean scalarRun = "false".equals(System.getProperty("losskit.vector"));
    assertEquals(!scalarRun, dev.losskit.core.Kernels.vectorized(), dev.losskit.core.Kernels.describe());
  }

  @Test
  void theOracleRunsLibtorch271() {
    assertTrue(oracle.libtorchVersion().startsWith("2.7.1"), oracle.libtorchVersion());
  }
}
