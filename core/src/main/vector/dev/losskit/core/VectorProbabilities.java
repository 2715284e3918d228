package dev.losskit.core;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 cross-entropy with class-probability targets, with the Vector API: loaded only when
 * {@link VectorSupport#AVAILABLE}. Inputs and targets are read as float lanes and widened to double lanes; the
 * exponentials ({@link #exp}), the sums and the gradient's final scale are double, and each
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
  private static final VectorSpecies<Float> FMAX = FloatVector.SPECIES_PREFERRED;

  private VectorProbabilities() {}

  private static final double LOG2E = 1.4426950408889634;
  /** fdlibm's split of ln 2: the high part has 32 significant bits, so {@code n·LN2_HI} is exact. */
  private static final double LN2_HI = 6.93147180369123816490e-01;
  private static final double LN2_LO = 1.90821492927058770002e-10;
  /** 1.5·2^52: adding it rounds to an integer, held in the low bits of the sum. */
  private static final double ROUND = 6755399441055744.0;
  /** Below this, \( e^x \) is far under float's smallest subnormal; such lanes give 0. */
  private static final double EXP_MIN = -700;
  /*
   * e^r ≈ 1 + r + r^2 Q(r) on |r| ≤ 0.5005 ln 2, Q of degree 9 interpolating (e^r - 1 - r)/r^2 at the Chebyshev
   * nodes (mpmath, 40 digits), its coefficients rounded to double: with those rounded coefficients and exact
   * arithmetic, the relative error is below 2^-55.7 over the interval (checked at 4001 points in 40-digit arithmetic).
   */
  private static final double Q9 = 2.5100424157005067e-08;
  private static final double Q8 = 2.7620138719733994e-07;
  private static final double Q7 = 2.7557268378684192e-06;
  private static final double Q6 = 2.480152119021773e-05;
  private static final double Q5 = 0.00019841269863105968;
  private static final double Q4 = 0.0013888888917281794;
  private static final double Q3 = 0.008333333333330051;
  private static final double Q2 = 0.04166666666662399;
  private static final double Q1 = 0.16666666666666669;
  private static final double Q0 = 0.5000000000000001;

  /**
   * Computes \( e^x \) lane-wise in double for lanes at most 0, to a relative error below \( 2^{-50} \), as
   * {@link VectorMath#expNonPositive} promises, with three fewer operations per vector: range reduction
   * \( x = n \ln 2 + r \) with fdlibm's two-part \( \ln 2 \) (the same as there), then the polynomial
   * \( 1 + r + r^2 Q(r) \) of degree 11 in one Horner chain of fused multiply-adds, where that one uses the Taylor
   * polynomial of degree 13 and three more operations. The error budget: the polynomial's own error is below
   * \( 2^{-55.7} \); the reduced argument carries at most about \( 2^{-53}|r| \) absolute (the low part of
   * \( \ln 2 \), the last fused multiply-add), which moves \( e^r \) by under \( 2^{-54} \) relative; each
   * Horner step rounds once, and a rounding in the step of degree \( j \) reaches the result scaled by
   * \( |r|^{j} \le 0.35^{j} \), so all but the last two add below \( 2^{-54.5} \), the degree-1 step
   * \( 2^{-53} \cdot 0.35 \cdot 1.42 \) and the last one \( 2^{-53} \); the scale by \( 2^n \), an integer add to
   * the exponent field, is exact. In all, about \( 2.4 \cdot 2^{-53} < 2^{-51} \). Lanes under {@code EXP_MIN} give 0.
   */
  static DoubleVector exp(DoubleVector x) {
    VectorSpecies<Double> s = x.species();
    VectorMask<Double> under = x.compare(VectorOperators.LT, EXP_MIN);
    DoubleVector xc = x.max(EXP_MIN);
    DoubleVector t = xc.fma(DoubleVector.broadcast(s, LOG2E), DoubleVector.broadcast(s, ROUND));
    DoubleVector n = t.sub(ROUND);
    DoubleVector r = n.fma(DoubleVector.broadcast(s, -LN2_HI), xc);
    r = n.fma(DoubleVector.broadcast(s, -LN2_LO), r);
    DoubleVector er = poly(r);
    // t's bits are ROUND_BITS + n, and ROUND_BITS << 52 is 0 (mod 2^64): shifted, they are n in the exponent
    // field. Adding them to er's bits multiplies er in [0.7, 1.42] by 2^n exactly: n >= -1011 keeps it normal.
    LongVector scale = t.reinterpretAsLongs().lanewise(VectorOperators.LSHL, 52);
    return er.reinterpretAsLongs().add(scale).reinterpretAsDoubles().blend(0.0, under);
  }

  /** \( 1 + r + r^2 Q(r) \) in Horner order: a method of its own to keep {@link #exp} under C2's inlining limit. */
  private static DoubleVector poly(DoubleVector r) {
    VectorSpecies<Double> s = r.species();
    DoubleVector p = DoubleVector.broadcast(s, Q9);
    p = p.fma(r, DoubleVector.broadcast(s, Q8));
    p = p.fma(r, DoubleVector.broadcast(s, Q7));
    p = p.fma(r, DoubleVector.broadcast(s, Q6));
    p = p.fma(r, DoubleVector.broadcast(s, Q5));
    p = p.fma(r, DoubleVector.broadcast(s, Q4));
    p = p.fma(r, DoubleVector.broadcast(s, Q3));
    p = p.fma(r, DoubleVector.broadcast(s, Q2));
    p = p.fma(r, DoubleVector.broadcast(s, Q1));
    p = p.fma(r, DoubleVector.broadcast(s, Q0));
    p = p.fma(r, DoubleVector.broadcast(s, 1.0));
    return p.fma(r, DoubleVector.broadcast(s, 1.0));
  }

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
    int fl = FMAX.length();
    int fBound = FMAX.loopBound(classes);
    FloatVector vmax = FloatVector.broadcast(FMAX, Float.NEGATIVE_INFINITY);
    for (int i = 0; i < fBound; i += fl) {
      vmax = vmax.max(FloatVector.fromArray(FMAX, x, xo + i));
    }
    float maxF = vmax.reduceLanes(VectorOperators.MAX);
    for (int i = fBound; i < classes; i++) {
      maxF = Math.max(maxF, x[xo + i]);
    }
    double max = maxF;
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
      DoubleVector ex = exp(shifted);
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
      DoubleVector ex = exp(shifted);
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
