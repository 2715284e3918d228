package dev.losskit.onnx;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import dev.losskit.core.DType;
import dev.losskit.core.HalfFloats;
import dev.losskit.core.Tensor;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.ShortBuffer;
import java.util.Arrays;

/** Half-precision tensors in and out of ONNX Runtime, and the distance in ulps between two half values. */
final class HalfIo {
  private HalfIo() {}

  /** {@return the 16-bit pattern of a value the half dtype holds exactly (checked)} */
  static short bits(DType dtype, double v) {
    float f = (float) v;
    short h = dtype == DType.FLOAT16 ? HalfFloats.floatToFloat16(f) : HalfFloats.floatToBfloat16(f);
    double back = value(dtype, h);
    if (!(Double.compare(back, v) == 0 || Double.isNaN(back) && Double.isNaN(v) || back == v)) {
      throw new AssertionError(v + " is not a " + dtype + " value");
    }
    return h;
  }

  /** {@return the value of a 16-bit pattern} */
  static double value(DType dtype, short h) {
    return dtype == DType.FLOAT16 ? HalfFloats.float16ToFloat(h) : HalfFloats.bfloat16ToFloat(h);
  }

  /** {@return ONNX Runtime's tensor of a core tensor: half as FLOAT16/BFLOAT16 bits, int64, or float32} */
  static OnnxTensor tensor(OrtEnvironment env, Tensor t) throws OrtException {
    long[] shape = Arrays.stream(t.shape()).asLongStream().toArray();
    if (t.dtype().isHalf()) {
      short[] b = new short[t.numel()];
      for (int i = 0; i < b.length; i++) {
        b[i] = bits(t.dtype(), t.getDouble(i));
      }
      return OnnxTensor.createTensor(env, ShortBuffer.wrap(b), shape,
          t.dtype() == DType.FLOAT16 ? OnnxJavaType.FLOAT16 : OnnxJavaType.BFLOAT16);
    }
    if (t.dtype() == DType.FLOAT32) {
      return OnnxTensor.createTensor(env, FloatBuffer.wrap(t.toFloatArray()), shape);
    }
    long[] v = new long[t.numel()];
    for (int i = 0; i < v.length; i++) {
      v[i] = t.getLong(i);
    }
    return OnnxTensor.createTensor(env, LongBuffer.wrap(v), shape);
  }

  /** {@return the bits of a half output, checking that ONNX Runtime gives it in {@code dtype}} */
  static short[] halfBits(OnnxTensor t, DType dtype) {
    OnnxJavaType want = dtype == DType.FLOAT16 ? OnnxJavaType.FLOAT16 : OnnxJavaType.BFLOAT16;
    if (t.getInfo().type != want) {
      throw new AssertionError("output of type " + t.getInfo().type + ", not " + want);
    }
    ShortBuffer b = t.getShortBuffer();
    short[] v = new short[b.remaining()];
    b.get(v);
    return v;
  }

  /** {@return the core tensor of a half output} */
  static Tensor read(OnnxTensor t, DType dtype) {
    int[] shape = Arrays.stream(t.getInfo().getShape()).mapToInt(Math::toIntExact).toArray();
    return Tensor.of(halfBits(t, dtype), dtype, shape);
  }

  /**
   * {@return how many representable values of the 16-bit format lie between two patterns} 0 for equal values (also
   * +0 and -0, and two NaNs), {@link Integer#MAX_VALUE} when exactly one is NaN. Both formats order their finite
   * values and infinities like sign-magnitude integers, so the distance is a difference of those integers.
   */
  static int ulps(DType dtype, short a, short b) {
    boolean nanA = Double.isNaN(value(dtype, a));
    boolean nanB = Double.isNaN(value(dtype, b));
    if (nanA || nanB) {
      return nanA && nanB ? 0 : Integer.MAX_VALUE;
    }
    return Math.abs(ordinal(a) - ordinal(b));
  }

  private static int ordinal(short h) {
    int magnitude = h & 0x7fff;
    return (h & 0x8000) != 0 ? -magnitude : magnitude;
  }
}
