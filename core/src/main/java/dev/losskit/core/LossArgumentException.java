package dev.losskit.core;

/**
 * losskit's rejection of an argument: an {@link IllegalArgumentException} whose one-line message names the bad value,
 * and whose {@link #cause()} says, as a constant, what was wrong with it. Code that reacts to a rejection (a
 * conformance check, a caller that retries with other options) matches the cause, never the message text.
 *
 * <p>The core, the DJL adapter and the ONNX exporter all throw it for the arguments they validate.
 */
public final class LossArgumentException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  /** What was wrong with the argument. */
  public enum Cause {
    /** A class index that is neither in {@code [0, C)} nor {@code ignoreIndex}; a {@link LogLoss} label that is not
     * among the {@code labels}. */
    TARGET_OUT_OF_RANGE,
    /** A floating label read as class indices that is not a whole number (DJL adapter, {@link LogLoss}). */
    TARGET_NOT_CLASS_INDEX,
    /** A weight that does not fit the input: a class weight of another length than C, or not 1-D; a BCE weight
     * that does not broadcast to the input; a {@link LogLoss} sample weight that is not 1-D. */
    WEIGHT_SHAPE,
    /** A BCE {@code posWeight} that does not broadcast to the input. */
    POS_WEIGHT_SHAPE,
    /** A label smoothing outside {@code [0, 1]}, or NaN. */
    LABEL_SMOOTHING_RANGE,
    /** Class-probability targets with an {@code ignoreIndex} that is not negative. */
    PROBABILITY_TARGET_IGNORE_INDEX,
    /** A target whose shape does not fit the input's. */
    SHAPE_MISMATCH,
    /** An input of a shape the loss does not take (a scalar for a class loss, too few dimensions). */
    INPUT_SHAPE,
    /** A tensor of a dtype the loss does not take for it. */
    DTYPE,
    /** An upstream gradient whose shape is not the loss's. */
    GRAD_OUTPUT_SHAPE,
    /** A caller-owned gradient buffer that is read-only or does not fit the input. */
    GRADIENT_BUFFER,
    /** A tensor that cannot be built: a negative extent, more than 2^31-1 elements, too few values. */
    TENSOR_SHAPE,
    /** A required argument that is null or empty. */
    NULL_ARGUMENT,
    /** Any other option outside its domain: a reduction, an opset, a class axis, a lowering that cannot express
     * the loss. */
    OPTION,
    /** A model the ONNX exporter cannot attach the loss to: no such output, a name already taken. */
    MODEL,
    /**
     * A value that must be a probability and is not (NaN, infinite, below 0 or above 1): a {@link BceLoss} input or
     * target, or a {@link LogLoss} prediction.
     */
    PROBABILITY_RANGE,
    /** A {@link LogLoss} call with fewer than two classes, or whose prediction has another number of columns than
     * there are classes. */
    CLASS_COUNT,
    /** {@link LogLoss} sample weights that are NaN or infinite, all zero, or that sum to zero for a weighted mean. */
    SAMPLE_WEIGHT,
    /** A {@link LogLoss} {@code y_true} that scikit-learn cannot binarize: more than two dimensions, a 2-D target with
     * more than two distinct values (multioutput), or an indicator matrix given together with {@code labels}. */
    TARGET_TYPE
  }

  /** What was wrong with the argument. */
  private final Cause cause;

  /**
   * Makes the exception.
   *
   * @param cause what was wrong
   * @param message one line naming the bad value and where it is
   */
  public LossArgumentException(Cause cause, String message) {
    super(message);
    if (cause == null) {
      throw new NullPointerException("cause");
    }
    this.cause = cause;
  }

  /**
   * What was wrong with the argument. Not to be confused with {@link #getCause()}, the exception (if any) that
   * led to this one.
   *
   * @return the cause
   */
  public Cause cause() {
    return cause;
  }
}
