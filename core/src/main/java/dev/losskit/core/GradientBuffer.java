package dev.losskit.core;

import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;

/**
 * Where a call's gradient goes: a caller's buffer, handed from
 * {@link Loss#forwardBackward(Tensor, Tensor, Tensor, float[])} (or one of its buffer overloads) to the fused
 * kernels as part of their {@link Request}, or {@link #NONE}, for which kernels allocate a fresh array. One
 * instance serves one call.
 *
 * <p>An array is written in place. An NIO buffer (the memory of a native engine's tensor, say) is written in place
 * by the kernels that can stream rows into it ({@link #floatSink}), and receives one bulk copy otherwise.
 */
final class GradientBuffer {
  /** No caller's buffer: kernels allocate the gradient. */
  static final GradientBuffer NONE = new GradientBuffer(null);

  private final Object buffer;
  private volatile boolean sinkWritten;

  private GradientBuffer(Object buffer) {
    this.buffer = buffer;
  }

  /** {@return a buffer for one call: a {@code float[]}, {@code double[]}, {@link FloatBuffer} or {@link DoubleBuffer}} */
  static GradientBuffer of(Object buffer) {
    return new GradientBuffer(buffer);
  }

  /** {@return the caller's float array if it has this length, else a new array} */
  float[] floats(int length) {
    return buffer instanceof float[] && ((float[]) buffer).length == length ? (float[]) buffer : new float[length];
  }

  /** {@return the caller's double array if it has this length, else a new array} */
  double[] doubles(int length) {
    return buffer instanceof double[] && ((double[]) buffer).length == length ? (double[]) buffer
        : new double[length];
  }

  /**
   * Claims the caller's float NIO buffer for a kernel that writes every element of the gradient into it, at absolute
   * indices 0 to {@code length - 1}.
   *
   * @return the buffer (a duplicate: threads may each take their own duplicate of it), or null when there is none
   */
  FloatBuffer floatSink(int length) {
    if (buffer instanceof FloatBuffer && ((FloatBuffer) buffer).capacity() == length) {
      sinkWritten = true;
      return ((FloatBuffer) buffer).duplicate().clear();
    }
    return null;
  }

  /** {@return whether a kernel wrote the gradient into the caller's NIO buffer during this call} */
  boolean sinkWritten() {
    return sinkWritten;
  }

  /** Copies a computed gradient into the caller's NIO buffer, from absolute index 0. */
  void copyInto(Tensor grad) {
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
