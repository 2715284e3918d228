package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** forwardBackward into a caller's buffer: the same numbers, every element rewritten, one-line errors. */
class GradientBufferTest {
  private static float[] gaussian(int n) {
    Random r = new Random(4);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return v;
  }

  @Test
  void aReusedBufferGivesTheSameResultAsAFreshOne() {
    int n = 5;
    int c = 300;
    Tensor x = Tensor.of(gaussian(n * c), n, c);
    Tensor t = Tensor.of(new long[] {0, 299, -100, 7, 42}, n);
    for (Loss loss : new Loss[] {CrossEntropyLoss.builder().labelSmoothing(0.1).weight(new double[c]).build(),
        CrossEntropyLoss.create(), NllLoss.create()}) {
      LossResult fresh = loss.forwardBackward(x, t);
      float[] buffer = new float[n * c];
      Arrays.fill(buffer, Float.NaN); // stale contents must all be overwritten
      LossResult into = loss.forwardBackward(x, t, null, buffer);
      assertEquals(fresh.loss().getDouble(0), into.loss().getDouble(0), 0.0, loss.toString());
      assertArrayEquals(fresh.gradInput().toFloatArray(), buffer, 0f, loss.toString());
      assertArrayEquals(buffer, into.gradInput().toFloatArray(), 0f);
    }
  }

  @Test
  void bceAndKDimensionalInputsFillTheBufferToo() {
    Tensor x = Tensor.of(gaussian(2 * 3 * 4), 2, 3, 4);
    Tensor y = Tensor.of(new float[24], 2, 3, 4);
    float[] buffer = new float[24];
    Arrays.fill(buffer, 9f);
    LossResult bce = BceWithLogitsLoss.create().forwardBackward(x, y, null, buffer);
    assertArrayEquals(BceWithLogitsLoss.create().forwardBackward(x, y).gradInput().toFloatArray(), buffer, 0f);
    Tensor t = Tensor.of(new long[] {0, 1, 2, 0, 1, 2, 0, 1}, 2, 4);
    LossResult ce = CrossEntropyLoss.create().forwardBackward(x, t, null, buffer);
    assertArrayEquals(CrossEntropyLoss.create().forwardBackward(x, t).gradInput().toFloatArray(), buffer, 0f);
    assertTrue(bce.loss().getDouble(0) > 0 && ce.loss().getDouble(0) > 0);
    double[] d = new double[6];
    Tensor x64 = Tensor.of(new double[] {1, 2, 3, 4, 5, 6}, 2, 3);
    CrossEntropyLoss.create().forwardBackward(x64, Tensor.of(new long[] {0, 2}, 2), null, d);
    assertArrayEquals(CrossEntropyLoss.create().forwardBackward(x64, Tensor.of(new long[] {0, 2}, 2)).gradInput()
        .toDoubleArray(), d, 0.0);
  }

  private static FloatBuffer staleDirect(int n) {
    FloatBuffer b = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder()).asFloatBuffer();
    for (int i = 0; i < n; i++) {
      b.put(i, Float.NaN);
    }
    b.position(3); // position and limit are neither used nor changed
    b.limit(n - 1);
    return b;
  }

  private static float[] contents(FloatBuffer b) {
    float[] out = new float[b.capacity()];
    b.duplicate().clear().get(out);
    return out;
  }

  @Test
  void anNioBufferReceivesTheSameGradientInPlace() {
    int n = 6;
    int c = 300; // wide enough for the vectorised rows, which stream into the buffer
    Tensor x = Tensor.of(gaussian(n * c), n, c);
    Tensor t = Tensor.of(new long[] {0, 299, -100, 7, 42, 1}, n);
    Tensor x3 = Tensor.of(gaussian(2 * 3 * 4), 2, 3, 4);
    Tensor t3 = Tensor.of(new long[] {0, 1, 2, 0, 1, 2, 0, 1}, 2, 4);
    Tensor y3 = Tensor.of(new float[24], 2, 3, 4);
    Object[][] cases = {
      {CrossEntropyLoss.builder().labelSmoothing(0.1).build(), x, t},
      {CrossEntropyLoss.builder().reduction(Reduction.NONE).build(), x, t},
      {NllLoss.create(), x, t},
      {CrossEntropyLoss.create(), x3, t3},
      {NllLoss.builder().reduction(Reduction.SUM).build(), x3, t3},
      {BceWithLogitsLoss.create(), x3, y3},
    };
    for (Object[] k : cases) {
      Loss loss = (Loss) k[0];
      Tensor in = (Tensor) k[1];
      Tensor target = (Tensor) k[2];
      Tensor g = loss.reduction() == Reduction.NONE ? Tensor.of(gaussian(n), n) : null;
      LossResult fresh = loss.forwardBackward(in, target, g);
      FloatBuffer buffer = staleDirect(in.numel());
      LossResult into = loss.forwardBackward(in, target, g, buffer);
      assertArrayEquals(fresh.loss().toDoubleArray(), into.loss().toDoubleArray(), 0.0, loss.toString());
      assertArrayEquals(fresh.gradInput().toFloatArray(), contents(buffer), 0f, loss + " " + in);
      assertArrayEquals(contents(buffer), into.gradInput().toFloatArray(), 0f);
      assertEquals(3, buffer.position());
      assertEquals(in.numel() - 1, buffer.limit());
    }
    double[] d64 = {1, 2, 3, 4, 5, 6};
    Tensor x64 = Tensor.of(d64, 2, 3);
    Tensor t64 = Tensor.of(new long[] {0, 2}, 2);
    DoubleBuffer d = ByteBuffer.allocateDirect(48).order(ByteOrder.nativeOrder()).asDoubleBuffer();
    CrossEntropyLoss.create().forwardBackward(x64, t64, null, d);
    double[] got = new double[6];
    d.get(0, got);
    assertArrayEquals(CrossEntropyLoss.create().forwardBackward(x64, t64).gradInput().toDoubleArray(), got, 0.0);
  }

  @Test
  void aReadOnlyOrMisfittingNioBufferIsOneLine() {
    Tensor x = Tensor.of(new float[6], 2, 3);
    Tensor t = Tensor.of(new long[] {0, 1}, 2);
    IllegalArgumentException readOnly = assertThrows(IllegalArgumentException.class,
        () -> CrossEntropyLoss.create().forwardBackward(x, t, null, FloatBuffer.allocate(6).asReadOnlyBuffer()));
    assertTrue(readOnly.getMessage().contains("read-only"), readOnly.getMessage());
    IllegalArgumentException length = assertThrows(IllegalArgumentException.class,
        () -> CrossEntropyLoss.create().forwardBackward(x, t, null, FloatBuffer.allocate(7)));
    assertTrue(length.getMessage().contains("7 elements"), length.getMessage());
    IllegalArgumentException type = assertThrows(IllegalArgumentException.class,
        () -> NllLoss.create().forwardBackward(x, t, null, DoubleBuffer.allocate(6)));
    assertTrue(type.getMessage().contains("float64"), type.getMessage());
  }

  @Test
  void aBufferOfTheWrongLengthOrTypeIsOneLine() {
    Tensor x = Tensor.of(new float[6], 2, 3);
    Tensor t = Tensor.of(new long[] {0, 1}, 2);
    IllegalArgumentException length = assertThrows(IllegalArgumentException.class,
        () -> CrossEntropyLoss.create().forwardBackward(x, t, null, new float[5]));
    assertTrue(length.getMessage().contains("5 elements") && length.getMessage().contains("6"), length.getMessage());
    IllegalArgumentException type = assertThrows(IllegalArgumentException.class,
        () -> CrossEntropyLoss.create().forwardBackward(x, t, null, new double[6]));
    assertTrue(type.getMessage().contains("float64") && type.getMessage().contains("float32"), type.getMessage());
  }
}
