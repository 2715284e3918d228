package dev.losskit.core;

import dev.losskit.core.LossArgumentException.Cause;
import java.util.Arrays;

/**
 * PyTorch's {@code torch.nn.BCELoss} ({@code torch.nn.functional.binary_cross_entropy}): binary cross-entropy on
 * probabilities, the output of a sigmoid, with libtorch's semantics ({@code aten/src/ATen/native/Loss.cpp}).
 *
 * <p>The input holds probabilities of any shape; the target, of the input's shape and dtype, holds probabilities
 * too (hard 0/1 labels or soft ones). Elementwise, with each log clamped at -100 so that a probability of exactly
 * 0 or 1 gives a finite loss:
 * \[ \ell = \big((y - 1)\max(\operatorname{log1p}(-x), -100) - y \max(\log x, -100)\big)\,w \]
 * and the gradient is libtorch's own, with its clamp of the denominator at \( \epsilon = 10^{-12} \) (rounded to the
 * input's dtype):
 * \[ \frac{\partial \ell}{\partial x} = \frac{x - y}{\max((1 - x)\,x,\ \epsilon)}\,w \]
 * {@code weight} \( w \) broadcasts to the input by NumPy's rules. {@code mean} divides by the number of elements,
 * so an empty input gives NaN; {@code sum} gives 0.
 *
 * <p>An input or a target outside [0, 1], NaN included, is an error that names the value and its position, where
 * libtorch raises {@code all elements of input should be between 0 and 1}: a model's logits belong in
 * {@link BceWithLogitsLoss}, which is also the more accurate of the two (it never clamps).
 *
 * <p>Instances are immutable and thread-safe. Targets are constants: no gradient flows to them.
 */
public final class BceLoss extends AbstractLoss {
  /** The loss's name: {@code bce}, PyTorch's {@code binary_cross_entropy}. */
  public static final String NAME = "bce";

  /**
   * libtorch's clamp of the gradient's denominator \( (1 - x)\,x \), {@code EPSILON} in {@code Loss.cpp}: a
   * {@code float} constant, {@code 1e-12f} (9.999999960041972e-13), so float64 divides by it too (measured: torch
   * 2.13 and 1.13 give -500000001997.9014 for the float64 gradient at x = 0, y = 0.5, not -5e11), and a half dtype
   * rounds it further ({@code scalar_t(EPSILON)}: 0 in float16).
   */
  public static final double EPSILON = 1e-12f;

  /**
   * {@return libtorch's clamp {@code scalar_t(EPSILON)} in a dtype: {@link #EPSILON} in float32 and float64, rounded
   * to the nearest half value in float16 (0) and bfloat16}
   *
   * @param dtype a floating dtype
   */
  public static double epsilon(DType dtype) {
    return dtype.isHalf() ? Tensor.rounded(new double[] {EPSILON}, dtype).getDouble(0) : EPSILON;
  }

  private final Broadcast weight;

  private BceLoss(Builder b) {
    super(NAME, b.reduction, b.autocast);
    this.weight = b.weight;
  }

  /** {@return a loss with PyTorch's defaults: {@code mean}, no weight} */
  public static BceLoss create() {
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
    return b;
  }

  /** {@return a float64 copy of the weight, or null when there is none} */
  public Tensor weight() {
    return weight == null ? null : weight.toTensor();
  }

  @Override
  LossResult compute(Tensor input, Tensor target, Request r) {
    check(input, target, r);
    ElementwiseBlocks.Operand w = weight == null ? null
        : ElementwiseBlocks.operand(weight, input.shape(), input.dtype());
    if (weight == null || w != null) {
      return FastBce.run(input, target, reduction(), w, r);
    }
    return ReferenceBce.run(input, target, weight, reduction(), r);
  }

  @Override
  LossResult computeReference(Tensor input, Tensor target, Request r) {
    check(input, target, r);
    return ReferenceBce.run(input, target, weight, reduction(), r);
  }

  private void check(Tensor input, Tensor target, Request r) {
    if (input == null || target == null) {
      throw new LossArgumentException(Cause.NULL_ARGUMENT, NAME + ": input and target must not be null");
    }
    checkShapes(input.shape(), input.dtype(), target.shape(), target.dtype());
    checkGradOutput(r.gradOutput(), input.shape());
    checkProbabilities(input, target);
  }

  @Override
  public int[] checkShapes(int[] inputShape, DType inputDtype, int[] targetShape, DType targetDtype) {
    String in = Arrays.toString(inputShape);
    if (!inputDtype.isFloating()) {
      throw new LossArgumentException(Cause.DTYPE, NAME + ": input must be float32 or float64, got " + inputDtype
          + " (input shape " + in + ")");
    }
    if (!Arrays.equals(targetShape, inputShape)) {
      throw new LossArgumentException(Cause.SHAPE_MISMATCH, NAME + ": target shape " + Arrays.toString(targetShape)
          + " must equal input shape " + in);
    }
    if (targetDtype != inputDtype) {
      throw new LossArgumentException(Cause.DTYPE, NAME + ": target must have the input's dtype " + inputDtype
          + ", got " + targetDtype);
    }
    if (weight != null) {
      weight.check(inputShape, NAME, "weight");
    }
    return inputShape.clone();
  }

  /**
   * Checks that the target's values are probabilities, as libtorch's kernel does (the input's are checked by
   * {@link #checkValues}, which takes both).
   *
   * @param inputShape the input's shape
   * @param target the target
   * @throws IllegalArgumentException naming the first target value outside [0, 1] (or NaN) and its position
   */
  @Override
  public void checkTargetValues(int[] inputShape, Tensor target) {
    int bad = FastBce.firstOutsideUnit(target);
    if (bad >= 0) {
      throw outside("target", target, bad);
    }
  }

  /**
   * Checks the input's and the target's values as {@link #forward} does, without computing: for engines that keep
   * the data elsewhere and compute the loss themselves.
   *
   * @param input the input, probabilities
   * @param target the target, probabilities
   * @throws IllegalArgumentException naming the first element, in index order, whose input or target is outside
   *     [0, 1] or NaN (the input first at the same index)
   */
  public void checkValues(Tensor input, Tensor target) {
    checkProbabilities(input, target);
  }

  /**
   * Checks both tensors' values: the first element, in index order, whose input or target is outside [0, 1] (or
   * NaN) is named, the input first.
   */
  static void checkProbabilities(Tensor input, Tensor target) {
    int badInput = FastBce.firstOutsideUnit(input);
    int badTarget = FastBce.firstOutsideUnit(target);
    if (badInput >= 0 && (badTarget < 0 || badInput <= badTarget)) {
      throw outside("input", input, badInput);
    }
    if (badTarget >= 0) {
      throw outside("target", target, badTarget);
    }
  }

  private static LossArgumentException outside(String what, Tensor t, int i) {
    String hint = what.equals("input") ? " (BCELoss takes probabilities: logits belong in bce_with_logits)" : "";
    double v = t.getDouble(i);
    String value = t.dtype() == DType.FLOAT32 ? Float.toString((float) v) : Double.toString(v);
    String at = t.dim() == 0 ? "" : Checks.position(t.shape(), i);
    return new LossArgumentException(Cause.PROBABILITY_RANGE, NAME + ": " + what + at + " = " + value
        + " is outside [0, 1]" + hint);
  }

  @Override
  public String toString() {
    return "BceLoss(reduction=" + reduction()
        + ", weight=" + (weight == null ? "none" : "shape " + Arrays.toString(weight.shape()))
        + autocastSuffix() + ")";
  }

  /** Builds a {@link BceLoss}; starts from PyTorch's defaults. Not thread-safe; the loss it builds is. */
  public static final class Builder {
    private Reduction reduction = Reduction.MEAN;
    private boolean autocast;
    private Broadcast weight;

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
    public BceLoss build() {
      return new BceLoss(this);
    }
  }
}
