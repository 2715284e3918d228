package dev.losskit.djl;

import ai.djl.ndarray.NDArray;
import dev.losskit.core.Reduction;

/**
 * PyTorch's {@code CrossEntropyLoss} as a DJL loss, with every option and libtorch's semantics (see
 * {@link dev.losskit.core.CrossEntropyLoss} for the formulas). Predictions are logits; labels are class indices or
 * class probabilities.
 *
 * <pre>{@code
 * Loss loss = CrossEntropyLoss.builder().weight(1, 5, 2).labelSmoothing(0.1).ignoreIndex(-100).build();
 * }</pre>
 */
public final class CrossEntropyLoss extends TorchLoss {
  private final dev.losskit.core.CrossEntropyLoss core;

  private CrossEntropyLoss(Builder b) {
    this(b.name, b.core.build(), b.classAxis, b.execution);
  }

  private CrossEntropyLoss(String name, dev.losskit.core.CrossEntropyLoss core, int classAxis, Execution execution) {
    super(name, core, classAxis, execution);
    this.core = core;
  }

  /** {@return a builder with PyTorch's defaults, class axis 1 and {@link Execution#AUTO}} */
  public static Builder builder() {
    return new Builder();
  }

  @Override
  NDArray engine(NDArray pred, NDArray label) {
    return EngineNative.classLoss(this, pred, label, core.weight(), core.ignoreIndex(), core.labelSmoothing(), true);
  }

  @Override
  boolean hasClassAxis() {
    return true;
  }

  /** Builds a {@link CrossEntropyLoss}. */
  public static final class Builder {
    private final dev.losskit.core.CrossEntropyLoss.Builder core = dev.losskit.core.CrossEntropyLoss.builder();
    private String name = "CrossEntropyLoss";
    private int classAxis = 1;
    private Execution execution = Execution.AUTO;

    private Builder() {}

    /**
     * Sets the loss's name.
     *
     * @param name the name DJL's metrics show; default {@code CrossEntropyLoss}
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
     * Sets the per-class weights.
     *
     * @param weight one weight per class, or null for none; default none
     * @return this builder
     */
    public Builder weight(double... weight) {
      core.weight(weight);
      return this;
    }

    /**
     * Sets the class index whose positions are ignored.
     *
     * @param ignoreIndex a class index whose positions contribute nothing; default -100
     * @return this builder
     */
    public Builder ignoreIndex(long ignoreIndex) {
      core.ignoreIndex(ignoreIndex);
      return this;
    }

    /**
     * Sets the label smoothing.
     *
     * @param labelSmoothing \( \varepsilon \in [0, 1] \); default 0
     * @return this builder
     */
    public Builder labelSmoothing(double labelSmoothing) {
      core.labelSmoothing(labelSmoothing);
      return this;
    }

    /**
     * Sets the axis that holds the classes.
     *
     * @param classAxis 1 (PyTorch's layout, the default) or -1 (channels-last)
     * @return this builder
     */
    public Builder classAxis(int classAxis) {
      this.classAxis = classAxis;
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
    public CrossEntropyLoss build() {
      return new CrossEntropyLoss(this);
    }
  }
}
