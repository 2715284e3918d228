package dev.losskit.core;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 cross-entropy rows with the Vector API. Loaded only when {@link VectorSupport#AVAILABLE}.
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
}
