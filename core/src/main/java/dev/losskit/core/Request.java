package dev.losskit.core;

/**
 * What one call asks of a kernel: the upstream gradient, which outputs to produce, and where the gradient goes.
 *
 * @param gradOutput the upstream gradient, or null for ones
 * @param wantLoss whether to produce the loss
 * @param wantGrad whether to produce the gradient
 * @param out the caller's gradient buffer, or {@link GradientBuffer#NONE} for a fresh array
 */
record Request(Tensor gradOutput, boolean wantLoss, boolean wantGrad, GradientBuffer out) {
  /** {@return a request for the loss alone} */
  static Request lossOnly() {
    return new Request(null, true, false, GradientBuffer.NONE);
  }

  /** {@return a request for a fresh result of the given outputs} */
  static Request of(Tensor gradOutput, boolean wantLoss, boolean wantGrad) {
    return new Request(gradOutput, wantLoss, wantGrad, GradientBuffer.NONE);
  }
}
