package dev.losskit.core;

/**
 * Whether the fast kernels may use the Vector API: the {@code jdk.incubator.vector} module must be in the boot
 * layer ({@code --add-modules jdk.incubator.vector}), and the system property {@code losskit.vector} must not be
 * {@code false}. Without it they run scalar code, with the same results to rounding. This class never touches a
 * vector type itself, so it loads without the module; callers reach {@link VectorRows} only behind this flag, and
 * a class is loaded only when a call into it first runs.
 */
final class VectorSupport {
  static final boolean AVAILABLE = !"false".equalsIgnoreCase(System.getProperty("losskit.vector"))
      && ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

  private VectorSupport() {}
}
