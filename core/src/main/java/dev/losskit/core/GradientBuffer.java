package dev.losskit.core;

import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;

/**
 * A caller's gradient buffer, handed from {@link Loss#forwardBackward(Tensor, Tensor, Tensor, float[])} (or one of
 * its buffer overloads) to the fused kernels on the calling thread; kernels that find none allocate their own.
 * Cleared after every call.
 *
 * <p>An array is written in place. An NIO buffer (the memory of a native engine's tensor, say) is written in place
 * by the kernels that can stream rows into it ({@link #floatSink}), and receives one bulk copy otherwise.
 */
final class GradientBuffer {
  private static final ThreadLocal<Object> BUFFER = new ThreadLocal<>();
  private static final ThreadLocal<boolean[]> SINK_WRITTEN = ThreadLocal.withInitial(() -> new boolean[1]);

  private GradientBuffer() {}

  static void set(Object buffer) {
    BUFFER.set(buffer);
    SINK_WRITTEN.get()[0] = false;
  }

  static void clear() {
    BUFFER.remove();
  }

  /** {@return the caller's float buffer of this length, or a new array} */
  static float[] floats(int length) {
    Object b = BUFFER.get();
    return b instanceof float[] && ((float[]) b).length == length ? (float[]) b : new float[length];
  }

  /** {@return the caller's double buffer of this length, or a new array} */
  static double[] doubles(int length) {
    Object b = BUFFER.get();
    return b instanceof double[] && ((double[]) b).length == length ? (double[]) b : new double[length];
  }

  /**
   * Claims the caller's float NIO buffer for a kernel that writes every element of the gradient into it, at absolute
   * indices 0 to {@code length - 1}.
   *
   * @return the buffer (a duplicate: threads may each take their own duplicate of it), or null when there is none
   */
  static FloatBuffer floatSink(int length) {
    Object b = BUFFER.get();
    if (b instanceof FloatBuffer && ((FloatBuffer) b).capacity() == length) {
      SINK_WRITTEN.get()[0] = true;
      return ((FloatBuffer) b).duplicate().clear();
    }
    return null;
  }

  /** {@return whether a kernel wrote the gradient into the caller's NIO buffer during this call} */
  static boolean sinkWritten() {
    return SINK_WRITTEN.get()[0];
  }

  /** Copies a computed gradient into the caller's NIO buffer, from absolute index 0. */
  static void copyInto(Object buffer, Tensor grad) {
    if (buffer instanceof FloatBuffer) {
      FloatBuffer f = ((FloatBuffer) buffer).duplicate();
      f.clear();
      float[] a = grad.floatArrayOrNull();
      f.put(a != null ? a : grad.toFloatArray());
    } else {
      DoubleBuffer d = ((DoubleBuffer) buffer).duplicate();
      d.clear();
      double[] a = grad.doubleArrayOrNull();
      d.put(a != null ? a : grad.toDoubleArray());
    }
  }
}
