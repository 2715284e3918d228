package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

/**
 * The fused kernels on float16 and bfloat16 inputs against the reference kernels (double, rounded once to the half
 * dtype). The fused kernels widen the half values exactly, compute as for float32 and round each float32 result to
 * half, so an element can differ from the reference only where the exact value lies within float32's rounding (and
 * the vector exponential's error, below 2^-28 relative) of a half rounding boundary: by one half ulp, rarely. Every
 * element of every loss and gradient must be within 1 half ulp; the share of bit-identical elements is measured.
 */
class HalfFusedKernelsTest {
  /** A call: the loss, its input, target and upstream gradient. */
  record Call(String label, Loss loss, Tensor input, Tensor target, Tensor gradOutput) {
    @Override
    public String toString() {
      return label + " " + input + " " + loss;
    }
  }

  /** Elements compared and elements bit-identical, over one comparison. */
  record Agreement(long elements, long identical, int worstUlps) {
    Agreement plus(Agreement o) {
      return new Agreement(elements + o.elements, identical + o.identical, Math.max(worstUlps, o.worstUlps));
    }
  }

  /** {@return the distance in half ulps between two half bit patterns; 0 for two NaNs} */
  static int ulps(short a, short b) {
    boolean nanA = isNan(a);
    if (nanA || isNan(b)) {
      return nanA && isNan(b) ? 0 : Integer.MAX_VALUE;
    }
    return Math.abs(ordered(a) - ordered(b));
  }

  private static DType nanType = DType.FLOAT16;

  private static boolean isNan(short h) {
    return nanType == DType.FLOAT16 ? (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0
        : (h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0;
  }

  private static int ordered(short h) {
    int m = h & 0x7fff;
    return (h & 0x8000) != 0 ? -m : m;
  }

  /** The reference kernel's own absolute error where it forms log(1 + R) for a near-certain row. */
  static final double REFERENCE_ERROR = 0x1p-44;

  /** Elements allowed by {@link #REFERENCE_ERROR} rather than by the 1-ulp bound. */
  static long nearZero;

  /** {@return the half bit patterns of a half tensor} */
  static short[] bits(Tensor t) {
    short[] out = new short[t.numel()];
    for (int i = 0; i < out.length; i++) {
      out[i] = HalfFloats.round(t.dtype(), t.getDouble(i)); // exact: the value is a half value
    }
    return out;
  }

  /** Compares two half tensors element by element: every element within 1 ulp. */
  static Agreement compare(String what, Tensor fused, Tensor reference) {
    assertEquals(reference.dtype(), fused.dtype(), what + ": dtype");
    assertArrayEquals(reference.shape(), fused.shape(), what + ": shape");
    nanType = fused.dtype();
    short[] f = bits(fused);
    short[] r = bits(reference);
    long same = 0;
    int worst = 0;
    for (int i = 0; i < f.length; i++) {
      int u = ulps(f[i], r[i]);
      if (u > 1 && Math.abs(fused.getDouble(i) - reference.getDouble(i)) <= REFERENCE_ERROR) {
        // A loss near 0 from a row whose target dominates: the reference takes log(1 + R) in double, with an
        // absolute error near 2^-53, where the fused kernel takes log1p(R), accurate to the last bit. Both are
        // this close to the exact value; the fused one is closer.
        nearZero++;
        continue;
      }
      assertTrue(u <= 1, what + ": element " + i + " is " + fused.getDouble(i) + ", the reference "
          + reference.getDouble(i) + " (" + u + " ulps apart)");
      same += u == 0 ? 1 : 0;
      worst = Math.max(worst, u);
    }
    return new Agreement(f.length, same, worst);
  }

  /** Runs a call on both paths and compares the loss and the gradient. */
  static Agreement check(Call c) {
    AbstractLoss loss = (AbstractLoss) c.loss();
    LossResult fused = loss.compute(c.input(), c.target(), Request.of(c.gradOutput(), true, true));
    LossResult ref = loss.computeReference(c.input(), c.target(), Request.of(c.gradOutput(), true, true));
    return compare(c + " loss", fused.loss(), ref.loss()).plus(compare(c + " gradient", fused.gradInput(),
        ref.gradInput()));
  }

  static Tensor half(DType dtype, double[] v, boolean buffer, int... shape) {
    Tensor t = Tensor.rounded(v, dtype, shape);
    if (!buffer) {
      return t;
    }
    ByteBuffer b = ByteBuffer.allocateDirect(2 * v.length).order(ByteOrder.nativeOrder());
    b.asShortBuffer().put(bits(t));
    return Tensor.view(b, dtype, shape);
  }

  static double[] gaussian(Random r, int n, double scale) {
    double[] v = new double[n];
    for (int i = 0; i < n; i++) {
      v[i] = scale * r.nextGaussian();
    }
    return v;
  }

  /** The calls of one seed: every fused kernel and layout, with and without options. */
  static List<Call> calls(long seed, DType dtype) {
    Random r = new Random(seed);
    boolean buffer = r.nextBoolean();
    List<Call> calls = new ArrayList<>();
    Reduction red = Reduction.values()[r.nextInt(3)];
    // Rows of many classes (the vector row kernel), short rows (transposed blocks), K-dim, and a small odd shape.
    int[][] shapes = {{3 + r.nextInt(6), 64 + r.nextInt(3000)}, {256 + r.nextInt(300), 2 + r.nextInt(40)},
        {1 + r.nextInt(3), 2 + r.nextInt(12), 16 + r.nextInt(40)}, {1 + r.nextInt(5), 1 + r.nextInt(9)}};
    for (int[] shape : shapes) {
      int n = Tensor.checkedSize(shape);
      int classes = shape[1];
      int[] lossShape = ClassProblem.lossShape(shape);
      int positions = Tensor.checkedSize(lossShape);
      long[] t = new long[positions];
      for (int i = 0; i < positions; i++) {
        t[i] = r.nextInt(10) == 0 ? -100 : r.nextInt(classes);
      }
      double[] w = new double[classes];
      for (int c = 0; c < classes; c++) {
        w[c] = 0.1 + 2 * r.nextDouble();
      }
      double scale = new double[] {0.5, 3, 12}[r.nextInt(3)];
      Tensor x = half(dtype, gaussian(r, n, scale), buffer, shape);
      Tensor g = red == Reduction.NONE ? half(dtype, gaussian(r, positions, 1), false, lossShape) : null;
      Tensor target = Tensor.of(t, lossShape);
      calls.add(new Call("ce", CrossEntropyLoss.builder().reduction(red).build(), x, target, g));
      calls.add(new Call("ce weighted smoothed", CrossEntropyLoss.builder().reduction(red).weight(w)
          .labelSmoothing(0.05 + 0.3 * r.nextDouble()).build(), x, target, g));
      calls.add(new Call("nll", NllLoss.builder().reduction(red).weight(w).build(), x, target, g));
      double[] y = new double[n];
      double[] p = new double[n];
      for (int i = 0; i < n; i++) {
        y[i] = r.nextInt(4) == 0 ? r.nextDouble() : r.nextInt(2);
        p[i] = r.nextDouble();
      }
      Tensor yt = half(dtype, y, buffer, shape);
      Tensor pt = half(dtype, p, buffer, shape);
      Tensor ge = red == Reduction.NONE ? half(dtype, gaussian(r, n, 1), false, shape) : null;
      double[] lastDim = new double[shape[shape.length - 1]];
      for (int i = 0; i < lastDim.length; i++) {
        lastDim[i] = 0.25 + 2 * r.nextDouble();
      }
      calls.add(new Call("bce_with_logits", BceWithLogitsLoss.builder().reduction(red).build(), x, yt, ge));
      calls.add(new Call("bce_with_logits pos_weight", BceWithLogitsLoss.builder().reduction(red)
          .posWeight(lastDim).weight(lastDim).build(), x, yt, ge));
      calls.add(new Call("bce", BceLoss.builder().reduction(red).build(), pt, yt, ge));
      calls.add(new Call("bce weighted", BceLoss.builder().reduction(red).weight(lastDim).build(), pt, yt, ge));
    }
    return calls;
  }

  @Provide
  Arbitrary<Long> seeds() {
    return Arbitraries.longs();
  }

  @Property(tries = 40)
  void everyElementIsWithinOneHalfUlpOfTheReference(@ForAll("seeds") long seed) {
    for (DType dtype : List.of(DType.FLOAT16, DType.BFLOAT16)) {
      for (Call c : calls(seed, dtype)) {
        check(c);
      }
    }
  }

  /**
   * Over a fixed set of calls, the fused half results are bit-identical to the reference in all but a tiny share of
   * elements (those whose exact value is within float32 rounding of a half rounding boundary).
   */
  @Test
  void almostEveryElementIsBitIdenticalToTheReference() {
    for (DType dtype : List.of(DType.FLOAT16, DType.BFLOAT16)) {
      Agreement all = new Agreement(0, 0, 0);
      for (long seed = 0; seed < 12; seed++) {
        for (Call c : calls(seed, dtype)) {
          all = all.plus(check(c));
        }
      }
      double fraction = (double) all.identical() / all.elements();
      System.out.printf("half fused vs reference, %s: %d of %d elements bit-identical (%.6f), worst %d ulp;"
          + " %d tiny losses within the reference's own error%n", dtype, all.identical(), all.elements(), fraction,
          all.worstUlps(), nearZero);
      nearZero = 0;
      assertTrue(all.elements() > 100_000, "enough elements compared: " + all.elements());
      assertTrue(fraction >= 0.999, dtype + ": only " + fraction + " of the elements are bit-identical");
    }
  }

  /** The vocabulary-sized rows of a language model, the case the fused kernel is for. */
  @Test
  void llmVocabRowsAgreeWithTheReference() {
    Random r = new Random(11);
    for (DType dtype : List.of(DType.BFLOAT16, DType.FLOAT16)) {
      int rows = 4;
      int classes = 50257;
      long[] t = new long[rows];
      for (int i = 0; i < rows; i++) {
        t[i] = r.nextInt(classes);
      }
      Tensor x = half(dtype, gaussian(r, rows * classes, 4), false, rows, classes);
      Agreement a = check(new Call("llm-vocab", CrossEntropyLoss.create(), x, Tensor.of(t, rows), null));
      assertTrue(a.identical() >= 0.999 * a.elements(), dtype + ": " + a);
    }
  }

  /**
   * A single class: p = 1, so the loss and the gradient are exactly 0, as the reference computes them; the target's
   * element is formed from 1 - p_t = O/S, not as k·p_t minus the same amount (which left 2^-51 in bfloat16).
   */
  @Test
  void aSingleClassGivesExactlyZero() {
    for (DType dtype : List.of(DType.FLOAT16, DType.BFLOAT16, DType.FLOAT32)) {
      for (int rows : new int[] {3, 300}) {
        double[] v = gaussian(new Random(rows), rows, 3);
        Tensor x = dtype == DType.FLOAT32 ? Tensor.of(Tensor.rounded(v, DType.BFLOAT16, rows, 1).toFloatArray(), rows,
            1) : half(dtype, v, false, rows, 1);
        Tensor t = Tensor.of(new long[rows], rows);
        for (double eps : new double[] {0, 0.1}) {
          Loss ce = CrossEntropyLoss.builder().reduction(Reduction.NONE).labelSmoothing(eps).build();
          LossResult fused = ce.forwardBackward(x, t);
          LossResult ref = Reference.forwardBackward(ce, x, t, null);
          assertArrayEquals(ref.gradInput().toDoubleArray(), fused.gradInput().toDoubleArray(), 0,
              dtype + " rows " + rows + " eps " + eps);
          assertArrayEquals(ref.loss().toDoubleArray(), fused.loss().toDoubleArray(), 0);
          for (double g : fused.gradInput().toDoubleArray()) {
            assertEquals(0, Math.abs(g), 0, dtype + " eps " + eps);
          }
        }
      }
    }
  }

  /** As for float32: the same bits for 1, 2 and 3 threads, and for arrays and buffers. */
  @Test
  void resultsAreTheSameForEveryThreadCount() {
    int before = Parallelism.get();
    try {
      for (DType dtype : List.of(DType.FLOAT16, DType.BFLOAT16)) {
        List<Call> calls = calls(3, dtype);
        List<short[]> first = new ArrayList<>();
        for (int threads = 1; threads <= 3; threads++) {
          Parallelism.set(threads);
          int k = 0;
          for (Call c : calls) {
            LossResult res = c.loss().forwardBackward(c.input(), c.target(), c.gradOutput());
            short[] loss = bits(res.loss());
            short[] grad = bits(res.gradInput());
            if (threads == 1) {
              first.add(loss);
              first.add(grad);
            } else {
              assertArrayEquals(first.get(k), loss, c + " loss, " + threads + " threads");
              assertArrayEquals(first.get(k + 1), grad, c + " gradient, " + threads + " threads");
            }
            k += 2;
          }
        }
      }
    } finally {
      Parallelism.set(before);
    }
  }

  /** A half input read from a buffer gives the bits of the same values in an array. */
  @Test
  void buffersAndArraysGiveTheSameBits() {
    Random r = new Random(4);
    for (DType dtype : List.of(DType.FLOAT16, DType.BFLOAT16)) {
      double[] v = gaussian(r, 7 * 300, 5);
      long[] t = new long[7];
      for (int i = 0; i < 7; i++) {
        t[i] = r.nextInt(300);
      }
      Loss ce = CrossEntropyLoss.builder().labelSmoothing(0.1).build();
      LossResult a = ce.forwardBackward(half(dtype, v, false, 7, 300), Tensor.of(t, 7));
      LossResult b = ce.forwardBackward(half(dtype, v, true, 7, 300), Tensor.of(t, 7));
      assertArrayEquals(bits(a.loss()), bits(b.loss()));
      assertArrayEquals(bits(a.gradInput()), bits(b.gradInput()));
      assertEquals(dtype, b.gradInput().dtype());
    }
  }

  /** Heap bytes the current thread allocates in one run of {@code call}. */
  private static long allocated(Runnable call) {
    var mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    long before = mx.getThreadAllocatedBytes(Thread.currentThread().getId());
    call.run();
    return mx.getThreadAllocatedBytes(Thread.currentThread().getId()) - before;
  }

  /**
   * {@return the least allocation of a call over up to 200 runs} Until the JIT compiles the vector kernels, their
   * vectors live on the heap (about a kilobyte an element); compiled, they are registers.
   */
  private static long warmAllocation(Runnable call) {
    return warmAllocation(call, 65536);
  }

  /** As {@link #warmAllocation(Runnable)}, stopping early once a run allocates at most {@code enough} bytes. */
  private static long warmAllocation(Runnable call, long enough) {
    long least = Long.MAX_VALUE;
    long end = System.nanoTime() + 20_000_000_000L; // a loaded machine may take long to compile the kernels
    for (int i = 0; i < 2000 && least > enough && (i < 200 || System.nanoTime() < end); i++) {
      least = Math.min(least, allocated(call));
    }
    return least;
  }

  /**
   * No full-size float32 copy of a half input: on one thread (so every allocation is this thread's), a half call
   * allocates at least n bytes less than the same call on float32 inputs (its gradient is 2 bytes an element, not
   * 4; a float32 copy of the input would add 4). Under autocast into a reused float32 buffer, class-index losses
   * allocate no O(N·C) memory at all. Measured once the kernels are compiled (see {@link #warmAllocation}).
   */
  @Test
  void halfInputsAreReadInPlaceWithoutAFloat32Copy() {
    int before = Parallelism.get();
    Parallelism.set(1);
    try {
      Random r = new Random(9);
      int rows = 64;
      int classes = 4096;
      int n = rows * classes;
      long[] t = new long[rows];
      for (int i = 0; i < rows; i++) {
        t[i] = r.nextInt(classes);
      }
      Tensor target = Tensor.of(t, rows);
      for (DType dtype : List.of(DType.FLOAT16, DType.BFLOAT16)) {
        Tensor x = half(dtype, gaussian(r, n, 2), false, rows, classes);
        Tensor y = half(dtype, gaussian(r, n, 0.2), false, rows, classes);
        double[] u = new double[n];
        for (int i = 0; i < n; i++) {
          u[i] = r.nextDouble();
        }
        Tensor p = half(dtype, u, false, rows, classes);
        Tensor x32 = Tensor.of(x.toFloatArray(), rows, classes);
        Tensor y32 = Tensor.of(y.toFloatArray(), rows, classes);
        Tensor p32 = Tensor.of(p.toFloatArray(), rows, classes);
        List<Runnable> halfCalls = List.of(() -> CrossEntropyLoss.create().forwardBackward(x, target),
            () -> NllLoss.create().forwardBackward(x, target),
            () -> BceWithLogitsLoss.create().forwardBackward(x, y),
            () -> BceLoss.create().forwardBackward(p, p));
        List<Runnable> float32Calls = List.of(() -> CrossEntropyLoss.create().forwardBackward(x32, target),
            () -> NllLoss.create().forwardBackward(x32, target),
            () -> BceWithLogitsLoss.create().forwardBackward(x32, y32),
            () -> BceLoss.create().forwardBackward(p32, p32));
        for (int k = 0; k < halfCalls.size(); k++) {
          long single = warmAllocation(float32Calls.get(k), 4L * n + 65536);
          long half = warmAllocation(halfCalls.get(k), single - n);
          assertTrue(half <= single - n, dtype + " call " + k + ": " + half + " bytes, float32 " + single + ", for "
              + n + " elements");
        }
        float[] into = new float[n];
        List<Runnable> autocastCalls = List.of(
            () -> CrossEntropyLoss.builder().autocast(true).build().forwardBackward(x, target, null, into),
            () -> NllLoss.builder().autocast(true).build().forwardBackward(x, target, null, into));
        for (Runnable call : autocastCalls) {
          long bytes = warmAllocation(call);
          assertTrue(bytes < n / 4, dtype + " under autocast: " + bytes + " bytes for " + n + " elements");
        }
      }
    } finally {
      Parallelism.set(before);
    }
  }
}
