package dev.losskit.core;

import dev.losskit.core.LossArgumentException.Cause;
import java.util.Arrays;

/**
 * PyTorch's {@code torch.nn.BCEWithLogitsLoss}: a sigmoid and binary cross-entropy in one numerically stable
 * step, with every option of {@code torch.nn.functional.binary_cross_entropy_with_logits} and libtorch's semantics.
 *
 * <p>The input holds logits of any shape, and the target (probabilities in [0, 1], floating) has the input's shape.
 * Elementwise, with \( \log\sigma(x) = \min(x, 0) - \operatorname{log1p}(e^{-|x|}) \):
 * \[ \ell = \big((1-y)\,x - (1 + (p-1)\,y)\,\log\sigma(x)\big)\,w \]
 * where {@code weight} \( w \) and {@code posWeight} \( p \) broadcast to the input's shape by NumPy's rules
 * (a {@code posWeight} of shape {@code (C)} applies along the last dimension). {@code mean} divides by the number of
 * elements, so an empty input gives NaN; {@code sum} gives 0.
 *
 * <p>Instances are immutable and thread-safe. Targets are constants: no gradient flows to them.
 */
public final class BceWithLogitsLoss extends AbstractLoss {
  /** PyTorch's functional name, {@code bce_with_logits}. */
  public static final String NAME = "bce_with_logits";

  private final Broadcast weight;
  private final Broadcast posWeight;

  private BceWithLogitsLoss(Builder b) {
    super(NAME, b.reduction, b.autocast);
    this.weight = b.weight;
    this.posWeight = b.posWeight;
  }

  /** {@return a loss with PyTorch's defaults: {@code mean}, no weight, no posWeight} */
  public static BceWithLogitsLoss create() {
    return builder().build();
  }

  /** {@return a builder starting from PyTorch's defaults} */
  public static Builder builder() {
    return new Builder();
  }

  /** {@return a builder holding this loss's options} */
  public Builder toBuilder() {
    Builder b = new Builder().reduction(reduction()).autocast(autocast());
    b.weight = weight;
    b.posWeight = posWeight;
    return b;
  }

  /** {@return a float64 copy of the weight, or null when there is none} */
  public Tensor weight() {
    return weight == null ? null : weight.toTensor();
  }

  /** {@return a float64 copy of the positive-class weight, or null when there is none} */
  public Tensor posWeight() {
    return posWeight == null ? null : posWeight.toTensor();
  }

  @Override
  LossResult compute(Tensor input, Tensor target, Request r) {
    if (input == null || target == null) {
      throw new LossArgumentException(Cause.NULL_ARGUMENT, NAME + ": input and target must not be null");
    }
    checkShapes(input.shape(), input.dtype(), target.shape(), target.dtype());
    checkGradOutput(r.gradOutput(), input.shape());
    int[] shape = input.shape();
    ElementwiseBlocks.Operand w = weight == null ? null : ElementwiseBlocks.operand(weight, shape, input.dtype());
    ElementwiseBlocks.Operand p = posWeight == null ? null
        : ElementwiseBlocks.operand(posWeight, shape, input.dtype());
    if ((weight == null || w != null) && (posWeight == null || p != null)) {
      return FastBceWithLogits.run(input, target, new FastBceWithLogits.Options(reduction(), w, p), r);
    }
    return ReferenceBceWithLogits.run(input, target, weight, posWeight, reduction(), r);
  }

  @Override
  public int[] checkShapes(int[] inputShape, DType inputDtype, int[] targetShape, DType targetDtype) {
    String in = java.util.Arrays.toString(inputShape);
    if (!inputDtype.isFloating()) {
      throw new LossArgumentException(Cause.DTYPE, NAME + ": input must be float32 or float64, got " + inputDtype
          + " (input shape " + in + ")");
    }
    if (!java.util.Arrays.equals(targetShape, inputShape)) {
      throw new LossArgumentException(Cause.SHAPE_MISMATCH,
          NAME + ": target shape " + java.util.Arrays.toString(targetShape)
          + " must equal input shape " + in);
    }
    if (!targetDtype.isFloating()) {
      throw new LossArgumentException(Cause.DTYPE, NAME + ": target must be float32 or float64, got " + targetDtype);
    }
    if (weight != null) {
      weight.check(inputShape, NAME, "weight");
    }
    if (posWeight != null) {
      posWeight.check(inputShape, NAME, "posWeight");
    }
    return inputShape.clone();
  }

  @Override
  public void checkTargetValues(int[] inputShape, Tensor target) {
    // Probabilities are not range-checked: PyTorch does not check them either.
  }

  @Override
  LossResult computeReference(Tensor input, Tensor target, Request r) {
    if (input == null || target == null) {
      throw new LossArgumentException(Cause.NULL_ARGUMENT, NAME + ": input and target must not be null");
    }
    checkShapes(input.shape(), input.dtype(), target.shape(), target.dtype());
    checkGradOutput(r.gradOutput(), input.shape());
    return ReferenceBceWithLogits.run(input, target, weight, posWeight, reduction(), r);
  }

  @Override
  public String toString() {
    return "BceWithLogitsLoss(reduction=" + reduction()
        + ", weight=" + (weight == null ? "none" : "shape " + Arrays.toString(weight.shape()))
        + ", posWeight=" + (posWeight == null ? "none" : "shape " + Arrays.toString(posWeight.shape()))
        + autocastSuffix() + ")";
  }

  /** Builds a {@link BceWithLogitsLoss}; starts from PyTorch's defaults. Not thread-safe; the loss it builds is. */
  public static final class Builder {
    private Reduction reduction = Reduction.MEAN;
    private boolean autocast;
    private Broadcast weight;
    private Broadcast posWeight;

    private Builder() {}

    /**
     * Sets the reduction.
     *
     * @param reduction {@code NONE}, {@code MEAN} or {@code SUM}; default {@code MEAN}
     * @return this builder
     */
    public Builder reduction(Reduction reduction) {
      if (reduction == null) {
        throw new LossArgumentException(Cause.NULL_ARGUMENT, "reduction must not be null");
      }
      this.reduction = reduction;
      return this;
    }

    /**
     * Sets the rescaling weight.
     *
     * @param weight a rescaling weight broadcastable to the input (copied), or null for none; default none
     * @return this builder
     */
    public Builder weight(Tensor weight) {
      this.weight = weight == null ? null : Broadcast.copyOf(weight, NAME + ": weight", Cause.WEIGHT_SHAPE);
      return this;
    }

    /**
     * Sets the rescaling weight as a vector along the input's last dimension.
     *
     * @param weight a 1-D weight, broadcast along the input's last dimension, or null for none
     * @return this builder
     */
    public Builder weight(double... weight) {
      return weight(weight == null ? null : Tensor.of(weight.clone(), weight.length));
    }

    /**
     * Sets the weight of positive examples.
     *
     * @param posWeight the weight of positive examples, broadcastable to the input (copied), or null; default none
     * @return this builder
     */
    public Builder posWeight(Tensor posWeight) {
      this.posWeight = posWeight == null ? null
          : Broadcast.copyOf(posWeight, NAME + ": posWeight", Cause.POS_WEIGHT_SHAPE);
      return this;
    }

    /**
     * Sets the weight of positive examples as a vector along the input's last dimension.
     *
     * @param posWeight a 1-D weight of positive examples, one per entry of the input's last dimension, or null
     * @return this builder
     */
    public Builder posWeight(double... posWeight) {
      return posWeight(posWeight == null ? null : Tensor.of(posWeight.clone(), posWeight.length));
    }

    /**
     * Sets PyTorch's autocast behaviour ({@code torch.autocast}, which runs this loss in float32): float16 and
     * bfloat16 tensors (input, target, upstream gradient) are widened exactly to float32 and the loss runs as on
     * float32 tensors, so a half input gives a float32 loss and a float32 gradient, bit for bit those of the float32
     * loss on the widened values. Under autocast PyTorch's gradient with respect to the half input is this float32
     * gradient, which autograd then rounds to the input's dtype; the loss returns it before that rounding.
     * Float32 and float64 tensors are used as they are, as autocast leaves them.
     *
     * @param autocast true for autocast; default false (a half input gives a half loss and gradient)
     * @return this builder
     */
    public Builder autocast(boolean autocast) {
      this.autocast = autocast;
      return this;
    }

    /** {@return the loss} */
    public BceWithLogitsLoss build() {
      return new BceWithLogitsLoss(this);
    }
  }
}
