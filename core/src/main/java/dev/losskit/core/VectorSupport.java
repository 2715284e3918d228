package dev.losskit.core;

/**
 * Whether the fast kernels may use the Vector API: the {@code jdk.incubator.vector} module must be in the boot
 * layer ({@code --add-modules jdk.incubator.vector}), and the system property {@code losskit.vector} must not be
 * {@code false}. Without it they run scalar code, with the same results to rounding. This class never touches a
 * vector type itself, so it loads without the module.
 */
final class VectorSupport {
  static final boolean AVAILABLE = !"false".equalsIgnoreCase(System.getProperty("losskit.vector"))
      && ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

  private VectorSupport() {}

  /** See {@link VectorRows#crossEntropyRow}; only call when {@link #AVAILABLE}. */
  static void crossEntropyRow(Tensor input, int at, int classes, float[] scratch, int target, double[] w,
      float[] wf, double weightTotal, double eps, double g, double[] nll, double[] smooth, int pos, float[] grad) {
    VectorRows.crossEntropyRow(input, at, classes, scratch, target, w, wf, weightTotal, eps, g, nll, smooth, pos,
        grad);
  }
}
