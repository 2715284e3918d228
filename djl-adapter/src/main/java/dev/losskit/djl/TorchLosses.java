package dev.losskit.djl;

/**
 * Static factories in the style of DJL's {@code Loss.softmaxCrossEntropyLoss()}: PyTorch's losses with PyTorch's
 * defaults. Use the builders ({@link CrossEntropyLoss#builder()} and so on) for every option.
 */
public final class TorchLosses {
  private TorchLosses() {}

  /** {@return {@code CrossEntropyLoss} with PyTorch's defaults: mean, no weight, ignore_index -100, no smoothing} */
  public static CrossEntropyLoss crossEntropy() {
    return CrossEntropyLoss.builder().build();
  }

  /**
   * Creates a label-smoothed {@code CrossEntropyLoss}.
   *
   * @param labelSmoothing \( \varepsilon \in [0, 1] \)
   * @return {@code CrossEntropyLoss} with label smoothing and PyTorch's other defaults
   */
  public static CrossEntropyLoss crossEntropy(double labelSmoothing) {
    return CrossEntropyLoss.builder().labelSmoothing(labelSmoothing).build();
  }

  /**
   * Creates a class-weighted, label-smoothed {@code CrossEntropyLoss}.
   *
   * @param weight one weight per class
   * @param labelSmoothing \( \varepsilon \in [0, 1] \)
   * @return class-weighted, label-smoothed {@code CrossEntropyLoss}
   */
  public static CrossEntropyLoss crossEntropy(double[] weight, double labelSmoothing) {
    return CrossEntropyLoss.builder().weight(weight).labelSmoothing(labelSmoothing).build();
  }

  /** {@return {@code NLLLoss} with PyTorch's defaults} */
  public static NllLoss nllLoss() {
    return NllLoss.builder().build();
  }

  /** {@return {@code BCEWithLogitsLoss} with PyTorch's defaults} */
  public static BceWithLogitsLoss bceWithLogits() {
    return BceWithLogitsLoss.builder().build();
  }

  /**
   * Creates a {@code BCEWithLogitsLoss} with a positive-class weight.
   *
   * @param posWeight the positive-class weight along the last dimension
   * @return {@code BCEWithLogitsLoss} with {@code pos_weight}
   */
  public static BceWithLogitsLoss bceWithLogits(double... posWeight) {
    return BceWithLogitsLoss.builder().posWeight(posWeight).build();
  }

  /** {@return {@code BCELoss} (on probabilities) with PyTorch's defaults: mean, no weight} */
  public static BceLoss bce() {
    return BceLoss.builder().build();
  }

  /**
   * Creates a weighted {@code BCELoss}.
   *
   * @param weight the rescaling weight along the last dimension
   * @return {@code BCELoss} with a weight
   */
  public static BceLoss bce(double... weight) {
    return BceLoss.builder().weight(weight).build();
  }
}
