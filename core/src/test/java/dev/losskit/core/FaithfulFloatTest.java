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
import net.jqwik.api.lifecycle.AfterContainer;

/**
 * Faithful float32 results (issue #13): every float32 element that the fused probability-target cross-entropy and
 * BCE-with-logits kernels produce, loss and gradient, lies within 1 ulp of the exact value, taken as the reference
 * kernel's double result on float64 copies of the same float32 inputs (weights, smoothing and upstream gradients
 * are exact in float, so both see the same problem). Wide rows, the K-dim layout, weights, smoothing, every
 * reduction, logits scaled by 16, targets equal to the model's own probabilities (where the gradient cancels),
 * heap and direct inputs, the gradient into an array or a direct buffer. Surefire runs this class with the Vector
 * API and with the scalar fallback.
 */
class FaithfulFloatTest {
  private static double worstCrossEntropy;
  private static double worstBce;

  /**
   * One call. {@code condition[i]} bounds the terms that cancel in gradient element {@code i}:
   * \( |g|\,(p_c T (4 + |\log p_c| + \sqrt C) + |y'_c w_c|) \) for cross-entropy (the reference's
   * \( \exp(\log p_c) \) and the two kernels' orders of summing \( S \) cost that many double ulps of \( p_c \)),
   * \( |w g|\,(|p y + 1 - y|\,\sigma + |p y|) \) for BCE. An error of \( 2^{-51} \) of it, unavoidable in double
   * arithmetic and present in the reference too, is allowed on top of the ulp; it matters only where targets equal
   * the model's own probabilities to float precision. {@code lossCondition} does the same for cross-entropy's loss
   * (\( T (4 + \sqrt C) \) per position: \( \log S \) of an \( S \) near 1 keeps the rounding of \( S \)).
   */
  record Case(Loss loss, float[] x, float[] y, float[] g, int[] shape, int[] gShape, boolean direct,
      boolean bufferGrad, double[] condition, double[] lossCondition, String description) {
    @Override
    public String toString() {
      return description;
    }
  }

  @Provide
  Arbitrary<Case> probabilityCalls() {
    return Combinators.combine(
            Arbitraries.of("rows", "wide", "kdim"),
            Arbitraries.of(Reduction.values()),
            Arbitraries.of(false, true), // weights
            Arbitraries.of(0.0, 0.1, 0.37),
            Arbitraries.of(1.0, 16.0), // logit scale
            Arbitraries.of("softmax", "own", "onehot"), // targets
            Arbitraries.of(false, true), // direct input and target, gradient into a direct buffer
            Arbitraries.longs())
        .as((layout, reduction, weighted, eps, scale, targets, direct, seed) -> {
          Random r = new Random(seed);
          int[] shape;
          switch (layout) {
            case "rows":
              shape = new int[] {1 + r.nextInt(6), 1 + r.nextInt(300)};
              break;
            case "wide":
              shape = new int[] {1 + r.nextInt(3), 1000 + r.nextInt(3100)};
              break;
            default:
              shape = new int[] {1 + r.nextInt(3), 1 + r.nextInt(40), 1 + r.nextInt(40), 1 + r.nextInt(2)};
              break;
          }
          int n = shape[0];
          int classes = shape[1];
          int inner = shape.length == 4 ? shape[2] * shape[3] : 1;
          float[] x = new float[n * classes * inner];
          for (int i = 0; i < x.length; i++) {
            x[i] = (float) (scale * r.nextGaussian());
          }
          float[] y = new float[x.length];
          for (int pos = 0; pos < n * inner; pos++) {
            int base = pos / inner * classes * inner + pos % inner;
            double max = Double.NEGATIVE_INFINITY;
            double[] z = new double[classes];
            for (int c = 0; c < classes; c++) {
              z[c] = targets.equals("own") ? x[base + c * inner] : 2 * r.nextGaussian();
              max = Math.max(max, z[c]);
            }
            double sum = 0;
            for (int c = 0; c < classes; c++) {
              sum += Math.exp(z[c] - max);
            }
            int hot = r.nextInt(classes);
            for (int c = 0; c < classes; c++) {
              y[base + c * inner] = targets.equals("onehot") ? (c == hot ? 1f : 0f)
                  : (float) (Math.exp(z[c] - max) / sum);
            }
          }
          CrossEntropyLoss.Builder b = CrossEntropyLoss.builder().reduction(reduction).labelSmoothing(eps);
          if (weighted) {
            double[] w = new double[classes];
            for (int c = 0; c < classes; c++) {
              w[c] = r.nextInt(9) == 0 ? 0 : (float) (0.25 + 2 * r.nextDouble());
            }
            b.weight(w);
          }
          int[] lossShape = ClassProblem.lossShape(shape);
          int[] gShape = reduction == Reduction.NONE ? lossShape : new int[0];
          float[] g = new float[Tensor.checkedSize(gShape)];
          for (int i = 0; i < g.length; i++) {
            g[i] = (float) r.nextGaussian();
          }
          Loss loss = b.build();
          double[] w = ((CrossEntropyLoss) loss).weight();
          double[] condition = new double[x.length];
          double[] perPosition = new double[n * inner];
          for (int pos = 0; pos < n * inner; pos++) {
            int base = pos / inner * classes * inner + pos % inner;
            double gp = Math.abs(reduction == Reduction.NONE ? g[pos]
                : g[0] / (reduction == Reduction.MEAN ? n * inner : 1));
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < classes; c++) {
              max = Math.max(max, x[base + c * inner]);
            }
            double sum = 0;
            double total = 0;
            for (int c = 0; c < classes; c++) {
              sum += Math.exp(x[base + c * inner] - max);
              total += (y[base + c * inner] * (1 - eps) + eps / classes) * (w == null ? 1 : w[c]);
            }
            // log S of an S near 1 keeps the rounding of S: sqrt(C) double ulps of T, in both kernels.
            perPosition[pos] = total * (4 + Math.sqrt(classes));
            for (int c = 0; c < classes; c++) {
              double yw = (y[base + c * inner] * (1 - eps) + eps / classes) * (w == null ? 1 : w[c]);
              // The reference takes p_c as exp(log p_c), whose rounding costs |log p_c| double ulps of p_c, and
              // both kernels sum S in their own order (about sqrt(C) ulps apart).
              double logp = x[base + c * inner] - max - Math.log(sum);
              condition[base + c * inner] = gp * (Math.exp(logp) * total * (4 + Math.abs(logp) + Math.sqrt(classes))
                  + Math.abs(yw));
            }
          }
          double lossSum = 0;
          for (double v : perPosition) {
            lossSum += v;
          }
          double[] lossCondition = reduction == Reduction.NONE ? perPosition
              : new double[] {reduction == Reduction.MEAN ? lossSum / (n * inner) : lossSum};
          return new Case(loss, x, y, g, shape, gShape, direct, direct && r.nextBoolean(), condition, lossCondition,
              loss + " " + Arrays.toString(shape) + " x" + scale + " " + targets + (direct ? " direct" : "")
                  + " seed " + seed);
        });
  }

  @Provide
  Arbitrary<Case> bceCalls() {
    return Combinators.combine(
            Arbitraries.oneOf(Arbitraries.integers().between(1, 40), Arbitraries.integers().between(1, 3)),
            Arbitraries.oneOf(Arbitraries.integers().between(1, 300), Arbitraries.integers().between(1000, 4100)),
            Arbitraries.of(Reduction.values()),
            Arbitraries.of("none", "element", "last", "scalar"), // weight broadcast
            Arbitraries.of("none", "last", "scalar"), // posWeight broadcast
            Arbitraries.of(1.0, 16.0), // logit scale
            Arbitraries.of("uniform", "binary", "own"), // targets; own = sigmoid(x), where sigma - y cancels
            Arbitraries.longs())
        .as((rows, cols, reduction, weight, pos, scale, targets, seed) -> {
          Random r = new Random(seed);
          int n = rows * cols;
          float[] x = new float[n];
          float[] y = new float[n];
          for (int i = 0; i < n; i++) {
            x[i] = (float) (scale * r.nextGaussian());
            y[i] = targets.equals("uniform") ? r.nextFloat() : targets.equals("binary") ? r.nextInt(2)
                : (float) (1 / (1 + Math.exp(-x[i])));
          }
          BceWithLogitsLoss.Builder b = BceWithLogitsLoss.builder().reduction(reduction);
          double[] we = new double[n];
          double[] pe = new double[n];
          Arrays.fill(we, 1);
          Arrays.fill(pe, 1);
          double[] wv = null;
          switch (weight) {
            case "element":
              wv = positive(r, n);
              b.weight(Tensor.of(wv, rows, cols));
              break;
            case "last":
              wv = positive(r, cols);
              b.weight(wv);
              break;
            case "scalar":
              wv = positive(r, 1);
              b.weight(Tensor.of(wv, 1));
              break;
            default:
              break;
          }
          double[] pv = pos.equals("last") ? positive(r, cols) : pos.equals("scalar") ? positive(r, 1) : null;
          if (pos.equals("last")) {
            b.posWeight(pv);
          } else if (pos.equals("scalar")) {
            b.posWeight(Tensor.of(pv, 1));
          }
          for (int i = 0; i < n; i++) {
            we[i] = wv == null ? 1 : wv[i % wv.length];
            pe[i] = pv == null ? 1 : pv[i % pv.length];
          }
          int[] shape = {rows, cols};
          int[] gShape = reduction == Reduction.NONE ? shape : new int[0];
          float[] g = new float[Tensor.checkedSize(gShape)];
          for (int i = 0; i < g.length; i++) {
            g[i] = (float) r.nextGaussian();
          }
          boolean direct = r.nextBoolean();
          Loss loss = b.build();
          double[] condition = new double[n];
          for (int i = 0; i < n; i++) {
            double gi = Math.abs(reduction == Reduction.NONE ? g[i] : g[0] / (reduction == Reduction.MEAN ? n : 1));
            double sigmoid = 1 / (1 + Math.exp(-x[i]));
            double py = pe[i] * y[i];
            condition[i] = Math.abs(we[i]) * gi * (Math.abs(py + 1 - y[i]) * sigmoid + Math.abs(py));
          }
          return new Case(loss, x, y, g, shape, gShape, direct, direct && r.nextBoolean(), condition, null,
              loss + " (" + rows + ", " + cols + ") x" + scale + " " + targets + (direct ? " direct" : "")
                  + " seed " + seed);
        });
  }

  private static double[] positive(Random r, int n) {
    double[] w = new double[n];
    for (int i = 0; i < n; i++) {
      w[i] = r.nextInt(9) == 0 ? 0 : (float) (0.25 + 4 * r.nextDouble());
    }
    return w;
  }

  @Property(tries = 300)
  void probabilityCrossEntropyIsWithinOneUlp(@ForAll("probabilityCalls") Case k) {
    worstCrossEntropy = Math.max(worstCrossEntropy, check(k));
  }

  @Property(tries = 300)
  void bceWithLogitsIsWithinOneUlp(@ForAll("bceCalls") Case k) {
    worstBce = Math.max(worstBce, check(k));
  }

  @AfterContainer
  static void report() {
    System.out.printf("FaithfulFloatTest: worst error %.3f ulp (probability cross-entropy), %.3f ulp (BCE with logits)"
        + "%n", worstCrossEntropy, worstBce);
  }

  /** Runs the fused kernel in float32 and the reference in float64; returns the worst error in ulps. */
  private static double check(Case k) {
    Tensor input = tensor(k.x(), k.shape(), k.direct());
    Tensor target = tensor(k.y(), k.shape(), k.direct());
    Tensor g = Tensor.of(k.g(), k.gShape());
    LossResult fast;
    float[] grad = new float[k.x().length];
    if (k.bufferGrad()) {
      FloatBuffer sink = ByteBuffer.allocateDirect(4 * grad.length).order(ByteOrder.nativeOrder()).asFloatBuffer();
      fast = k.loss().forwardBackward(input, target, g, sink);
      sink.get(0, grad);
    } else {
      fast = k.loss().forwardBackward(input, target, g, grad);
    }
    LossResult exact = Reference.forwardBackward(k.loss(), Tensor.of(widen(k.x()), k.shape()),
        Tensor.of(widen(k.y()), k.shape()), Tensor.of(widen(k.g()), k.gShape()));
    double worst = worst(exact.loss(), fast.loss().toFloatArray(), k.lossCondition(), "loss of " + k);
    worst = Math.max(worst, worst(exact.gradInput(), grad, k.condition(), "gradient of " + k));
    assertArrayEquals(grad, fast.gradInput().toFloatArray(), "the returned gradient of " + k);
    return worst;
  }

  /**
   * The worst error in ulps of the elements whose condition allows less than a hundredth of an ulp; every element
   * must be within 1 ulp plus \( 2^{-51} \) times its condition.
   */
  private static double worst(Tensor exact, float[] got, double[] condition, String what) {
    double worst = 0;
    for (int i = 0; i < got.length; i++) {
      double e = exact.getDouble(i);
      float a = got[i];
      if (Double.isNaN(e) || Float.isInfinite((float) e)) {
        assertTrue(Double.compare((float) e, a) == 0, what + " element " + i + ": expected " + e + ", got " + a);
        continue;
      }
      double ulp = Math.ulp((float) e);
      double ulps = Math.abs(a - e) / ulp;
      double allowed = condition == null ? 0 : 0x1p-51 * condition[i];
      if (allowed < ulp / 100 && ulps > worst) {
        worst = ulps;
      }
      assertTrue(Math.abs(a - e) <= ulp + allowed,
          what + " element " + i + ": expected " + e + ", got " + a + " (" + ulps + " ulp, " + allowed / ulp
              + " allowed for cancellation)");
    }
    return worst;
  }

  private static double[] widen(float[] f) {
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) {
      d[i] = f[i];
    }
    return d;
  }

  private static Tensor tensor(float[] f, int[] shape, boolean direct) {
    if (!direct) {
      return Tensor.of(f.clone(), shape);
    }
    ByteBuffer b = ByteBuffer.allocateDirect(4 * f.length).order(ByteOrder.nativeOrder());
    b.asFloatBuffer().put(f);
    return Tensor.view(b, DType.FLOAT32, shape);
  }
}
