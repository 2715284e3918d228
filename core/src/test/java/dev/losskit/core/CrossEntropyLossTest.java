package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Cross-entropy against derivations written here, and libtorch's edge-case behaviour. */
class CrossEntropyLossTest {
  private static final double EPS = 1e-12;

  @Test
  void uniformLogitsGiveLogCAndSoftmaxMinusOneHotOverN() {
    // With equal logits every class has probability 1/C: loss = log C, d loss/d x = (1/C - onehot) / N.
    int n = 2;
    int c = 4;
    double[] x = new double[n * c];
    LossResult r = CrossEntropyLoss.create().forwardBackward(Tensor.of(x, n, c), Tensor.of(new long[] {1, 3}, n));
    assertEquals(Math.log(c), r.loss().getDouble(0), EPS);
    for (int i = 0; i < n; i++) {
      for (int k = 0; k < c; k++) {
        double onehot = (i == 0 && k == 1) || (i == 1 && k == 3) ? 1 : 0;
        assertEquals((1.0 / c - onehot) / n, r.gradInput().getDouble(i * c + k), EPS);
      }
    }
  }

  @Test
  void weightsAndIgnoreIndexFollowTheWeightedMean() {
    double[] x = {1.0, -0.5, 2.0, 0.3, 0.1, -1.2, 0.7, 0.7, 0.0};
    long[] t = {2, 1, 0};
    double[] w = {0.5, 2.0, 1.5};
    // Position 1 is ignored: loss = (w2·(-logp0[2]) + w0·(-logp2[0])) / (w2 + w0).
    double l0 = -Oracle.logSoftmax(Oracle.row(x, 0, 3))[2];
    double l2 = -Oracle.logSoftmax(Oracle.row(x, 2, 3))[0];
    double expected = (w[2] * l0 + w[0] * l2) / (w[2] + w[0]);
    CrossEntropyLoss ce = CrossEntropyLoss.builder().weight(w).ignoreIndex(1).build();
    assertEquals(expected, ce.forward(Tensor.of(x, 3, 3), Tensor.of(t, 3)).getDouble(0), EPS);

    Tensor none = ce.toBuilder().reduction(Reduction.NONE).build().forward(Tensor.of(x, 3, 3), Tensor.of(t, 3));
    assertArrayEquals(new double[] {w[2] * l0, 0, w[0] * l2}, none.toDoubleArray(), EPS);
  }

  @Test
  void labelSmoothingMixesNllWithTheWeightedSumOverClasses() {
    double[] x = {0.2, 1.4, -0.3, 2.2, 0.0, 0.5};
    long[] t = {1, 0};
    double[] w = {1.0, 3.0, 0.5};
    double eps = 0.1;
    int c = 3;
    double nll = 0;
    double smooth = 0;
    double wsum = 0;
    for (int i = 0; i < 2; i++) {
      double[] lp = Oracle.logSoftmax(Oracle.row(x, i, c));
      nll += -w[(int) t[i]] * lp[(int) t[i]];
      for (int k = 0; k < c; k++) {
        smooth += -w[k] * lp[k];
      }
      wsum += w[(int) t[i]];
    }
    double expected = (1 - eps) * nll / wsum + eps / c * smooth / wsum;
    CrossEntropyLoss ce = CrossEntropyLoss.builder().weight(w).labelSmoothing(eps).build();
    assertEquals(expected, ce.forward(Tensor.of(x, 2, c), Tensor.of(t, 2)).getDouble(0), EPS);
    double sumExpected = (1 - eps) * nll + eps / c * smooth;
    assertEquals(sumExpected, ce.toBuilder().reduction(Reduction.SUM).build()
        .forward(Tensor.of(x, 2, c), Tensor.of(t, 2)).getDouble(0), EPS);
  }

  @Test
  void probabilityTargetsAreSmoothedAndMeanDividesByPositionsNotWeights() {
    double[] x = {0.2, 1.4, -0.3, 2.2, 0.0, 0.5};
    double[] y = {0.1, 0.6, 0.3, 1.0, 0.0, 0.0};
    double[] w = {1.0, 3.0, 0.5};
    double eps = 0.2;
    int c = 3;
    double total = 0;
    for (int i = 0; i < 2; i++) {
      double[] lp = Oracle.logSoftmax(Oracle.row(x, i, c));
      for (int k = 0; k < c; k++) {
        total += -w[k] * (y[i * c + k] * (1 - eps) + eps / c) * lp[k];
      }
    }
    CrossEntropyLoss ce = CrossEntropyLoss.builder().weight(w).labelSmoothing(eps).build();
    assertEquals(total / 2, ce.forward(Tensor.of(x, 2, c), Tensor.of(y, 2, c)).getDouble(0), EPS);
  }

  @Test
  void kDimensionalInputsUseTheClassDimensionAtOne() {
    // (N=1, C=2, d=3): position s has logits (x[0][s], x[1][s]).
    double[] x = {0.0, 1.0, 2.0, 0.5, -1.0, 3.0};
    long[] t = {1, 0, 1};
    double expected = 0;
    for (int s = 0; s < 3; s++) {
      double[] lp = Oracle.logSoftmax(x[s], x[3 + s]);
      expected += -lp[(int) t[s]];
    }
    Tensor loss = CrossEntropyLoss.create().forward(Tensor.of(x, 1, 2, 3), Tensor.of(t, 1, 3));
    assertEquals(expected / 3, loss.getDouble(0), EPS);
    Tensor none = CrossEntropyLoss.builder().reduction(Reduction.NONE).build()
        .forward(Tensor.of(x, 1, 2, 3), Tensor.of(t, 1, 3));
    assertArrayEquals(new int[] {1, 3}, none.shape());
  }

  @Test
  void unbatchedInputTakesAScalarTargetAndGivesAScalarEvenForNone() {
    double[] x = {0.5, -0.5, 2.0};
    Tensor none = CrossEntropyLoss.builder().reduction(Reduction.NONE).build()
        .forward(Tensor.of(x, 3), Tensor.of(new long[] {2}));
    assertEquals(0, none.dim());
    assertEquals(-Oracle.logSoftmax(x)[2], none.getDouble(0), EPS);
  }

  @Test
  void emptyBatchGivesNanForMeanAndZeroForSum() {
    Tensor x = Tensor.of(new float[0], 0, 5);
    Tensor t = Tensor.of(new long[0], 0);
    for (double eps : new double[] {0, 0.1}) {
      CrossEntropyLoss ce = CrossEntropyLoss.builder().labelSmoothing(eps).build();
      LossResult r = ce.forwardBackward(x, t);
      assertTrue(Double.isNaN(r.loss().getDouble(0)), "mean of an empty batch is NaN");
      assertArrayEquals(new int[] {0, 5}, r.gradInput().shape());
      assertEquals(0.0, ce.toBuilder().reduction(Reduction.SUM).build().forward(x, t).getDouble(0), 0.0);
    }
  }

  @Test
  void allIgnoredGivesNanMeanWithAZeroGradient() {
    double[] x = {0.3, 0.1, -2.0, 1.0};
    Tensor t = Tensor.of(new long[] {-100, -100}, 2);
    for (double eps : new double[] {0, 0.1, 1}) {
      LossResult r = CrossEntropyLoss.builder().labelSmoothing(eps).weight(1, 2).build()
          .forwardBackward(Tensor.of(x, 2, 2), t);
      assertTrue(Double.isNaN(r.loss().getDouble(0)));
      assertArrayEquals(new double[4], r.gradInput().toDoubleArray(), 0.0);
    }
  }

  @Test
  void negativeInfinityLogitsAtOtherClassesAreHarmlessAndAtTheTargetGiveInfinity() {
    double ninf = Double.NEGATIVE_INFINITY;
    LossResult r = CrossEntropyLoss.create().forwardBackward(Tensor.of(new double[] {0, ninf, 0}, 1, 3),
        Tensor.of(new long[] {0}, 1));
    assertEquals(Math.log(2), r.loss().getDouble(0), EPS);
    assertArrayEquals(new double[] {-0.5, 0, 0.5}, r.gradInput().toDoubleArray(), EPS);

    Tensor atTarget = CrossEntropyLoss.create().forward(Tensor.of(new double[] {0, ninf, 0}, 1, 3),
        Tensor.of(new long[] {1}, 1));
    assertEquals(Double.POSITIVE_INFINITY, atTarget.getDouble(0));
  }

  @Test
  void nanInARowMakesThatRowsLossAndGradientNanOnly() {
    double[] x = {Double.NaN, 0, 1, 0.5, 0.5, 0.5};
    LossResult r = CrossEntropyLoss.builder().reduction(Reduction.NONE).build()
        .forwardBackward(Tensor.of(x, 2, 3), Tensor.of(new long[] {1, 2}, 2));
    assertTrue(Double.isNaN(r.loss().getDouble(0)));
    assertEquals(Math.log(3), r.loss().getDouble(1), EPS);
    for (int k = 0; k < 3; k++) {
      assertTrue(Double.isNaN(r.gradInput().getDouble(k)));
      assertTrue(Double.isFinite(r.gradInput().getDouble(3 + k)));
    }
  }

  @Test
  void zeroWeightOnEveryTargetGivesNanMeanAsInLibtorch() {
    // libtorch divides unconditionally: 0 / 0 = NaN, and the gradient is 0 · (-1/0) = NaN at those positions.
    LossResult r = CrossEntropyLoss.builder().weight(0, 1).build()
        .forwardBackward(Tensor.of(new double[] {0.2, 0.4}, 1, 2), Tensor.of(new long[] {0}, 1));
    assertTrue(Double.isNaN(r.loss().getDouble(0)));
    assertTrue(Double.isNaN(r.gradInput().getDouble(0)));
  }

  @Test
  void oneClassGivesZeroLossAndGradient() {
    LossResult r = CrossEntropyLoss.create().forwardBackward(Tensor.of(new float[] {3f, -2f}, 2, 1),
        Tensor.of(new long[] {0, 0}, 2));
    assertEquals(0.0, r.loss().getDouble(0), 0.0);
    assertArrayEquals(new double[] {0, 0}, r.gradInput().toDoubleArray(), 0.0);
  }

  @Test
  void resultsComeInTheInputsDtype() {
    Tensor t = Tensor.of(new long[] {0}, 1);
    assertEquals(DType.FLOAT32, CrossEntropyLoss.create().forward(Tensor.of(new float[] {1, 2}, 1, 2), t).dtype());
    LossResult r = CrossEntropyLoss.create().forwardBackward(Tensor.of(new double[] {1, 2}, 1, 2), t);
    assertEquals(DType.FLOAT64, r.loss().dtype());
    assertEquals(DType.FLOAT64, r.gradInput().dtype());
  }

  @Test
  void backwardScalesByTheUpstreamGradient() {
    double[] x = {0.3, -0.7, 1.1};
    Tensor t = Tensor.of(new long[] {2}, 1);
    CrossEntropyLoss ce = CrossEntropyLoss.create();
    double[] g1 = ce.backward(Tensor.of(x, 1, 3), t, Tensor.scalar(1.0)).toDoubleArray();
    double[] g3 = ce.backward(Tensor.of(x, 1, 3), t, Tensor.scalar(3.0)).toDoubleArray();
    double[] p = Oracle.softmax(x);
    for (int k = 0; k < 3; k++) {
      assertEquals(p[k] - (k == 2 ? 1 : 0), g1[k], EPS);
      assertEquals(3 * g1[k], g3[k], EPS);
    }
  }

  @Test
  void intTargetsAndBufferViewsGiveTheSameResultAsArrays() {
    float[] x = {0.1f, 0.9f, -0.4f, 1.5f, 0.2f, 0.0f};
    LossResult base = CrossEntropyLoss.create().forwardBackward(Tensor.of(x, 2, 3), Tensor.of(new long[] {2, 0}, 2));

    java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocateDirect(4 * (x.length + 2))
        .order(java.nio.ByteOrder.nativeOrder());
    bytes.asFloatBuffer().put(new float[] {9f, 9f}).put(x);
    Tensor direct = Tensor.view(bytes.asFloatBuffer(), 2, 2, 3);
    assertTrue(direct.isDirect());
    LossResult viaBuffer = CrossEntropyLoss.create().forwardBackward(direct, Tensor.of(new int[] {2, 0}, 2));
    assertEquals(base.loss().getDouble(0), viaBuffer.loss().getDouble(0));
    assertArrayEquals(base.gradInput().toDoubleArray(), viaBuffer.gradInput().toDoubleArray());

    float[] padded = new float[x.length + 3];
    System.arraycopy(x, 0, padded, 3, x.length);
    LossResult viaOffset = CrossEntropyLoss.create().forwardBackward(Tensor.view(padded, 3, 2, 3),
        Tensor.view(new long[] {7, 2, 0}, 1, 2));
    assertEquals(base.loss().getDouble(0), viaOffset.loss().getDouble(0));
  }
}
