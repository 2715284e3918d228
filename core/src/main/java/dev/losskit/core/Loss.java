package dev.losskit.core;

/**
 * A PyTorch loss with its options fixed: {@link CrossEntropyLoss}, {@link NllLoss}, {@link BceWithLogitsLoss} or
 * {@link BceLoss}.
 *
 * <p>Instances are immutable and safe to share between threads. Every call validates its arguments and throws
 * {@link IllegalArgumentException} with a message that names the bad value and where it is.
 *
 * <p>Targets are constants: no gradient flows to them, and none is computed. Only the gradient with respect to
 * the input is available.
 */
public sealed interface Loss permits AbstractLoss {

  /**
   * {@return the loss's name: PyTorch's functional name {@code cross_entropy} or {@code nll_loss}, or
   * {@code bce_with_logits} or {@code bce} for {@code binary_cross_entropy_with_logits} and
   * {@code binary_cross_entropy}}
   */
  String name();

  /** {@return the reduction} */
  Reduction reduction();

  /**
   * {@return whether the loss runs as under PyTorch's {@code torch.autocast}: float16 and bfloat16 tensors widened
   * exactly to float32, so that a half input gives a float32 loss and gradient (see the builders' {@code autocast})}
   */
  boolean autocast();

  /**
   * Checks a call's shapes and dtypes exactly as {@link #forward} does, without reading any value: for engines
   * that keep the data elsewhere (a GPU, say) and check the values themselves. Class indices are range-checked
   * only by {@link #checkTargetValues}.
   *
   * @param inputShape the input's shape
   * @param inputDtype the input's dtype
   * @param targetShape the target's shape
   * @param targetDtype the target's dtype
   * @return the shape of the unreduced loss, which is the loss's shape for {@code none}
   * @throws IllegalArgumentException as {@link #forward} would for the same shapes and dtypes
   */
  int[] checkShapes(int[] inputShape, DType inputDtype, int[] targetShape, DType targetDtype);

  /**
   * Checks a target's values as {@link #forward} does: class indices must be in range or {@code ignoreIndex}.
   * Does nothing for losses without class indices.
   *
   * @param inputShape the input's shape
   * @param target the target
   * @throws IllegalArgumentException naming the first bad index and its position
   */
  void checkTargetValues(int[] inputShape, Tensor target);

  /**
   * Computes the loss.
   *
   * @param input the input: float32, float64, float16 or bfloat16
   * @param target the target
   * @return the loss in the input's dtype (float32 for a half input under {@link #autocast()}): shape {@code []}
   *     for {@code mean} and {@code sum}
   */
  Tensor forward(Tensor input, Tensor target);

  /**
   * Computes the gradient of the loss with respect to the input, for a given upstream gradient.
   *
   * @param input the input
   * @param target the target (a constant: it gets no gradient)
   * @param gradOutput the gradient with respect to the loss, in the loss's shape ({@code []} unless the reduction
   *     is {@code none}); any floating dtype
   * @return the gradient in the input's shape and dtype (float32 for a half input under {@link #autocast()})
   */
  Tensor backward(Tensor input, Tensor target, Tensor gradOutput);

  /**
   * Computes the loss and its gradient together, as in the usual training step.
   *
   * @param input the input
   * @param target the target (a constant)
   * @param gradOutput the upstream gradient in the loss's shape, or {@code null} for ones
   * @return the loss and the gradient with respect to the input
   */
  LossResult forwardBackward(Tensor input, Tensor target, Tensor gradOutput);

  /**
   * Computes the loss and its gradient, writing the gradient into a buffer the caller owns and may reuse from call
   * to call, so no N·C array is allocated (and zeroed) per call: the usual training loop.
   *
   * @param input the input, float32 (or float16 or bfloat16 under {@link #autocast()})
   * @param target the target (a constant)
   * @param gradOutput the upstream gradient in the loss's shape, or {@code null} for ones
   * @param gradInto where the gradient goes: the input's element count, row-major
   * @return the loss, and the gradient as a view of {@code gradInto}
   * @throws IllegalArgumentException when the buffer's length or type does not fit the input
   */
  LossResult forwardBackward(Tensor input, Tensor target, Tensor gradOutput, float[] gradInto);

  /**
   * As {@link #forwardBackward(Tensor, Tensor, Tensor, float[])}, for float64 inputs.
   *
   * @param input the input, float64
   * @param target the target (a constant)
   * @param gradOutput the upstream gradient in the loss's shape, or {@code null} for ones
   * @param gradInto where the gradient goes: the input's element count, row-major
   * @return the loss, and the gradient as a view of {@code gradInto}
   */
  LossResult forwardBackward(Tensor input, Tensor target, Tensor gradOutput, double[] gradInto);

  /**
   * As {@link #forwardBackward(Tensor, Tensor, Tensor, float[])}, writing the gradient into an NIO buffer: the memory
   * of a native engine's tensor, for example, so that the gradient crosses into the engine without a copy. The
   * gradient goes to absolute indices 0 to {@code n - 1}; the buffer's position and limit are neither used nor
   * changed. The fused kernel for large float32 rows streams each row straight into the buffer; other kernels
   * compute the gradient and copy it in once.
   *
   * @param input the input, float32
   * @param target the target (a constant)
   * @param gradOutput the upstream gradient in the loss's shape, or {@code null} for ones
   * @param gradInto where the gradient goes: a writable buffer whose capacity is the input's element count
   * @return the loss, and the gradient as a view of {@code gradInto}
   * @throws IllegalArgumentException when the buffer is read-only or its capacity does not fit the input
   */
  LossResult forwardBackward(Tensor input, Tensor target, Tensor gradOutput, java.nio.FloatBuffer gradInto);

  /**
   * As {@link #forwardBackward(Tensor, Tensor, Tensor, java.nio.FloatBuffer)}, for float64 inputs.
   *
   * @param input the input, float64
   * @param target the target (a constant)
   * @param gradOutput the upstream gradient in the loss's shape, or {@code null} for ones
   * @param gradInto where the gradient goes: a writable buffer whose capacity is the input's element count
   * @return the loss, and the gradient as a view of {@code gradInto}
   */
  LossResult forwardBackward(Tensor input, Tensor target, Tensor gradOutput, java.nio.DoubleBuffer gradInto);

  /**
   * Computes the loss and the gradient of the loss itself (an upstream gradient of ones).
   *
   * @param input the input
   * @param target the target (a constant)
   * @return the loss and the gradient with respect to the input
   */
  default LossResult forwardBackward(Tensor input, Tensor target) {
    return forwardBackward(input, target, null);
  }
}
