package dev.losskit.djl;

/** How a losskit DJL loss computes. */
public enum Execution {
  /**
   * The default: {@link #ENGINE} for arrays on any device but the CPU; on the CPU, {@link #CORE}, except for class
   * losses with short rows (fewer than 64 classes, at least 16 or on the last axis of a rank-3-or-more tensor, and
   * 8192 elements or more), where the engine's vectorised log-softmax is measured faster than the core's row kernel;
   * and float16 or bfloat16 predictions of 8192 elements or more, whose core path works on float64 copies.
   */
  AUTO,
  /**
   * losskit's pure-Java core computes the loss and its gradient on the CPU, and the gradient is handed to DJL's
   * autograd as a straight-through term \( L + (\sum p\,G - \mathrm{stop}(\sum p\,G)) \), whose value is exactly
   * \( L \) and whose gradient is exactly \( G \). Inputs holding \( \pm\infty \) or NaN take the {@link #ENGINE}
   * path, because no such term can carry a gradient through a non-finite logit. When the engine's autograd is not
   * recording (DJL's evaluator after the step, validation), the core computes the loss alone, with no gradient.
   */
  CORE,
  /** DJL NDArray operations, the same composition libtorch uses, on any device, with the engine's autograd. */
  ENGINE
}
