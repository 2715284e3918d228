package dev.losskit.core;

import dev.losskit.core.LossArgumentException.Cause;
import java.util.Arrays;

/**
 * PyTorch's {@code torch.nn.CrossEntropyLoss}: log-softmax over the class dimension followed by the negative
 * log-likelihood, with every option of {@code torch.nn.functional.cross_entropy} and libtorch's semantics.
 *
 * <p>The input holds unnormalised logits of shape {@code (C)}, {@code (N, C)} or {@code (N, C, d1, ..., dk)}; the
 * class dimension is 1 (0 when unbatched). The target is told apart exactly as PyTorch does:
 * <ul>
 *   <li>a target with the input's shape holds <b>class probabilities</b> and must be floating. It is smoothed to
 *       \( y' = y(1-\varepsilon) + \varepsilon/C \) and \( \ell = -\sum_c w_c\, y'_c \log p_c \); {@code mean}
 *       divides by \( N d_1 \cdots d_k \), not by the weights; {@code ignoreIndex} must be negative;</li>
 *   <li>otherwise it holds <b>class indices</b> (int64 or int32) of shape {@code (N, d1, ..., dk)}, or a scalar
 *       when unbatched. With \( \log p = \mathrm{logsoftmax}(x) \), at a position with target \( t \ne \)
 *       {@code ignoreIndex}:
 *       \[ \ell = (1-\varepsilon)(-w_t \log p_t) + \frac{\varepsilon}{C}\Big(-\sum_c w_c \log p_c\Big) \]
 *       and 0 at an ignored position. {@code mean} divides both sums by \( \sum w_t \) over the non-ignored
 *       positions (their count without weights).</li>
 * </ul>
 * An empty batch gives NaN for {@code mean} and 0 for {@code sum}; an all-ignored batch gives NaN for
 * {@code mean}, with a zero gradient.
 *
 * <p>Instances are immutable and thread-safe. Targets are constants: no gradient flows to them.
 */
public final class CrossEntropyLoss extends AbstractLoss {
  /** PyTorch's functional name, {@code cross_entropy}. */
  public static final String NAME = "cross_entropy";

  private final double[] weight;
  private final long ignoreIndex;
  private final double labelSmoothing;

  private CrossEntropyLoss(Builder b) {
    super(NAME, b.reduction, b.autocast);
    this.weight = b.weight == null ? null : b.weight.clone();
    this.ignoreIndex = b.ignoreIndex;
    this.labelSmoothing = Checks.labelSmoothing(b.labelSmoothing);
  }

  /** {@return a loss with PyTorch's defaults: {@code mean}, no weight, ignoreIndex -100, no smoothing} */
  public static CrossEntropyLoss create() {
    return builder().build();
  }

  /** {@return a builder starting from PyTorch's defaults} */
  public static Builder builder() {
    return new Builder();
  }

  /** {@return a builder holding this loss's options} */
  public Builder toBuilder() {
    Builder b = new Builder().reduction(reduction()).autocast(autocast()).ignoreIndex(ignoreIndex).labelSmoothing(labelSmoothing);
    b.weight = weight;
    return b;
  }

  /** {@return a copy of the per-class weights, or null when there are none} */
  public double[] weight() {
    return weight == null ? null : weight.clone();
  }

  /** {@return the class index whose positions are ignored (default -100)} */
  public long ignoreIndex() {
    return ignoreIndex;
  }

  /** {@return the label smoothing \( \varepsilon \in [0, 1] \) (default 0)} */
  public double labelSmoothing() {
    return labelSmoothing;
  }

  @Override
  public int[] checkShapes(int[] inputShape, DType inputDtype, int[] targetShape, DType targetDtype) {
    ClassProblem.checkShapes(NAME, inputShape, inputDtype, targetShape, targetDtype, weight, ignoreIndex, true);
    return ClassProblem.lossShape(inputShape);
  }

  @Override
  public void checkTargetValues(int[] inputShape, Tensor target) {
    if (!target.dtype().isFloating()) {
      ClassProblem.checkTargetValues(NAME, inputShape, target, ignoreIndex);
    }
  }

  @Override
  LossResult compute(Tensor input, Tensor target, Request r) {
    ClassProblem p = ClassProblem.validate(NAME, input, target, weight, ignoreIndex, true);
    checkGradOutput(r.gradOutput(), p.lossShape);
    if (p.probabilities && input.dtype().isHalf()) {
      // Half class-probability targets keep the reference kernel, which rounds once from double.
      return ReferenceCrossEntropy.probabilityTargets(p, options(), r);
    }
    return p.probabilities ? FastCrossEntropy.probabilityTargets(p, options(), r)
        : FastCrossEntropy.indexTargets(p, options(), r);
  }

  @Override
  LossResult computeReference(Tensor input, Tensor target, Request r) {
    ClassProblem p = ClassProblem.validate(NAME, input, target, weight, ignoreIndex, true);
    checkGradOutput(r.gradOutput(), p.lossShape);
    return p.probabilities ? ReferenceCrossEntropy.probabilityTargets(p, options(), r)
        : ReferenceCrossEntropy.indexTargets(p, options(), r);
  }

  @Override
  boolean readsHalfUnderAutocast(Tensor target) {
    return target != null && !target.dtype().isFloating(); // class indices: the fused kernel reads half rows
  }

  private ClassOptions options() {
    return new ClassOptions(reduction(), weight, ignoreIndex, labelSmoothing);
  }


  @Override
  public String toString() {
    return "CrossEntropyLoss(reduction=" + reduction() + ", weight=" + (weight == null ? "none" : Arrays.toString(weight))
        + ", ignoreIndex=" + ignoreIndex + ", labelSmoothing=" + labelSmoothing
        + autocastSuffix() + ")";
  }

  /** Builds a {@link CrossEntropyLoss}; starts from PyTorch's defaults. Not thread-safe; the loss it builds is. */
  public static final class Builder {
    private Reduction reduction = Reduction.MEAN;
    private boolean autocast;
    private double[] weight;
    private long ignoreIndex = -100;
    private double labelSmoothing;

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
     * Sets the per-class weights.
     *
     * @param weight one weight per class (copied), or null for none; default none
     * @return this builder
     */
    public Builder weight(double... weight) {
      this.weight = weight == null ? null : weight.clone();
      return this;
    }

    /**
     * Sets the per-class weights from a tensor.
     *
     * @param weight a 1-D floating tensor with one weight per class (copied), or null for none
     * @return this builder
     */
    public Builder weight(Tensor weight) {
      this.weight = Checks.vector(weight, NAME + ": weight");
      return this;
    }

    /**
     * Sets the class index whose positions are ignored.
     *
     * @param ignoreIndex a class index whose positions contribute nothing; default -100
     * @return this builder
     */
    public Builder ignoreIndex(long ignoreIndex) {
      this.ignoreIndex = ignoreIndex;
      return this;
    }

    /**
     * Sets the label smoothing.
     *
     * @param labelSmoothing \( \varepsilon \) in [0, 1]; default 0
     * @return this builder
     * @throws IllegalArgumentException when it is outside [0, 1] or NaN
     */
    public Builder labelSmoothing(double labelSmoothing) {
      this.labelSmoothing = Checks.labelSmoothing(labelSmoothing);
      return this;
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
    public CrossEntropyLoss build() {
      return new CrossEntropyLoss(this);
    }
  }
}
