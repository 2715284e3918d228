package dev.losskit.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.losskit.conformance.Matrix.Combination;
import dev.losskit.core.BceLoss;
import dev.losskit.core.DType;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossArgumentException.Cause;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The ONNX backends on BCELoss ({@code bce}) calls, ahead of a {@code bce} conformance matrix: hand-made calls
 * against the core, and every BCELoss case of torch 2.13's golden file ({@code fixtures/goldens/torch-bce.json})
 * against torch's own loss and gradient, at PyTorch's default tolerances (float32 rtol 1.3e-6, atol 1e-5; float64
 * rtol 1e-7, atol 1e-7). Inputs the core rejects must be rejected for
 * the core's cause, except probabilities outside [0, 1], which a graph cannot reject: those are skipped, with the
 * reason.
 */
class OnnxBackendBceTest {
  private static final Backend PRIMITIVES = OnnxBackend.PRIMITIVES;

  private static Tensor tensor(DType dtype, double[] v, int... shape) {
    if (dtype == DType.FLOAT64) {
      return Tensor.of(v.clone(), shape);
    }
    float[] f = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      f[i] = (float) v[i];
    }
    return Tensor.of(f, shape);
  }

  private static LossCase bce(DType dtype, Reduction r, Tensor weight, Tensor x, Tensor y, Tensor g) {
    return new LossCase(BceLoss.NAME, dtype, r, -100, 0, weight, null, x, y, g);
  }

  /** (2, 3) probabilities with exact 0 and 1, a tiny and a near-1 value, and hard and soft targets. */
  private static final double[] X = {0, 1, 1e-30, 0.999999, 0.25, 0.5};
  private static final double[] Y = {1, 0, 0, 1, 0.3, 0.5};

  private static void sameAsCore(LossCase c) {
    assertNull(PRIMITIVES.skipReason(c), "the primitives backend runs bce");
    Outcome mine = PRIMITIVES.run(c);
    Outcome core = Backend.CORE.run(c);
    assertFalse(mine.failed(), () -> mine.describe());
    assertFalse(core.failed(), () -> core.describe());
    Tolerance tol = Tolerance.defaultFor(c.dtype());
    Comparison loss = Comparison.of("loss", mine.loss(), core.loss(), tol);
    Comparison grad = Comparison.of("grad", mine.grad(), core.grad(), tol);
    assertTrue(loss.passed(), loss.detail());
    assertTrue(grad.passed(), grad.detail());
    assertEquals(core.loss().dtype(), mine.loss().dtype());
    assertEquals(core.grad().dtype(), mine.grad().dtype());
  }

  @TestFactory
  Stream<DynamicTest> handMadeCallsGiveTheCoresLossAndGradient() {
    List<DynamicTest> tests = new ArrayList<>();
    for (DType d : new DType[] {DType.FLOAT32, DType.FLOAT64}) {
      for (Reduction r : Reduction.values()) {
        Tensor x = tensor(d, X, 2, 3);
        Tensor y = tensor(d, Y, 2, 3);
        Tensor gNone = tensor(d, new double[] {1, -2, 0.5, 3, 1, -1}, 2, 3);
        Tensor gScalar = tensor(d, new double[] {2.5}, new int[0]);
        Tensor[] weights = {null, Tensor.of(new double[] {0.5, 2, 1}, 3),
            Tensor.of(new double[] {1, 0, 2, 3, 0.5, 1.5}, 2, 3), Tensor.of(new double[] {0.3}, new int[0])};
        for (Tensor w : weights) {
          String name = d.pytorchName() + ", " + r.pytorchName() + ", weight "
              + (w == null ? "none" : java.util.Arrays.toString(w.shape()));
          tests.add(DynamicTest.dynamicTest(name, () -> sameAsCore(bce(d, r, w, x, y, null))));
          tests.add(DynamicTest.dynamicTest(name + ", grad_output",
              () -> sameAsCore(bce(d, r, w, x, y, r == Reduction.NONE ? gNone : gScalar))));
        }
        tests.add(DynamicTest.dynamicTest(d.pytorchName() + ", " + r.pytorchName() + ", empty (0, 3)",
            () -> sameAsCore(bce(d, r, null, tensor(d, new double[0], 0, 3), tensor(d, new double[0], 0, 3),
                null))));
        tests.add(DynamicTest.dynamicTest(d.pytorchName() + ", " + r.pytorchName() + ", (N) and (N, C, H, W)",
            () -> {
              sameAsCore(bce(d, r, null, tensor(d, X, 6), tensor(d, Y, 6), null));
              double[] x4 = new double[24];
              double[] y4 = new double[24];
              for (int i = 0; i < 24; i++) {
                x4[i] = X[i % 6] * (i % 5 == 4 ? 0.5 : 1);
                y4[i] = Y[(i + 1) % 6];
              }
              sameAsCore(bce(d, r, Tensor.of(new double[] {1, 2}, 1, 1, 2), tensor(d, x4, 2, 3, 2, 2),
                  tensor(d, y4, 2, 3, 2, 2), null));
            }));
      }
    }
    return tests.stream();
  }

  @Test
  void theOpBackendSkipsBceForWantOfAnOperator() {
    LossCase c = bce(DType.FLOAT32, Reduction.MEAN, null, tensor(DType.FLOAT32, X, 2, 3),
        tensor(DType.FLOAT32, Y, 2, 3), null);
    assertEquals("ONNX's loss operators cannot express bce (ONNX has no such operator)",
        OnnxBackend.OP.skipReason(c));
  }

  @Test
  void anUnbatchedScalarIsSkippedAsForBceWithLogits() {
    LossCase c = bce(DType.FLOAT32, Reduction.MEAN, null, Tensor.of(new float[] {0.5f}, new int[0]),
        Tensor.of(new float[] {1}, new int[0]), null);
    assertTrue(PRIMITIVES.skipReason(c).contains("unbatched"), PRIMITIVES.skipReason(c));
  }

  /** The calls the core rejects for PROBABILITY_RANGE: an input or target outside [0, 1], or NaN. */
  private static List<LossCase> outOfRange() {
    List<LossCase> out = new ArrayList<>();
    double[][] inputs = {{0.5, 1.5, 0.2, 0.1}, {-1e-8, 0.5, 0.2, 0.1}, {0.5, Double.NaN, 0.2, 0.1},
        {0.5, 0.5, 0.2, 0.1}, {0.5, 0.5, 0.2, 0.1}};
    double[][] targets = {{0, 1, 0, 1}, {0, 1, 0, 1}, {0, 1, 0, 1}, {0, 2, 0, 1}, {0, 1, Double.NaN, 1}};
    for (DType d : new DType[] {DType.FLOAT32, DType.FLOAT64}) {
      for (int k = 0; k < inputs.length; k++) {
        out.add(bce(d, Reduction.MEAN, null, tensor(d, inputs[k], 2, 2), tensor(d, targets[k], 2, 2), null));
      }
    }
    return out;
  }

  /**
   * ONNX has no assert: a graph cannot reject a probability outside [0, 1], so both ONNX backends skip what the core
   * rejects for PROBABILITY_RANGE, with that reason (and the core's message), rather than pass or fail it; through
   * the runner's judgement such a combination, rejected by libtorch, is a skip.
   */
  @Test
  void probabilitiesOutsideZeroOneAreSkippedWithTheReason() {
    for (LossCase c : outOfRange()) {
      Outcome core = Backend.CORE.run(c);
      assertEquals(Cause.PROBABILITY_RANGE, core.losskitRejection().cause(), core.describe());
      String reason = PRIMITIVES.skipReason(c);
      assertNotNull(reason, "skipped: " + core.describe());
      assertTrue(reason.startsWith(OnnxBackend.PROBABILITY_RANGE_SKIP), reason);
      assertTrue(reason.contains("outside [0, 1]") && reason.contains("ONNX has no assert"), reason);
      assertTrue(reason.contains(core.error()), "the core's message is in the reason: " + reason);
      assertFalse(reason.contains("\n"));
      Combination combo = new Combination("bce[out of range]", Map.of(), c, Cause.PROBABILITY_RANGE);
      Outcome torch = Outcome.threw(new RuntimeException("all elements of input should be between 0 and 1"));
      for (Backend b : List.of(OnnxBackend.PRIMITIVES, OnnxBackend.OP)) {
        CaseResult r = ConformanceRunner.judge(combo, b, torch, null);
        assertEquals("skip", r.status(), r.reason());
      }
      assertFalse(OnnxBackend.RUN_TIME_CAUSES.contains(Cause.PROBABILITY_RANGE));
      // Run anyway, the graph computes numbers rather than failing: that is why it must be a skip, not a pass.
      assertFalse(PRIMITIVES.run(c).failed(), "the graph runs on values outside [0, 1]");
    }
  }

  /**
   * The other bad inputs the core rejects are rejected by the graph or the exporter for the same cause, as the
   * runner requires: a check the core makes before the values (a target of another shape, with a value out of
   * range too, is a SHAPE_MISMATCH) is not skipped.
   */
  @Test
  void otherRejectionsAreTheCoresCause() {
    DType f = DType.FLOAT32;
    Tensor x = tensor(f, X, 2, 3);
    Tensor y = tensor(f, Y, 2, 3);
    List<LossCase> cases = List.of(
        bce(f, Reduction.MEAN, null, x, tensor(f, new double[] {0, 1, 3}, 3), null),
        bce(f, Reduction.MEAN, null, x, tensor(f, new double[] {0, 1, 0, 1, 0, 1}, 3, 2), null),
        bce(f, Reduction.MEAN, Tensor.of(new double[] {1, 2}, 2), x, y, null),
        bce(f, Reduction.MEAN, Tensor.of(new double[12], 2, 2, 3), x, y, null),
        bce(f, Reduction.MEAN, null, x, tensor(DType.FLOAT64, Y, 2, 3), null));
    for (LossCase c : cases) {
      LossArgumentException expected = Backend.CORE.run(c).losskitRejection();
      assertNotNull(expected, "the core rejects it");
      assertFalse(expected.cause() == Cause.PROBABILITY_RANGE);
      assertNull(PRIMITIVES.skipReason(c), "not skipped: " + expected.getMessage());
      Outcome mine = PRIMITIVES.run(c);
      assertTrue(mine.failed(), "the graph rejects " + expected.getMessage());
      assertNull(ConformanceRunner.refusal(expected.cause(), PRIMITIVES, mine),
          () -> expected.cause() + ": " + mine.describe());
    }
  }

  /**
   * torch 2.13's own results on every BCELoss case of the committed golden file, one test each: each valid case
   * within PyTorch's default tolerance of torch's result at the case's dtype, element by element, without the
   * golden verifier's allowance for results closer to torch's float64 (none needs it: the largest error measured was
   * 0.17 of the float32 tolerance and 0.04 of the float64 one); each error case rejected for the core's cause or, for
   * PROBABILITY_RANGE, skipped with the reason.
   */
  @TestFactory
  Stream<DynamicTest> everyGoldenBceCaseMatchesTorch() throws Exception {
    Path file = GoldenFilesTest.goldens().resolve("torch-bce.json");
    List<GoldenCase> cases = GoldenReader.read(file).cases().stream()
        .filter(g -> g.call().loss().equals(BceLoss.NAME)).toList();
    assertTrue(cases.stream().filter(g -> !g.expectsError()).count() >= 300, "valid bce golden cases");
    assertTrue(cases.stream().filter(GoldenCase::expectsError).count() >= 12, "bce golden error cases");
    return cases.stream().map(g -> DynamicTest.dynamicTest(g.id(), () -> {
      LossCase c = g.call();
      String skip = PRIMITIVES.skipReason(c);
      if (g.expectsError()) {
        LossArgumentException cause = Backend.CORE.run(c).losskitRejection();
        assertNotNull(cause, "the core rejects it");
        if (cause.cause() == Cause.PROBABILITY_RANGE) {
          assertNotNull(skip, "skipped: " + cause.getMessage());
          assertTrue(skip.startsWith(OnnxBackend.PROBABILITY_RANGE_SKIP), skip);
        } else {
          assertNull(skip);
          Outcome mine = PRIMITIVES.run(c);
          assertTrue(mine.failed(), "torch and the core reject it (" + cause.getMessage() + "), the graph accepted it");
          assertNull(ConformanceRunner.refusal(cause.cause(), PRIMITIVES, mine), () -> mine.describe());
        }
        return;
      }
      assertNull(skip);
      Outcome mine = PRIMITIVES.run(c);
      assertFalse(mine.failed(), () -> mine.describe());
      Tolerance tol = Tolerance.defaultFor(c.dtype());
      Comparison loss = Comparison.of("loss", mine.loss(), g.expectedLoss(), tol);
      Comparison grad = Comparison.of("grad_input", mine.grad(), g.expectedGrad(), tol);
      assertTrue(loss.passed(), loss.detail());
      assertTrue(grad.passed(), grad.detail());
    }));
  }
}
