package dev.losskit.core;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 cross-entropy rows and BCE ranges with the Vector API. Loaded only when {@link VectorSupport#AVAILABLE}.
 * Exponentials are taken of \( x_c - m \le 0 \) with {@link VectorMath} (reproducible to the bit) and summed in float
 * lanes of like sign; the lanes are then added in lane order ({@link VectorMath#sumLanes}, since C2 on JDK 24 and
 * later reduces them as a tree, which changes the last bit between cold and warm code), and the loss is formed in
 * double.
 */
final class VectorRows {
  private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

  private VectorRows() {}

  /** {@return the number of float lanes the kernels use: the length of the lane scratch they need} */
  static int lanes() {
    return S.length();
  }

  /**
   * One row: statistics, the loss into {@code nll[pos]} (and {@code smooth[pos]} when smoothing), and, when
   * {@code grad} is not null, the gradient row at {@code grad[ga...]}. An ignored row has target -1 and g = 0.
   */
  static void crossEntropyRow(Tensor input, int at, int classes, float[] scratch, float[] laneScratch, int target,
      double[] w, float[] wf, double weightTotal, double eps, double g, double[] nll, double[] smooth, int pos,
      float[] grad, int ga) {
    if (target < 0 && grad == null) {
      return;
    }
    float[] a;
    int off;
    if (input.floatArray() != null) {
      a = input.floatArray();
      off = input.offset() + at;
    } else {
      input.readFloats(at, scratch, classes);
      a = scratch;
      off = 0;
    }
    int n = classes;
    int lanes = S.length();
    int bound = S.loopBound(n);

    FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
    for (int i = 0; i < bound; i += lanes) {
      vmax = vmax.max(FloatVector.fromArray(S, a, off + i));
    }
    float max = vmax.reduceLanes(VectorOperators.MAX);
    for (int i = bound; i < n; i++) {
      max = Math.max(max, a[off + i]);
    }

    boolean smoothing = eps > 0 && target >= 0;
    FloatVector vm = FloatVector.broadcast(S, max);
    FloatVector vsum = FloatVector.zero(S);
    FloatVector vshift = FloatVector.zero(S);
    for (int i = 0; i < bound; i += lanes) {
      FloatVector shifted = FloatVector.fromArray(S, a, off + i).sub(vm);
      FloatVector e = VectorMath.expNonPositive(shifted);
      vsum = vsum.add(e);
      if (grad != null) {
        e.intoArray(grad, ga + i);
      }
      if (smoothing) {
        vshift = wf == null ? vshift.add(shifted) : shifted.fma(FloatVector.fromArray(S, wf, i), vshift);
      }
    }
    double sum = VectorMath.sumLanes(vsum, laneScratch);
    double shiftSum = smoothing ? VectorMath.sumLanes(vshift, laneScratch) : 0;
    for (int i = bound; i < n; i++) {
      double shifted = (double) a[off + i] - max;
      double e = Math.exp(shifted);
      sum += e;
      if (grad != null) {
        grad[ga + i] = (float) e;
      }
      if (smoothing) {
        shiftSum += shifted * (wf == null ? 1 : wf[i]);
      }
    }
    if (smoothing && !Double.isFinite(shiftSum)) {
      // Float lanes overflowed (|x - m| beyond float's range, e.g. logits of ±3e38): redo the sum in double, as
      // the reference does. A NaN or infinite logit gives NaN here too, as it does there.
      shiftSum = 0;
      for (int i = 0; i < n; i++) {
        shiftSum += ((double) a[off + i] - max) * (w == null ? 1 : w[i]);
      }
    }
    double logSum = Math.log(sum);
    if (target >= 0) {
      double wt = w == null ? 1 : w[target];
      nll[pos] = -((double) a[off + target] - max - logSum) * wt;
      if (smoothing) {
        // -sum_c w_c log p_c = -sum_c w_c (x_c - m) + log(sum) * sum_c w_c
        smooth[pos] = -(shiftSum - logSum * weightTotal);
      }
    }
    if (grad == null) {
      return;
    }
    double wt = target < 0 ? 0 : w == null ? 1 : w[target];
    double k = g * ((1 - eps) * wt + (eps / classes) * weightTotal);
    float scale = (float) (k / sum);
    float spread = (float) (g * (eps / classes));
    FloatVector vscale = FloatVector.broadcast(S, scale);
    FloatVector vspread = FloatVector.broadcast(S, spread);
    for (int i = 0; i < bound; i += lanes) {
      FloatVector e = FloatVector.fromArray(S, grad, ga + i);
      FloatVector v = e.mul(vscale);
      if (eps > 0) {
        v = wf == null ? v.sub(vspread) : v.sub(FloatVector.fromArray(S, wf, i).mul(vspread));
      }
      v.intoArray(grad, ga + i);
    }
    for (int i = bound; i < n; i++) {
      grad[ga + i] = grad[ga + i] * scale - (eps > 0 ? spread * (wf == null ? 1 : wf[i]) : 0);
    }
    if (target >= 0) {
      double prob = Math.exp((double) a[off + target] - max - logSum);
      grad[ga + target] = (float) (k * prob - g * (eps / classes) * wt - (1 - eps) * g * wt);
    }
  }

  /**
   * BCE with logits over elements [from, to) of float arrays: writes the gradient (already scaled) when
   * {@code grad} is not null and returns the loss sum, accumulated in float lanes over blocks of 1024 elements and
   * in double across blocks. An operand (weight, posWeight) is read at {@code i % period}; null means none. One
   * exponential per element serves both \( \log\sigma(x) = \min(x,0) - \operatorname{log1p}(e^{-|x|}) \) and
   * \( \sigma(x) \).
   */
  static double bceRange(float[] x, int xo, float[] y, int yo, float[] w, int wPeriod, float[] p, int pPeriod,
      int from, int to, float scale, float[] grad) {
    int lanes = S.length();
    double total = 0;
    FloatVector zero = FloatVector.zero(S);
    FloatVector one = FloatVector.broadcast(S, 1f);
    float[] laneScratch = new float[lanes];
    int i = from;
    while (i < to) {
      // A segment in which both operands are read contiguously, at most 1024 long.
      int end = Math.min(to, i + 1024);
      if (w != null && wPeriod > 1) {
        end = Math.min(end, (i / wPeriod + 1) * wPeriod);
      }
      if (p != null && pPeriod > 1) {
        end = Math.min(end, (i / pPeriod + 1) * pPeriod);
      }
      int wo = w == null ? 0 : wPeriod == 1 ? 0 : i % wPeriod;
      int po = p == null ? 0 : pPeriod == 1 ? 0 : i % pPeriod;
      FloatVector acc = zero;
      int j = i;
      for (; j + lanes <= end; j += lanes) {
        FloatVector vx = FloatVector.fromArray(S, x, xo + j);
        FloatVector vy = FloatVector.fromArray(S, y, yo + j);
        FloatVector e = VectorMath.expNonPositive(vx.abs().neg());
        FloatVector logSigmoid = vx.min(zero).sub(VectorMath.log1pUnit(e));
        FloatVector vp = p == null ? null : pPeriod == 1 ? FloatVector.broadcast(S, p[0])
            : FloatVector.fromArray(S, p, po + (j - i));
        FloatVector vw = w == null ? null : wPeriod == 1 ? FloatVector.broadcast(S, w[0])
            : FloatVector.fromArray(S, w, wo + (j - i));
        FloatVector logWeight = vp == null ? one : vp.sub(one).mul(vy).add(one);
        FloatVector l = one.sub(vy).mul(vx).sub(logWeight.mul(logSigmoid));
        if (vw != null) {
          l = l.mul(vw);
        }
        acc = acc.add(l);
        if (grad != null) {
          FloatVector sigmoid = one.blend(e, vx.compare(VectorOperators.LT, zero)).div(one.add(e));
          FloatVector d;
          if (vp != null) {
            FloatVector py = vp.mul(vy);
            d = py.add(one).sub(vy).mul(sigmoid).sub(py);
          } else {
            d = sigmoid.sub(vy);
          }
          if (vw != null) {
            d = d.mul(vw);
          }
          d.mul(scale).intoArray(grad, j);
        }
      }
      total += VectorMath.sumLanes(acc, laneScratch);
      for (; j < end; j++) {
        double xv = x[xo + j];
        double yv = y[yo + j];
        double pv = p == null ? 1 : p[pPeriod == 1 ? 0 : po + (j - i)];
        double wv = w == null ? 1 : w[wPeriod == 1 ? 0 : wo + (j - i)];
        double logSigmoid = Math.min(xv, 0) - Math.log1p(Math.exp(-Math.abs(xv)));
        double l = ((1 - yv) * xv - (p == null ? 1 : (pv - 1) * yv + 1) * logSigmoid) * wv;
        total += l;
        if (grad != null) {
          double sigmoid = 1 / (1 + Math.exp(-xv));
          double d = p == null ? sigmoid - yv : (pv * yv + 1 - yv) * sigmoid - pv * yv;
          grad[j] = (float) (d * wv * scale);
        }
      }
      i = end;
    }
    return total;
  }
}
