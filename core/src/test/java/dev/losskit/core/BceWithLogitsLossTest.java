package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** BCE with logits against the textbook form -[p·y·log σ(x) + (1-y)·log(1-σ(x))]·w. */
class BceWithLogitsLossTest {
  private static double sigmoid(double x) {
    return 1 / (1 + Math.exp(-x));
  }

  private static double textbook(double x, double y, double p, double w) {
    return -w * (p * y * Math.log(sigmoid(x)) + (1 - y) * Math.log(1 - sigmoid(x)));
  }

  @Test
  void matchesTheTextbookFormWithBroadcastWeights() {
    // input (2, 3); weight (3) broadcasts over rows; posWeight (3) along the last dimension.
    double[] x = {0.5, -1.0, 2.0, -0.3, 0.0, 1.7};
    double[] y = {1, 0, 0.3, 0, 1, 0.9};
    double[] w = {1.0, 0.5, 2.0};
    double[] p = {3.0, 1.0, 0.25};
    BceWithLogitsLoss bce = BceWithLogitsLoss.builder().reduction(Reduction.NONE).weight(w).posWeight(p).build();
    Tensor loss = bce.forward(Tensor.of(x, 2, 3), Tensor.of(y, 2, 3));
    for (int i = 0; i < 6; i++) {
      assertEquals(textbook(x[i], y[i], p[i % 3], w[i % 3]), loss.getDouble(i), 1e-12);
    }
    double mean = BceWithLogitsLoss.builder().weight(w).posWeight(p).build()
        .forward(Tensor.of(x, 2, 3), Tensor.of(y, 2, 3)).getDouble(0);
    double total = 0;
    for (int i = 0; i < 6; i++) {
      total += textbook(x[i], y[i], p[i % 3], w[i % 3]);
    }
    assertEquals(total / 6, mean, 1e-12);
  }

  @Test
  void gradientIsSigmoidMinusTargetWithoutPosWeight() {
    double[] x = {0.5, -1.0, 2.0};
    double[] y = {1, 0, 0.25};
    Tensor g = BceWithLogitsLoss.builder().reduction(Reduction.SUM).build()
        .backward(Tensor.of(x, 3), Tensor.of(y, 3), Tensor.scalar(2.0));
    for (int i = 0; i < 3; i++) {
      assertEquals(2 * (sigmoid(x[i]) - y[i]), g.getDouble(i), 1e-15);
    }
  }

  @Test
  void isStableForHugeLogits() {
    Tensor loss = BceWithLogitsLoss.builder().reduction(Reduction.NONE).build()
        .forward(Tensor.of(new double[] {1000, -1000, 1000}, 3), Tensor.of(new double[] {1, 0, 0}, 3));
    assertArrayEquals(new double[] {0, 0, 1000}, loss.toDoubleArray(), 1e-300);
  }

  @Test
  void emptyInputMeanIsNanAndSumIsZero() {
    Tensor x = Tensor.of(new float[0], 0, 4);
    assertTrue(Double.isNaN(BceWithLogitsLoss.create().forward(x, x).getDouble(0)));
    assertEquals(0.0, BceWithLogitsLoss.builder().reduction(Reduction.SUM).build().forward(x, x).getDouble(0), 0);
  }

  @Test
  void weightMayBroadcastFromAnyCompatibleShape() {
    double[] x = {0.5, -1.0, 2.0, -0.3};
    double[] y = {1, 0, 0, 1};
    Tensor rowWeight = Tensor.of(new double[] {2.0, 3.0}, 2, 1);
    Tensor loss = BceWithLogitsLoss.builder().reduction(Reduction.NONE).weight(rowWeight).build()
        .forward(Tensor.of(x, 2, 2), Tensor.of(y, 2, 2));
    assertEquals(textbook(x[1], y[1], 1, 2.0), loss.getDouble(1), 1e-12);
    assertEquals(textbook(x[2], y[2], 1, 3.0), loss.getDouble(2), 1e-12);
  }
}
