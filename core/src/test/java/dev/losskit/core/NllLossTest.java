package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** NLL: the input is used as given (no normalisation), and libtorch's empty and ignored cases. */
class NllLossTest {
  @Test
  void picksTheTargetEntryScaledByItsWeight() {
    double[] x = {-1.0, -2.0, -3.0, -0.5, -0.25, -4.0};
    double[] w = {2.0, 1.0, 0.5};
    NllLoss nll = NllLoss.builder().weight(w).build();
    LossResult r = nll.forwardBackward(Tensor.of(x, 2, 3), Tensor.of(new long[] {2, 0}, 2));
    double expected = (0.5 * 3.0 + 2.0 * 0.5) / (0.5 + 2.0);
    assertEquals(expected, r.loss().getDouble(0), 1e-15);
    double wsum = 2.5;
    assertArrayEquals(new double[] {0, 0, -0.5 / wsum, -2.0 / wsum, 0, 0}, r.gradInput().toDoubleArray(), 1e-15);
  }

  @Test
  void sumAndNoneIgnoreTheIgnoredPositions() {
    double[] x = {-1.0, -2.0, -3.0, -0.5};
    Tensor t = Tensor.of(new long[] {1, 5}, 2);
    NllLoss sum = NllLoss.builder().reduction(Reduction.SUM).ignoreIndex(5).build();
    assertEquals(2.0, sum.forward(Tensor.of(x, 2, 2), t).getDouble(0), 0.0);
    Tensor none = sum.toBuilder().reduction(Reduction.NONE).build().forward(Tensor.of(x, 2, 2), t);
    assertArrayEquals(new double[] {2.0, 0.0}, none.toDoubleArray(), 0.0);
  }

  @Test
  void allIgnoredMeanIsNanWithZeroGradientEvenForKDimInputs() {
    Tensor x = Tensor.of(new float[] {-1, -2, -3, -4, -5, -6, -7, -8}, 1, 2, 2, 2);
    Tensor t = Tensor.of(new long[] {-1, -1, -1, -1}, 1, 2, 2);
    LossResult r = NllLoss.builder().ignoreIndex(-1).build().forwardBackward(x, t);
    assertTrue(Double.isNaN(r.loss().getDouble(0)));
    assertArrayEquals(new double[8], r.gradInput().toDoubleArray(), 0.0);
  }

  @Test
  void emptyBatchMeanIsNanAndSumIsZero() {
    Tensor x = Tensor.of(new double[0], 0, 3, 2);
    Tensor t = Tensor.of(new long[0], 0, 2);
    assertTrue(Double.isNaN(NllLoss.create().forward(x, t).getDouble(0)));
    assertEquals(0.0, NllLoss.builder().reduction(Reduction.SUM).build().forward(x, t).getDouble(0), 0.0);
    assertArrayEquals(new int[] {0, 2},
        NllLoss.builder().reduction(Reduction.NONE).build().forward(x, t).shape());
  }

  @Test
  void nanElsewhereInTheInputDoesNotReachTheLossOrGradient() {
    Tensor x = Tensor.of(new double[] {Double.NaN, -2.0}, 1, 2);
    LossResult r = NllLoss.create().forwardBackward(x, Tensor.of(new long[] {1}, 1));
    assertEquals(2.0, r.loss().getDouble(0), 0.0);
    assertArrayEquals(new double[] {0, -1}, r.gradInput().toDoubleArray(), 0.0);
  }
}
