package dev.losskit.core;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link BceLoss} over float32 blocks with the Vector API: loaded only when {@link VectorSupport#AVAILABLE}. Inputs,
 * targets and upstream gradients are read as float lanes and widened to double lanes; every float result is formed
 * in double, with {@link ReferenceBce}'s formulas (the gradient scaled by the upstream gradient over the element
 * count in one factor, where the reference multiplies then divides), and rounded once.
 *
 * <p>The loss needs \( \log x \) and \( \operatorname{log1p}(-x) \). With \( s = \min(x, 1 - x) \) (exact in double
 * for a float x), one of them is \( \log s \) and the other \( \operatorname{log1p}(-s) \), \( -s \in [-1/2, 0] \):
 * the latter is {@link VectorMath#log1pUnitAtanh}'s \( 2\operatorname{atanh} \) series without range reduction, and
 * \( \log s = k \ln 2 + \operatorname{log1p}(m - 1) \) with \( s = m\,2^k \), \( m \in [\sqrt{1/2}, \sqrt 2) \), by
 * the same series. Both are below \( 2^{-50} \) relative, and the loss \( (y-1)\log(1-x) - y\log x \) is a sum of
 * two non-negative terms, so the float32 loss is within 1 ulp of the exact value. The gradient is arithmetic only.
 *
 * <p>An element's arithmetic is its lane's alone and a block's loss sum is its lanes added in lane order, then its
 * scalar tail: the same bits cold and warm, and for any number of threads.
 */
final class VectorBceProbability {
  private VectorBceProbability() {}

  private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
  /** Floats with as many lanes as {@link #D}: half its width. */
  private static final VectorSpecies<Float> F =
      VectorSpecies.of(float.class, VectorShape.forBitSize(D.vectorBitSize() / 2));
  private static final VectorSpecies<Float> SF = FloatVector.SPECIES_PREFERRED;

  /** The bits of \( \sqrt{1/2} \): subtracted from a double's bits, the exponent field holds k of \( m\,2^k \). */
  private static final long SQRT_HALF_BITS = Double.doubleToRawLongBits(Math.sqrt(0.5));

  /** {@return the length of the lane scratch {@link #block} needs} */
  static int scratchLanes() {
    return D.length();
  }

  /** {@return the first index in {@code a[off, off + n)} whose value is outside [0, 1] or NaN, or -1} */
  static int firstOutsideUnit(float[] a, int off, int n) {
    int lanes = SF.length();
    int bound = SF.loopBound(n);
    for (int i = 0; i < bound; i += lanes) {
      FloatVector v = FloatVector.fromArray(SF, a, off + i);
      // NaN compares false both ways, so it is outside too.
      VectorMask<Float> inside = v.compare(VectorOperators.GE, 0f).and(v.compare(VectorOperators.LE, 1f));
      if (!inside.allTrue()) {
        return i + inside.not().firstTrue();
      }
    }
    for (int i = bound; i < n; i++) {
      float v = a[off + i];
      if (!(v >= 0 && v <= 1)) {
        return i;
      }
    }
    return -1;
  }

  private static DoubleVector widen(float[] a, int at) {
    return (DoubleVector) FloatVector.fromArray(F, a, at).convertShape(VectorOperators.F2D, D, 0);
  }

  /**
   * Elements {@code [0, len)} of one block ({@link ElementwiseBlocks.Span}): the gradient, then the loss. Element
   * {@code j}'s weight is {@code w[wo + j]} (null: none) and its loss, for {@code reduction=none}, goes to
   * {@code loss[s.from + j]}.
   *
   * @param scale the upstream gradient when the span has none per element ({@code mean}: over the element count)
   * @param epsilon the gradient denominator's clamp in the input's dtype
   * @param loss the unreduced loss, or null
   * @param wantSum whether to compute the block's loss sum
   * @param lanes scratch of {@link #scratchLanes()} doubles
   * @return the block's loss sum when wanted (else 0): the vector part's lanes in lane order, then the tail in order
   */
  static double block(ElementwiseBlocks.Span s, double[] w, int wo, double scale, double epsilon, double[] loss,
      boolean wantSum, double[] lanes) {
    int bound = D.loopBound(s.len);
    double sum = 0;
    if (s.grad != null) {
      gradLoop(s.x, s.xo, s.y, s.yo, w, wo, s.g, s.go, scale, epsilon, bound, s.grad, s.gro);
    }
    boolean wantLoss = loss != null || wantSum;
    if (wantLoss) {
      sum = lossLoop(s.x, s.xo, s.y, s.yo, w, wo, bound, loss, s.from, lanes);
    }
    for (int j = bound; j < s.len; j++) {
      double x = s.x[s.xo + j];
      double y = s.y[s.yo + j];
      double wj = w == null ? 1 : w[wo + j];
      if (wantLoss) {
        double l = ReferenceBce.elementLoss(x, y);
        if (w != null) {
          l *= wj;
        }
        sum += l;
        if (loss != null) {
          loss[s.from + j] = l;
        }
      }
      if (s.grad != null) {
        double d = ReferenceBce.elementGrad(x, y, epsilon);
        if (w != null) {
          d *= wj;
        }
        s.grad[s.gro + j] = (float) (d * (s.g == null ? scale : s.g[s.go + j]));
      }
    }
    return sum;
  }

  /** \( \frac{x - y}{\max((1 - x) x, \epsilon)}\,w\,g \) of elements {@code [0, bound)}, rounded once to float. */
  private static void gradLoop(float[] x, int xo, float[] y, int yo, double[] w, int wo, float[] g, int go,
      double scale, double epsilon, int bound, float[] grad, int gro) {
    int l = D.length();
    DoubleVector one = DoubleVector.broadcast(D, 1.0);
    DoubleVector eps = DoubleVector.broadcast(D, epsilon);
    DoubleVector vs = DoubleVector.broadcast(D, scale);
    for (int j = 0; j < bound; j += l) {
      DoubleVector vx = widen(x, xo + j);
      DoubleVector den = one.sub(vx).mul(vx);
      // max(den, eps) as a compare and a blend: den is a number in [0, 1/4] here (the values were checked).
      den = den.blend(eps, den.compare(VectorOperators.LT, eps));
      DoubleVector d = vx.sub(widen(y, yo + j)).div(den);
      if (w != null) {
        d = d.mul(DoubleVector.fromArray(D, w, wo + j));
      }
      d = d.mul(g == null ? vs : widen(g, go + j));
      ((FloatVector) d.convertShape(VectorOperators.D2F, F, 0)).intoArray(grad, gro + j);
    }
  }

  /**
   * The loss of elements {@code [0, bound)}, \( ((y - 1)\max(\log(1 - x), -100) - y\max(\log x, -100))\,w \); into
   * {@code loss} when not null.
   *
   * @return their sum, lanes in lane order
   */
  private static double lossLoop(float[] x, int xo, float[] y, int yo, double[] w, int wo, int bound,
      double[] loss, int lo, double[] lanes) {
    int l = D.length();
    DoubleVector one = DoubleVector.broadcast(D, 1.0);
    DoubleVector floor = DoubleVector.broadcast(D, -100.0);
    DoubleVector acc = DoubleVector.zero(D);
    for (int j = 0; j < bound; j += l) {
      DoubleVector vx = widen(x, xo + j);
      DoubleVector vy = widen(y, yo + j);
      VectorMask<Double> upper = vx.compare(VectorOperators.GT, 0.5);
      DoubleVector small = vx.blend(one.sub(vx), upper);
      DoubleVector logSmall = logToHalf(small);
      DoubleVector log1pNegSmall = VectorMath.log1pUnitAtanh(small.neg());
      DoubleVector logX = logSmall.blend(log1pNegSmall, upper);
      DoubleVector log1mX = log1pNegSmall.blend(logSmall, upper);
      logX = logX.blend(floor, logX.compare(VectorOperators.LT, -100.0));
      log1mX = log1mX.blend(floor, log1mX.compare(VectorOperators.LT, -100.0));
      DoubleVector v = vy.sub(one).mul(log1mX).sub(vy.mul(logX));
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

  /**
   * \( \log s \) for lanes in [0, 1/2] (at least \( 2^{-149} \) or 0, as a widened float is): \( -\infty \) at 0,
   * else \( k \ln 2 + \operatorname{log1p}(m - 1) \) with \( s = m\,2^k \), \( m \in [\sqrt{1/2}, \sqrt 2) \), found
   * on the bits (the exponent field of \( s - \sqrt{1/2} \)'s bits is k), and \( k \ln 2 \) split as fdlibm splits it.
   */
  private static DoubleVector logToHalf(DoubleVector s) {
    LongVector bits = (LongVector) s.reinterpretAsLongs();
    LongVector k = bits.sub(SQRT_HALF_BITS).lanewise(VectorOperators.ASHR, 52);
    DoubleVector m = bits.sub(k.lanewise(VectorOperators.LSHL, 52)).reinterpretAsDoubles();
    DoubleVector kd = (DoubleVector) k.convert(VectorOperators.L2D, 0);
    DoubleVector log = kd.fma(DoubleVector.broadcast(D, VectorMath.LN2_LO_D),
        VectorMath.log1pUnitAtanh(m.sub(1.0))).add(kd.mul(VectorMath.LN2_HI_D));
    return log.blend(Double.NEGATIVE_INFINITY, s.compare(VectorOperators.EQ, 0.0));
  }
}
