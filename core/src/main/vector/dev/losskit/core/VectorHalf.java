package dev.losskit.core;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link HalfFloats#widen} and {@link HalfFloats#narrow} in int lanes, for the fused kernels' half blocks: the same
 * bits as the scalar conversions for every input (NaN payloads included), which the tests check exhaustively for
 * widening and over every rounding case for narrowing. Loaded only when {@link VectorSupport#AVAILABLE}.
 */
final class VectorHalf {
  private VectorHalf() {}

  private static final VectorSpecies<Integer> SI = IntVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Float> SF = FloatVector.SPECIES_PREFERRED;
  /** Shorts of as many lanes as {@link #SI}: they convert to and from its vectors. */
  private static final VectorSpecies<Short> SS =
      VectorSpecies.of(short.class, VectorShape.forBitSize(SI.vectorBitSize() / 2));

  /** {@return the lanes per step: the scalar tail starts at a multiple of it} */
  static int lanes() {
    return SI.length();
  }

  /** Widens {@code len} half values, exactly; returns the count done (a multiple of {@link #lanes()}). */
  static int widen(boolean bfloat16, short[] src, int so, float[] dst, int doff, int len) {
    int step = SI.length();
    int bound = len - len % step;
    for (int i = 0; i < bound; i += step) {
      IntVector h = (IntVector) ShortVector.fromArray(SS, src, so + i).convertShape(VectorOperators.S2I, SI, 0);
      IntVector bits;
      if (bfloat16) {
        bits = h.lanewise(VectorOperators.LSHL, 16);
      } else {
        // |h| << 13 read as a float is the value · 2^-112, exact for normals and subnormals alike; times 2^112 it is
        // the value. Infinities and NaNs (exponent 31) take float32's exponent 255, a NaN the quiet bit as well.
        IntVector abs = h.and(0x7fff);
        IntVector shifted = abs.lanewise(VectorOperators.LSHL, 13);
        IntVector finite = ((FloatVector) shifted.reinterpretAsFloats()).mul(0x1p112f).reinterpretAsInts();
        VectorMask<Integer> special = abs.compare(VectorOperators.GE, 0x7c00);
        VectorMask<Integer> nan = abs.compare(VectorOperators.GT, 0x7c00);
        IntVector inf = shifted.or(0x7f800000).blend(shifted.or(0x7fc00000), nan);
        bits = finite.blend(inf, special).or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16));
      }
      bits.reinterpretAsFloats().intoArray(dst, doff + i);
    }
    return bound;
  }

  /** Narrows {@code len} floats, to nearest, ties to even; returns the count done (a multiple of {@link #lanes()}). */
  static int narrow(boolean bfloat16, float[] src, int so, short[] dst, int doff, int len) {
    int step = SI.length();
    int bound = len - len % step;
    for (int i = 0; i < bound; i += step) {
      IntVector bits = FloatVector.fromArray(SF, src, so + i).reinterpretAsInts();
      IntVector abs = bits.and(0x7fffffff);
      VectorMask<Integer> nan = abs.compare(VectorOperators.GT, 0x7f800000);
      IntVector out;
      if (bfloat16) {
        IntVector rounded = bits.add(bits.lanewise(VectorOperators.LSHR, 16).and(1)).add(0x7fff)
            .lanewise(VectorOperators.LSHR, 16);
        out = rounded.blend(bits.lanewise(VectorOperators.LSHR, 16).or(0x40), nan);
      } else {
        IntVector sign = bits.lanewise(VectorOperators.LSHR, 16).and(0x8000);
        // Normal: rebias and round the 13 dropped bits to nearest even (a carry may reach infinity, rightly).
        IntVector normal = abs.sub(0x38000000 - 0xfff).add(abs.lanewise(VectorOperators.LSHR, 13).and(1))
            .lanewise(VectorOperators.LSHR, 13);
        // Below 2^-14: adding 0.5 in float rounds the value to a multiple of 2^-24 (nearest, ties to even), held
        // in the low bits of 0.5's mantissa.
        IntVector sub = ((FloatVector) abs.reinterpretAsFloats()).add(0.5f).reinterpretAsInts().sub(0x3f000000);
        IntVector inf = IntVector.broadcast(SI, 0x7c00);
        IntVector nanBits = abs.lanewise(VectorOperators.LSHR, 13).and(0x3ff).or(0x7e00);
        out = normal.blend(sub, abs.compare(VectorOperators.LT, 0x38800000))
            .blend(inf, abs.compare(VectorOperators.GE, 0x477ff000))
            .blend(nanBits, nan)
            .or(sign);
      }
      ((ShortVector) out.convertShape(VectorOperators.I2S, SS, 0)).intoArray(dst, doff + i);
    }
    return bound;
  }
}
