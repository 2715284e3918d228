package dev.losskit.conformance;

import dev.losskit.core.Tensor;
import java.util.Arrays;
import java.util.Locale;

/**
 * The element-wise comparison of an actual tensor with an expected one, as {@code torch.testing.assert_close}
 * does it.
 *
 * @param shapeMatches whether the shapes are equal (nothing else is compared when they are not)
 * @param maxAbsError the largest {@code |actual - expected|}; 0 where both are the same NaN or infinity, and
 *     infinity where only one is non-finite
 * @param maxRelError the largest {@code |actual - expected| / |expected|}
 * @param worst the flat index of the element furthest outside the tolerance (or of the largest error), or -1
 * @param passed whether every element is within the tolerance, or at least as accurate as the expected value
 * @param moreAccurate how many elements passed only by being at least as close to the float64 oracle as the
 *     expected (float32) value is
 * @param errorVsOracle the largest error against the float64 oracle, or NaN without one
 * @param expectedErrorVsOracle the expected value's own largest error against the oracle, or NaN without one
 * @param detail one line describing the worst element, or the shape mismatch
 */
public record Comparison(
    boolean shapeMatches,
    double maxAbsError,
    double maxRelError,
    int worst,
    boolean passed,
    int moreAccurate,
    double errorVsOracle,
    double expectedErrorVsOracle,
    String detail) {

  /**
   * Compares two tensors.
   *
   * @param name what is compared, e.g. {@code loss}, for the detail line
   * @param actual what was computed
   * @param expected what was expected
   * @param tol the tolerance
   * @return the comparison
   */
  public static Comparison of(String name, Tensor actual, Tensor expected, Tolerance tol) {
    return of(name, actual, expected, null, tol);
  }

  /**
   * Compares two tensors, accepting an element outside the tolerance when it is at least as close to a float64
   * oracle as the expected value is: a float32 result more accurate than PyTorch's own float32 result is not
   * wrong.
   *
   * @param name what is compared, for the detail line
   * @param actual what was computed
   * @param expected what PyTorch computed at the case's dtype
   * @param oracle what PyTorch computed in float64 on the same values, or null
   * @param tol the tolerance
   * @return the comparison
   */
  public static Comparison of(String name, Tensor actual, Tensor expected, Tensor oracle, Tolerance tol) {
    if (!actual.sameShape(expected)) {
      return new Comparison(false, Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY, -1, false, 0, Double.NaN,
          Double.NaN,
          name + " has shape " + Arrays.toString(actual.shape()) + " but expected "
              + Arrays.toString(expected.shape()));
    }
    double maxAbs = 0;
    double maxRel = 0;
    int worst = -1;
    double worstExcess = Double.NEGATIVE_INFINITY;
    boolean passed = true;
    int moreAccurate = 0;
    double vsOracle = oracle == null ? Double.NaN : 0;
    double expectedVsOracle = oracle == null ? Double.NaN : 0;
    for (int i = 0; i < expected.numel(); i++) {
      double a = actual.getDouble(i);
      double e = expected.getDouble(i);
      double abs = absError(a, e);
      double rel = abs == 0 ? 0 : abs / Math.abs(e);
      // Matching NaNs and infinities have abs == 0; any other non-finite pair has abs == +inf and fails.
      double allowed = Double.isFinite(e) ? tol.atol() + tol.rtol() * Math.abs(e) : 0;
      boolean ok = abs == 0 || abs <= allowed;
      double excess = abs == 0 ? Double.NEGATIVE_INFINITY : abs - allowed;
      if (oracle != null) {
        double o = oracle.getDouble(i);
        double mine = absError(a, o);
        double theirs = absError(e, o);
        vsOracle = Math.max(vsOracle, mine);
        expectedVsOracle = Math.max(expectedVsOracle, theirs);
        if (!ok && mine <= theirs) {
          ok = true;
          moreAccurate++;
          excess = Double.NEGATIVE_INFINITY;
        }
      }
      maxAbs = Math.max(maxAbs, abs);
      maxRel = Math.max(maxRel, rel);
      if (!ok) {
        passed = false;
      }
      if (excess > worstExcess || worst < 0) {
        worstExcess = excess;
        worst = i;
      }
    }
    String detail = worst < 0 ? name + " is empty" : String.format(Locale.ROOT,
        "%s%s = %s, expected %s (abs err %s, rel err %s, rtol %s, atol %s)", name,
        index(expected.shape(), worst), num(actual.getDouble(worst)), num(expected.getDouble(worst)),
        num(absError(actual.getDouble(worst), expected.getDouble(worst))),
        num(relError(actual.getDouble(worst), expected.getDouble(worst))), num(tol.rtol()), num(tol.atol()));
    return new Comparison(true, maxAbs, maxRel, worst, passed, moreAccurate, vsOracle, expectedVsOracle, detail);
  }

  /** {@code |a - e|}, with matching NaNs and matching infinities at distance 0, and any other non-finite mismatch infinite. */
  static double absError(double a, double e) {
    if (Double.isNaN(a) || Double.isNaN(e)) {
      return Double.isNaN(a) && Double.isNaN(e) ? 0 : Double.POSITIVE_INFINITY;
    }
    if (Double.isInfinite(a) || Double.isInfinite(e)) {
      return a == e ? 0 : Double.POSITIVE_INFINITY;
    }
    return Math.abs(a - e);
  }

  static double relError(double a, double e) {
    double abs = absError(a, e);
    return abs == 0 ? 0 : abs / Math.abs(e);
  }

  private static String index(int[] shape, int flat) {
    int[] idx = new int[shape.length];
    int rest = flat;
    for (int d = shape.length - 1; d >= 0; d--) {
      idx[d] = rest % shape[d];
      rest /= shape[d];
    }
    return Arrays.toString(idx);
  }

  private static String num(double v) {
    return Double.isNaN(v) || Double.isInfinite(v) ? Double.toString(v) : String.format(Locale.ROOT, "%.9g", v);
  }
}
