package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The block conversions the fused kernels use, {@link HalfFloats#widen} and {@link HalfFloats#narrow} (vector lanes
 * when the Vector API is on, scalar otherwise): the same bits as the element conversions, exhaustively for widening
 * and over every rounding case of narrowing, at every offset and tail length.
 */
class HalfBlocksTest {
  @Test
  void wideningEveryHalfValueGivesTheScalarBits() {
    short[] all = new short[65536 + 5];
    for (int i = 0; i < all.length; i++) {
      all[i] = (short) i;
    }
    for (DType dtype : new DType[] {DType.FLOAT16, DType.BFLOAT16}) {
      for (int off : new int[] {0, 3}) {
        float[] out = new float[65536 + 7];
        HalfFloats.widen(dtype, all, off, out, 1, 65536);
        for (int i = 0; i < 65536; i++) {
          short h = all[off + i];
          float want = dtype == DType.FLOAT16 ? HalfFloats.float16ToFloat(h) : HalfFloats.bfloat16ToFloat(h);
          assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(out[1 + i]),
              dtype + ": bits 0x" + Integer.toHexString(h & 0xffff));
        }
      }
    }
  }

  @Test
  void narrowingEveryRoundingCaseGivesTheScalarBits() {
    // Every sign, exponent and top 10 mantissa bits, with the 13 low bits at and around each rounding boundary
    // (bfloat16's boundary, at bit 16, is covered by the top bits' low three), and random ones.
    int[] lows = {0, 1, 0xfff, 0x1000, 0x1001, 0x1fff, 0x0800};
    Random r = new Random(1);
    int n = 2 * 256 * 1024 * (lows.length + 1);
    float[] f = new float[n];
    int k = 0;
    for (int sign = 0; sign < 2; sign++) {
      for (int e = 0; e < 256; e++) {
        for (int m = 0; m < 1024; m++) {
          int base = sign << 31 | e << 23 | m << 13;
          for (int low : lows) {
            f[k++] = Float.intBitsToFloat(base | low);
          }
          f[k++] = Float.intBitsToFloat(base | r.nextInt(0x2000));
        }
      }
    }
    for (DType dtype : new DType[] {DType.FLOAT16, DType.BFLOAT16}) {
      for (int tail : new int[] {0, 5}) {
        short[] out = new short[n + 2];
        HalfFloats.narrow(dtype, f, tail, out, 2, n - tail);
        for (int i = 0; i < n - tail; i++) {
          float v = f[tail + i];
          short want = dtype == DType.FLOAT16 ? HalfFloats.floatToFloat16(v) : HalfFloats.floatToBfloat16(v);
          assertEquals(want, out[2 + i], dtype + ": float bits 0x" + Integer.toHexString(Float.floatToRawIntBits(v)));
        }
      }
    }
  }
}
