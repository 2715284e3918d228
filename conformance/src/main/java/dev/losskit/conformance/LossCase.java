package dev.losskit.conformance;

import dev.losskit.core.BceLoss;
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.DType;
import dev.losskit.core.Loss;
import dev.losskit.core.NllLoss;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.util.List;

/**
 * One loss call with PyTorch's options: what a golden case or a conformance combination asks every backend to
 * compute.
 *
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
 */
public record LossCase(
    String loss,
    DType dtype,
    Reduction reduction,
    long ignoreIndex,
    double labelSmoothing,
    Tensor weight,
    Tensor posWeight,
    Tensor input,
    Tensor target,
    Tensor gradOutput) {

  /** The losses a case may name. */
  public static final List<String> LOSSES = List.of(CrossEntropyLoss.NAME, NllLoss.NAME, BceWithLogitsLoss.NAME,
      BceLoss.NAME);

  /** {@return whether the loss is elementwise (BCE, with or without logits): its loss has the input's shape} */
  public boolean elementwise() {
    return elementwise(loss);
  }

  /** {@return whether the named loss is elementwise (BCE, with or without logits)} */
  static boolean elementwise(String loss) {
    return loss.equals(BceWithLogitsLoss.NAME) || loss.equals(BceLoss.NAME);
  }

  /**
   * {@return the upstream gradient of ones that stands for an absent {@link #gradOutput}, in the loss's shape and
   * the case's dtype: a scalar when reduced; unreduced, the input's shape without the class dimension (BCE: the
   * input's shape)}
   */
  public Tensor unitUpstream() {
    int[] s = input.shape();
    int[] shape;
    if (reduction != Reduction.NONE || (!elementwise() && s.length <= 1)) {
      shape = new int[0];
    } else if (elementwise()) {
      shape = s;
    } else {
      shape = new int[s.length - 1];
      shape[0] = s[0];
      System.arraycopy(s, 2, shape, 1, s.length - 2);
    }
    double[] ones = new double[Tensor.checkedSize(shape)];
    java.util.Arrays.fill(ones, 1);
    return Tensor.rounded(ones, dtype, shape);
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
      case BceLoss.NAME:
        return BceLoss.builder().reduction(reduction).weight(weight).build();
      default:
        throw new IllegalStateException("unknown loss " + loss);
    }
  }

  /**
   * The same call in float64: every floating tensor upcast exactly, so a float64 run computes the float32
   * problem's true answer to float64 accuracy.
   *
   * @return the float64 call
   */
  public LossCase toFloat64() {
    return new LossCase(loss, DType.FLOAT64, reduction, ignoreIndex, labelSmoothing, up(weight), up(posWeight),
        up(input), up(target), up(gradOutput));
  }

  private static Tensor up(Tensor t) {
    return t == null || !t.dtype().isFloating() || t.dtype() == DType.FLOAT64
        ? t : Tensor.of(t.toDoubleArray(), t.shape());
  }
}
