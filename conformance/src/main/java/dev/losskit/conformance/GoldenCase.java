package dev.losskit.conformance;

import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.DType;
import dev.losskit.core.Loss;
import dev.losskit.core.NllLoss;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;

/**
 * One case of a golden file: a loss call with its options, and what PyTorch computed for it.
 *
 * @param id the case's id, unique in its file
 * @param loss {@code cross_entropy}, {@code nll_loss} or {@code bce_with_logits}
 * @param dtype the input's dtype
 * @param reduction the reduction
 * @param ignoreIndex the ignored class index (CE, NLL)
 * @param labelSmoothing the smoothing (CE)
 * @param weight the weight, or null
 * @param posWeight the positive-class weight (BCE), or null
 * @param input the input
 * @param target the target
 * @param gradOutput the upstream gradient, or null for ones
 * @param expectedLoss the expected loss, or null for an error case
 * @param expectedGrad the expected gradient with respect to the input, or null for an error case
 * @param oracleLoss for a float32 case, PyTorch's float64 loss on the same values, or null
 * @param oracleGrad for a float32 case, PyTorch's float64 gradient on the same values, or null
 */
public record GoldenCase(
    String id,
    String loss,
    DType dtype,
    Reduction reduction,
    long ignoreIndex,
    double labelSmoothing,
    Tensor weight,
    Tensor posWeight,
    Tensor input,
    Tensor target,
    Tensor gradOutput,
    Tensor expectedLoss,
    Tensor expectedGrad,
    Tensor oracleLoss,
    Tensor oracleGrad) {

  /** The losses a golden file may name. */
  public static final java.util.List<String> LOSSES =
      java.util.List.of(CrossEntropyLoss.NAME, NllLoss.NAME, BceWithLogitsLoss.NAME);

  /** @return true when PyTorch rejected the input, so the core must reject it too */
  public boolean expectsError() {
    return expectedLoss == null;
  }

  /**
   * Builds the core loss with this case's options.
   *
   * @return the loss
   * @throws IllegalArgumentException when the core rejects the options
   */
  public Loss buildLoss() {
    switch (loss) {
      case CrossEntropyLoss.NAME:
        return CrossEntropyLoss.builder().reduction(reduction).weight(weight).ignoreIndex(ignoreIndex)
            .labelSmoothing(labelSmoothing).build();
      case NllLoss.NAME:
        return NllLoss.builder().reduction(reduction).weight(weight).ignoreIndex(ignoreIndex).build();
      case BceWithLogitsLoss.NAME:
        return BceWithLogitsLoss.builder().reduction(reduction).weight(weight).posWeight(posWeight).build();
      default:
        throw new IllegalStateException("unknown loss " + loss);
    }
  }
}
