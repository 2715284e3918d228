package dev.losskit.core;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 cross-entropy with class-probability targets, with the Vector API: loaded only when
 * {@link VectorSupport#AVAILABLE}. Inputs and targets are read as float lanes and widened to double lanes; the
 * exponentials ({@link VectorMath#expNonPositive}), the sums and the gradient's final scale are double, and each
 * gradient element is rounded to float once, so it is within 1 ulp of the exact value even where
 * \( p_c T - y'_c w_c \) cancels.
 *
 * <p>Two layouts. A row ({@code (N, C)}: classes contiguous) is one position, its classes across the lanes; its
 * lane sums are added in lane order ({@link VectorMath#sumLanes(DoubleVector, double[])}). A strip of the K-dim
 * layout ({@code (N, C, d...)}: for a fixed class, positions contiguous) is one position per lane, so every
 * position's arithmetic is its own lane's and no lanes are added. Either way a position's result depends on that
 * position's values alone: the same bits cold and warm, and for any number of threads.
 */
final class VectorProbabilities {
  private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
  /** Floats with as many lanes as {@link #D}: half its width. */
  private static final VectorSpecies<Float> F =
      VectorSpecies.of(float.class, VectorShape.forBitSize(D.vectorBitSize() / 2));

  private VectorProbabilities() {}

  /** {@return the number of positions in a strip of the K-dim layout: the double lane count} */
  static int lanes() {
    return D.length();
  }

  /** {@return the length of the lane scratch the kernels need} */
  static int scratchLanes() {
    return 3 * D.length();
  }

  private static DoubleVector widen(float[] a, int at) {
    return (DoubleVector) FloatVector.fromArray(F, a, at).convertShape(VectorOperators.F2D, D, 0);
  }

  private static void narrow(DoubleVector v, float[] a, int at) {
    ((FloatVector) v.convertShape(VectorOperators.D2F, F, 0)).intoArray(a, at);
  }

  /**
   * One row of contiguous classes: returns its loss \( -\sum_c \log p_c\,y'_c w_c \) and, when {@code grad} is not
   * null, writes \( g\,(p_c T - y'_c w_c) \) at {@code grad[go...]}.
   *
   * @param w per-class weights (already rounded to float), or null for ones
   * @param e scratch of {@code classes} doubles (the exponentials, kept for the gradient)
   * @param lanes scratch of {@link #scratchLanes()} doubles
   */
  static double row(float[] x, int xo, float[] y, int yo, int classes, double[] w, double eps, double g,
      float[] grad, int go, double[] e, double[] lanes) {
    double max = VectorMath.maxFloats(x, xo, classes);
    boolean smooth = eps > 0;
    double keep = 1 - eps;
    double spread = eps / classes;

    int bound = D.loopBound(classes);
    expLoop(x, xo, y, yo, w, e, grad != null, bound, smooth, keep, spread, max, lanes);
    double sum = lanes[0];
    double total = lanes[1];
    double shiftSum = lanes[2];
    for (int i = bound; i < classes; i++) {
      double shifted = x[xo + i] - max;
      double ex = Math.exp(shifted);
      sum += ex;
      if (grad != null) {
        e[i] = ex;
      }
      double yw = smooth ? Math.fma(y[yo + i], keep, spread) : y[yo + i];
      if (w != null) {
        yw *= w[i];
      }
      total += yw;
      shiftSum = Math.fma(shifted, yw, shiftSum);
    }
    double logSum = Math.log(sum);
    // -sum_c (x_c - m - log S) y'_c w_c
    double loss = -(shiftSum - logSum * total);
    if (grad == null) {
      return loss;
    }
    double k = total / sum * g;
    gradLoop(y, yo, w, e, grad, go, bound, smooth, keep, spread, k, g);
    double a = -(smooth ? keep : 1) * g;
    double b = smooth ? -spread * g : 0;
    for (int i = bound; i < classes; i++) {
      if (w == null) {
        grad[go + i] = (float) Math.fma(e[i], k, Math.fma(y[yo + i], a, b));
        continue;
      }
      double yw = smooth ? Math.fma(y[yo + i], keep, spread) : y[yo + i];
      grad[go + i] = (float) Math.fma(e[i], k, yw * w[i] * -g);
    }
    return loss;
  }

  /*
   * The row's loops are methods of their own: in one method with the scalar tails, C2 compiled the row several
   * times slower (4096 rows of 1000: 16 ms against 4 ms on one thread).
   */

  /**
   * The row's exponentials \( e_c = e^{x_c - m} \) (into {@code e} when {@code store}) over {@code [0, bound)}, and
   * their sums: \( S = \sum e_c \), \( T = \sum y'_c w_c \) and \( \sum (x_c - m) y'_c w_c \) into
   * {@code lanes[0..2]}.
   */
  private static void expLoop(float[] x, int xo, float[] y, int yo, double[] w, double[] e, boolean store,
      int bound, boolean smooth, double keep, double spread, double max, double[] lanes) {
    int l = D.length();
    DoubleVector vm = DoubleVector.broadcast(D, max);
    DoubleVector vs = DoubleVector.zero(D);
    DoubleVector vt = DoubleVector.zero(D);
    DoubleVector vl = DoubleVector.zero(D);
    for (int i = 0; i < bound; i += l) {
      DoubleVector shifted = widen(x, xo + i).sub(vm);
      DoubleVector ex = VectorMath.expNonPositive(shifted);
      vs = vs.add(ex);
      if (store) {
        ex.intoArray(e, i);
      }
      DoubleVector yw = widen(y, yo + i);
      if (smooth) {
        yw = yw.fma(keep, spread);
      }
      if (w != null) {
        yw = yw.mul(DoubleVector.fromArray(D, w, i));
      }
      vt = vt.add(yw);
      vl = shifted.fma(yw, vl);
    }
    double sum = VectorMath.sumLanes(vs, lanes);
    double total = VectorMath.sumLanes(vt, lanes);
    double shiftSum = VectorMath.sumLanes(vl, lanes);
    lanes[0] = sum;
    lanes[1] = total;
    lanes[2] = shiftSum;
  }

  /** The row's gradient over {@code [0, bound)}: \( e_c k - y'_c w_c g \), with \( k = g T / S \). */
  private static void gradLoop(float[] y, int yo, double[] w, double[] e, float[] grad, int go, int bound,
      boolean smooth, double keep, double spread, double k, double g) {
    int l = D.length();
    DoubleVector vk = DoubleVector.broadcast(D, k);
    if (w == null) {
      // y'_c g = y_c (keep g) + spread g: one fused multiply-add per lane, g folded into the constants
      gradLoopUnweighted(y, yo, e, grad, go, bound, vk, -(smooth ? keep : 1) * g, smooth ? -spread * g : 0);
      return;
    }
    DoubleVector vg = DoubleVector.broadcast(D, -g);
    for (int i = 0; i < bound; i += l) {
      DoubleVector yw = widen(y, yo + i);
      if (smooth) {
        yw = yw.fma(keep, spread);
      }
      yw = yw.mul(DoubleVector.fromArray(D, w, i));
      narrow(DoubleVector.fromArray(D, e, i).fma(vk, yw.mul(vg)), grad, go + i);
    }
  }

  /** {@link #gradLoop} without weights: \( e_c k + (y_c a + b) \), with \( a = -(1-\varepsilon) g \), \( b = -\varepsilon g / C \). */
  private static void gradLoopUnweighted(float[] y, int yo, double[] e, float[] grad, int go, int bound,
      DoubleVector vk, double a, double b) {
    int l = D.length();
    DoubleVector va = DoubleVector.broadcast(D, a);
    DoubleVector vb = DoubleVector.broadcast(D, b);
    for (int i = 0; i < bound; i += l) {
      narrow(DoubleVector.fromArray(D, e, i).fma(vk, widen(y, yo + i).fma(va, vb)), grad, go + i);
    }
  }

  /**
   * One strip of the K-dim layout: {@link #lanes()} positions whose class {@code c} sits at {@code x[xo + c·xs]}
   * and {@code y[yo + c·ys]} onwards (positions contiguous). Writes each position's loss to {@code loss[lo...]}
   * and, when {@code grad} is not null, the gradient of class {@code c} at {@code grad[go + c·gs]} onwards.
   *
   * @param g each position's upstream gradient, from {@code g[lo]}
   * @param e scratch of {@code classes · lanes()} doubles
   * @param lanes scratch of {@link #scratchLanes()} doubles
   */
  static void strip(float[] x, int xo, int xs, float[] y, int yo, int ys, int classes, double[] w, double eps,
      double[] g, double[] loss, int lo, float[] grad, int go, int gs, double[] e, double[] lanes) {
    int l = D.length();
    stripExp(x, xo, xs, y, yo, ys, classes, w, eps, grad != null, e, lanes);
    for (int j = 0; j < l; j++) {
      double sum = lanes[j];
      double total = lanes[l + j];
      loss[lo + j] = -(lanes[2 * l + j] - Math.log(sum) * total);
      // k = T / S · g, over S's lane once it is read
      lanes[j] = total / sum * g[lo + j];
    }
    if (grad != null) {
      stripGrad(y, yo, ys, classes, w, eps, g, lo, grad, go, gs, e, lanes);
    }
  }

  /**
   * A strip's maximum, exponentials (into {@code e}, class-major, when {@code store}) and sums: \( S \), \( T \)
   * and \( \sum_c (x_c - m) y'_c w_c \) per lane, into {@code lanes} at 0, {@code l} and {@code 2l}.
   */
  private static void stripExp(float[] x, int xo, int xs, float[] y, int yo, int ys, int classes, double[] w,
      double eps, boolean store, double[] e, double[] lanes) {
    int l = D.length();
    FloatVector fmax = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
    for (int c = 0; c < classes; c++) {
      fmax = fmax.max(FloatVector.fromArray(F, x, xo + c * xs));
    }
    DoubleVector vm = (DoubleVector) fmax.convertShape(VectorOperators.F2D, D, 0);
    boolean smooth = eps > 0;
    double keep = 1 - eps;
    double spread = eps / classes;
    DoubleVector vs = DoubleVector.zero(D);
    DoubleVector vt = DoubleVector.zero(D);
    DoubleVector vl = DoubleVector.zero(D);
    for (int c = 0; c < classes; c++) {
      DoubleVector shifted = widen(x, xo + c * xs).sub(vm);
      DoubleVector ex = VectorMath.expNonPositive(shifted);
      vs = vs.add(ex);
      if (store) {
        ex.intoArray(e, c * l);
      }
      DoubleVector yw = widen(y, yo + c * ys);
      if (smooth) {
        yw = yw.mul(keep).add(spread);
      }
      if (w != null) {
        yw = yw.mul(w[c]);
      }
      vt = vt.add(yw);
      vl = vl.add(shifted.mul(yw));
    }
    vs.intoArray(lanes, 0);
    vt.intoArray(lanes, l);
    vl.intoArray(lanes, 2 * l);
  }

  /** A strip's gradient \( e_c k - y'_c w_c g \), with each lane's \( k = g T / S \) in {@code lanes[0..l)}. */
  private static void stripGrad(float[] y, int yo, int ys, int classes, double[] w, double eps, double[] g, int lo,
      float[] grad, int go, int gs, double[] e, double[] lanes) {
    int l = D.length();
    boolean smooth = eps > 0;
    double keep = 1 - eps;
    double spread = eps / classes;
    DoubleVector vk = DoubleVector.fromArray(D, lanes, 0);
    DoubleVector vg = DoubleVector.fromArray(D, g, lo).neg();
    for (int c = 0; c < classes; c++) {
      DoubleVector yw = widen(y, yo + c * ys);
      if (smooth) {
        yw = yw.mul(keep).add(spread);
      }
      if (w != null) {
        yw = yw.mul(w[c]);
      }
      narrow(DoubleVector.fromArray(D, e, c * l).fma(vk, yw.mul(vg)), grad, go + c * gs);
    }
  }

  /**
   * One position in scalar double code, its class {@code c} at {@code x[xo + c·xs]}: the leftover positions of a
   * K-dim batch whose spatial size is not a multiple of {@link #lanes()}. The same formulas as the lanes.
   *
   * @return the position's loss
   */
  static double position(float[] x, int xo, int xs, float[] y, int yo, int ys, int classes, double[] w,
      double eps, double g, float[] grad, int go, int gs, double[] e) {
    float maxF = Float.NEGATIVE_INFINITY;
    for (int c = 0; c < classes; c++) {
      maxF = Math.max(maxF, x[xo + c * xs]);
    }
    double max = maxF;
    boolean smooth = eps > 0;
    double keep = 1 - eps;
    double spread = eps / classes;
    double sum = 0;
    double total = 0;
    double shiftSum = 0;
    for (int c = 0; c < classes; c++) {
      double shifted = x[xo + c * xs] - max;
      double ex = Math.exp(shifted);
      e[c] = ex;
      sum += ex;
      double yw = smooth ? y[yo + c * ys] * keep + spread : y[yo + c * ys];
      if (w != null) {
        yw *= w[c];
      }
      total += yw;
      shiftSum += shifted * yw;
    }
    double loss = -(shiftSum - Math.log(sum) * total);
    if (grad != null) {
      double k = total / sum * g;
      for (int c = 0; c < classes; c++) {
        double yw = smooth ? y[yo + c * ys] * keep + spread : y[yo + c * ys];
        if (w != null) {
          yw *= w[c];
        }
        grad[go + c * gs] = (float) Math.fma(e[c], k, yw * -g);
      }
    }
    return loss;
  }
}
