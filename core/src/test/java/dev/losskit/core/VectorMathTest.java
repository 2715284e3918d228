package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/**
 * The reproducible vector exponential and log1p against {@link Math} in double, rounded to float: within 2 ulp
 * everywhere on their domains (a sweep of 2^20 points plus the edges), exact at 0, NaN for NaN, 0 below float's
 * normal range.
 */
class VectorMathTest {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

  private static float[] apply(boolean exp, float[] in) {
    float[] out = new float[in.length];
    for (int i = 0; i < in.length; i += S.length()) {
      FloatVector v = FloatVector.fromArray(S, in, i);
      (exp ? VectorMath.expNonPositive(v) : VectorMath.log1pUnit(v)).intoArray(out, i);
    }
    return out;
  }

  private static double ulps(float got, double exact) {
    float rounded = (float) exact;
    return Math.abs(got - exact) / Math.ulp(rounded == 0 ? Float.MIN_NORMAL : rounded);
  }

  @Test
  void expIsWithinTwoUlpsOnItsDomain() {
    assumeTrue(VectorSupport.AVAILABLE, "the Vector API is not present");
    int n = 1 << 20;
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) (-87.3 * i / (n - 1));
    }
    float[] e = apply(true, x);
    double worst = 0;
    for (int i = 0; i < n; i++) {
      worst = Math.max(worst, ulps(e[i], Math.exp(x[i])));
    }
    assertTrue(worst <= 2, "worst error " + worst + " ulp");
    float[] edges = new float[S.length()];
    float[] values = {0f, -0f, Float.NaN, Float.NEGATIVE_INFINITY, -88f, -1e-30f, -1.4e-45f, -87.3f};
    System.arraycopy(values, 0, edges, 0, Math.min(values.length, edges.length));
    float[] got = apply(true, edges);
    for (int i = 0; i < Math.min(values.length, edges.length); i++) {
      float v = values[i];
      if (Float.isNaN(v)) {
        assertTrue(Float.isNaN(got[i]));
      } else if (v < -87.34f) {
        assertEquals(0f, got[i], "exp(" + v + ")");
      } else {
        assertTrue(ulps(got[i], Math.exp(v)) <= 2, "exp(" + v + ") = " + got[i]);
      }
    }
  }

  @Test
  void log1pIsWithinTwoUlpsOnTheUnitInterval() {
    assumeTrue(VectorSupport.AVAILABLE, "the Vector API is not present");
    int n = 1 << 20;
    float[] e = new float[n];
    for (int i = 0; i < n; i++) {
      // half the points spread evenly, half spread over magnitudes down to 1e-38
      e[i] = i % 2 == 0 ? (float) ((double) i / (n - 1)) : (float) Math.pow(10, -38.0 * i / n);
    }
    float[] l = apply(false, e);
    double worst = 0;
    for (int i = 0; i < n; i++) {
      worst = Math.max(worst, ulps(l[i], Math.log1p(e[i])));
    }
    assertTrue(worst <= 2, "worst error " + worst + " ulp");
  }
}
