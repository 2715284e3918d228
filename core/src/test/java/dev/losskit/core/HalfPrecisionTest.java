package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.losskit.core.LossArgumentException.Cause;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * float16 and bfloat16 tensors and losses: views over {@code short[]} and buffers read the half values; doubles
 * round once (not through float); every loss takes half inputs, computes in double and rounds once, so its result
 * is the float64 result on the same (exactly widened) values, rounded to the half dtype.
 */
class HalfPrecisionTest {
  @Test
  void viewsOverArraysAndBuffersReadTheHalfValues() {
    short[] h = {HalfFloats.floatToFloat16(1.5f), HalfFloats.floatToFloat16(-0.25f), (short) 0x7c00};
    Tensor a = Tensor.of(h, DType.FLOAT16, 3);
    assertEquals(DType.FLOAT16, a.dtype());
    assertArrayEquals(new double[] {1.5, -0.25, Double.POSITIVE_INFINITY}, a.toDoubleArray(), 0);
    assertArrayEquals(new double[] {-0.25, Double.POSITIVE_INFINITY}, Tensor.view(h, 1, DType.FLOAT16, 2)
        .toDoubleArray(), 0);
    ByteBuffer bytes = ByteBuffer.allocateDirect(6).order(ByteOrder.nativeOrder());
    bytes.asShortBuffer().put(new short[] {HalfFloats.floatToBfloat16(3f), HalfFloats.floatToBfloat16(-1e30f),
        HalfFloats.floatToBfloat16(0.1f)});
    Tensor b = Tensor.view(bytes, DType.BFLOAT16, 3);
    assertEquals(DType.BFLOAT16, b.dtype());
    assertTrue(b.isDirect());
    assertEquals(3, b.getDouble(0), 0);
    assertEquals(HalfFloats.bfloat16ToFloat(HalfFloats.floatToBfloat16(0.1f)), b.getDouble(2), 0);
    ShortBuffer heap = ShortBuffer.wrap(h);
    assertEquals(1.5, Tensor.view(heap, 0, DType.FLOAT16, 3).getDouble(0), 0);
    LossArgumentException e = assertThrows(LossArgumentException.class, () -> Tensor.of(h, DType.FLOAT32, 3));
    assertEquals(Cause.DTYPE, e.cause());
    assertTrue(e.getMessage().contains("float16 or bfloat16, got float32"), e.getMessage());
  }

  /**
   * Rounding a double to float first, then to half, rounds twice: a double just above a half midpoint becomes the
   * midpoint as a float, and then ties to even, downwards half the time. Rounded once, it goes up.
   */
  @Test
  void doublesRoundOnceToHalf() {
    int wrongTwice = 0;
    for (int h = 0x3c00; h < 0x3c00 + 1024; h++) {
      double lo = HalfFloats.float16ToFloat((short) h);
      double hi = HalfFloats.float16ToFloat((short) (h + 1));
      double mid = (lo + hi) / 2;
      double above = mid + Math.ulp(mid); // a double, below float32's resolution at this magnitude
      assertEquals(h + 1, HalfFloats.doubleToFloat16(above) & 0xffff, "above the midpoint after " + h);
      assertEquals(h, HalfFloats.doubleToFloat16(mid - Math.ulp(mid)) & 0xffff, "below the midpoint after " + h);
      assertEquals((h & 1) == 0 ? h : h + 1, HalfFloats.doubleToFloat16(mid) & 0xffff, "the midpoint after " + h);
      wrongTwice += (HalfFloats.floatToFloat16((float) above) & 0xffff) != h + 1 ? 1 : 0;
      int b = (h & 0x7f) | 0x3f80;
      double blo = HalfFloats.bfloat16ToFloat((short) b);
      double bmid = (blo + HalfFloats.bfloat16ToFloat((short) (b + 1))) / 2;
      assertEquals(b + 1, HalfFloats.doubleToBfloat16(bmid + Math.ulp(bmid)) & 0xffff, "bfloat16 above " + b);
      assertEquals(b, HalfFloats.doubleToBfloat16(bmid - Math.ulp(bmid)) & 0xffff, "bfloat16 below " + b);
    }
    assertEquals(512, wrongTwice, "through float, half the midpoints (the odd ones below) round the wrong way");
    assertEquals(0x7c00, HalfFloats.doubleToFloat16(65520.0) & 0xffff);
    assertEquals(0x7bff, HalfFloats.doubleToFloat16(Math.nextDown(65520.0)) & 0xffff);
    assertEquals(0x7f80, HalfFloats.doubleToBfloat16(1e300) & 0xffff);
    assertEquals(0x8000, HalfFloats.doubleToFloat16(-1e-300) & 0xffff);
    assertTrue(Float.isNaN(HalfFloats.float16ToFloat(HalfFloats.doubleToFloat16(Double.NaN))));
  }

  private static Tensor half(DType dtype, double[] v, int... shape) {
    return Tensor.rounded(v, dtype, shape);
  }

  private static Tensor widened(Tensor t) {
    return Tensor.of(t.toDoubleArray(), t.shape());
  }

  /** The half result equals the float64 result on the widened values, rounded once: bit for bit. */
  private static void assertRoundedFromFloat64(Loss loss, Tensor x, Tensor t, Tensor g, DType dtype) {
    LossResult got = loss.forwardBackward(x, t, g);
    Tensor t64 = t.dtype().isHalf() ? widened(t) : t;
    // The double reference on the same values: the half path computes exactly this, then rounds once.
    LossResult exact = Reference.forwardBackward(loss, widened(x), t64, g == null ? null : widened(g));
    assertEquals(dtype, got.loss().dtype(), loss + ": the loss's dtype");
    assertEquals(dtype, got.gradInput().dtype(), loss + ": the gradient's dtype");
    assertArrayEquals(Tensor.rounded(exact.loss().toDoubleArray(), dtype, exact.loss().shape()).toDoubleArray(),
        got.loss().toDoubleArray(), 0, loss + " loss");
    assertArrayEquals(Tensor.rounded(exact.gradInput().toDoubleArray(), dtype, exact.gradInput().shape())
        .toDoubleArray(), got.gradInput().toDoubleArray(), 0, loss + " gradient");
  }

  @Test
  void everyLossTakesHalfInputsAndRoundsOnceFromDouble() {
    Random r = new Random(7);
    for (DType dtype : List.of(DType.FLOAT16, DType.BFLOAT16)) {
      double[] logits = new double[4 * 5];
      double[] probs = new double[4 * 5];
      double[] y = new double[4 * 5];
      for (int i = 0; i < logits.length; i++) {
        logits[i] = 3 * r.nextGaussian();
        probs[i] = r.nextDouble();
        y[i] = r.nextInt(2);
      }
      Tensor x = half(dtype, logits, 4, 5);
      Tensor p = half(dtype, probs, 4, 5);
      Tensor soft = half(dtype, probs, 4, 5);
      Tensor yb = half(dtype, y, 4, 5);
      Tensor idx = Tensor.of(new long[] {0, 4, 2, -100}, 4);
      for (Reduction red : Reduction.values()) {
        Tensor gi = red == Reduction.NONE ? half(dtype, new double[] {1, -2, 0.5, 3}, 4) : null;
        Tensor ge = red == Reduction.NONE ? half(dtype, new double[20], 4, 5) : null;
        assertRoundedFromFloat64(CrossEntropyLoss.builder().reduction(red).weight(1, 2, 0.5, 1, 3).labelSmoothing(0.1)
            .build(), x, idx, gi, dtype);
        assertRoundedFromFloat64(CrossEntropyLoss.builder().reduction(red).build(), x, soft,
            red == Reduction.NONE ? gi : null, dtype);
        assertRoundedFromFloat64(NllLoss.builder().reduction(red).weight(1, 2, 0.5, 1, 3).build(), x, idx, gi, dtype);
        assertRoundedFromFloat64(BceWithLogitsLoss.builder().reduction(red).posWeight(1, 2, 3, 1, 0.5).build(), x, yb,
            ge, dtype);
        assertRoundedFromFloat64(BceLoss.builder().reduction(red).weight(2, 1, 1, 0.5, 1).build(), p, yb, ge, dtype);
      }
    }
  }

  @Test
  void weightsAreRoundedToTheInputsDtypeFirst() {
    // 1/3 is not a bfloat16: the loss uses the bfloat16 nearest to it, as torch requires the weight in that dtype.
    Tensor x = half(DType.BFLOAT16, new double[] {0.5, -1, 2}, 1, 3);
    Tensor t = Tensor.of(new long[] {0}, 1);
    double w = HalfFloats.bfloat16ToFloat(HalfFloats.doubleToBfloat16(1.0 / 3));
    double logp0 = 0.5 - Math.log(Math.exp(0.5) + Math.exp(-1) + Math.exp(2));
    double expected = HalfFloats.bfloat16ToFloat(HalfFloats.doubleToBfloat16(-w * logp0));
    assertEquals(expected, CrossEntropyLoss.builder().reduction(Reduction.SUM).weight(1.0 / 3, 1, 1).build()
        .forward(x, t).getDouble(0), 0);
  }

  @Test
  void aHalfInputRefusesAFloatGradientBufferAndLogLossRefusesHalf() {
    Tensor x = half(DType.FLOAT16, new double[] {0.5, -1, 2}, 1, 3);
    LossArgumentException e = assertThrows(LossArgumentException.class, () -> CrossEntropyLoss.create()
        .forwardBackward(x, Tensor.of(new long[] {0}, 1), null, new float[3]));
    assertEquals(Cause.GRADIENT_BUFFER, e.cause());
    assertTrue(e.getMessage().contains("float32 gradient buffer does not fit a float16 input"), e.getMessage());
    e = assertThrows(LossArgumentException.class, () -> LogLoss.create().compute(Tensor.of(new long[] {0, 1}, 2),
        half(DType.FLOAT16, new double[] {0.2, 0.7}, 2)));
    assertEquals(Cause.DTYPE, e.cause());
  }
}
