package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
