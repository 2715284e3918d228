package dev.losskit.core;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 BCE ranges with the Vector API (cross-entropy is in {@link VectorCrossEntropy}). Loaded only when
 * {@link VectorSupport#AVAILABLE}.
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
