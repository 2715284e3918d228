package dev.losskit.core;

import java.nio.FloatBuffer;

/**
 * Where a fused kernel puts finished pieces of the gradient (rows, blocks) when it does not write a float or double
 * array in place: a caller's float32 NIO buffer, or a half-precision gradient array, into which each float32 piece is
 * rounded once (to nearest, ties to even). Puts go to absolute indices and never overlap between threads, so one
 * instance serves every thread of a call.
 */
abstract class GradientSink {
  private GradientSink() {}

  /** Puts {@code src[off, off + len)} at gradient indices {@code [at, at + len)}. */
  abstract void put(int at, float[] src, int off, int len);

  /** Puts one element, computed in double: a half sink rounds it once from the double. */
  abstract void put(int at, double v);

  /** {@return the whole gradient, of the given shape} */
  abstract Tensor tensor(int[] shape);

  /** {@return a sink writing into a float32 buffer (absolute indices), or null when {@code b} is null} */
  static GradientSink of(FloatBuffer b) {
    if (b == null) {
      return null;
    }
    return new GradientSink() {
      @Override
      void put(int at, float[] src, int off, int len) {
        b.put(at, src, off, len);
      }

      @Override
      void put(int at, double v) {
        b.put(at, (float) v);
      }

      @Override
      Tensor tensor(int[] shape) {
        return Tensor.view(b, 0, shape);
      }
    };
  }

  /** {@return a sink writing a new half-precision gradient of {@code n} elements of type {@code dtype}} */
  static GradientSink half(DType dtype, int n) {
    short[] out = new short[n];
    return new GradientSink() {
      @Override
      void put(int at, float[] src, int off, int len) {
        HalfFloats.narrow(dtype, src, off, out, at, len);
      }

      @Override
      void put(int at, double v) {
        out[at] = HalfFloats.round(dtype, v);
      }

      @Override
      Tensor tensor(int[] shape) {
        return Tensor.of(out, dtype, shape);
      }
    };
  }
}
