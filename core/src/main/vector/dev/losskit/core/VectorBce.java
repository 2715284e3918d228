package dev.losskit.core;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * BCE with logits over float32 blocks with the Vector API: loaded only when {@link VectorSupport#AVAILABLE}. Inputs,
 * targets and upstream gradients are read as float lanes and widened to double lanes; \( e^{-|x|} \)
 * ({@link VectorMath#expNegAbs}, below \( 2^{-44.5} \) relative), \( \sigma(x) \), \( \operatorname{log1p} \)
 * ({@link VectorMath#log1pUnitAtanh(DoubleVector)}, below \( 2^{-51} \) relative like the reference's, with no
 * range reduction; only the loss uses it), the loss and the gradient's scale are double, in the order of
 * {@link ReferenceBceWithLogits}, and each float result is rounded once: within 1 ulp of the exact value, even where
 * \( \sigma(x) - y \) cancels.
 *
 * <p>Why \( 2^{-44.5} \) suffices. Gradient: write \( d = c - p y \) with \( c = (p y + 1 - y)\,\sigma \) (without
 * {@code p}: \( d = \sigma - y \), \( c = \sigma \)). Both \( 1/(1+e) \) and \( e/(1+e) \) move by at most the
 * relative error of \( e \), so the exponential's error moves \( d \) by at most \( 2^{-44.5} |c| \), and the double
 * roundings by a few \( 2^{-53} |c| \). A lane with \( |d| \ge 2^{-18} |c| \) is therefore off by under
 * \( 2^{-26.5} |d| \), under 0.2 float ulp, on top of the final rounding: within 1 ulp. A lane with
 * \( |d| < 2^{-18} |c| \) (σ − y cancelling by 18 bits or more: rare unless targets are near σ(x), or y = 1 with
 * x &gt; 12.4) is detected in the vector loop and recomputed in scalar double exactly as the reference does
 * ({@code exactGrad}), so it carries the reference's rounding. Loss: with targets in [0, 1] and a non-negative
 * {@code pos_weight}, \( \ell = (1-y)x - w_p \log\sigma \) is, for either sign of x, a sum of non-negative terms one
 * of which is \( w_p \operatorname{log1p}(e) \), whose relative error the exponential's bounds, so it moves
 * \( \ell \) by under \( 2^{-44} \ell \). Targets outside [0, 1] (PyTorch accepts them) can make those terms
 * cancel; such a loss element is held only to that absolute error, a few float ulps at worst.
 *
 * <p>An element's arithmetic is its lane's alone, and a block's loss sum is its lanes added in lane order
 * ({@link VectorMath#sumLanes(DoubleVector, double[])}) then its scalar tail: the same bits cold and warm, and for
 * any number of threads as long as blocks start at the same indices.
 */
final class VectorBce {
  private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
  /** Floats with as many lanes as {@link #D}: half its width. */
  private static final VectorSpecies<Float> F =
      VectorSpecies.of(float.class, VectorShape.forBitSize(D.vectorBitSize() / 2));

  private VectorBce() {}

  /**
   * A lane's gradient \( d = c - p y \) (\( c = (p y + 1 - y)\,\sigma \), or \( d = \sigma - y \), \( c = \sigma \))
   * is recomputed exactly when \( |d| < 2^{-18} |c| \): see {@link #block} for why.
   */
  private static final double CANCELLATION = 0x1p18;

  /** {@return the length of the lane scratch {@link #block} needs} */
  static int scratchLanes() {
    return D.length();
  }

  /**
   * \( \min(x, 0) \) with Java's result for every lane (NaN stays NaN, -0 stays -0) as a compare and a blend: Java's
   * floating {@code min} is a chain of several instructions.
   */
  private static DoubleVector minZero(DoubleVector x) {
    return x.blend(0.0, x.compare(VectorOperators.GT, 0.0));
  }

  private static DoubleVector widen(float[] a, int at) {
    return (DoubleVector) FloatVector.fromArray(F, a, at).convertShape(VectorOperators.F2D, D, 0);
  }

  /**
   * Elements {@code [0, len)} of one block. Element {@code j} reads {@code x[xo + j]}, {@code y[yo + j]}, the weight
   * {@code w[wo + j]} and the positive weight {@code p[po + j]} (null: none) and, for {@code reduction=none}, the
   * upstream gradient {@code g[go + j]} (null: the scalar {@code scale}, which for {@code mean} already holds the
   * division by the element count).
   *
   * <p>The work is split into loops of their own, each a small method: the gradient (which also keeps
   * \( e^{-|x|} \) in {@code ex} when the loss is wanted), or \( e^{-|x|} \) alone, then the loss from {@code ex}.
   * One loop that does everything inlines so many vector nodes that C2 stops inlining
   * ({@code NodeCountInliningCutoff}) and boxes vectors; the split loops compile fully and run about twice as fast.
   * Passing \( e^{-|x|} \) through a double array changes no bit.
   *
   * @param loss where each element's loss goes ({@code reduction=none}), or null
   * @param wantSum whether to compute the block's loss sum (else 0 is returned)
   * @param grad where the gradient goes, from {@code grad[gro]}, or null for none
   * @param lanes scratch of {@link #scratchLanes()} doubles
   * @param ex scratch of at least {@code len} doubles
   * @return the block's loss sum: the vector part's lanes in lane order, then the tail in order
   */
  static double block(float[] x, int xo, float[] y, int yo, double[] w, int wo, double[] p, int po, float[] g,
      int go, double scale, int len, double[] loss, int lo, boolean wantSum, float[] grad, int gro,
      double[] lanes, double[] ex) {
    int bound = D.loopBound(len);
    boolean wantLoss = loss != null || wantSum;
    double sum = 0;
    if (grad != null) {
      double[] keep = wantLoss ? ex : null;
      if (p == null && w == null && g == null) {
        gradPlain(x, xo, y, yo, scale, bound, grad, gro, keep);
      } else {
        gradLoop(x, xo, y, yo, w, wo, p, po, g, go, scale, bound, grad, gro, keep);
      }
    } else if (wantLoss) {
      expLoop(x, xo, bound, ex);
    }
    if (wantLoss) {
      sum = p == null && w == null ? lossPlain(x, xo, y, yo, bound, ex, loss, lo, lanes)
          : lossLoop(x, xo, y, yo, w, wo, p, po, bound, ex, loss, lo, lanes);
    }
    for (int j = bound; j < len; j++) {
      double xv = x[xo + j];
      double yv = y[yo + j];
      if (wantLoss) {
        double logSigmoid = Math.min(xv, 0) - Math.log1p(Math.exp(-Math.abs(xv)));
        double logWeight = p == null ? 1 : (p[po + j] - 1) * yv + 1;
        double l = (1 - yv) * xv - logWeight * logSigmoid;
        if (w != null) {
          l *= w[wo + j];
        }
        sum += l;
        if (loss != null) {
          loss[lo + j] = l;
        }
      }
      if (grad != null) {
        double sigmoid = 1 / (1 + Math.exp(-xv));
        double d;
        if (p != null) {
          double py = p[po + j] * yv;
          d = (py + 1 - yv) * sigmoid - py;
        } else {
          d = sigmoid - yv;
        }
        if (w != null) {
          d *= w[wo + j];
        }
        grad[gro + j] = (float) (d * (g == null ? scale : g[go + j]));
      }
    }
    return sum;
  }

  /** \( e^{-|x|} \) of elements {@code [0, bound)} into {@code ex}. */
  private static void expLoop(float[] x, int xo, int bound, double[] ex) {
    for (int j = 0; j < bound; j += D.length()) {
      VectorMath.expNegAbs(widen(x, xo + j)).intoArray(ex, j);
    }
  }

  /**
   * The loss of elements {@code [0, bound)}: \( ((1-y)\,x - (1 + (p-1)\,y)\,\log\sigma(x))\,w \) with
   * \( \log\sigma(x) = \min(x, 0) - \operatorname{log1p}(e^{-|x|}) \), \( e^{-|x|} \) read from {@code ex}; into
   * {@code loss} when not null.
   *
   * @return their sum, lanes in lane order
   */
  private static double lossLoop(float[] x, int xo, float[] y, int yo, double[] w, int wo, double[] p, int po,
      int bound, double[] ex, double[] loss, int lo, double[] lanes) {
    int l = D.length();
    DoubleVector one = DoubleVector.broadcast(D, 1.0);
    DoubleVector zero = DoubleVector.zero(D);
    DoubleVector acc = zero;
    for (int j = 0; j < bound; j += l) {
      DoubleVector vx = widen(x, xo + j);
      DoubleVector vy = widen(y, yo + j);
      DoubleVector logSigmoid =
          minZero(vx).sub(VectorMath.log1pUnitAtanh(DoubleVector.fromArray(D, ex, j)));
      DoubleVector logWeight = p == null ? one : DoubleVector.fromArray(D, p, po + j).sub(one).mul(vy).add(one);
      DoubleVector v = one.sub(vy).mul(vx).sub(logWeight.mul(logSigmoid));
      if (w != null) {
        v = v.mul(DoubleVector.fromArray(D, w, wo + j));
      }
      if (loss != null) {
        v.intoArray(loss, lo + j);
      }
      acc = acc.add(v);
    }
    return VectorMath.sumLanes(acc, lanes);
  }

  /** {@link #lossLoop} without weights or positive weights: the same bits, \( 1 \cdot \log\sigma \) being exact. */
  private static double lossPlain(float[] x, int xo, float[] y, int yo, int bound, double[] ex, double[] loss,
      int lo, double[] lanes) {
    int l = D.length();
    DoubleVector one = DoubleVector.broadcast(D, 1.0);
    DoubleVector zero = DoubleVector.zero(D);
    DoubleVector acc = zero;
    for (int j = 0; j < bound; j += l) {
      DoubleVector vx = widen(x, xo + j);
      DoubleVector vy = widen(y, yo + j);
      DoubleVector logSigmoid =
          minZero(vx).sub(VectorMath.log1pUnitAtanh(DoubleVector.fromArray(D, ex, j)));
      DoubleVector v = one.sub(vy).mul(vx).sub(logSigmoid);
      if (loss != null) {
        v.intoArray(loss, lo + j);
      }
      acc = acc.add(v);
    }
    return VectorMath.sumLanes(acc, lanes);
  }

  /**
   * The gradient of elements {@code [0, bound)}: \( ((p y + 1 - y)\,\sigma(x) - p y)\,w\,g \), or
   * \( (\sigma(x) - y)\,w\,g \) without {@code p}, with \( \sigma(x) = 1/(1 + e^{-|x|}) \) for \( x \ge 0 \) and
   * \( e^{-|x|}/(1 + e^{-|x|}) \) below; \( e^{-|x|} \) into {@code ex} when not null.
   */
  private static void gradLoop(float[] x, int xo, float[] y, int yo, double[] w, int wo, double[] p, int po,
      float[] g, int go, double scale, int bound, float[] grad, int gro, double[] ex) {
    int l = D.length();
    DoubleVector one = DoubleVector.broadcast(D, 1.0);
    DoubleVector vs = DoubleVector.broadcast(D, scale);
    for (int j = 0; j < bound; j += l) {
      DoubleVector vx = widen(x, xo + j);
      DoubleVector vy = widen(y, yo + j);
      DoubleVector e = VectorMath.expNegAbs(vx);
      if (ex != null) {
        e.intoArray(ex, j);
      }
      VectorMask<Double> negative = vx.compare(VectorOperators.LT, 0.0);
      DoubleVector sigmoid = one.blend(e, negative).div(one.add(e));
      DoubleVector c;
      DoubleVector d;
      if (p != null) {
        DoubleVector py = DoubleVector.fromArray(D, p, po + j).mul(vy);
        c = py.add(one).sub(vy).mul(sigmoid);
        d = c.sub(py);
      } else {
        c = sigmoid;
        d = sigmoid.sub(vy);
      }
      VectorMask<Double> cancels = d.abs().mul(CANCELLATION).compare(VectorOperators.LT, c.abs());
      if (w != null) {
        d = d.mul(DoubleVector.fromArray(D, w, wo + j));
      }
      d = d.mul(g == null ? vs : widen(g, go + j));
      ((FloatVector) d.convertShape(VectorOperators.D2F, F, 0)).intoArray(grad, gro + j);
      if (cancels.anyTrue()) {
        exactGrad(x, xo, y, yo, w, wo, p, po, g, go, scale, grad, gro, j, cancels.toLong());
      }
    }
  }

  /** {@link #gradLoop} without weights, positive weights or upstream gradient array. */
  private static void gradPlain(float[] x, int xo, float[] y, int yo, double scale, int bound, float[] grad,
      int gro, double[] ex) {
    int l = D.length();
    DoubleVector one = DoubleVector.broadcast(D, 1.0);
    DoubleVector vs = DoubleVector.broadcast(D, scale);
    for (int j = 0; j < bound; j += l) {
      DoubleVector vx = widen(x, xo + j);
      DoubleVector e = VectorMath.expNegAbs(vx);
      if (ex != null) {
        e.intoArray(ex, j);
      }
      VectorMask<Double> negative = vx.compare(VectorOperators.LT, 0.0);
      DoubleVector sigmoid = one.blend(e, negative).div(one.add(e));
      DoubleVector d = sigmoid.sub(widen(y, yo + j));
      VectorMask<Double> cancels = d.abs().mul(CANCELLATION).compare(VectorOperators.LT, sigmoid);
      ((FloatVector) d.mul(vs).convertShape(VectorOperators.D2F, F, 0)).intoArray(grad, gro + j);
      if (cancels.anyTrue()) {
        exactGrad(x, xo, y, yo, null, 0, null, 0, null, 0, scale, grad, gro, j, cancels.toLong());
      }
    }
  }

  /**
   * The gradient of the elements {@code j + i} for the set bits {@code i} of {@code lanes}, in scalar double exactly
   * as {@link ReferenceBceWithLogits} computes it: for the rare elements whose gradient cancels too much for
   * {@link VectorMath#expNegAbs}. Kept out of the vector loops, and taking no vectors, so that it costs them
   * nothing (nor boxes anything) when it does not run.
   */
  private static void exactGrad(float[] x, int xo, float[] y, int yo, double[] w, int wo, double[] p, int po,
      float[] g, int go, double scale, float[] grad, int gro, int j, long lanes) {
    for (long m = lanes; m != 0; m &= m - 1) {
      int k = j + Long.numberOfTrailingZeros(m);
      double xv = x[xo + k];
      double yv = y[yo + k];
      double sigmoid = 1 / (1 + Math.exp(-xv));
      double d;
      if (p != null) {
        double py = p[po + k] * yv;
        d = (py + 1 - yv) * sigmoid - py;
      } else {
        d = sigmoid - yv;
      }
      if (w != null) {
        d *= w[wo + k];
      }
      grad[gro + k] = (float) (d * (g == null ? scale : g[go + k]));
    }
  }
}
