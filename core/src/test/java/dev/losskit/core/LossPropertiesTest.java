package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Assume;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/** Properties over random shapes, options and values, all in float64. */
class LossPropertiesTest {

  /** A random call: the loss, its arguments and an upstream gradient in the loss's shape. */
  record Case(Loss loss, Tensor input, Tensor target, Tensor gradOutput, String description) {
    @Override
    public String toString() {
      return description;
    }
  }

  private static final Reduction[] REDUCTIONS = Reduction.values();

  @Provide
  Arbitrary<Case> anyCase() {
    return Arbitraries.oneOf(classCase(false), classCase(true), bceCase());
  }

  /** Cross-entropy with class-index targets, no weight and nothing ignored. */
  @Provide
  Arbitrary<Case> plainIndexCase() {
    return Combinators.combine(
            Arbitraries.integers().between(-1, 2),
            Arbitraries.integers().between(1, 5),
            Arbitraries.of(REDUCTIONS),
            Arbitraries.longs())
        .as((extra, c, reduction, seed) -> makeClassCase(false, extra, c, reduction, false, 0, 0, false, seed));
  }

  /** Cross-entropy with class-index targets and every option but smoothing. */
  @Provide
  Arbitrary<Case> indexCase() {
    return Combinators.combine(
            Arbitraries.integers().between(-1, 2),
            Arbitraries.integers().between(1, 5),
            Arbitraries.of(REDUCTIONS),
            Arbitraries.of(false, true),
            Arbitraries.integers().between(0, 2),
            Arbitraries.longs())
        .as((extra, c, reduction, weighted, ignore, seed) ->
            makeClassCase(false, extra, c, reduction, weighted, ignore, 0, false, seed));
  }

  /** Cross-entropy (index or probability targets) or NLL, with every option. */
  private Arbitrary<Case> classCase(boolean nll) {
    return Combinators.combine(
            Arbitraries.integers().between(-1, 2), // extra dims; -1 means unbatched (C)
            Arbitraries.integers().between(1, 5), // C
            Arbitraries.of(REDUCTIONS),
            Arbitraries.of(false, true), // weighted
            Arbitraries.integers().between(0, 2), // ignore: none, in range, negative
            Arbitraries.oneOf(Arbitraries.of(0.0, 0.1, 1.0), Arbitraries.doubles().between(0, 1)),
            Arbitraries.of(false, true), // probability targets (CE only)
            Arbitraries.longs())
        .as((extra, c, reduction, weighted, ignore, eps, prob, seed) ->
            makeClassCase(nll, extra, c, reduction, weighted, ignore, nll ? 0 : eps, !nll && prob, seed));
  }

  private static Case makeClassCase(boolean nll, int extra, int c, Reduction reduction, boolean weighted,
      int ignoreKind, double eps, boolean prob, long seed) {
    Random r = new Random(seed);
    int[] shape;
    if (extra < 0) {
      shape = new int[] {c};
    } else {
      shape = new int[2 + extra];
      shape[0] = 1 + r.nextInt(3);
      shape[1] = c;
      for (int d = 2; d < shape.length; d++) {
        shape[d] = 1 + r.nextInt(3);
      }
    }
    int[] lossShape = extra < 0 ? new int[0] : withoutClassDim(shape);
    double[] x = new double[Tensor.checkedSize(shape)];
    for (int i = 0; i < x.length; i++) {
      x[i] = nll ? -3 * r.nextDouble() : 6 * r.nextDouble() - 3;
    }
    double[] weight = null;
    if (weighted) {
      weight = new double[c];
      for (int k = 0; k < c; k++) {
        weight[k] = 0.5 + 1.5 * r.nextDouble();
      }
    }
    long ignoreIndex = ignoreKind == 0 ? -100 : ignoreKind == 1 ? r.nextInt(c) : -1;
    Tensor target;
    if (prob) {
      double[] y = new double[x.length];
      int positions = x.length / c;
      int inner = extra < 0 ? 1 : positions / shape[0];
      for (int p = 0; p < positions; p++) {
        double total = 0;
        double[] raw = new double[c];
        for (int k = 0; k < c; k++) {
          raw[k] = r.nextDouble();
          total += raw[k];
        }
        for (int k = 0; k < c; k++) {
          y[(p / inner * c + k) * inner + p % inner] = raw[k] / total;
        }
      }
      target = Tensor.of(y, shape);
      ignoreIndex = -100;
    } else {
      long[] t = new long[Tensor.checkedSize(lossShape)];
      for (int i = 0; i < t.length; i++) {
        t[i] = ignoreKind != 0 && r.nextInt(4) == 0 ? ignoreIndex : r.nextInt(c);
      }
      target = Tensor.of(t, lossShape);
    }
    Loss loss = nll
        ? NllLoss.builder().reduction(reduction).weight(weight).ignoreIndex(ignoreIndex).build()
        : CrossEntropyLoss.builder().reduction(reduction).weight(weight).ignoreIndex(ignoreIndex)
            .labelSmoothing(eps).build();
    Tensor gradOutput = upstream(r, reduction, lossShape);
    return new Case(loss, Tensor.of(x, shape), target, gradOutput,
        loss + " input " + Arrays.toString(shape) + (prob ? " probabilities" : " indices") + " seed " + seed);
  }

  private Arbitrary<Case> bceCase() {
    return Combinators.combine(
            Arbitraries.integers().between(1, 3), // rank
            Arbitraries.of(REDUCTIONS),
            Arbitraries.integers().between(0, 2), // weight: none, per element, broadcast along the last dim
            Arbitraries.of(false, true), // posWeight
            Arbitraries.longs())
        .as((rank, reduction, weightKind, pos, seed) -> {
          Random r = new Random(seed);
          int[] shape = new int[rank];
          for (int d = 0; d < rank; d++) {
            shape[d] = 1 + r.nextInt(3);
          }
          int n = Tensor.checkedSize(shape);
          double[] x = new double[n];
          double[] y = new double[n];
          for (int i = 0; i < n; i++) {
            x[i] = 8 * r.nextDouble() - 4;
            y[i] = r.nextBoolean() ? r.nextInt(2) : r.nextDouble();
          }
          int last = shape[rank - 1];
          BceWithLogitsLoss.Builder b = BceWithLogitsLoss.builder().reduction(reduction);
          if (weightKind == 1) {
            b.weight(Tensor.of(positive(r, n), shape));
          } else if (weightKind == 2) {
            b.weight(positive(r, last));
          }
          if (pos) {
            b.posWeight(positive(r, last));
          }
          BceWithLogitsLoss loss = b.build();
          return new Case(loss, Tensor.of(x, shape), Tensor.of(y, shape),
              upstream(r, reduction, shape), loss + " input " + Arrays.toString(shape) + " seed " + seed);
        });
  }

  private static double[] positive(Random r, int n) {
    double[] w = new double[n];
    for (int i = 0; i < n; i++) {
      w[i] = 0.25 + 2 * r.nextDouble();
    }
    return w;
  }

  private static Tensor upstream(Random r, Reduction reduction, int[] lossShape) {
    if (reduction != Reduction.NONE) {
      return Tensor.scalar(0.5 + r.nextDouble());
    }
    double[] g = new double[Tensor.checkedSize(lossShape)];
    for (int i = 0; i < g.length; i++) {
      g[i] = 2 * r.nextDouble() - 1;
    }
    return Tensor.of(g, lossShape);
  }

  private static int[] withoutClassDim(int[] shape) {
    int[] out = new int[shape.length - 1];
    out[0] = shape[0];
    System.arraycopy(shape, 2, out, 1, shape.length - 2);
    return out;
  }

  /** \( \sum_j g_j\,\ell_j(x) \): the scalar whose gradient {@code backward} returns. */
  private static double objective(Case k, double[] x) {
    Tensor loss = k.loss().forward(Tensor.of(x, k.input().shape()), k.target());
    double s = 0;
    for (int j = 0; j < loss.numel(); j++) {
      s += k.gradOutput().getDouble(j) * loss.getDouble(j);
    }
    return s;
  }

  @Property(tries = 300)
  void gradientEqualsCentralFiniteDifferences(@ForAll("anyCase") Case k) {
    double f0 = objective(k, k.input().toDoubleArray());
    Assume.that(Double.isFinite(f0)); // an all-ignored mean is NaN by definition and has no derivative
    double[] analytic = k.loss().backward(k.input(), k.target(), k.gradOutput()).toDoubleArray();
    double[] x = k.input().toDoubleArray();
    double h = 1e-6;
    for (int i = 0; i < x.length; i++) {
      double xi = x[i];
      x[i] = xi + h;
      double up = objective(k, x);
      x[i] = xi - h;
      double down = objective(k, x);
      x[i] = xi;
      double numeric = (up - down) / (2 * h);
      assertEquals(numeric, analytic[i], 1e-6 + 1e-5 * Math.abs(numeric), "element " + i + " of " + k);
    }
  }

  @Property(tries = 300)
  void noneSummedEqualsSum(@ForAll("anyCase") Case k) {
    Loss none;
    Loss sum;
    if (k.loss() instanceof CrossEntropyLoss ce) {
      none = ce.toBuilder().reduction(Reduction.NONE).build();
      sum = ce.toBuilder().reduction(Reduction.SUM).build();
    } else if (k.loss() instanceof NllLoss nll) {
      none = nll.toBuilder().reduction(Reduction.NONE).build();
      sum = nll.toBuilder().reduction(Reduction.SUM).build();
    } else {
      BceWithLogitsLoss bce = (BceWithLogitsLoss) k.loss();
      none = bce.toBuilder().reduction(Reduction.NONE).build();
      sum = bce.toBuilder().reduction(Reduction.SUM).build();
    }
    double total = Oracle.sum(none.forward(k.input(), k.target()).toDoubleArray());
    double reduced = sum.forward(k.input(), k.target()).getDouble(0);
    assertEquals(reduced, total, 1e-12 * Math.max(1, Math.abs(reduced)), k.toString());
  }

  @Property(tries = 300)
  void oneHotProbabilitiesEqualIndexTargetsWithoutWeights(
      @ForAll("plainIndexCase") Case k, @ForAll("epsilons") double eps) {
    CrossEntropyLoss ce = (CrossEntropyLoss) k.loss();
    int[] shape = k.input().shape();
    int c = shape.length == 1 ? shape[0] : shape[1];
    int inner = shape.length <= 2 ? 1 : Tensor.checkedSize(Arrays.copyOfRange(shape, 2, shape.length));
    double[] oneHot = new double[k.input().numel()];
    for (int p = 0; p < k.target().numel(); p++) {
      int t = (int) k.target().getLong(p);
      oneHot[(p / inner * c + t) * inner + p % inner] = 1;
    }
    CrossEntropyLoss smoothed = ce.toBuilder().labelSmoothing(eps).build();
    LossResult byIndex = smoothed.forwardBackward(k.input(), k.target(), k.gradOutput());
    LossResult byProb = smoothed.forwardBackward(k.input(), Tensor.of(oneHot, shape), k.gradOutput());
    assertClose(byIndex.loss(), byProb.loss(), k.toString());
    assertClose(byIndex.gradInput(), byProb.gradInput(), k.toString());
  }

  @Provide
  Arbitrary<Double> epsilons() {
    return Arbitraries.oneOf(Arbitraries.of(0.0, 1.0), Arbitraries.doubles().between(0, 1));
  }

  @Property(tries = 300)
  void crossEntropyEqualsNllOfLogSoftmax(@ForAll("indexCase") Case k) {
    CrossEntropyLoss ce = ((CrossEntropyLoss) k.loss()).toBuilder().labelSmoothing(0).build();
    NllLoss nll = NllLoss.builder().reduction(ce.reduction()).weight(ce.weight()).ignoreIndex(ce.ignoreIndex())
        .build();
    int[] shape = k.input().shape();
    int c = shape.length == 1 ? shape[0] : shape[1];
    int inner = shape.length <= 2 ? 1 : Tensor.checkedSize(Arrays.copyOfRange(shape, 2, shape.length));
    double[] x = k.input().toDoubleArray();
    double[] logp = new double[x.length];
    double[] softmax = new double[x.length];
    for (int p = 0; p < x.length / Math.max(c, 1); p++) {
      double[] row = new double[c];
      for (int j = 0; j < c; j++) {
        row[j] = x[(p / inner * c + j) * inner + p % inner];
      }
      double[] lp = Oracle.logSoftmax(row);
      for (int j = 0; j < c; j++) {
        logp[(p / inner * c + j) * inner + p % inner] = lp[j];
        softmax[(p / inner * c + j) * inner + p % inner] = Math.exp(lp[j]);
      }
    }
    LossResult viaCe = ce.forwardBackward(k.input(), k.target(), k.gradOutput());
    LossResult viaNll = nll.forwardBackward(Tensor.of(logp, shape), k.target(), k.gradOutput());
    assertClose(viaNll.loss(), viaCe.loss(), k.toString());
    // Chain rule through log-softmax: dx = dlogp - softmax · Σ_c dlogp.
    double[] dLogp = viaNll.gradInput().toDoubleArray();
    double[] dx = new double[x.length];
    for (int p = 0; p < x.length / Math.max(c, 1); p++) {
      double s = 0;
      for (int j = 0; j < c; j++) {
        s += dLogp[(p / inner * c + j) * inner + p % inner];
      }
      for (int j = 0; j < c; j++) {
        int i = (p / inner * c + j) * inner + p % inner;
        dx[i] = dLogp[i] - softmax[i] * s;
      }
    }
    assertClose(Tensor.of(dx, shape), viaCe.gradInput(), k.toString());
  }

  private static void assertClose(Tensor expected, Tensor actual, String what) {
    assertEquals(Arrays.toString(expected.shape()), Arrays.toString(actual.shape()), what);
    for (int i = 0; i < expected.numel(); i++) {
      double e = expected.getDouble(i);
      double a = actual.getDouble(i);
      if (Double.isNaN(e)) {
        assertTrue(Double.isNaN(a), what + " element " + i + ": expected NaN, got " + a);
      } else {
        assertEquals(e, a, 1e-12 * Math.max(1, Math.abs(e)), what + " element " + i);
      }
    }
  }
}
