package dev.losskit.core;

/**
 * Conversions between float32 and the two 16-bit floating formats, IEEE 754 binary16 ({@code torch.float16}) and
 * bfloat16 ({@code torch.bfloat16}), on their bit patterns held in a {@code short}. Rounding is to nearest, ties to
 * even, as PyTorch's and the hardware's conversions round; NaN stays NaN (quiet, sign kept), infinities stay
 * infinite, and subnormals are exact both ways. JDK 17 has no {@code Float.float16ToFloat}, so these are written
 * out; every half value converts to float32 exactly.
 */
public final class HalfFloats {
  private HalfFloats() {}

  /**
   * {@return the float32 value of the binary16 bits {@code h}: exact}
   *
   * @param h binary16 bits
   */
  public static float float16ToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exponent = (bits >>> 10) & 0x1f;
    int mantissa = bits & 0x3ff;
    if (exponent == 0x1f) {
      // Infinity, or NaN with its payload moved to the top of float32's mantissa (quiet bit set).
      return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa == 0 ? 0 : 0x400000 | mantissa << 13));
    }
    if (exponent == 0) {
      // Zero or subnormal: mantissa · 2^-24, exact in float32.
      float v = mantissa * 0x1p-24f;
      return sign == 0 ? v : -v;
    }
    return Float.intBitsToFloat(sign | (exponent + 112) << 23 | mantissa << 13);
  }

  /**
   * {@return the binary16 bits nearest to {@code f}, ties to even; NaN quiet, overflow to infinity}
   *
   * @param f a float32 value
   */
  public static short floatToFloat16(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int abs = bits & 0x7fffffff;
    if (abs >= 0x7f800000) {
      // Infinity, or NaN: keep the payload's top bits and force the quiet bit, so it stays a NaN.
      return (short) (sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 | (abs >>> 13) & 0x3ff : 0));
    }
    if (abs >= 0x477ff000) {
      // At or above 65520 = 65504 + half an ulp: rounds to infinity (the tie at 65520 rounds to even, 2^16).
      return (short) (sign | 0x7c00);
    }
    if (abs < 0x38800000) {
      // Below 2^-14, float16's smallest normal: a subnormal (or zero), in units of 2^-24, rounded to nearest even.
      // abs · 2^24 as an exact float op: the float's mantissa with its exponent; shifting rounds by hand.
      int e = abs >>> 23;
      if (e < 102) {
        return (short) sign; // below 2^-25: rounds to zero (2^-25 itself, the tie, rounds to even, zero)
      }
      int m = (abs & 0x7fffff) | 0x800000; // 24 significant bits, value m · 2^(e - 150)
      int shift = 126 - e; // the value in units of 2^-24 is m >> (150 - e - 24) = m >> shift
      int q = m >>> shift;
      int rest = m & ((1 << shift) - 1);
      int half = 1 << (shift - 1);
      if (rest > half || rest == half && (q & 1) != 0) {
        q++;
      }
      return (short) (sign | q);
    }
    // Normal: rebias the exponent and round the mantissa's 13 dropped bits to nearest even; a carry moves into the
    // exponent, which is right (it may reach infinity only above the bound handled before).
    int rounded = abs - 0x38000000; // exponent 127 -> 15
    int q = rounded >>> 13;
    int rest = rounded & 0x1fff;
    if (rest > 0x1000 || rest == 0x1000 && (q & 1) != 0) {
      q++;
    }
    return (short) (sign | q);
  }

  /**
   * {@return the binary16 bits nearest to {@code d}, rounded once (ties to even)} Rounding a double to float first
   * and then to half could round twice, across a half midpoint: this rounds the double to 11 significant bits
   * directly, then converts the exact result.
   *
   * @param d a float64 value
   */
  public static short doubleToFloat16(double d) {
    return (short) roundDouble(d, 11, -14, 65504, true);
  }

  /**
   * {@return the bfloat16 bits nearest to {@code d}, rounded once (ties to even)}
   *
   * @param d a float64 value
   */
  public static short doubleToBfloat16(double d) {
    return (short) roundDouble(d, 8, -126, 0x1.fep127, false);
  }

  /**
   * Rounds {@code d} to {@code precision} significant bits, with exponents below {@code minExponent} subnormal
   * (fixed spacing), ties to even; beyond the largest finite value {@code max} by half its spacing or more (the
   * tie included: the largest value's last bit is odd), infinity; and returns the bits in the 16-bit format.
   */
  private static int roundDouble(double d, int precision, int minExponent, double max, boolean float16) {
    if (Double.isNaN(d)) {
      boolean negative = Double.doubleToRawLongBits(d) < 0;
      float nan = Float.intBitsToFloat(Float.floatToRawIntBits(Float.NaN) | (negative ? 0x80000000 : 0));
      return float16 ? floatToFloat16(nan) : floatToBfloat16(nan);
    }
    double a = Math.abs(d);
    double rounded;
    if (Double.isInfinite(a)) {
      rounded = a;
    } else {
      int e = Math.max(Math.getExponent(a), minExponent);
      double spacing = Math.scalb(1.0, e - (precision - 1));
      rounded = Math.rint(a / spacing) * spacing; // exact: scaling by powers of two, rint ties to even
      if (rounded > max) {
        rounded = Double.POSITIVE_INFINITY;
      }
    }
    float f = (float) Math.copySign(rounded, d); // exact: the value has at most 11 (or 8) significant bits
    return float16 ? floatToFloat16(f) : floatToBfloat16(f);
  }

  /**
   * {@return the float32 value of the bfloat16 bits {@code b}: exact (bfloat16 is float32's top half)}
   *
   * @param b bfloat16 bits
   */
  public static float bfloat16ToFloat(short b) {
    return Float.intBitsToFloat((b & 0xffff) << 16);
  }

  /**
   * {@return the bfloat16 bits nearest to {@code f}, ties to even; NaN quiet, overflow to infinity}
   *
   * @param f a float32 value
   */
  public static short floatToBfloat16(float f) {
    int bits = Float.floatToRawIntBits(f);
    if ((bits & 0x7fffffff) > 0x7f800000) {
      return (short) ((bits >>> 16) | 0x40); // NaN: the top payload bits kept, the quiet bit set
    }
    int lsb = (bits >>> 16) & 1;
    return (short) ((bits + 0x7fff + lsb) >>> 16);
  }

  /**
   * Widens {@code len} half values of type {@code dtype} from {@code src[so...]} into {@code dst[doff...]}: exact. The
   * fused kernels' block reads, in vector lanes ({@link VectorHalf}) when the Vector API is on, with the same bits.
   */
  static void widen(DType dtype, short[] src, int so, float[] dst, int doff, int len) {
    int done = VectorSupport.AVAILABLE ? VectorHalf.widen(dtype == DType.BFLOAT16, src, so, dst, doff, len) : 0;
    if (done > 0) {
      so += done;
      doff += done;
      len -= done;
    }
    if (dtype == DType.BFLOAT16) {
      for (int i = 0; i < len; i++) {
        dst[doff + i] = Float.intBitsToFloat(src[so + i] << 16);
      }
    } else {
      for (int i = 0; i < len; i++) {
        dst[doff + i] = float16ToFloat(src[so + i]);
      }
    }
  }

  /**
   * Rounds {@code len} floats from {@code src[so...]} to half values of type {@code dtype} into {@code dst[doff...]},
   * each to nearest, ties to even ({@link #floatToFloat16}, {@link #floatToBfloat16}); in vector lanes
   * ({@link VectorHalf}) when the Vector API is on, with the same bits.
   */
  static void narrow(DType dtype, float[] src, int so, short[] dst, int doff, int len) {
    int done = VectorSupport.AVAILABLE ? VectorHalf.narrow(dtype == DType.BFLOAT16, src, so, dst, doff, len) : 0;
    if (done > 0) {
      so += done;
      doff += done;
      len -= done;
    }
    if (dtype == DType.BFLOAT16) {
      for (int i = 0; i < len; i++) {
        int bits = Float.floatToRawIntBits(src[so + i]);
        int rounded = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
        int nan = (bits >>> 16) | 0x40;
        dst[doff + i] = (short) ((bits & 0x7fffffff) > 0x7f800000 ? nan : rounded);
      }
    } else {
      for (int i = 0; i < len; i++) {
        dst[doff + i] = floatToFloat16(src[so + i]);
      }
    }
  }

  /** {@return {@code d} rounded once to the half type {@code dtype}} */
  static short round(DType dtype, double d) {
    return dtype == DType.FLOAT16 ? doubleToFloat16(d) : doubleToBfloat16(d);
  }
}
