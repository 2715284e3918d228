package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Random;
import jdk.incubator.vector.DoubleVector;
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

  /**
   * The lane sum is the lane-order sum, bit for bit, from the first (interpreted) call to the last (compiled by
   * C2): summands of mixed sign and magnitude, so that another association changes the last bits of most sums.
   * With {@code reduceLanes(ADD)} this failed on JDK 25 once C2 compiled it (a halving tree, not lane order).
   */
  @Test
  void laneSumIsTheLaneOrderSumColdAndWarm() {
    assumeTrue(VectorSupport.AVAILABLE, "the Vector API is not present");
    Random r = new Random(7);
    float[] v = new float[S.length() * 4096];
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) (r.nextGaussian() * Math.exp(4 * r.nextGaussian()));
    }
    float[] lanes = new float[S.length()];
    for (int round = 0; round < 40; round++) {
      for (int i = 0; i < v.length; i += S.length()) {
        float expected = 0f;
        for (int k = 0; k < S.length(); k++) {
          expected += v[i + k];
        }
        float got = VectorMath.sumLanes(FloatVector.fromArray(S, v, i), lanes);
        if (Float.floatToRawIntBits(got) != Float.floatToRawIntBits(expected)) {
          assertEquals(expected, got, "lanes " + i + "... in round " + round);
        }
      }
    }
  }

  /**
   * The double exponential against {@link StrictMath#exp}: relative error below \( 2^{-34} \) (a 2^-10 of a float
   * ulp) on [-700, 0], exact at 0, NaN for NaN, 0 below -700 and for -infinity.
   */
  @Test
  void doubleExpIsFarBelowAFloatUlpOnItsDomain() {
    assumeTrue(VectorSupport.AVAILABLE, "the Vector API is not present");
    VectorSpecies<Double> d = DoubleVector.SPECIES_PREFERRED;
    int n = 1 << 20;
    double[] x = new double[n];
    Random random = new Random(5);
    for (int i = 0; i < n; i++) {
      // Half a sweep of [-110, 0] (where float results live), half random over the whole domain.
      x[i] = i % 2 == 0 ? -110.0 * i / n : -700 * random.nextDouble();
    }
    double[] out = new double[n];
    for (int i = 0; i < n; i += d.length()) {
      VectorMath.expNonPositive(DoubleVector.fromArray(d, x, i)).intoArray(out, i);
    }
    double worst = 0;
    for (int i = 0; i < n; i++) {
      double exact = StrictMath.exp(x[i]);
      worst = Math.max(worst, Math.abs(out[i] - exact) / exact);
    }
    assertTrue(worst < 0x1p-34, "worst relative error " + worst);
    double[] edges = new double[Math.max(8, d.length())];
    double[] values = {0.0, -0.0, Double.NaN, Double.NEGATIVE_INFINITY, -700.5, -1e-300, -699.9, -1e-17};
    System.arraycopy(values, 0, edges, 0, values.length);
    double[] got = new double[edges.length];
    for (int i = 0; i < edges.length; i += d.length()) {
      VectorMath.expNonPositive(DoubleVector.fromArray(d, edges, i)).intoArray(got, i);
    }
    assertEquals(1.0, got[0]);
    assertEquals(1.0, got[1]);
    assertTrue(Double.isNaN(got[2]));
    assertEquals(0.0, got[3]);
    assertEquals(0.0, got[4]);
    assertEquals(1.0, got[5]);
    assertTrue(Math.abs(got[6] - StrictMath.exp(-699.9)) / StrictMath.exp(-699.9) < 0x1p-34);
    assertEquals(1.0, got[7]);
  }

  private static double[] applyDouble(boolean exp, double[] in) {
    VectorSpecies<Double> d = DoubleVector.SPECIES_PREFERRED;
    double[] out = new double[in.length];
    for (int i = 0; i < in.length; i += d.length()) {
      DoubleVector v = DoubleVector.fromArray(d, in, i);
      (exp ? VectorMath.expNonPositiveFull(v) : VectorMath.log1pUnit(v)).intoArray(out, i);
    }
    return out;
  }

  /**
   * The full-precision double exponential against {@link StrictMath#exp}: relative error below \( 2^{-50} \) on
   * [-700, 0], exact at 0, NaN for NaN, 0 below -700.
   */
  @Test
  void fullDoubleExpIsWithinAFewDoubleUlps() {
    assumeTrue(VectorSupport.AVAILABLE, "the Vector API is not present");
    int n = 1 << 20;
    double[] x = new double[n + 8];
    Random random = new Random(9);
    for (int i = 0; i < n; i++) {
      x[i] = i % 2 == 0 ? -110.0 * i / n : -700 * random.nextDouble();
    }
    double[] values = {0.0, -0.0, Double.NaN, Double.NEGATIVE_INFINITY, -700.5, -1e-300, -699.9, -1e-17};
    System.arraycopy(values, 0, x, n, values.length);
    double[] out = applyDouble(true, x);
    double worst = 0;
    for (int i = 0; i < n; i++) {
      double exact = StrictMath.exp(x[i]);
      worst = Math.max(worst, Math.abs(out[i] - exact) / exact);
    }
    assertTrue(worst < 0x1p-50, "worst relative error " + worst);
    assertEquals(1.0, out[n]);
    assertEquals(1.0, out[n + 1]);
    assertTrue(Double.isNaN(out[n + 2]));
    assertEquals(0.0, out[n + 3]);
    assertEquals(0.0, out[n + 4]);
    assertEquals(1.0, out[n + 5]);
    assertTrue(Math.abs(out[n + 6] - StrictMath.exp(-699.9)) / StrictMath.exp(-699.9) < 0x1p-50);
    assertEquals(1.0, out[n + 7]);
  }

  /**
   * The double log1p against {@link StrictMath#log1p} on [0, 1]: relative error below \( 2^{-50} \) (far below
   * the \( 2^{-30} \) that a float result formed from it needs), for values spread evenly and over magnitudes down
   * to 1e-300; exact at 0, NaN for NaN.
   */
  @Test
  void doubleLog1pIsWithinAFewDoubleUlpsOnTheUnitInterval() {
    assumeTrue(VectorSupport.AVAILABLE, "the Vector API is not present");
    int n = 1 << 20;
    double[] e = new double[n + 8];
    Random random = new Random(3);
    for (int i = 0; i < n; i++) {
      e[i] = i % 2 == 0 ? (double) i / (n - 1) : Math.pow(10, -300.0 * random.nextDouble());
    }
    double[] values = {0.0, 1.0, Double.NaN, Math.sqrt(2) - 1, Math.nextUp(Math.sqrt(2) - 1), 0x1p-53, 0x1p-52, 1e-310};
    System.arraycopy(values, 0, e, n, values.length);
    double[] out = applyDouble(false, e);
    double worst = 0;
    for (int i = 0; i < n + 8; i++) {
      if (Double.isNaN(e[i])) {
        assertTrue(Double.isNaN(out[i]));
        continue;
      }
      double exact = StrictMath.log1p(e[i]);
      worst = Math.max(worst, exact == 0 ? Math.abs(out[i]) : Math.abs(out[i] - exact) / exact);
    }
    assertTrue(worst < 0x1p-50, "worst relative error " + worst);
    assertEquals(0.0, out[n]);
  }

  @Test
  void atanhLog1pIsWithinAFewDoubleUlpsOnTheUnitInterval() {
    assumeTrue(VectorSupport.AVAILABLE, "the Vector API is not present");
    VectorSpecies<Double> d = DoubleVector.SPECIES_PREFERRED;
    int n = 1 << 20;
    double[] e = new double[n + 16];
    Random random = new Random(4);
    for (int i = 0; i < n; i++) {
      e[i] = i % 2 == 0 ? (double) i / (n - 1) : Math.pow(10, -300.0 * random.nextDouble());
    }
    double[] values = {0.0, 1.0, Double.NaN, 0.5, Math.nextDown(1.0), 0x1p-53, 0x1p-52, 1e-310, Double.MIN_VALUE};
    System.arraycopy(values, 0, e, n, values.length);
    double[] out = new double[e.length];
    for (int i = 0; i < e.length; i += d.length()) {
      VectorMath.log1pUnitAtanh(DoubleVector.fromArray(d, e, i)).intoArray(out, i);
    }
    double worst = 0;
    for (int i = 0; i < e.length; i++) {
      if (Double.isNaN(e[i])) {
        assertTrue(Double.isNaN(out[i]));
        continue;
      }
      double exact = StrictMath.log1p(e[i]);
      worst = Math.max(worst, exact == 0 ? Math.abs(out[i]) : Math.abs(out[i] - exact) / exact);
    }
    assertTrue(worst < 0x1p-50, "worst relative error " + worst);
    assertEquals(0.0, out[n]);
    assertEquals(Double.MIN_VALUE, out[n + 8]);
  }
}
