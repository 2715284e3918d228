package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Random;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/**
 * The reproducible double-lane exponential and log1p against {@link StrictMath}: below \( 2^{-50} \) relative on
 * their domains (sweeps of 2^20 points plus the edges), exact at 0, NaN for NaN, 0 below -700; and the lane sum in
 * lane order, cold and warm.
 */
class VectorMathTest {
  /**
   * The double lane sum adds in lane order, cold and warm: the same bits as a scalar loop in every round, while
   * C2 compiles it. With {@code reduceLanes(ADD)} the float version of this failed on JDK 25 once C2 compiled it (a
   * halving tree, not lane order).
   */
  @Test
  void laneSumIsTheLaneOrderSumColdAndWarm() {
    assumeTrue(VectorSupport.AVAILABLE, "the Vector API is not present");
    VectorSpecies<Double> d = DoubleVector.SPECIES_PREFERRED;
    Random r = new Random(7);
    double[] v = new double[d.length() * 4096];
    for (int i = 0; i < v.length; i++) {
      v[i] = r.nextGaussian() * Math.exp(16 * r.nextGaussian());
    }
    double[] lanes = new double[d.length()];
    for (int round = 0; round < 40; round++) {
      for (int i = 0; i < v.length; i += d.length()) {
        double expected = 0;
        for (int k = 0; k < d.length(); k++) {
          expected += v[i + k];
        }
        double got = VectorMath.sumLanes(DoubleVector.fromArray(d, v, i), lanes);
        if (Double.doubleToRawLongBits(got) != Double.doubleToRawLongBits(expected)) {
          assertEquals(expected, got, "lanes " + i + "... in round " + round);
        }
      }
    }
  }

  private static double[] applyExp(double[] in) {
    VectorSpecies<Double> d = DoubleVector.SPECIES_PREFERRED;
    double[] out = new double[in.length];
    for (int i = 0; i < in.length; i += d.length()) {
      DoubleVector v = DoubleVector.fromArray(d, in, i);
      VectorMath.expNonPositive(v).intoArray(out, i);
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
    double[] out = applyExp(x);
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

  @Test
  void atanhLog1pIsWithinAFewDoubleUlpsDownToMinusOneHalf() {
    // BCELoss takes log1p(-s) for s in [0, 1/2], and log(m) as log1p(m - 1) for m in [sqrt(1/2), sqrt(2)).
    assumeTrue(VectorSupport.AVAILABLE, "the Vector API is not present");
    VectorSpecies<Double> d = DoubleVector.SPECIES_PREFERRED;
    int n = 1 << 20;
    double[] e = new double[n + 16];
    Random random = new Random(5);
    for (int i = 0; i < n; i++) {
      e[i] = i % 2 == 0 ? -0.5 * i / (n - 1) : -0.5 * Math.pow(10, -300.0 * random.nextDouble());
    }
    double[] values = {-0.5, Math.nextUp(-0.5), -0.25, -0x1p-53, -Double.MIN_VALUE, Math.sqrt(0.5) - 1};
    System.arraycopy(values, 0, e, n, values.length);
    double[] out = new double[e.length];
    for (int i = 0; i < e.length; i += d.length()) {
      VectorMath.log1pUnitAtanh(DoubleVector.fromArray(d, e, i)).intoArray(out, i);
    }
    double worst = 0;
    for (int i = 0; i < n + values.length; i++) {
      double exact = StrictMath.log1p(e[i]);
      worst = Math.max(worst, exact == 0 ? Math.abs(out[i]) : Math.abs(out[i] - exact) / Math.abs(exact));
    }
    assertTrue(worst < 0x1p-50, "worst relative error " + worst);
  }
}
