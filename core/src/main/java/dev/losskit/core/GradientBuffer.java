package dev.losskit.core;

/**
 * A caller's gradient buffer, handed from {@link Loss#forwardBackward(Tensor, Tensor, Tensor, float[])} to the
 * fused kernels on the calling thread; kernels that find none allocate their own. Cleared after every call.
 */
final class GradientBuffer {
  private static final ThreadLocal<Object> BUFFER = new ThreadLocal<>();

  private GradientBuffer() {}

  static void set(Object buffer) {
    BUFFER.set(buffer);
  }

  static void clear() {
    BUFFER.remove();
  }

  /** @return the caller's float buffer of this length, or a new array */
  static float[] floats(int length) {
    Object b = BUFFER.get();
    return b instanceof float[] && ((float[]) b).length == length ? (float[]) b : new float[length];
  }

  /** @return the caller's double buffer of this length, or a new array */
  static double[] doubles(int length) {
    Object b = BUFFER.get();
    return b instanceof double[] && ((double[]) b).length == length ? (double[]) b : new double[length];
  }
}
