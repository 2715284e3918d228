package dev.losskit.core;

import dev.losskit.core.LossArgumentException.Cause;
import java.util.Arrays;

/**
 * PyTorch's {@code torch.nn.NLLLoss}: the negative log-likelihood of log-probabilities, with every option of
 * {@code torch.nn.functional.nll_loss} and libtorch's semantics.
 *
 * <p>The input holds log-probabilities of shape {@code (C)}, {@code (N, C)} or {@code (N, C, d1, ..., dk)}; it is
 * used as given (apply log-softmax first, or use {@link CrossEntropyLoss}). The target holds class indices (int64
 * or int32) of shape {@code (N, d1, ..., dk)}, or a scalar when unbatched. At a position with target
 * \( t \ne \) {@code ignoreIndex}, \( \ell = -w_t\, x_t \); an ignored position gives 0. {@code mean} divides the
 * sum by \( \sum w_t \) over the non-ignored positions (their count without weights), so an empty or all-ignored
 * batch gives NaN; {@code sum} of an empty batch is 0. The gradient is \( -w_t\,g \) at the target class and 0
 * elsewhere.
 *
 * <p>Instances are immutable and thread-safe. Targets are constants: no gradient flows to them.
 */
public final class NllLoss extends AbstractLoss {
  /** PyTorch's functional name, {@code nll_loss}. */
  public static final String NAME = "nll_loss";

  private final double[] weight;
  private final long ignoreIndex;

  private NllLoss(Builder b) {
    super(NAME, b.reduction, b.autocast);
    this.weight = b.weight == null ? null : b.weight.clone();
    this.ignoreIndex = b.ignoreIndex;
  }

  /** {@return a loss with PyTorch's defaults: {@code mean}, no weight, ignoreIndex -100} */
  public static NllLoss create() {
    return builder().build();
  }

  /** {@return a builder starting from PyTorch's defaults} */
  public static Builder builder() {
    return new Builder();
  }

  /** {@return a builder holding this loss's options} */
  public Builder toBuilder() {
    Builder b = new Builder().reduction(reduction()).autocast(autocast()).ignoreIndex(ignoreIndex);
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

  @Override
  public int[] checkShapes(int[] inputShape, DType inputDtype, int[] targetShape, DType targetDtype) {
    ClassProblem.checkShapes(NAME, inputShape, inputDtype, targetShape, targetDtype, weight, ignoreIndex, false);
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
    ClassProblem p = ClassProblem.validate(NAME, input, target, weight, ignoreIndex, false);
    checkGradOutput(r.gradOutput(), p.lossShape);
    return FastNll.run(p, options(), r);
  }

  @Override
  LossResult computeReference(Tensor input, Tensor target, Request r) {
    ClassProblem p = ClassProblem.validate(NAME, input, target, weight, ignoreIndex, false);
    checkGradOutput(r.gradOutput(), p.lossShape);
    return ReferenceNll.run(p, options(), r);
  }

  @Override
  boolean readsHalfUnderAutocast(Tensor target) {
    return true;
  }

  private ClassOptions options() {
    return new ClassOptions(reduction(), weight, ignoreIndex, 0);
  }

  @Override
  public String toString() {
    return "NllLoss(reduction=" + reduction() + ", weight=" + (weight == null ? "none" : Arrays.toString(weight))
        + ", ignoreIndex=" + ignoreIndex
        + autocastSuffix() + ")";
  }

  /** Builds an {@link NllLoss}; starts from PyTorch's defaults. Not thread-safe; the loss it builds is. */
  public static final class Builder {
    private Reduction reduction = Reduction.MEAN;
    private boolean autocast;
    private double[] weight;
    private long ignoreIndex = -100;

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
    public NllLoss build() {
      return new NllLoss(this);
    }
  }
}
