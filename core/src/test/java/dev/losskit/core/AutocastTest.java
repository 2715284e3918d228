package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * The builders' {@code autocast(true)}: PyTorch's autocast runs these losses in float32, so a half input gives a
 * float32 loss and a float32 gradient, those of the float32 loss on the half values widened exactly. Checked bit for
 * bit against the float32 core on the widened tensors, and against the float64 reference on the same values.
 */
class AutocastTest {
  /** A call with the same loss built with and without autocast. */
  record Call(Loss plain, Loss autocast, Tensor input, Tensor target, Tensor gradOutput) {}

  private static Tensor widened(Tensor t) {
    return t == null || !t.dtype().isHalf() ? t : Tensor.of(t.toFloatArray(), t.shape());
  }

  private static List<Call> calls(DType dtype, long seed) {
    Random r = new Random(seed);
    List<Call> calls = new ArrayList<>();
    int[][] shapes = {{5, 300}, {300, 7}, {2, 4, 33}, {3, 5}};
    for (int[] shape : shapes) {
      int n = Tensor.checkedSize(shape);
      int[] lossShape = ClassProblem.lossShape(shape);
      int positions = Tensor.checkedSize(lossShape);
      long[] t = new long[positions];
      for (int i = 0; i < positions; i++) {
        t[i] = r.nextInt(8) == 0 ? -100 : r.nextInt(shape[1]);
      }
      double[] w = new double[shape[1]];
      for (int c = 0; c < w.length; c++) {
        w[c] = 0.1 + r.nextDouble();
      }
      double[] last = new double[shape[shape.length - 1]];
      for (int i = 0; i < last.length; i++) {
        last[i] = 0.5 + r.nextDouble();
      }
      Tensor x = HalfFusedKernelsTest.half(dtype, HalfFusedKernelsTest.gaussian(r, n, 4), r.nextBoolean(), shape);
      double[] y = new double[n];
      double[] p = new double[n];
      double[] soft = new double[n];
      for (int i = 0; i < n; i++) {
        y[i] = r.nextInt(2);
        p[i] = r.nextDouble();
        soft[i] = r.nextDouble() / shape[1];
      }
      Tensor yt = Tensor.rounded(y, dtype, shape);
      Tensor pt = Tensor.rounded(p, dtype, shape);
      Tensor st = Tensor.rounded(soft, dtype, shape);
      for (Reduction red : Reduction.values()) {
        Tensor gi = red == Reduction.NONE ? Tensor.rounded(HalfFusedKernelsTest.gaussian(r, positions, 1), dtype,
            lossShape) : null;
        Tensor ge = red == Reduction.NONE ? Tensor.rounded(HalfFusedKernelsTest.gaussian(r, n, 1), dtype, shape)
            : null;
        List<CrossEntropyLoss.Builder> ce = List.of(CrossEntropyLoss.builder().reduction(red),
            CrossEntropyLoss.builder().reduction(red).weight(w).labelSmoothing(0.2));
        for (CrossEntropyLoss.Builder b : ce) {
          calls.add(new Call(b.build(), b.autocast(true).build(), x, Tensor.of(t, lossShape), gi));
          calls.add(new Call(b.autocast(false).build(), b.autocast(true).build(), x, st, gi));
        }
        NllLoss.Builder nll = NllLoss.builder().reduction(red).weight(w);
        calls.add(new Call(nll.build(), nll.autocast(true).build(), x, Tensor.of(t, lossShape), gi));
        BceWithLogitsLoss.Builder bwl = BceWithLogitsLoss.builder().reduction(red).posWeight(last);
        calls.add(new Call(bwl.build(), bwl.autocast(true).build(), x, yt, ge));
        BceLoss.Builder bce = BceLoss.builder().reduction(red).weight(last);
        calls.add(new Call(bce.build(), bce.autocast(true).build(), pt, yt, ge));
      }
    }
    return calls;
  }

  @Test
  void halfInputsGiveTheFloat32LossOfTheWidenedValuesBitForBit() {
    for (DType dtype : List.of(DType.FLOAT16, DType.BFLOAT16)) {
      for (Call c : calls(dtype, 1)) {
        Tensor x32 = widened(c.input());
        Tensor t32 = widened(c.target());
        Tensor g32 = widened(c.gradOutput());
        LossResult want = c.plain().forwardBackward(x32, t32, g32);
        LossResult got = c.autocast().forwardBackward(c.input(), c.target(), c.gradOutput());
        String what = c.autocast() + " on " + c.input();
        assertEquals(DType.FLOAT32, got.loss().dtype(), what);
        assertEquals(DType.FLOAT32, got.gradInput().dtype(), what);
        assertArrayEquals(want.loss().toFloatArray(), got.loss().toFloatArray(), 0, what + " loss");
        assertArrayEquals(want.gradInput().toFloatArray(), got.gradInput().toFloatArray(), 0, what + " gradient");
        assertArrayEquals(want.loss().toFloatArray(), c.autocast().forward(c.input(), c.target()).toFloatArray(), 0,
            what + " forward");
        if (c.gradOutput() != null || c.autocast().reduction() != Reduction.NONE) {
          Tensor g = c.gradOutput() != null ? c.gradOutput() : Tensor.rounded(new double[] {1}, dtype);
          assertArrayEquals(want.gradInput().toFloatArray(),
              c.autocast().backward(c.input(), c.target(), g).toFloatArray(), 0, what + " backward");
        }
        // Into the caller's float32 array and buffer: the float32 gradient fits a half input under autocast.
        float[] into = new float[c.input().numel()];
        LossResult a = c.autocast().forwardBackward(c.input(), c.target(), c.gradOutput(), into);
        assertSame(into, a.gradInput().floatArrayOrNull(), what);
        assertArrayEquals(want.gradInput().toFloatArray(), into, 0, what + " into an array");
        FloatBuffer fb = ByteBuffer.allocateDirect(4 * into.length).order(ByteOrder.nativeOrder()).asFloatBuffer();
        c.autocast().forwardBackward(c.input(), c.target(), c.gradOutput(), fb);
        float[] back = new float[into.length];
        fb.get(0, back);
        assertArrayEquals(want.gradInput().toFloatArray(), back, 0, what + " into a buffer");
      }
    }
  }

  /**
   * Torch's autocast computes the float32 op on the widened values, so the result is the exact loss of those values
   * rounded to float32, to the float32 kernels' accuracy: compared with the float64 reference here, derived
   * independently of the float32 kernels.
   */
  @Test
  void theResultIsTheExactLossOfTheWidenedValuesToFloat32Accuracy() {
    UnaryOperator<Tensor> to64 = t -> t == null || !t.dtype().isFloating() ? t
        : Tensor.of(t.toDoubleArray(), t.shape());
    for (DType dtype : List.of(DType.FLOAT16, DType.BFLOAT16)) {
      for (Call c : calls(dtype, 2)) {
        LossResult got = c.autocast().forwardBackward(c.input(), c.target(), c.gradOutput());
        LossResult exact = Reference.forwardBackward(c.plain(), to64.apply(c.input()), to64.apply(c.target()),
            to64.apply(c.gradOutput()));
        String what = c.autocast() + " on " + c.input();
        close(exact.loss(), got.loss(), what + " loss");
        close(exact.gradInput(), got.gradInput(), what + " gradient");
      }
    }
  }

  /** Within a few float32 ulps of the largest magnitude (sums of many terms, and cancellation under smoothing). */
  private static void close(Tensor exact, Tensor got, String what) {
    double[] e = exact.toDoubleArray();
    double[] g = got.toDoubleArray();
    double scale = 0;
    for (double v : e) {
      scale = Math.max(scale, Math.abs(v));
    }
    double tol = 8 * Math.ulp((float) scale);
    for (int i = 0; i < e.length; i++) {
      assertEquals(e[i], g[i], tol, what + " at " + i);
    }
  }

  @Test
  void float32AndFloat64InputsAreUsedAsTheyAre() {
    Random r = new Random(3);
    float[] x = new float[40];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) r.nextGaussian();
    }
    Tensor t = Tensor.of(new long[] {1, 2, 3, 0}, 4);
    for (Tensor in : List.of(Tensor.of(x, 4, 10), Tensor.of(Tensor.of(x, 4, 10).toDoubleArray(), 4, 10))) {
      LossResult plain = CrossEntropyLoss.create().forwardBackward(in, t);
      LossResult auto = CrossEntropyLoss.builder().autocast(true).build().forwardBackward(in, t);
      assertEquals(in.dtype(), auto.gradInput().dtype());
      assertArrayEquals(plain.gradInput().toDoubleArray(), auto.gradInput().toDoubleArray(), 0);
      assertArrayEquals(plain.loss().toDoubleArray(), auto.loss().toDoubleArray(), 0);
    }
    // A float32 input with a half target, which autocast widens too (without it BCE wants the input's dtype).
    float[] p = new float[40];
    double[] y = new double[40];
    for (int i = 0; i < y.length; i++) {
      p[i] = r.nextFloat();
      y[i] = i % 2;
    }
    Tensor in = Tensor.of(p, 4, 10);
    Tensor yh = Tensor.rounded(y, DType.BFLOAT16, 4, 10);
    assertThrows(LossArgumentException.class, () -> BceLoss.create().forward(in, yh));
    assertArrayEquals(BceLoss.create().forward(in, widened(yh)).toFloatArray(),
        BceLoss.builder().autocast(true).build().forward(in, yh).toFloatArray(), 0);
  }

  @Test
  void theOptionIsKeptByToBuilderAndShownByToString() {
    List<Loss> on = List.of(CrossEntropyLoss.builder().autocast(true).build(),
        NllLoss.builder().autocast(true).build(), BceWithLogitsLoss.builder().autocast(true).build(),
        BceLoss.builder().autocast(true).build());
    for (Loss l : on) {
      assertTrue(l.autocast(), l.toString());
      assertTrue(l.toString().endsWith(", autocast=true)"), l.toString());
    }
    assertTrue(((CrossEntropyLoss) on.get(0)).toBuilder().build().autocast());
    assertTrue(((NllLoss) on.get(1)).toBuilder().build().autocast());
    assertTrue(((BceWithLogitsLoss) on.get(2)).toBuilder().build().autocast());
    assertTrue(((BceLoss) on.get(3)).toBuilder().build().autocast());
    for (Loss l : List.of(CrossEntropyLoss.create(), NllLoss.create(), BceWithLogitsLoss.create(),
        BceLoss.create())) {
      assertFalse(l.autocast());
      assertFalse(l.toString().contains("autocast"), l.toString());
    }
    // Without autocast a half input keeps its dtype.
    Tensor x = Tensor.rounded(new double[] {0.5, -1, 2}, DType.BFLOAT16, 1, 3);
    assertEquals(DType.BFLOAT16, CrossEntropyLoss.create().forward(x, Tensor.of(new long[] {0}, 1)).dtype());
    assertEquals(DType.FLOAT32, CrossEntropyLoss.builder().autocast(true).build()
        .forward(x, Tensor.of(new long[] {0}, 1)).dtype());
  }
}
