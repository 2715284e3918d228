package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * Where PyTorch propagates a NaN or an infinity instead of rejecting it, so does losskit: in weights, targets and
 * upstream gradients (NaN and infinite logits are checked against libtorch in the conformance matrix). Each
 * expectation follows from the formula: a NaN factor makes its term, and so the sum, NaN.
 */
class PropagationTest {
  private static final Tensor X = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
  private static final Tensor T = Tensor.of(new long[] {0, 2}, 2);

  @Test
  void aNanClassWeightOnATargetMakesTheMeanNan() {
    LossResult r = CrossEntropyLoss.builder().weight(Double.NaN, 1, 1).build().forwardBackward(X, T);
    assertTrue(Double.isNaN(r.loss().getDouble(0)));
    LossResult off = CrossEntropyLoss.builder().weight(1, Double.NaN, 1).reduction(Reduction.SUM).build()
        .forwardBackward(X, T);
    assertFalse(Double.isNaN(off.loss().getDouble(0)), "a NaN weight on no target leaves the sum finite");
  }

  @Test
  void aNanBceTargetMakesItsElementNan() {
    Tensor y = Tensor.of(new float[] {0, 1, Float.NaN, 0, 1, 0}, 2, 3);
    LossResult r = BceWithLogitsLoss.builder().reduction(Reduction.NONE).build().forwardBackward(X, y,
        Tensor.of(new float[] {1, 1, 1, 1, 1, 1}, 2, 3));
    assertTrue(Double.isNaN(r.loss().getDouble(2)) && Double.isNaN(r.gradInput().getDouble(2)));
    assertFalse(Double.isNaN(r.loss().getDouble(1)) || Double.isNaN(r.gradInput().getDouble(1)));
  }

  @Test
  void anInfinitePosWeightPropagatesAsLibtorchsFormulaDoes() {
    BceWithLogitsLoss loss = BceWithLogitsLoss.builder().posWeight(Double.POSITIVE_INFINITY, 1, 1).build();
    // y = 1 wherever the weight is infinite: -(1 + (inf - 1)·1)·logσ(x) = +inf, since logσ(x) < 0
    Tensor positive = Tensor.of(new float[] {1, 0, 1, 1, 1, 0}, 2, 3);
    assertTrue(loss.forward(X, positive).getDouble(0) == Double.POSITIVE_INFINITY);
    // y = 0 there: libtorch's (p - 1)·y + 1 is inf·0 + 1 = NaN
    Tensor negative = Tensor.of(new float[] {0, 0, 1, 1, 1, 0}, 2, 3);
    assertTrue(Double.isNaN(loss.forward(X, negative).getDouble(0)));
  }

  @Test
  void aNanUpstreamGradientReachesTheGradient() {
    Tensor g = Tensor.of(new float[] {Float.NaN, 1}, 2);
    LossResult r = CrossEntropyLoss.builder().reduction(Reduction.NONE).build().forwardBackward(X, T, g);
    for (int c = 0; c < 3; c++) {
      assertTrue(Float.isNaN((float) r.gradInput().getDouble(c)), "row 0, class " + c);
      assertFalse(Float.isNaN((float) r.gradInput().getDouble(3 + c)), "row 1, class " + c);
    }
  }
}
