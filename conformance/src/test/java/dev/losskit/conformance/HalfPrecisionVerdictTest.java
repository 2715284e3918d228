package dev.losskit.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.EngineException;
import dev.losskit.conformance.Matrix.Combination;
import dev.losskit.core.DType;
import dev.losskit.core.NllLoss;
import dev.losskit.core.Tensor;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * The half-precision verdicts that do not need libtorch to run: a combination libtorch has no half kernel for is
 * judged against float64 alone, BCELoss's float64 oracle is restated with the half dtype's clamp, and the report
 * gives one accuracy line per dtype.
 */
class HalfPrecisionVerdictTest {
  private static final String NO_KERNEL = "RuntimeError: \"nll_loss_forward_out_frame\" not implemented for 'Half'";

  private static Combination firstValid(String loss, DType dtype) {
    return Matrix.all().stream().filter(c -> c.loss().equals(loss) && c.dtype() == dtype && !c.invalid()
        && c.call().input().dim() >= 2).findFirst().orElseThrow();
  }

  private static Backend backend(String name, Function<LossCase, Outcome> run) {
    return new Backend() {
      @Override
      public String name() {
        return name;
      }

      @Override
      public String description() {
        return "a test backend";
      }

      @Override
      public Outcome run(LossCase c) {
        return run.apply(c);
      }
    };
  }

  /** The float64 answer on the same values, from the core's float64 path (libtorch's stands in for it in a run). */
  private static Outcome float64(Combination c) {
    return Backend.CORE.run(c.call().toFloat64());
  }

  @Test
  void withoutAHalfKernelTheCoreIsJudgedAgainstFloat64AloneAndPasses() {
    Combination c = firstValid(NllLoss.NAME, DType.FLOAT16);
    Outcome torch = Outcome.threw(new EngineException(NO_KERNEL), NO_KERNEL);
    assertTrue(ConformanceRunner.noKernel(c, torch));
    CaseResult r = ConformanceRunner.judge(c, Backend.CORE, torch, float64(c));
    assertEquals("pass", r.status(), r.reason());
    assertTrue(r.reason().contains("judged against libtorch float64 alone"), r.reason());
    assertTrue(r.libtorchErrorVsFloat64().isNaN());
    assertTrue(r.errorVsFloat64() >= 0);
  }

  @Test
  void withoutAHalfKernelWrongValuesOrAWrongDtypeStillFail() {
    Combination c = firstValid(NllLoss.NAME, DType.BFLOAT16);
    Outcome torch = Outcome.threw(new EngineException(NO_KERNEL), NO_KERNEL);
    Outcome f64 = float64(c);
    Backend off = backend("off", k -> {
      Outcome o = Backend.CORE.run(k);
      double[] g = o.grad().toDoubleArray();
      g[0] += 0.25 + Math.abs(g[0]) * 0.1; // beyond bfloat16's rtol of 1.6e-2
      return Outcome.values(o.loss(), Tensor.rounded(g, DType.BFLOAT16, o.grad().shape()));
    });
    assertEquals("fail", ConformanceRunner.judge(c, off, torch, f64).status());
    Backend widened = backend("float32", k -> Backend.CORE.run(new LossCase(k.loss(), DType.FLOAT32, k.reduction(),
        k.ignoreIndex(), k.labelSmoothing(), widen(k.weight()), null, widen(k.input()), k.target(),
        widen(k.gradOutput()))));
    CaseResult r = ConformanceRunner.judge(c, widened, torch, f64);
    assertEquals("fail", r.status());
    assertTrue(r.reason().contains("returned float32 loss"), r.reason());
  }

  @Test
  void aHalfFailureThatIsNotAMissingKernelIsARejection() {
    Combination c = firstValid(NllLoss.NAME, DType.FLOAT16);
    Outcome torch = Outcome.threw(new EngineException("Target 9 is out of bounds."), "Target 9 is out of bounds.");
    assertTrue(!ConformanceRunner.noKernel(c, torch));
    CaseResult r = ConformanceRunner.judge(c, Backend.CORE, torch, null);
    assertEquals("fail", r.status()); // the matrix labels it valid, libtorch rejects it: a mislabel
    assertTrue(r.reason().contains("labels it valid"), r.reason());
  }

  /**
   * libtorch's BCE backward divides by max((1 - x) x, scalar_t(EPSILON)), EPSILON being the float 1e-12f: the
   * float64 run's ε is 1e-12f, a half run's is 1e-12f rounded to the half dtype (0 in float16). The restated oracle
   * is the float64 formula with the half ε.
   */
  @Test
  void bceOracleGradientTakesTheHalfDtypesClamp() {
    double[] p = {0, 1, 0.5, 0, 1e-30, 0.25};
    double[] y = {1, 0, 1, 0, 1, 0.5};
    double upstream = 0.75;
    for (DType d : List.of(DType.FLOAT16, DType.BFLOAT16, DType.FLOAT32)) {
      Tensor x = Tensor.rounded(p, d, p.length);
      double eps = Tensor.rounded(new double[] {1e-12f}, d).getDouble(0);
      double[] f64 = new double[p.length];
      double[] want = new double[p.length];
      for (int i = 0; i < p.length; i++) {
        double xi = x.getDouble(i);
        f64[i] = upstream * (xi - y[i]) / Math.max((1 - xi) * xi, 1e-12f);
        want[i] = upstream * (xi - y[i]) / Math.max((1 - xi) * xi, eps);
      }
      Tensor got = ConformanceRunner.atDtypeEpsilon(x, Tensor.of(f64, p.length));
      for (int i = 0; i < p.length; i++) {
        double g = got.getDouble(i);
        String at = d + " element " + i + ": " + g + " vs " + want[i];
        if (Double.isNaN(want[i]) || Double.isInfinite(want[i])) {
          assertEquals(want[i], g, at);
        } else {
          assertEquals(want[i], g, Math.abs(want[i]) * 1e-15, at);
        }
      }
    }
    assertTrue(Double.isNaN(ConformanceRunner.atDtypeEpsilon(Tensor.rounded(new double[] {0}, DType.FLOAT16, 1),
        Tensor.of(new double[] {0}, 1)).getDouble(0)), "float16's ε is 0: 0/0 at p = y = 0");
  }

  @Test
  void theReportHasAnAccuracyLinePerNarrowDtype() {
    Combination h = firstValid(NllLoss.NAME, DType.FLOAT16);
    Combination b = firstValid(NllLoss.NAME, DType.BFLOAT16);
    CaseResult judged = new CaseResult(h.id(), h.axes(), h.loss(), "core", DType.FLOAT16, "pass", true, 0d, 0d, 0d,
        0d, 1e-4, 2e-4, null);
    CaseResult alone = new CaseResult(b.id(), b.axes(), b.loss(), "core", DType.BFLOAT16, "pass", true, 0d, 0d, 0d,
        0d, 1e-3, Double.NaN, "judged against libtorch float64 alone");
    CaseResult worse = new CaseResult(b.id() + "x", b.axes(), b.loss(), "core", DType.BFLOAT16, "pass", true, 0d, 0d,
        0d, 0d, 3e-3, 2e-3, null);
    List<String> lines = new ConformanceReport("2.7.1", List.of(judged, alone, worse)).accuracyLines("core");
    assertEquals(2, lines.size(), lines.toString());
    assertTrue(lines.get(0).startsWith("float16 accuracy, core: at least as close to libtorch float64 as libtorch"
        + " float16 in 1 of 1 combinations"), lines.get(0));
    assertTrue(lines.get(1).contains("in 0 of 1 combinations"), lines.get(1));
    assertTrue(lines.get(1).contains("1 judged against float64 alone"), lines.get(1));
  }

  private static Tensor widen(Tensor t) {
    return t == null ? null : Matrix.tensor(DType.FLOAT32, t.toDoubleArray(), t.shape());
  }
}
