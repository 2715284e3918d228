package dev.losskit.core;

import dev.losskit.core.LossArgumentException.Cause;

/** How a loss reduces its per-position values, with PyTorch's names and semantics. */
public enum Reduction {
  /** No reduction: one loss value per position, in the target's shape. */
  NONE("none"),
  /**
   * The weighted mean. For class-index targets the sum is divided by the sum of the weights of the non-ignored
   * targets (their count when there is no weight); otherwise by the number of positions. An empty batch, or
   * one where every target is ignored, gives NaN.
   */
  MEAN("mean"),
  /** The sum over all positions; 0 for an empty batch. */
  SUM("sum");

  private final String pytorchName;

  Reduction(String pytorchName) {
    this.pytorchName = pytorchName;
  }

  /** {@return PyTorch's name: {@code none}, {@code mean} or {@code sum}} */
  public String pytorchName() {
    return pytorchName;
  }

  /**
   * Parses PyTorch's name of a reduction.
   *
   * @param name {@code none}, {@code mean} or {@code sum}
   * @return the reduction
   * @throws IllegalArgumentException naming the value when it is none of these
   */
  public static Reduction fromPytorchName(String name) {
    for (Reduction r : values()) {
      if (r.pytorchName.equals(name)) {
        return r;
      }
    }
    throw new LossArgumentException(Cause.OPTION, "unknown reduction '" + name + "': expected one of none, mean, sum");
  }

  @Override
  public String toString() {
    return pytorchName;
  }
}
