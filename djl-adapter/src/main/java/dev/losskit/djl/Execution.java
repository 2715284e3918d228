package dev.losskit.djl;

/** How a losskit DJL loss computes. */
public enum Execution {
  /** The default: {@link #CORE} for arrays on the CPU, {@link #ENGINE} for any other device. */
  AUTO,
  /**
   * losskit's pure-Java core computes the loss and its gradient on the CPU, and the gradient is handed to DJL's
   * autograd as a straight-through term \( L + (\sum p\,G - \mathrm{stop}(\sum p\,G)) \), whose value is exactly
   * \( L \) and whose gradient is exactly \( G \). Inputs holding \( \pm\infty \) or NaN take the {@link #ENGINE}
   * path, because no such term can carry a gradient through a non-finite logit.
   */
  CORE,
  /** DJL NDArray operations, the same composition libtorch uses, on any device, with the engine's autograd. */
  ENGINE
}
