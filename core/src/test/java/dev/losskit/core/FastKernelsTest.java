package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

/**
 * The fused kernels against the reference kernels (the specification), at PyTorch's default tolerances: random
 * shapes, every option, values including NaN, ±inf, huge and tiny, array- and buffer-backed inputs. Surefire runs
 * this class twice: with the Vector API and with the scalar fallback.
 */
class FastKernelsTest {

  record Call(CrossEntropyLoss loss, Tensor input, Tensor target, Tensor gradOutput, String description) {
    @Override
    public String toString() {
      return description;
    }
  }

  @Provide
  Arbitrary<Call> calls() {
    return Combinators.combine(
            Arbitraries.integers().between(1, 9), // N
            Arbitraries.oneOf(Arbitraries.integers().between(1, 8), Arbitraries.integers().between(60, 300)),
            Arbitraries.of(Reduction.values()),
            Arbitraries.of(false, true), // weights
            Arbitraries.of(0.0, 0.1, 1.0),
            Arbitraries.of(DType.FLOAT32, DType.FLOAT64),
            Arbitraries.of("plain", "extreme", "nonfinite", "kdim", "probabilities", "kdim-probabilities"),
            Arbitraries.longs())
        .as((n, c, reduction, weighted, eps, dtype, kind, seed) -> {
          Random r = new Random(seed);
          boolean kdim = kind.startsWith("kdim");
          boolean probabilities = kind.endsWith("probabilities");
          int[] shape = kdim ? new int[] {n, Math.min(c, 70), 1 + r.nextInt(3), 1 + r.nextInt(2)} : new int[] {n, c};
          int classes = shape[1];
          int inner = kdim ? shape[2] * shape[3] : 1;
          int[] lossShape = kdim ? new int[] {n, shape[2], shape[3]} : new int[] {n};
          double[] x = new double[Tensor.checkedSize(shape)];
          for (int i = 0; i < x.length; i++) {
            x[i] = 3 * r.nextGaussian();
            if (kind.equals("extreme") && r.nextInt(5) == 0) {
              // huge, near exp's float32 overflow, near float32's largest, tiny and subnormal
              x[i] = (r.nextBoolean() ? 1 : -1) * new double[] {1e4, 88, 3e38, 1e-30, 1.4e-45}[r.nextInt(5)];
            }
            if (kind.equals("nonfinite") && r.nextInt(40) == 0) {
              x[i] = new double[] {Double.NaN, Double.NEGATIVE_INFINITY, Double.POSITIVE_INFINITY}[r.nextInt(3)];
            }
          }
          Tensor target;
          if (probabilities) {
            double[] y = new double[x.length];
            for (int pos = 0; pos < n * inner; pos++) {
              double total = 0;
              for (int k = 0; k < classes; k++) {
                total += y[(pos / inner * classes + k) * inner + pos % inner] = r.nextDouble();
              }
              for (int k = 0; k < classes; k++) {
                y[(pos / inner * classes + k) * inner + pos % inner] /= total;
              }
            }
            target = tensor(dtype, y, shape, false);
          } else {
            long[] t = new long[n * inner];
            for (int i = 0; i < t.length; i++) {
              t[i] = r.nextInt(6) == 0 ? -100 : r.nextInt(classes);
            }
            target = Tensor.of(t, lossShape);
          }
          double[] w = null;
          if (weighted) {
            w = new double[classes];
            for (int k = 0; k < classes; k++) {
              w[k] = r.nextInt(7) == 0 ? 0 : 0.25 + 2 * r.nextDouble();
            }
          }
          int[] gShape = reduction == Reduction.NONE ? lossShape : new int[0];
          double[] g = new double[Tensor.checkedSize(gShape)];
          for (int i = 0; i < g.length; i++) {
            g[i] = r.nextGaussian();
          }
          CrossEntropyLoss loss = CrossEntropyLoss.builder().reduction(reduction).weight(w).labelSmoothing(eps).build();
          Tensor input = tensor(dtype, x, shape, !kdim && r.nextBoolean());
          return new Call(loss, input, target, tensor(dtype, g, gShape, false),
              loss + " " + Arrays.toString(shape) + " " + dtype + " " + kind + (input.isDirect() ? " direct" : "")
                  + " seed " + seed);
        });
  }

  static Tensor tensor(DType dtype, double[] v, int[] shape, boolean direct) {
    if (dtype == DType.FLOAT64) {
      return Tensor.of(v, shape);
    }
    float[] f = new float[v.length];
    for (int i = 0; i < f.length; i++) {
      f[i] = (float) v[i];
    }
    if (!direct) {
      return Tensor.of(f, shape);
    }
    ByteBuffer b = ByteBuffer.allocateDirect(4 * f.length).order(ByteOrder.nativeOrder());
    b.asFloatBuffer().put(f);
    return Tensor.view(b, DType.FLOAT32, shape);
  }

  @Property
  void fusedCrossEntropyEqualsTheReference(@ForAll("calls") Call k) {
    LossResult fast = k.loss().forwardBackward(k.input(), k.target(), k.gradOutput());
    LossResult reference = Reference.forwardBackward(k.loss(), k.input(), k.target(), k.gradOutput());
    assertClose(reference.loss(), fast.loss(), "loss of " + k);
    assertClose(reference.gradInput(), fast.gradInput(), "gradient of " + k);
    assertEquals(reference.loss().dtype(), fast.loss().dtype());
  }

  /**
   * The fused NLL kernel gives the reference kernel's bits: the same input read as log-probabilities, the same
   * weights, ignored positions and reduction; probability targets do not apply to NLL and are skipped. The gradient
   * also goes into a stale caller's array and a stale direct buffer, which must both end up equal to it.
   */
  @Property
  void fusedNllEqualsTheReferenceBitForBit(@ForAll("calls") Call k) {
    if (k.target().dtype().isFloating()) {
      return;
    }
    NllLoss loss = NllLoss.builder().reduction(k.loss().reduction()).weight(k.loss().weight())
        .ignoreIndex(k.loss().ignoreIndex()).build();
    LossResult fast = loss.forwardBackward(k.input(), k.target(), k.gradOutput());
    LossResult reference = Reference.forwardBackward(loss, k.input(), k.target(), k.gradOutput());
    assertArrayEquals(reference.loss().toDoubleArray(), fast.loss().toDoubleArray(), 0.0, "loss of " + k);
    assertArrayEquals(reference.gradInput().toDoubleArray(), fast.gradInput().toDoubleArray(), 0.0,
        "gradient of " + k);
    int n = k.input().numel();
    if (k.input().dtype() == DType.FLOAT32) {
      float[] stale = new float[n];
      Arrays.fill(stale, Float.NaN);
      loss.forwardBackward(k.input(), k.target(), k.gradOutput(), stale);
      assertArrayEquals(reference.gradInput().toFloatArray(), stale, 0f, "array gradient of " + k);
      java.nio.FloatBuffer direct = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder()).asFloatBuffer();
      for (int i = 0; i < n; i++) {
        direct.put(i, Float.NaN);
      }
      loss.forwardBackward(k.input(), k.target(), k.gradOutput(), direct);
      float[] got = new float[n];
      direct.get(0, got);
      assertArrayEquals(reference.gradInput().toFloatArray(), got, 0f, "buffer gradient of " + k);
    }
  }

  /** assert_close at PyTorch's default tolerance for the dtype; NaN equals NaN, infinities must match. */
  static void assertClose(Tensor expected, Tensor actual, String what) {
    assertEquals(Arrays.toString(expected.shape()), Arrays.toString(actual.shape()), what);
    boolean f32 = expected.dtype() == DType.FLOAT32;
    double rtol = f32 ? 1.3e-6 : 1e-7;
    double atol = f32 ? 1e-5 : 1e-7;
    for (int i = 0; i < expected.numel(); i++) {
      double e = expected.getDouble(i);
      double a = actual.getDouble(i);
      if (Double.isNaN(e) || Double.isInfinite(e)) {
        assertTrue(Double.compare(e, a) == 0 || (Double.isNaN(e) && Double.isNaN(a)),
            what + " element " + i + ": expected " + e + ", got " + a);
      } else {
        assertTrue(Math.abs(a - e) <= atol + rtol * Math.abs(e),
            what + " element " + i + ": expected " + e + ", got " + a);
      }
    }
  }

  record BceCall(BceWithLogitsLoss loss, Tensor input, Tensor target, Tensor gradOutput, String description) {
    @Override
    public String toString() {
      return description;
    }
  }

  @Provide
  Arbitrary<BceCall> bceCalls() {
    return Combinators.combine(
            Arbitraries.integers().between(1, 70), // rows
            Arbitraries.oneOf(Arbitraries.integers().between(1, 9), Arbitraries.integers().between(100, 300)),
            Arbitraries.of(Reduction.values()),
            Arbitraries.of("none", "element", "last", "scalar", "column"), // weight broadcast
            Arbitraries.of(false, true), // posWeight along the last dimension
            Arbitraries.of(DType.FLOAT32, DType.FLOAT64),
            Arbitraries.of("plain", "extreme", "nonfinite"),
            Arbitraries.longs())
        .as((rows, cols, reduction, weight, pos, dtype, values, seed) -> {
          Random r = new Random(seed);
          int n = rows * cols;
          double[] x = new double[n];
          double[] y = new double[n];
          for (int i = 0; i < n; i++) {
            x[i] = 4 * r.nextGaussian();
            if (values.equals("extreme") && r.nextInt(5) == 0) {
              x[i] = (r.nextBoolean() ? 1 : -1) * (r.nextBoolean() ? 1e4 : 90);
            }
            if (values.equals("nonfinite") && r.nextInt(40) == 0) {
              x[i] = new double[] {Double.NaN, Double.NEGATIVE_INFINITY, Double.POSITIVE_INFINITY}[r.nextInt(3)];
            }
            y[i] = r.nextBoolean() ? r.nextInt(2) : r.nextDouble();
          }
          BceWithLogitsLoss.Builder b = BceWithLogitsLoss.builder().reduction(reduction);
          switch (weight) {
            case "element":
              b.weight(Tensor.of(positive(r, n), rows, cols));
              break;
            case "last":
              b.weight(positive(r, cols));
              break;
            case "scalar":
              b.weight(Tensor.of(positive(r, 1), 1));
              break;
            case "column": // (rows, 1): a broadcast the fast kernel leaves to the reference
              b.weight(Tensor.of(positive(r, rows), rows, 1));
              break;
            default:
              break;
          }
          if (pos) {
            b.posWeight(positive(r, cols));
          }
          double[] g = new double[reduction == Reduction.NONE ? n : 1];
          for (int i = 0; i < g.length; i++) {
            g[i] = r.nextGaussian();
          }
          int[] shape = {rows, cols};
          BceWithLogitsLoss loss = b.build();
          return new BceCall(loss, tensor(dtype, x, shape, false), tensor(dtype, y, shape, false),
              tensor(dtype, g, reduction == Reduction.NONE ? shape : new int[0], false),
              loss + " (" + rows + ", " + cols + ") " + dtype + " " + values + " seed " + seed);
        });
  }

  private static double[] positive(Random r, int n) {
    double[] w = new double[n];
    for (int i = 0; i < n; i++) {
      w[i] = r.nextInt(9) == 0 ? 0 : 0.25 + 2 * r.nextDouble();
    }
    return w;
  }

  @Property
  void fusedBceEqualsTheReference(@ForAll("bceCalls") BceCall k) {
    LossResult fast = k.loss().forwardBackward(k.input(), k.target(), k.gradOutput());
    LossResult reference = Reference.forwardBackward(k.loss(), k.input(), k.target(), k.gradOutput());
    assertClose(reference.loss(), fast.loss(), "loss of " + k);
    assertClose(reference.gradInput(), fast.gradInput(), "gradient of " + k);
  }

  /**
   * A K-dim input with no classes and every target ignored is valid (libtorch accepts it): mean NaN, sum 0, an empty
   * gradient, from the fused kernel as from the reference. The K-dim vector kernel once read class 0 of such an
   * input.
   */
  @Test
  void kDimensionalInputWithNoClassesGivesTheReferenceResult() {
    for (Reduction reduction : Reduction.values()) {
      CrossEntropyLoss ce = CrossEntropyLoss.builder().reduction(reduction).ignoreIndex(-100).build();
      Tensor input = Tensor.of(new float[0], 2, 0, 64);
      long[] t = new long[2 * 64];
      Arrays.fill(t, -100);
      Tensor target = Tensor.of(t, 2, 64);
      Tensor g = reduction == Reduction.NONE ? Tensor.of(new float[2 * 64], 2, 64) : null;
      LossResult fast = ce.forwardBackward(input, target, g);
      LossResult reference = Reference.forwardBackward(ce, input, target, g);
      assertArrayEquals(reference.loss().toDoubleArray(), fast.loss().toDoubleArray(), 0, reduction.toString());
      assertEquals(0, fast.gradInput().numel());
    }
  }

  /**
   * Beyond |x| = 700 the fused BCE takes e^-|x| as exactly 0, as the reference does in effect: times an infinite
   * weight, pos_weight or upstream gradient that gives NaN, as in the reference, not infinity. (A version that
   * clamped to e^-700 gave infinity.)
   */
  @Test
  void bceBeyondTheExponentialsRangeMatchesTheReferenceWithInfiniteFactors() {
    float[] x = new float[64];
    float[] y = new float[64];
    for (int i = 0; i < 64; i++) {
      x[i] = i % 4 == 0 ? -1000f : i % 4 == 1 ? 1000f : i % 4 == 2 ? Float.NEGATIVE_INFINITY : Float.POSITIVE_INFINITY;
      y[i] = i % 4 == 0 || i % 4 == 2 ? 0f : 1f;
    }
    Tensor input = Tensor.of(x, 64);
    Tensor target = Tensor.of(y, 64);
    Tensor inf = Tensor.of(new float[] {Float.POSITIVE_INFINITY}, 1);
    BceWithLogitsLoss[] losses = {
      BceWithLogitsLoss.builder().reduction(Reduction.SUM).weight(inf).build(),
      BceWithLogitsLoss.builder().reduction(Reduction.SUM).posWeight(inf).build(),
      BceWithLogitsLoss.builder().reduction(Reduction.SUM).build()};
    for (BceWithLogitsLoss bce : losses) {
      Tensor g = bce == losses[2] ? Tensor.scalar(Float.POSITIVE_INFINITY) : null;
      LossResult fast = bce.forwardBackward(input, target, g);
      LossResult reference = Reference.forwardBackward(bce, input, target, g);
      assertArrayEquals(reference.loss().toDoubleArray(), fast.loss().toDoubleArray(), 0, bce.toString());
      assertArrayEquals(reference.gradInput().toDoubleArray(), fast.gradInput().toDoubleArray(), 0, bce.toString());
    }
  }
}
