package dev.losskit.conformance;

import dev.losskit.conformance.Matrix.Combination;
import dev.losskit.core.BceLoss;
import dev.losskit.core.DType;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossArgumentException.Cause;
import dev.losskit.core.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs combinations through libtorch and every backend, and judges each backend by one routine: forward values and
 * gradients against libtorch at the same dtype with PyTorch's default tolerances, error parity for inputs libtorch
 * rejects, and, for float32, float16 and bfloat16, the error of both against libtorch in float64 on the same values.
 */
public final class ConformanceRunner {
  private ConformanceRunner() {}

  /** Told after each combination. */
  @FunctionalInterface
  public interface Progress {
    /**
     * Reports progress through the combinations.
     *
     * @param done combinations finished
     * @param total combinations in all
     */
    void update(int done, int total);
  }

  /**
   * Runs the combinations.
   *
   * @param oracle libtorch
   * @param combos the combinations
   * @param backends the backends
   * @param progress told after each combination
   * @return one result per combination and backend, combination by combination
   */
  public static List<CaseResult> run(TorchOracle oracle, List<Combination> combos, List<Backend> backends,
      Progress progress) {
    List<CaseResult> out = new ArrayList<>(combos.size() * backends.size());
    int done = 0;
    for (Combination c : combos) {
      Reference ref = reference(oracle, c);
      for (Backend b : backends) {
        out.add(judge(c, b, ref.torch(), ref.torch64()));
      }
      progress.update(++done, combos.size());
    }
    return out;
  }

  /**
   * libtorch's answers for one combination.
   *
   * @param torch libtorch's outcome at the combination's dtype
   * @param torch64 libtorch's outcome in float64 on the same values, for a narrower dtype; else null
   */
  public record Reference(Outcome torch, Outcome torch64) {}

  /**
   * Runs a combination in libtorch: at its dtype, and, for a dtype narrower than float64, in float64 on the same
   * values (when libtorch accepted it, or has no kernel for the half dtype).
   *
   * @param oracle libtorch
   * @param c the combination
   * @return libtorch's answers
   */
  public static Reference reference(TorchOracle oracle, Combination c) {
    Outcome torch = oracle.run(c.call());
    boolean narrower = c.dtype() != DType.FLOAT64;
    Outcome torch64 = narrower && (!torch.failed() || noKernel(c, torch)) ? oracle.run(c.call().toFloat64()) : null;
    if (torch64 != null && !torch64.failed() && c.loss().equals(BceLoss.NAME)) {
      torch64 = Outcome.values(torch64.loss(), atDtypeEpsilon(c.call().input(), torch64.grad()));
    }
    return new Reference(torch, torch64);
  }

  /**
   * BCELoss's gradient from libtorch float64, restated for the input's dtype. libtorch divides by
   * \( \max((1-x)\,x,\ \varepsilon) \) with \( \varepsilon \) = {@code scalar_t(EPSILON)}, {@code EPSILON} being the
   * float {@code 1e-12f}: that value in float32 and float64, but rounded further in a half dtype (to 0 in float16),
   * so where the clamp acts (a probability of 0 or 1) the float64 run answers another question. Each element is its float64 value times
   * \( \max(q, \varepsilon_{64}) / \max(q, \varepsilon_d) \), \( q = (1-x)\,x \) in float64: exactly 1 where neither clamp acts,
   * the ratio of the two divisors otherwise (infinite for float16's 0, as libtorch's own float16 division by 0).
   *
   * @param input the half, float32 or float64 probabilities
   * @param grad libtorch float64's gradient
   * @return the gradient with the input dtype's clamp
   */
  static Tensor atDtypeEpsilon(Tensor input, Tensor grad) {
    double eps = BceLoss.epsilon(input.dtype());
    double[] g = grad.toDoubleArray();
    for (int i = 0; i < g.length; i++) {
      double x = input.getDouble(i);
      double q = (1 - x) * x;
      double mine = Math.max(q, eps);
      double f64 = Math.max(q, BceLoss.EPSILON);
      if (mine != f64) {
        g[i] = g[i] * f64 / mine;
      }
    }
    return Tensor.of(g, grad.shape());
  }

  /**
   * {@return whether libtorch failed a half-precision combination for want of a CPU kernel ("not implemented for
   * 'Half'"), which says nothing about the input}
   */
  static boolean noKernel(Combination c, Outcome torch) {
    return c.dtype().isHalf() && torch.failed() && torch.error() != null
        && torch.error().contains("not implemented for");
  }

  /**
   * Runs one backend on one combination and judges it against libtorch.
   *
   * <p>A combination libtorch rejects passes only when the backend rejects it for the combination's
   * {@link Combination#expectedCause}: with losskit's own {@link LossArgumentException} of that cause, or, for a
   * backend that runs a graph, with a run-time failure of a graph that loaded where the graph can express that
   * cause ({@link Backend#runTimeCauses}). Any other rejection fails it, the exception named in the reason: a crash
   * (a NullPointerException, an index out of bounds), an engine's or the JDK's IllegalArgumentException, another
   * cause, a graph that did not load. A combination whose label disagrees with libtorch fails for every backend.
   *
   * @param c the combination
   * @param b the backend
   * @param torch libtorch's outcome at the combination's dtype
   * @param torch64 libtorch's outcome in float64 on the same values, or null
   * @return the result
   */
  public static CaseResult judge(Combination c, Backend b, Outcome torch, Outcome torch64) {
    // Without a half kernel in libtorch, float64 is the expected answer, at the half dtype's tolerance (a correct
    // half result is float64's, rounded), with no oracle beyond it; a float64 rejection is libtorch's rejection.
    String alone = null;
    if (noKernel(c, torch)) {
      if (torch64 == null) {
        return result(c, b, "fail", true, null, null, null, null, "libtorch has no " + c.dtype().pytorchName()
            + " kernel for it (" + torch.error() + ") and it was not run in float64");
      }
      if (!torch64.failed()) {
        alone = "libtorch has no " + c.dtype().pytorchName() + " CPU kernel for it (" + torch.error()
            + "): judged against libtorch float64 alone";
      }
      torch = torch64;
      torch64 = null;
    }
    String mislabel = mislabel(c, torch);
    if (mislabel != null) {
      return result(c, b, "fail", !torch.failed(), null, null, null, null, mislabel);
    }
    String skip = b.skipReason(c.call());
    if (skip != null) {
      return result(c, b, "skip", !torch.failed(), null, null, null, null, skip);
    }
    Outcome mine;
    try {
      mine = b.run(c.call());
    } catch (RuntimeException e) {
      mine = Outcome.threw(e);
    }
    if (torch.failed()) {
      if (!mine.failed()) {
        return result(c, b, "fail", false, null, null, null, null,
            "libtorch rejects it (" + torch.error() + ") but " + b.name() + " accepted it");
      }
      String refused = refusal(c.expectedCause(), b, mine);
      return refused == null
          ? result(c, b, "pass", false, null, null, null, null, "both reject it: " + b.name() + " with "
              + mine.describe() + "; libtorch: " + torch.error())
          : result(c, b, "fail", false, null, null, null, null, b.name() + " rejected it with " + mine.describe()
              + ", which does not count: " + refused + " (libtorch: " + torch.error() + ")");
    }
    String also = alone == null ? "" : "; " + alone;
    if (mine.failed()) {
      return result(c, b, "fail", true, null, null, null, null, b.name() + " rejected it: " + mine.describe() + also);
    }
    if (mine.loss().dtype() != c.dtype() || mine.grad().dtype() != c.dtype()) {
      return result(c, b, "fail", true, null, null, null, null, b.name() + " returned " + mine.loss().dtype()
          + " loss and " + mine.grad().dtype() + " gradient; libtorch returns " + c.dtype() + also);
    }
    Tolerance tol = Tolerance.defaultFor(c.dtype());
    Comparison loss = Comparison.of("loss", mine.loss(), torch.loss(), torch64 == null ? null : torch64.loss(), tol);
    Comparison grad = Comparison.of("grad", mine.grad(), torch.grad(), torch64 == null ? null : torch64.grad(), tol);
    boolean pass = loss.passed() && grad.passed();
    int moreAccurate = loss.moreAccurate() + grad.moreAccurate();
    String reason = !loss.passed() ? loss.detail() + also
        : !grad.passed() ? grad.detail() + also
        : alone != null ? alone
        : moreAccurate > 0 ? moreAccurate + " element(s) outside the tolerance of libtorch "
            + c.dtype().pytorchName() + " but closer to libtorch float64 than it is"
        : null;
    // Boxed in each branch: a ternary mixing double and null would unbox the null.
    Double vsFloat64 = alone != null ? Double.valueOf(Math.max(loss.maxAbsError(), grad.maxAbsError()))
        : torch64 == null ? null : Double.valueOf(Math.max(loss.errorVsOracle(), grad.errorVsOracle()));
    Double libtorchVsFloat64 = alone != null ? Double.valueOf(Double.NaN)
        : torch64 == null ? null : Double.valueOf(Math.max(loss.expectedErrorVsOracle(), grad.expectedErrorVsOracle()));
    return new CaseResult(c.id(), c.axes(), c.loss(), b.name(), c.dtype(), pass ? "pass" : "fail", true,
        loss.maxAbsError(), loss.maxRelError(), grad.maxAbsError(), grad.maxRelError(), vsFloat64,
        libtorchVsFloat64, reason);
  }

  /**
   * Checks a combination's label against what libtorch did.
   *
   * @return why the combination's label disagrees with libtorch, or null when libtorch rejects exactly the
   *     combinations labelled with a cause
   */
  static String mislabel(Combination c, Outcome torch) {
    if (torch.failed() && !c.invalid()) {
      return "the matrix labels it valid but libtorch rejects it: " + torch.error();
    }
    if (!torch.failed() && c.invalid()) {
      return "the matrix labels it invalid (" + c.expectedCause() + ") but libtorch accepts it";
    }
    return null;
  }

  /**
   * Whether a rejection is a rejection for the expected cause.
   *
   * @param expected the combination's cause
   * @param b the backend
   * @param mine the backend's rejection
   * @return null when it counts, else why not
   */
  static String refusal(Cause expected, Backend b, Outcome mine) {
    LossArgumentException own = mine.losskitRejection();
    if (own != null) {
      return own.cause() == expected ? null : "losskit's cause is " + own.cause() + ", expected " + expected;
    }
    switch (mine.stage()) {
      case GRAPH_RUN:
        return b.runTimeCauses().contains(expected) ? null
            : "a graph cannot reject " + expected + " when it runs; losskit must reject it with a"
                + " LossArgumentException(" + expected + ")";
      case SESSION:
        return "the exported graph did not load; expected losskit's LossArgumentException(" + expected + ")";
      default:
        return "it is not losskit's LossArgumentException(" + expected + ")";
    }
  }

  private static CaseResult result(Combination c, Backend b, String status, boolean valid, Double a, Double r,
      Double ga, Double gr, String reason) {
    return new CaseResult(c.id(), c.axes(), c.loss(), b.name(), c.dtype(), status, valid, a, r, ga, gr, null, null,
        reason);
  }
}
