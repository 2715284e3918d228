package dev.losskit.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;

/**
 * PyTorch's {@code BCELoss} as a DJL loss: binary cross-entropy on probabilities (a model that ends in a sigmoid),
 * with every option and libtorch's semantics (see {@link dev.losskit.core.BceLoss}): each log clamped at -100 and
 * libtorch's own gradient, with its clamp. Predictions are probabilities of any shape; labels, of the same shape,
 * are probabilities too (hard 0/1 or soft), in any of the types DJL datasets produce: they are converted to the
 * predictions' dtype, as DJL's own losses convert them. A prediction or label outside [0, 1], NaN included, is an
 * error naming the value and its position (on the CPU; see {@link Execution}).
 *
 * <p>DJL's {@code SigmoidBinaryCrossEntropyLoss(fromSigmoid=true)} is not this loss: it returns the binary
 * cross-entropy without its minus sign, a negative number (−0.2899 where PyTorch gives 0.2899 on the seed's example),
 * and has no per-element weight or reduction. On logits, prefer {@link BceWithLogitsLoss}: it never clamps.
 */
public final class BceLoss extends TorchLoss {
  private final dev.losskit.core.BceLoss core;

  private BceLoss(Builder b) {
    this(b.name, b.core.build(), b.execution);
  }

  private BceLoss(String name, dev.losskit.core.BceLoss core, Execution execution) {
    super(name, core, 1, execution);
    this.core = core;
  }

  /** {@return a builder with PyTorch's defaults and {@link Execution#AUTO}} */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * {@inheritDoc} Labels of another dtype than the predictions' are converted to it first (within the predictions'
   * manager, so nothing is left in the labels').
   */
  @Override
  public NDArray evaluate(NDList labels, NDList predictions) {
    if (labels != null && !labels.isEmpty() && predictions != null && !predictions.isEmpty()
        && labels.head().getDataType() != predictions.head().getDataType()
        && predictions.head().getDataType().isFloating()) {
      NDArray pred = predictions.head();
      NDArray view = EngineNative.inPredictionScope(labels.head(), pred);
      NDArray converted = view.toType(pred.getDataType(), false);
      try {
        return super.evaluate(new NDList(converted), predictions);
      } finally {
        // Read by the core within the call, or held by libtorch's autograd graph (its own reference) for the
        // backward: the handles can go now, so that DJL's several evaluations of a batch leave nothing behind.
        converted.close();
        if (view != labels.head()) {
          view.close();
        }
      }
    }
    return super.evaluate(labels, predictions);
  }

  @Override
  NDArray engine(NDArray pred, NDArray label) {
    return EngineNative.bce(this, pred, label, core.weight());
  }

  @Override
  boolean hasClassAxis() {
    return false;
  }

  /** Builds a {@link BceLoss}. */
  public static final class Builder {
    private final dev.losskit.core.BceLoss.Builder core = dev.losskit.core.BceLoss.builder();
    private String name = "BCELoss";
    private Execution execution = Execution.AUTO;

    private Builder() {}

    /**
     * Sets the loss's name.
     *
     * @param name the name DJL's metrics show; default {@code BCELoss}
     * @return this builder
     */
    public Builder name(String name) {
      this.name = name;
      return this;
    }

    /**
     * Sets the reduction.
     *
     * @param reduction {@code NONE}, {@code MEAN} or {@code SUM}; default {@code MEAN}
     * @return this builder
     */
    public Builder reduction(Reduction reduction) {
      core.reduction(reduction);
      return this;
    }

    /**
     * Sets the rescaling weight.
     *
     * @param weight a weight broadcastable to the predictions, or null; default none
     * @return this builder
     */
    public Builder weight(Tensor weight) {
      core.weight(weight);
      return this;
    }

    /**
     * Sets the rescaling weight as a vector along the predictions' last dimension.
     *
     * @param weight a weight along the predictions' last dimension, or null
     * @return this builder
     */
    public Builder weight(double... weight) {
      core.weight(weight);
      return this;
    }

    /**
     * Sets how the loss computes.
     *
     * @param execution how to compute; default {@link Execution#AUTO}
     * @return this builder
     */
    public Builder execution(Execution execution) {
      this.execution = execution;
      return this;
    }

    /** {@return the loss} */
    public BceLoss build() {
      return new BceLoss(this);
    }
  }
}
