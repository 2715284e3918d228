package dev.losskit.core;

/**
 * Whether the fast kernels may use the Vector API: the {@code jdk.incubator.vector} module must be in the boot
 * layer ({@code --add-modules jdk.incubator.vector}), and the system property {@code losskit.vector} must not be
 * {@code false}. Without it they run scalar code, with the same results to rounding. This class never touches a
 * vector type itself, so it loads without the module; callers reach {@link VectorCrossEntropy} only behind this flag, and
 * a class is loaded only when a call into it first runs.
 */
final class VectorSupport {
  /** Whether the JVM runs with the {@code jdk.incubator.vector} module in its boot layer. */
  static final boolean MODULE_PRESENT = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
  /** Whether the fast kernels use the Vector API: the module is present and not switched off. */
  static final boolean AVAILABLE = MODULE_PRESENT
      && !"false".equalsIgnoreCase(System.getProperty("losskit.vector"));

  private VectorSupport() {}
}
