package dev.losskit.core;

/**
 * Runs a loss on its reference kernels: the executable specification, plain double-precision loops that read like
 * the formulas in their Javadoc. The public API ({@link Loss#forwardBackward}) runs the fastest kernels
 * available; the reference kernels stay as they are, and the fast ones are proven against them.
 */
public final class Reference {
  private Reference() {}

  /**
   * Computes the loss and its gradient with the reference kernels, validating exactly as the public API does.
   *
   * @param loss the loss and its options
   * @param input the input
   * @param target the target (a constant: it gets no gradient)
   * @param gradOutput the upstream gradient in the loss's shape, or null for ones
   * @return the loss and the gradient with respect to the input
   */
  public static LossResult forwardBackward(Loss loss, Tensor input, Tensor target, Tensor gradOutput) {
    return ((AbstractLoss) loss).computeReference(input, target, Request.of(gradOutput, true, true));
  }
}
