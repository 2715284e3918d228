package dev.losskit.core;

/**
 * Which kernels the core runs in this JVM. The fused float32 kernels use the Vector API
 * ({@code jdk.incubator.vector}) when the JVM runs with {@code --add-modules jdk.incubator.vector} and the system
 * property {@code losskit.vector} is not {@code false}; otherwise they run scalar code, with the same results to
 * rounding. The answer is fixed when the core's classes load and holds for the life of the JVM.
 *
 * <p>{@code losskit --version} prints {@link #describe()}.
 */
public final class Kernels {
  private Kernels() {}

  /**
   * Tells whether the Vector API kernels are on.
   *
   * @return true when the fused float32 kernels use the Vector API
   */
  public static boolean vectorized() {
    return VectorSupport.AVAILABLE;
  }

  /**
   * Describes the active kernels in one line, e.g. {@code Vector API (jdk.incubator.vector), 256-bit}, or, without
   * the module, {@code scalar (run with --add-modules jdk.incubator.vector for the vectorised kernels)}.
   *
   * @return the kernels in use, and how to switch on the vectorised ones when they are off
   */
  public static String describe() {
    if (VectorSupport.AVAILABLE) {
      return "Vector API (jdk.incubator.vector), " + VectorCrossEntropy.floatLanes() * Float.SIZE + "-bit";
    }
    if (VectorSupport.MODULE_PRESENT) {
      return "scalar (the Vector API is switched off by -Dlosskit.vector=false)";
    }
    return "scalar (run with --add-modules jdk.incubator.vector for the vectorised kernels)";
  }
}
