package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * float16 and bfloat16 against float32, over all 65,536 bit patterns both ways: each pattern's value against its
 * definition (sign, exponent, mantissa, written out here), the round trip, and the rounding of the two midpoints'
 * neighbourhoods between every pair of adjacent values (ties to even). On JDK 20 and later, also against the JDK's
 * own {@code Float.float16ToFloat} and {@code Float.floatToFloat16}.
 */
class HalfFloatsTest {
  /** binary16's definition: (-1)^s · 2^(e-15) · 1.m, subnormal 2^-14 · 0.m, e = 31 infinite or NaN. */
  private static double float16Value(int h) {
    int s = h >>> 15 & 1;
    int e = h >>> 10 & 0x1f;
    int m = h & 0x3ff;
    double v = e == 31 ? (m == 0 ? Double.POSITIVE_INFINITY : Double.NaN)
        : e == 0 ? m * Math.pow(2, -24) : (1024 + m) * Math.pow(2, e - 25);
    return s == 1 ? -v : v;
  }

  /** bfloat16's definition: float32's sign and exponent, 7 mantissa bits. */
  private static double bfloat16Value(int b) {
    int s = b >>> 15 & 1;
    int e = b >>> 7 & 0xff;
    int m = b & 0x7f;
    double v = e == 255 ? (m == 0 ? Double.POSITIVE_INFINITY : Double.NaN)
        : e == 0 ? m * Math.pow(2, -133) : (128 + m) * Math.pow(2, e - 134);
    return s == 1 ? -v : v;
  }

  @Test
  void everyFloat16PatternConvertsExactlyAndBack() {
    for (int h = 0; h < 0x10000; h++) {
      double expected = float16Value(h);
      float f = HalfFloats.float16ToFloat((short) h);
      short back = HalfFloats.floatToFloat16(f);
      if (Double.isNaN(expected)) {
        assertTrue(Float.isNaN(f), Integer.toHexString(h));
        assertTrue((back & 0x7c00) == 0x7c00 && (back & 0x3ff) != 0 && (back & 0x8000) == (h & 0x8000),
            "NaN " + Integer.toHexString(h) + " -> " + Integer.toHexString(back & 0xffff));
        continue;
      }
      assertEquals(expected, f, 0, Integer.toHexString(h));
      assertEquals(Double.doubleToRawLongBits(expected) >>> 63, Float.floatToRawIntBits(f) >>> 31, "sign of "
          + Integer.toHexString(h));
      assertEquals(h, back & 0xffff, "round trip of " + Integer.toHexString(h));
    }
  }

  @Test
  void everyBfloat16PatternConvertsExactlyAndBack() {
    for (int b = 0; b < 0x10000; b++) {
      double expected = bfloat16Value(b);
      float f = HalfFloats.bfloat16ToFloat((short) b);
      short back = HalfFloats.floatToBfloat16(f);
      if (Double.isNaN(expected)) {
        assertTrue(Float.isNaN(f), Integer.toHexString(b));
        assertTrue((back & 0x7f80) == 0x7f80 && (back & 0x7f) != 0 && (back & 0x8000) == (b & 0x8000),
            "NaN " + Integer.toHexString(b));
        continue;
      }
      assertEquals(expected, f, 0, Integer.toHexString(b));
      assertEquals(b, back & 0xffff, "round trip of " + Integer.toHexString(b));
    }
  }

  /**
   * Between each pair of adjacent finite values of either sign: the exact midpoint rounds to the one with an even
   * last bit, and the floats just below and just above it round to the nearer one. Past the largest finite value,
   * the midpoint to the next power of two (the first value that does not exist) rounds to infinity.
   */
  @Test
  void roundingIsToNearestTiesToEvenAtEveryMidpoint() {
    checkMidpoints(0x7c00, HalfFloats::float16ToFloat, HalfFloats::floatToFloat16, "float16");
    checkMidpoints(0x7f80, HalfFloats::bfloat16ToFloat, HalfFloats::floatToBfloat16, "bfloat16");
  }

  private interface ToFloat {
    float of(short s);
  }

  private interface FromFloat {
    short of(float f);
  }

  private static void checkMidpoints(int infinity, ToFloat to, FromFloat from, String what) {
    for (int sign : new int[] {0, 0x8000}) {
      for (int h = 0; h < infinity; h++) {
        double lo = Math.abs((double) to.of((short) (sign | h)));
        // After the largest finite value, the next value of the format's spacing (2^(emax+1)): reaching it, or its
        // midpoint's tie, means infinity.
        double hi = h + 1 < infinity ? Math.abs((double) to.of((short) (h + 1)))
            : 2 * lo - Math.abs((double) to.of((short) (h - 1)));
        float mid = (float) ((lo + hi) / 2);
        assertEquals((lo + hi) / 2, mid, 0, what + ": the midpoint after " + Integer.toHexString(h) + " is a float");
        int upper = h + 1;
        int even = (h & 1) == 0 ? h : upper;
        float below = Math.nextDown(mid);
        float above = Math.nextUp(mid);
        float s = sign == 0 ? 1 : -1;
        assertEquals(sign | even, from.of(s * mid) & 0xffff, what + " midpoint after " + Integer.toHexString(h));
        assertEquals(sign | h, from.of(s * below) & 0xffff, what + " below the midpoint after "
            + Integer.toHexString(h));
        assertEquals(sign | upper, from.of(s * above) & 0xffff, what + " above the midpoint after "
            + Integer.toHexString(h));
      }
    }
  }

  @Test
  void extremesRoundAsIeeeSays() {
    assertEquals(0x7c00, HalfFloats.floatToFloat16(Float.MAX_VALUE) & 0xffff);
    assertEquals(0xfc00, HalfFloats.floatToFloat16(Float.NEGATIVE_INFINITY) & 0xffff);
    assertEquals(0x7bff, HalfFloats.floatToFloat16(65519.996f) & 0xffff);
    assertEquals(0x7c00, HalfFloats.floatToFloat16(65520f) & 0xffff);
    assertEquals(0x0000, HalfFloats.floatToFloat16(Float.MIN_VALUE) & 0xffff);
    assertEquals(0x8000, HalfFloats.floatToFloat16(-0f) & 0xffff);
    assertEquals(0x7f80, HalfFloats.floatToBfloat16(Float.MAX_VALUE) & 0xffff, "rounds up past the largest");
    assertEquals(0x0000, HalfFloats.floatToBfloat16(Float.MIN_VALUE) & 0xffff);
    assertEquals(0x0001, HalfFloats.floatToBfloat16(Math.nextUp(0x1p-134f)) & 0xffff);
  }

  /** The JDK's own binary16 conversions (JDK 20 and later), as a second oracle. */
  @Test
  void float16AgreesWithTheJdksConversions() throws Throwable {
    MethodHandle toFloat;
    MethodHandle fromFloat;
    try {
      toFloat = MethodHandles.publicLookup().findStatic(Float.class, "float16ToFloat",
          MethodType.methodType(float.class, short.class));
      fromFloat = MethodHandles.publicLookup().findStatic(Float.class, "floatToFloat16",
          MethodType.methodType(short.class, float.class));
    } catch (NoSuchMethodException e) {
      toFloat = null;
      fromFloat = null;
    }
    assumeTrue(toFloat != null, "Float.float16ToFloat needs JDK 20 or later");
    for (int h = 0; h < 0x10000; h++) {
      float mine = HalfFloats.float16ToFloat((short) h);
      float jdk = (float) toFloat.invokeExact((short) h);
      assertTrue(Float.isNaN(mine) ? Float.isNaN(jdk) : Float.floatToRawIntBits(mine) == Float.floatToRawIntBits(jdk),
          Integer.toHexString(h));
    }
    Random r = new Random(16);
    for (int i = 0; i < 2_000_000; i++) {
      float f = Float.intBitsToFloat(r.nextInt());
      short mine = HalfFloats.floatToFloat16(f);
      short jdk = (short) fromFloat.invokeExact(f);
      if (Float.isNaN(f)) {
        assertTrue((mine & 0x7c00) == 0x7c00 && (mine & 0x3ff) != 0, Float.toString(f));
      } else {
        assertEquals(jdk, mine, Float.toString(f));
      }
    }
  }
}
