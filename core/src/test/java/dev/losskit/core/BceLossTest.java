package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.losskit.core.LossArgumentException.Cause;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * BCELoss on probabilities against its textbook form \( -w\,(y \log x + (1 - y) \log(1 - x)) \) with libtorch's
 * clamps derived in each test: each log at -100, the gradient's denominator \( (1 - x) x \) at \( 10^{-12} \) (in the
 * input's dtype); the values' checks; and the fused kernel against the reference.
 */
class BceLossTest {
  private static double textbook(double x, double y, double w) {
    return -w * (y * Math.max(Math.log(x), -100) + (1 - y) * Math.max(Math.log(1 - x), -100));
  }

  @Test
  void matchesTheTextbookFormWithBroadcastWeights() {
    double[] x = {0.7, 0.2, 0.5, 0.01, 0.99, 0.3};
    double[] y = {1, 0, 0.25, 1, 0, 0.9};
    double[] w = {1.5, 0.5, 2};
    BceLoss none = BceLoss.builder().reduction(Reduction.NONE).weight(w).build();
    Tensor loss = none.forward(Tensor.of(x, 2, 3), Tensor.of(y, 2, 3));
    double total = 0;
    for (int i = 0; i < 6; i++) {
      assertEquals(textbook(x[i], y[i], w[i % 3]), loss.getDouble(i), 1e-15);
      total += textbook(x[i], y[i], w[i % 3]);
    }
    double mean = BceLoss.builder().weight(w).build().forward(Tensor.of(x, 2, 3), Tensor.of(y, 2, 3)).getDouble(0);
    assertEquals(total / 6, mean, 1e-15);
  }

  @Test
  void theSeedExample() {
    // 003: BCELoss()([0.7, 0.2], [1, 0]) = -(log 0.7 + log 0.8) / 2 (0.2899 in the article).
    Tensor loss = BceLoss.create().forward(Tensor.of(new float[] {0.7f, 0.2f}, 2), Tensor.of(new float[] {1, 0}, 2));
    double expected = -(Math.log(0.7f) + Math.log(1 - (double) 0.2f)) / 2;
    assertEquals((float) expected, loss.getDouble(0), 0);
    assertEquals(0.2899, loss.getDouble(0), 5e-5);
  }

  @Test
  void exactZerosAndOnesGiveTheClampedLoss() {
    // log 0 = -inf is clamped to -100: a confident wrong answer costs 100, a confident right one 0.
    double[] x = {0, 1, 0, 1};
    double[] y = {0, 1, 1, 0};
    Tensor loss = BceLoss.builder().reduction(Reduction.NONE).build().forward(Tensor.of(x, 4), Tensor.of(y, 4));
    assertArrayEquals(new double[] {0, 0, 100, 100}, loss.toDoubleArray(), 0);
  }

  @Test
  void gradientIsLibtorchsWithTheClampedDenominator() {
    double[] x = {0.7, 0.2, 0, 1, 0, 1e-13};
    double[] y = {1, 0, 1, 0, 0, 1};
    Tensor g = BceLoss.builder().reduction(Reduction.SUM).build()
        .forwardBackward(Tensor.of(x, 6), Tensor.of(y, 6)).gradInput();
    // libtorch's EPSILON is the float 1e-12f in every dtype, float64 included.
    double eps = 1e-12f;
    for (int i = 0; i < 6; i++) {
      assertEquals((x[i] - y[i]) / Math.max((1 - x[i]) * x[i], eps), g.getDouble(i), 0, "element " + i);
    }
    assertEquals(-1 / eps, g.getDouble(2), 0);
    // libtorch's own float64 gradient at x = 0, y = 0.5 (torch 2.13 and torch 1.13 alike).
    assertEquals(-500000001997.9014, BceLoss.builder().reduction(Reduction.SUM).build()
        .forwardBackward(Tensor.of(new double[] {0}, 1), Tensor.of(new double[] {0.5}, 1)).gradInput().getDouble(0), 0);
    // float32: the clamp is 1e-12 rounded to float, as libtorch's scalar_t(EPSILON).
    float[] xf = {0, 1};
    float[] yf = {1, 0};
    Tensor gf = BceLoss.builder().reduction(Reduction.SUM).build()
        .forwardBackward(Tensor.of(xf, 2), Tensor.of(yf, 2)).gradInput();
    assertEquals((float) (-1 / (double) 1e-12f), gf.getDouble(0), 0);
    assertEquals((float) (1 / (double) 1e-12f), gf.getDouble(1), 0);
  }

  @Test
  void meanDividesTheGradientByTheElementCount() {
    double[] x = {0.7, 0.2, 0.4};
    double[] y = {1, 0, 1};
    Tensor g = BceLoss.create().forwardBackward(Tensor.of(x, 3), Tensor.of(y, 3), Tensor.scalar(2.0)).gradInput();
    for (int i = 0; i < 3; i++) {
      assertEquals(2 * (x[i] - y[i]) / ((1 - x[i]) * x[i]) / 3, g.getDouble(i), 1e-15);
    }
  }

  @Test
  void emptyInputMeanIsNanAndSumIsZero() {
    Tensor x = Tensor.of(new double[0], 0, 3);
    assertTrue(Double.isNaN(BceLoss.create().forward(x, x).getDouble(0)));
    assertEquals(0.0, BceLoss.builder().reduction(Reduction.SUM).build().forward(x, x).getDouble(0), 0);
    assertEquals(0, BceLoss.create().forwardBackward(x, x).gradInput().numel());
  }

  @Test
  void valuesOutsideTheUnitIntervalAreErrorsNamingTheValueAndPosition() {
    BceLoss loss = BceLoss.create();
    LossArgumentException e = assertThrows(LossArgumentException.class,
        () -> loss.forward(Tensor.of(new double[] {0.5, 1.5, 0.2, 0.1}, 2, 2), Tensor.of(new double[4], 2, 2)));
    assertEquals(Cause.PROBABILITY_RANGE, e.cause());
    assertTrue(e.getMessage().contains("input[0, 1] = 1.5"), e.getMessage());
    e = assertThrows(LossArgumentException.class,
        () -> loss.forward(Tensor.of(new float[] {0.5f, Float.NaN}, 2), Tensor.of(new float[2], 2)));
    assertTrue(e.getMessage().contains("input[1] = NaN"), e.getMessage());
    e = assertThrows(LossArgumentException.class,
        () -> loss.forward(Tensor.of(new double[] {0.5, 0.5}, 2), Tensor.of(new double[] {0, -0.25}, 2)));
    assertTrue(e.getMessage().contains("target[1] = -0.25"), e.getMessage());
    // The first bad element in index order, the input before the target at the same index.
    e = assertThrows(LossArgumentException.class,
        () -> loss.forward(Tensor.of(new double[] {0.5, 2}, 2), Tensor.of(new double[] {3, 0}, 2)));
    assertTrue(e.getMessage().contains("target[0] = 3.0"), e.getMessage());
    // Wide float32 rows take the vector check: a bad value past the first vectors and in the tail.
    float[] wide = new float[1000];
    wide[517] = -1e-30f;
    e = assertThrows(LossArgumentException.class, () -> loss.forward(Tensor.of(wide, 1000), Tensor.of(wide, 1000)));
    assertTrue(e.getMessage().contains("input[517]"), e.getMessage());
    wide[517] = 0;
    wide[999] = 1.0000001f;
    e = assertThrows(LossArgumentException.class, () -> loss.backward(Tensor.of(wide, 1000), Tensor.of(new float[1000],
        1000), Tensor.scalar(1f)));
    assertTrue(e.getMessage().contains("input[999]"), e.getMessage());
  }

  @Test
  void shapesAndDtypesAreCheckedAsTorchChecksThem() {
    BceLoss loss = BceLoss.create();
    LossArgumentException e = assertThrows(LossArgumentException.class,
        () -> loss.forward(Tensor.of(new double[2], 2), Tensor.of(new double[1], 1)));
    assertEquals(Cause.SHAPE_MISMATCH, e.cause());
    e = assertThrows(LossArgumentException.class,
        () -> loss.forward(Tensor.of(new float[2], 2), Tensor.of(new double[2], 2)));
    assertEquals(Cause.DTYPE, e.cause());
    e = assertThrows(LossArgumentException.class,
        () -> BceLoss.builder().weight(1, 1, 1).build().forward(Tensor.of(new double[2], 2), Tensor.of(new double[2], 2)));
    assertEquals(Cause.WEIGHT_SHAPE, e.cause());
    e = assertThrows(LossArgumentException.class,
        () -> BceLoss.builder().weight(Tensor.of(new double[4], 2, 2)).build()
            .forward(Tensor.of(new double[2], 2), Tensor.of(new double[2], 2)));
    assertEquals(Cause.WEIGHT_SHAPE, e.cause());
  }

  @Test
  void fusedKernelAgreesWithTheReference() {
    Random r = new Random(11);
    int rows = 37;
    int cols = 301;
    int n = rows * cols;
    float[] x = new float[n];
    float[] y = new float[n];
    double[] xd = new double[n];
    double[] yd = new double[n];
    for (int i = 0; i < n; i++) {
      x[i] = r.nextInt(20) == 0 ? r.nextInt(2) : r.nextFloat();
      y[i] = r.nextInt(3) == 0 ? r.nextFloat() : r.nextInt(2);
      xd[i] = x[i];
      yd[i] = y[i];
    }
    double[] w = new double[cols];
    for (int c = 0; c < cols; c++) {
      w[c] = 0.5 + r.nextInt(4);
    }
    for (Reduction reduction : Reduction.values()) {
      for (boolean weighted : new boolean[] {false, true}) {
        BceLoss.Builder b = BceLoss.builder().reduction(reduction);
        if (weighted) {
          b.weight(w);
        }
        BceLoss loss = b.build();
        int[] gShape = reduction == Reduction.NONE ? new int[] {rows, cols} : new int[0];
        float[] gf = new float[Tensor.checkedSize(gShape)];
        for (int i = 0; i < gf.length; i++) {
          gf[i] = (float) r.nextGaussian();
        }
        double[] gd = new double[gf.length];
        for (int i = 0; i < gf.length; i++) {
          gd[i] = gf[i];
        }
        for (boolean float64 : new boolean[] {false, true}) {
          Tensor in = float64 ? Tensor.of(xd, rows, cols) : Tensor.of(x, rows, cols);
          Tensor t = float64 ? Tensor.of(yd, rows, cols) : Tensor.of(y, rows, cols);
          Tensor g = float64 ? Tensor.of(gd, gShape) : Tensor.of(gf, gShape);
          LossResult fast = loss.forwardBackward(in, t, g);
          LossResult ref = Reference.forwardBackward(loss, in, t, g);
          String what = loss + (float64 ? " float64" : " float32");
          assertClose(ref.loss(), fast.loss(), float64, n, what + " loss");
          assertClose(ref.gradInput(), fast.gradInput(), float64, n, what + " gradient");
        }
      }
    }
  }

  private static void assertClose(Tensor expected, Tensor actual, boolean float64, int elements, String what) {
    assertArrayEquals(expected.shape(), actual.shape(), what);
    // Elements: a few ulps of the dtype. A reduced loss: the kernels sum by blocks, the reference in one run, so
    // the float64 sums may differ by the summation's bound, about n·2^-53 of the sum of |terms| (all terms are
    // non-negative here); each float32 result is rounded once from such a sum.
    double slack = expected.dim() == 0 && float64 ? elements * 0x1p-53 * Math.abs(expected.getDouble(0)) : 0;
    for (int i = 0; i < expected.numel(); i++) {
      double e = expected.getDouble(i);
      double a = actual.getDouble(i);
      double ulp = float64 ? Math.ulp(e) : Math.ulp((float) e);
      assertTrue(Math.abs(a - e) <= 4 * ulp + slack, what + " element " + i + ": " + e + " vs " + a);
    }
  }
}
