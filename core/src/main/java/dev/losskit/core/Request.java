package dev.losskit.core;

/**
 * What one call asks of a kernel: the upstream gradient, which outputs to produce, and where the gradient goes.
 *
 * @param gradOutput the upstream gradient, or null for ones
 * @param wantLoss whether to produce the loss
 * @param wantGrad whether to produce the gradient
 * @param out the caller's gradient buffer, or {@link GradientBuffer#NONE} for a fresh array
 * @param float32Result whether a half input's loss and gradient are float32 (autocast, the half input read in place)
 */
record Request(Tensor gradOutput, boolean wantLoss, boolean wantGrad, GradientBuffer out, boolean float32Result) {
  /** A request whose results take the input's dtype. */
  Request(Tensor gradOutput, boolean wantLoss, boolean wantGrad, GradientBuffer out) {
    this(gradOutput, wantLoss, wantGrad, out, false);
  }

  /** {@return this request asking for float32 results from a half input: autocast, read in place} */
  Request asFloat32Result() {
    return new Request(gradOutput, wantLoss, wantGrad, out, true);
  }

  /** {@return this request with another upstream gradient} */
  Request withGradOutput(Tensor g) {
    return new Request(g, wantLoss, wantGrad, out, float32Result);
  }

  /** {@return the dtype of the results for an input of type {@code input}: float32 for a half input under autocast} */
  DType resultType(DType input) {
    return float32Result && input.isHalf() ? DType.FLOAT32 : input;
  }

  /** {@return a request for the loss alone} */
  static Request lossOnly() {
    return new Request(null, true, false, GradientBuffer.NONE);
  }

  /** {@return a request for a fresh result of the given outputs} */
  static Request of(Tensor gradOutput, boolean wantLoss, boolean wantGrad) {
    return new Request(gradOutput, wantLoss, wantGrad, GradientBuffer.NONE);
  }
}
