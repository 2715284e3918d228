package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
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
 * Float32 cross-entropy with class-index targets is faithful: every element of the loss and of the gradient that
 * the fused kernels return lies within 1 ulp of the exact value, the reference kernel's double result before
 * rounding (the reference run on float64 copies of the inputs, with the weights rounded to float as a float32 loss
 * holds them). Wide rows (C up to 2000, logits scaled up to 16, weights, smoothing, every reduction) and K-dim
 * shapes, array- and buffer-backed. Surefire runs this class with the Vector API and with the scalar fallback.
 *
 * <p>Where the exact value is the difference of larger terms (the target's element, every element with label
 * smoothing, and the loss, \( \log S - (x_t - m) \) with \( \log S \) tiny when the maximum dominates), the double
 * reference is itself exact only to about \( C \cdot 2^{-53} \) of those terms (its \( \log S \) errs by its
 * sum's rounding), so the bound there is 1 ulp plus \( 2^{-48} (C + 1) \) of the terms (for the loss,
 * \( w_c (C + |x_c - m|) \) weighted as the loss weighs them). Everywhere else, every element of the gradient without
 * smoothing but the target's, the bound is 1 ulp alone.
 */
class FaithfulCrossEntropyTest {

  record Case(CrossEntropyLoss loss, CrossEntropyLoss oracleLoss, float[] x, int[] shape, long[] target,
      float[] gradOutput, boolean directInput, int output, String description) {
    @Override
    public String toString() {
      return description;
    }
  }

  @Provide
  Arbitrary<Case> cases() {
    return Combinators.combine(
            Arbitraries.of("rows", "rows", "kdim", "short"),
            Arbitraries.integers().between(1, 5), // N
            Arbitraries.of(Reduction.values()),
            Arbitraries.of(false, true), // weights
            Arbitraries.of(0.0, 0.1, 0.9),
            Arbitraries.of(1.0, 4.0, 16.0), // logit scale
            Arbitraries.integers().between(0, 2), // output: fresh, float[], direct buffer
            Arbitraries.longs())
        .as((layout, n, reduction, weighted, eps, scale, output, seed) -> {
          Random r = new Random(seed);
          int[] shape;
          if (layout.equals("rows")) {
            int c = new int[] {64, 65, 100, 257, 1000, 1000, 2000}[r.nextInt(7)];
            shape = new int[] {n, c};
          } else if (layout.equals("short")) {
            // Many rows of fewer than 64 classes: blocks transposed to the K-dim kernel, a partial last block and
            // a tail of fewer rows than a vector's lanes.
            shape = new int[] {FastCrossEntropy.SHORT_ROWS_MIN_POSITIONS + r.nextInt(1500), 1 + r.nextInt(63)};
          } else {
            int c = 2 + r.nextInt(40);
            shape = new int[] {n, c, 1 + r.nextInt(40), 16 + r.nextInt(40)};
          }
          return build(r, shape, reduction, weighted, eps, scale, output, r.nextBoolean(), seed);
        });
  }

  static Case build(Random r, int[] shape, Reduction reduction, boolean weighted, double eps, double scale,
      int output, boolean directInput, long seed) {
    int classes = shape[1];
    int numel = Tensor.checkedSize(shape);
    int positions = numel / classes;
    float[] x = new float[numel];
    for (int i = 0; i < numel; i++) {
      x[i] = (float) (scale * r.nextGaussian());
      if (r.nextInt(200) == 0) {
        x[i] = r.nextBoolean() ? -1e4f : (float) (scale * 6);
      }
    }
    long[] t = new long[positions];
    for (int i = 0; i < positions; i++) {
      t[i] = r.nextInt(12) == 0 ? -100 : r.nextInt(classes);
    }
    double[] w = null;
    if (weighted) {
      w = new double[classes];
      for (int c = 0; c < classes; c++) {
        w[c] = r.nextInt(9) == 0 ? 0 : (float) (0.25 + 2 * r.nextDouble());
      }
    }
    float[] g = null;
    if (reduction == Reduction.NONE || r.nextBoolean()) {
      g = new float[reduction == Reduction.NONE ? positions : 1];
      for (int i = 0; i < g.length; i++) {
        g[i] = (float) r.nextGaussian();
      }
    }
    CrossEntropyLoss loss = CrossEntropyLoss.builder().reduction(reduction).weight(w).labelSmoothing(eps).build();
    return new Case(loss, loss, x, shape, t, g, directInput, output,
        loss + " " + Arrays.toString(shape) + " x" + scale + (directInput ? " direct" : "") + " output " + output
            + " seed " + seed);
  }

  @Property(tries = 300)
  void everyFloat32ElementIsWithinOneUlpOfTheExactValue(@ForAll("cases") Case k) {
    check(k);
  }

  /** The case: weighted, reduction none, C = 1000, logits scaled by 16. */
  @Test
  void weightedNoneWideRowsWithLogitsScaledBy16() {
    Random r = new Random(13);
    for (int rep = 0; rep < 4; rep++) {
      check(build(r, new int[] {64, 1000}, Reduction.NONE, true, 0.0, 16, rep % 3, rep % 2 == 1, 13));
      check(build(r, new int[] {16, 1000}, Reduction.NONE, true, 0.1, 16, rep % 3, rep % 2 == 0, 13));
    }
  }

  private static Tensor lossShaped(float[] g, int[] shape, Reduction reduction) {
    if (g == null) {
      return null;
    }
    return reduction == Reduction.NONE ? Tensor.of(g, ClassProblem.lossShape(shape)) : Tensor.of(g);
  }

  static void check(Case k) {
    int[] shape = k.shape();
    Tensor input;
    if (k.directInput()) {
      ByteBuffer b = ByteBuffer.allocateDirect(4 * k.x().length).order(ByteOrder.nativeOrder());
      b.asFloatBuffer().put(k.x());
      input = Tensor.view(b, DType.FLOAT32, shape);
    } else {
      input = Tensor.of(k.x(), shape);
    }
    Tensor target = Tensor.of(k.target(), ClassProblem.lossShape(shape));
    Reduction reduction = k.loss().reduction();
    Tensor g = lossShaped(k.gradOutput(), shape, reduction);
    LossResult fast;
    float[] gradOut;
    switch (k.output()) {
      case 1: {
        gradOut = new float[k.x().length];
        Arrays.fill(gradOut, Float.NaN);
        fast = k.loss().forwardBackward(input, target, g, gradOut);
        break;
      }
      case 2: {
        FloatBuffer out = ByteBuffer.allocateDirect(4 * k.x().length).order(ByteOrder.nativeOrder()).asFloatBuffer();
        fast = k.loss().forwardBackward(input, target, g, out);
        gradOut = new float[k.x().length];
        out.get(0, gradOut);
        break;
      }
      default:
        fast = k.loss().forwardBackward(input, target, g);
        gradOut = fast.gradInput().toFloatArray();
    }
    float[] grad = gradOut;
    // The exact values: the reference on float64 copies (weights already float-valued; g is float-valued).
    double[] x64 = new double[k.x().length];
    for (int i = 0; i < x64.length; i++) {
      x64[i] = k.x()[i];
    }
    Tensor g64 = null;
    if (k.gradOutput() != null) {
      double[] gd = new double[k.gradOutput().length];
      for (int i = 0; i < gd.length; i++) {
        gd[i] = k.gradOutput()[i];
      }
      g64 = reduction == Reduction.NONE ? Tensor.of(gd, ClassProblem.lossShape(shape)) : Tensor.of(gd);
    }
    LossResult exact = Reference.forwardBackward(k.oracleLoss(), Tensor.of(x64, shape), target, g64);
    double[] exactGrad = exact.gradInput().toDoubleArray();
    double[] exactLoss = exact.loss().toDoubleArray();
    float[] fastLoss = fast.loss().toFloatArray();

    Allowance a = new Allowance(k, x64, shape);
    double worstGrad = 0;
    for (int e = 0; e < grad.length; e++) {
      int i = e;
      if (Double.isNaN(exactGrad[i]) && Float.isNaN(grad[i])) {
        continue;
      }
      double err = Math.abs(grad[i] - exactGrad[i]);
      double ulp = ulpAt(exactGrad[i]);
      double allowed = ulp + a.grad(i);
      assertTrue(err <= allowed, () -> "gradient element " + Arrays.toString(a.index(i)) + " of " + k
          + ": exact " + exactGrad[i] + ", got " + grad[i] + " (" + err / ulpAt(exactGrad[i]) + " ulp)");
      worstGrad = Math.max(worstGrad, err / ulp);
    }
    for (int i = 0; i < fastLoss.length; i++) {
      if (Double.isNaN(exactLoss[i]) && Float.isNaN(fastLoss[i])) {
        continue; // mean over no weight (all ignored): NaN, as in libtorch
      }
      double err = Math.abs(fastLoss[i] - exactLoss[i]);
      double allowed = ulpAt(exactLoss[i]) + a.loss(reduction, i);
      int pos = i;
      assertTrue(err <= allowed, () -> "loss element " + pos + " of " + k + ": exact " + exactLoss[pos] + ", got "
          + fastLoss[pos] + " (" + err / ulpAt(exactLoss[pos]) + " ulp)");
    }
    WORST[0] = Math.max(WORST[0], worstGrad);
  }

  /** The largest gradient error seen in ulp, for the record. */
  static final double[] WORST = {0};

  /** The spacing of the floats around {@code d}: 1 ulp of the exact value. */
  static double ulpAt(double d) {
    double m = Math.abs(d);
    float f = (float) m;
    if (f == 0) {
      return Float.MIN_VALUE;
    }
    return f > m ? Math.ulp(Math.nextDown(f)) : Math.ulp(f);
  }

  /** The double reference's own error bound where the exact value is a difference of larger terms. */
  static final class Allowance {
    private final Case k;
    private final double[] x;
    private final int classes;
    private final int inner;
    private final double[] w;
    private final double weightTotal;
    private final double eps;

    Allowance(Case k, double[] x, int[] shape) {
      this.k = k;
      this.x = x;
      classes = shape[1];
      inner = shape.length > 2 ? shape[2] * shape[3] : 1;
      double[] weight = k.loss().weight();
      w = new double[classes];
      double total = 0;
      for (int c = 0; c < classes; c++) {
        w[c] = weight == null ? 1 : weight[c];
        total += w[c];
      }
      weightTotal = total;
      eps = k.loss().labelSmoothing();
    }

    int[] index(int i) {
      int pos = i / (classes * inner) * inner + i % inner;
      return new int[] {pos, i / inner % classes};
    }

    private double at(int pos, int c) {
      return x[(pos / inner * classes + c) * inner + pos % inner];
    }

    private double max(int pos) {
      double m = Double.NEGATIVE_INFINITY;
      for (int c = 0; c < classes; c++) {
        m = Math.max(m, at(pos, c));
      }
      return m;
    }

    double grad(int i) {
      int[] pc = index(i);
      int pos = pc[0];
      int c = pc[1];
      long t = k.target()[pos];
      if (t < 0 || (eps == 0 && c != t)) {
        return 0;
      }
      double m = max(pos);
      double s = 0;
      for (int j = 0; j < classes; j++) {
        s += Math.exp(at(pos, j) - m);
      }
      double p = Math.exp(at(pos, c) - m) / s;
      double g = Math.abs(upstream(pos));
      double wt = w[(int) t];
      double kk = (1 - eps) * wt + eps / classes * weightTotal;
      double terms = g * (kk * p + eps / classes * w[c] + (c == t ? (1 - eps) * wt : 0));
      return 0x1p-48 * (classes + 1) * terms;
    }

    private double upstream(int pos) {
      float[] g = k.gradOutput();
      if (k.loss().reduction() == Reduction.NONE) {
        return g == null ? 1 : g[pos];
      }
      double scalar = g == null ? 1 : g[0];
      if (k.loss().reduction() == Reduction.SUM) {
        return scalar;
      }
      return scalar / weightSum();
    }

    private double weightSum() {
      double weightSum = 0;
      for (long t : k.target()) {
        weightSum += t < 0 ? 0 : w[(int) t];
      }
      return weightSum;
    }

    double loss(Reduction reduction, int i) {
      int from = reduction == Reduction.NONE ? i : 0;
      int to = reduction == Reduction.NONE ? i + 1 : k.target().length;
      double total = 0;
      for (int pos = from; pos < to; pos++) {
        long t = k.target()[pos];
        if (t >= 0) {
          double m = max(pos);
          total += (1 - eps) * w[(int) t] * (classes + Math.abs(at(pos, (int) t) - m));
          for (int c = 0; eps > 0 && c < classes; c++) {
            total += eps / classes * w[c] * (classes + Math.abs(at(pos, c) - m));
          }
        }
      }
      return 0x1p-48 * total / (reduction == Reduction.MEAN ? Math.abs(weightSum()) : 1);
    }
  }

  /**
   * Bit-for-bit reproducible: the first (cold) call equals later (warm) calls, and every thread count gives the
   * same bits, for wide rows and K-dim blocks, with weights and smoothing.
   */
  @Test
  void resultsAreTheSameBitsColdWarmAndForEveryThreadCount() {
    int before = Parallelism.get();
    try {
      Random r = new Random(5);
      Case[] cases = {
          build(r, new int[] {24, 3000}, Reduction.MEAN, true, 0.1, 4, 0, false, 5),
          build(r, new int[] {24, 3000}, Reduction.NONE, false, 0.0, 16, 0, true, 5),
          build(r, new int[] {3, 21, 37, 40}, Reduction.MEAN, true, 0.0, 2, 0, false, 5),
          build(r, new int[] {2, 9, 50, 33}, Reduction.NONE, true, 0.2, 8, 0, true, 5),
      };
      for (Case k : cases) {
        int[] shape = k.shape();
        Tensor input = Tensor.of(k.x(), shape);
        Tensor target = Tensor.of(k.target(), ClassProblem.lossShape(shape));
        Tensor g = lossShaped(k.gradOutput(), shape, k.loss().reduction());
        Parallelism.set(1);
        LossResult cold = k.loss().forwardBackward(input, target, g);
        float[] coldGrad = cold.gradInput().toFloatArray();
        double[] coldLoss = cold.loss().toDoubleArray();
        for (int threads : new int[] {2, 3, 4, 1}) {
          Parallelism.set(threads);
          for (int rep = 0; rep < 60; rep++) {
            LossResult warm = k.loss().forwardBackward(input, target, g);
            assertArrayEquals(coldGrad, warm.gradInput().toFloatArray(), 0f, k + " gradient, " + threads + " threads");
            assertArrayEquals(coldLoss, warm.loss().toDoubleArray(), 0.0, k + " loss, " + threads + " threads");
          }
        }
      }
    } finally {
      Parallelism.set(before);
    }
  }
}
