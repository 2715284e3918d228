package dev.losskit.djl;

import ai.djl.ndarray.NDArray;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;

/**
 * PyTorch's {@code BCEWithLogitsLoss} as a DJL loss, with every option and libtorch's semantics (see
 * {@link dev.losskit.core.BceWithLogitsLoss}). Predictions are logits of any shape; labels are probabilities of
 * the same shape. Unlike DJL's {@code SigmoidBinaryCrossEntropyLoss}, it takes {@code pos_weight}, a broadcast
 * weight and every reduction.
 */
public final class BceWithLogitsLoss extends TorchLoss {
  private final dev.losskit.core.BceWithLogitsLoss core;

  private BceWithLogitsLoss(Builder b) {
    this(b.name, b.core.build(), b.execution);
  }

  private BceWithLogitsLoss(String name, dev.losskit.core.BceWithLogitsLoss core, Execution execution) {
    super(name, core, 1, execution);
    this.core = core;
  }

  /** {@return a builder with PyTorch's defaults and {@link Execution#AUTO}} */
  public static Builder builder() {
    return new Builder();
  }

  @Override
  NDArray engine(NDArray pred, NDArray label) {
    return EngineNative.bceWithLogits(this, pred, label, core.weight(), core.posWeight());
  }

  @Override
  boolean hasClassAxis() {
    return false;
  }

  /** Builds a {@link BceWithLogitsLoss}. */
  public static final class Builder {
    private final dev.losskit.core.BceWithLogitsLoss.Builder core = dev.losskit.core.BceWithLogitsLoss.builder();
    private String name = "BCEWithLogitsLoss";
    private Execution execution = Execution.AUTO;

    private Builder() {}

    /**
     * Sets the loss's name.
     *
     * @param name the name DJL's metrics show; default {@code BCEWithLogitsLoss}
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
     * Sets the weight of positive examples.
     *
     * @param posWeight the positive-class weight, broadcastable to the predictions, or null
     * @return this builder
     */
    public Builder posWeight(Tensor posWeight) {
      core.posWeight(posWeight);
      return this;
    }

    /**
     * Sets the weight of positive examples as a vector along the predictions' last dimension.
     *
     * @param posWeight the positive-class weight along the last dimension, or null
     * @return this builder
     */
    public Builder posWeight(double... posWeight) {
      core.posWeight(posWeight);
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
    public BceWithLogitsLoss build() {
      return new BceWithLogitsLoss(this);
    }
  }
}
