package dev.losskit.core;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * \( e^x \) for \( x \le 0 \) and \( \log(1 + e) \) for \( 0 \le e \le 1 \) in float lanes, built from additions,
 * multiplications, fused multiply-adds and bit operations only (Cephes' {@code expf} and {@code logf}: Cody–Waite
 * range reduction and a minimax polynomial, within 2 ulp of the true value).
 *
 * <p>Why not {@code VectorOperators.EXP} and {@code LOG1P}: the JIT replaces them with a vector math library whose
 * last bit differs from the Java fallback that runs before compilation, so one call gave different gradients cold
 * and warm (6,435 of 262,144 elements, by an ulp). IEEE arithmetic gives the same bits in the interpreter and in
 * compiled code, so these functions make every result reproducible, call after call and thread after thread.
 */
final class VectorMath {
  private VectorMath() {}

  private static final float LOG2E = 1.44269504088896341f;
  private static final float LN2_HI = 0.693359375f;
  private static final float LN2_LO = -2.12194440e-4f;
  /** 1.5·2^23: adding it rounds to an integer, held in the low bits of the sum. */
  private static final float ROUND = 12582912f;
  private static final int ROUND_BITS = 0x4B400000;
  /** Below this, \( e^x \) is under float's smallest normal number; such lanes give 0. */
  private static final float EXP_MIN = -87.33654f;

  /**
   * Computes \( e^x \) lane-wise, for lanes at most 0.
   *
   * @param x lanes at most 0 (NaN propagates; larger values are not supported)
   * @return \( e^x \), 0 where \( x < -87.34 \)
   */
  static FloatVector expNonPositive(FloatVector x) {
    VectorSpecies<Float> s = x.species();
    VectorMask<Float> under = x.compare(VectorOperators.LT, EXP_MIN);
    FloatVector xc = x.max(FloatVector.broadcast(s, EXP_MIN));
    FloatVector t = xc.fma(FloatVector.broadcast(s, LOG2E), FloatVector.broadcast(s, ROUND));
    FloatVector n = t.sub(ROUND);
    FloatVector r = n.fma(FloatVector.broadcast(s, -LN2_HI), xc);
    r = n.fma(FloatVector.broadcast(s, -LN2_LO), r);
    FloatVector p = FloatVector.broadcast(s, 1.9875691500e-4f);
    p = p.fma(r, FloatVector.broadcast(s, 1.3981999507e-3f));
    p = p.fma(r, FloatVector.broadcast(s, 8.3334519073e-3f));
    p = p.fma(r, FloatVector.broadcast(s, 4.1665795894e-2f));
    p = p.fma(r, FloatVector.broadcast(s, 1.6666665459e-1f));
    p = p.fma(r, FloatVector.broadcast(s, 5.0000001201e-1f));
    FloatVector rr = r.mul(r);
    FloatVector er = p.fma(rr, r).add(1f);
    // 2^n: n + 127 in the exponent field. n is in [-126, 0] here.
    IntVector bits = t.reinterpretAsInts();
    FloatVector scale = bits.sub(ROUND_BITS - 127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
    return er.mul(scale).blend(0f, under);
  }

  /**
   * Computes \( \log(1 + e) \) lane-wise, for lanes in [0, 1].
   *
   * @param e lanes in [0, 1]
   * @return \( \log(1 + e) \), with full relative accuracy for tiny {@code e}
   */
  static FloatVector log1pUnit(FloatVector e) {
    VectorSpecies<Float> s = e.species();
    FloatVector one = FloatVector.broadcast(s, 1f);
    FloatVector u = e.add(one);
    // u in [1, 2]: log u = k·ln2 + log m with m = u or u/2 in [sqrt(1/2), sqrt(2)].
    VectorMask<Float> high = u.compare(VectorOperators.GT, 1.41421356f);
    FloatVector m = u.blend(u.mul(0.5f), high);
    FloatVector k = FloatVector.zero(s).blend(1f, high);
    FloatVector f = m.sub(one);
    FloatVector z = f.mul(f);
    FloatVector y = FloatVector.broadcast(s, 7.0376836292e-2f);
    y = y.fma(f, FloatVector.broadcast(s, -1.1514610310e-1f));
    y = y.fma(f, FloatVector.broadcast(s, 1.1676998740e-1f));
    y = y.fma(f, FloatVector.broadcast(s, -1.2420140846e-1f));
    y = y.fma(f, FloatVector.broadcast(s, 1.4249322787e-1f));
    y = y.fma(f, FloatVector.broadcast(s, -1.6668057665e-1f));
    y = y.fma(f, FloatVector.broadcast(s, 2.0000714765e-1f));
    y = y.fma(f, FloatVector.broadcast(s, -2.4999993993e-1f));
    y = y.fma(f, FloatVector.broadcast(s, 3.3333331174e-1f));
    y = y.mul(f).mul(z);
    y = k.fma(FloatVector.broadcast(s, LN2_LO), y);
    y = z.fma(FloatVector.broadcast(s, -0.5f), y);
    FloatVector logU = k.fma(FloatVector.broadcast(s, LN2_HI), f.add(y));
    // u = 1 + e lost the low bits c = e - (u - 1) (exactly representable); log1p(e) = log u + c/u to first
    // order. Where u rounds to 1, this is exactly e.
    FloatVector c = e.sub(u.sub(one));
    return c.div(u).add(logU);
  }

  /**
   * The sum of the lanes in lane order, \( (((0 + v_0) + v_1) + \dots) + v_{L-1} \) in float: the order of
   * {@code reduceLanes(ADD)}'s Java fallback, and of its compiled form up to JDK 23.
   *
   * <p>Why not {@code reduceLanes(VectorOperators.ADD)}: the Vector API promises no order for a float sum, and
   * since JDK 24 (JDK-8337062) C2 on x86 adds the lanes as a halving tree while the interpreter and C1 add them
   * in lane order, so the same row gave a different sum, by an ulp, cold and warm. Scalar Java arithmetic has one
   * result in every tier, so this sum is reproducible to the bit.
   *
   * @param lanes scratch of at least {@code v.length()} floats
   */
  static float sumLanes(FloatVector v, float[] lanes) {
    v.intoArray(lanes, 0);
    float sum = 0f;
    for (int i = 0; i < v.length(); i++) {
      sum += lanes[i];
    }
    return sum;
  }

  private static final double LOG2E_D = 1.4426950408889634;
  /** fdlibm's split of ln 2: the high part has 32 significant bits, so {@code n·LN2_HI_D} is exact. */
  private static final double LN2_HI_D = 6.93147180369123816490e-01;
  private static final double LN2_LO_D = 1.90821492927058770002e-10;
  /** 1.5·2^52: adding it rounds to an integer, held in the low bits of the sum. */
  private static final double ROUND_D = 6755399441055744.0;
  private static final long ROUND_D_BITS = 0x4338000000000000L;
  /** Below this, \( e^x \) is far under float's smallest subnormal (\( e^{-103.3} \)); such lanes give 0. */
  private static final double EXP_MIN_D = -700;

  /**
   * Computes \( e^x \) lane-wise in double, for lanes at most 0, to a relative error below \( 2^{-34} \): far
   * below half an ulp of float, so a float32 result formed from it in double and rounded once is within 1 ulp of
   * the exact value. Range reduction \( x = n \ln 2 + r \), \( |r| \le \tfrac12 \ln 2 \), with fdlibm's two-part
   * \( \ln 2 \); the Taylor polynomial of degree 9 in \( r \) (truncation error \( |r|^{10}/10! < 2^{-36} \)).
   *
   * @param x lanes at most 0 (NaN propagates; larger values are not supported)
   * @return \( e^x \), 0 where \( x < -700 \)
   */
  static DoubleVector expNonPositive(DoubleVector x) {
    VectorSpecies<Double> s = x.species();
    VectorMask<Double> under = x.compare(VectorOperators.LT, EXP_MIN_D);
    DoubleVector xc = x.max(EXP_MIN_D);
    DoubleVector t = xc.fma(DoubleVector.broadcast(s, LOG2E_D), DoubleVector.broadcast(s, ROUND_D));
    DoubleVector n = t.sub(ROUND_D);
    DoubleVector r = n.fma(DoubleVector.broadcast(s, -LN2_HI_D), xc);
    r = n.fma(DoubleVector.broadcast(s, -LN2_LO_D), r);
    // 1/k! for k = 9 down to 2, Horner order.
    DoubleVector p = DoubleVector.broadcast(s, 1.0 / 362880);
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 40320));
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 5040));
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 720));
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 120));
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 24));
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 6));
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 2));
    // e^r = 1 + r + r^2 p(r); the small terms first, 1 last.
    DoubleVector er = p.mul(r).fma(r, r).add(1.0);
    // 2^n: n + 1023 in the exponent field. n is in [-1010, 0] here.
    LongVector bits = t.reinterpretAsLongs();
    DoubleVector scale = bits.sub(ROUND_D_BITS - 1023).lanewise(VectorOperators.LSHL, 52).reinterpretAsDoubles();
    return er.mul(scale).blend(0.0, under);
  }

  /**
   * The sum of the lanes in lane order, in double: reproducible to the bit in every tier, like
   * {@link #sumLanes(FloatVector, float[])}.
   *
   * @param lanes scratch of at least {@code v.length()} doubles
   */
  static double sumLanes(DoubleVector v, double[] lanes) {
    v.intoArray(lanes, 0);
    double sum = 0;
    for (int i = 0; i < v.length(); i++) {
      sum += lanes[i];
    }
    return sum;
  }

  /**
   * Computes \( e^x \) lane-wise in double, for lanes at most 0, to a relative error below \( 2^{-50} \): the
   * reduction of {@link #expNonPositive(DoubleVector)} with the Taylor polynomial of degree 13 (truncation error
   * \( |r|^{14}/14! < 2^{-58} \)). For results that cancel, such as the probability-target gradient
   * \( p_c T - y'_c w_c \) when the model matches its target: an error of \( 2^{-34} \) in \( p_c \) would show in
   * the float result once the difference is \( 2^{-10} \) of \( p_c T \), one of \( 2^{-50} \) only at \( 2^{-26} \).
   *
   * @param x lanes at most 0 (NaN propagates; larger values are not supported)
   * @return \( e^x \), 0 where \( x < -700 \)
   */
  static DoubleVector expNonPositiveFull(DoubleVector x) {
    VectorSpecies<Double> s = x.species();
    VectorMask<Double> under = x.compare(VectorOperators.LT, EXP_MIN_D);
    DoubleVector xc = x.max(EXP_MIN_D);
    DoubleVector t = xc.fma(DoubleVector.broadcast(s, LOG2E_D), DoubleVector.broadcast(s, ROUND_D));
    DoubleVector n = t.sub(ROUND_D);
    DoubleVector r = n.fma(DoubleVector.broadcast(s, -LN2_HI_D), xc);
    r = n.fma(DoubleVector.broadcast(s, -LN2_LO_D), r);
    DoubleVector er = taylor13(r).mul(r).fma(r, r).add(1.0);
    LongVector bits = t.reinterpretAsLongs();
    DoubleVector scale = bits.sub(ROUND_D_BITS - 1023).lanewise(VectorOperators.LSHL, 52).reinterpretAsDoubles();
    return er.mul(scale).blend(0.0, under);
  }

  /**
   * The terms of degree 2 to 13 of \( e^r \) divided by \( r^2 \): a method of its own so that both it and
   * {@link #expNonPositiveFull} stay under C2's inlining limit (325 bytes of bytecode); a vector function that is not
   * inlined passes its vectors as objects, several times slower.
   */
  private static DoubleVector taylor13(DoubleVector r) {
    VectorSpecies<Double> s = r.species();
    // 1/k! for k = 13 down to 2, Horner order.
    DoubleVector p = DoubleVector.broadcast(s, 1.0 / 6227020800L);
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 479001600));
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 39916800));
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 3628800));
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 362880));
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 40320));
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 5040));
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 720));
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 120));
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 24));
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 6));
    p = p.fma(r, DoubleVector.broadcast(s, 1.0 / 2));
    return p;
  }

  /** fdlibm's {@code log} polynomial: \( \log\frac{1+s}{1-s} = 2s + s R(s^2) \), error below \( 2^{-58.45} \). */
  private static final double LG1 = 6.666666666666735130e-01;
  private static final double LG2 = 3.999999999940941908e-01;
  private static final double LG3 = 2.857142874366239149e-01;
  private static final double LG4 = 2.222219843214978396e-01;
  private static final double LG5 = 1.818357216161805012e-01;
  private static final double LG6 = 1.531383769920937332e-01;
  private static final double LG7 = 1.479819860511658591e-01;

  /**
   * Computes \( \log(1 + e) \) lane-wise in double, for lanes in [0, 1], to a relative error of a few double ulps
   * (below \( 2^{-50} \)): \( u = 1 + e \) is split as \( 2^k m \) with \( m \in [\sqrt{1/2}, \sqrt 2] \), \( \log m \)
   * comes from fdlibm's polynomial in \( s = f/(2+f) \), \( f = m - 1 \), and the rounding error of \( 1 + e \) is
   * added back as \( c/u \), so tiny {@code e} keep full relative accuracy.
   *
   * @param e lanes in [0, 1] (NaN propagates)
   * @return \( \log(1 + e) \)
   */
  static DoubleVector log1pUnit(DoubleVector e) {
    VectorSpecies<Double> s = e.species();
    DoubleVector one = DoubleVector.broadcast(s, 1.0);
    DoubleVector u = e.add(one);
    VectorMask<Double> high = u.compare(VectorOperators.GT, 1.4142135623730951);
    DoubleVector m = u.blend(u.mul(0.5), high);
    DoubleVector k = DoubleVector.zero(s).blend(1.0, high);
    // f = m - 1 is exact (Sterbenz), and so is c = e - (u - 1) (u = fl(1 + e) with e <= 1).
    DoubleVector f = m.sub(one);
    DoubleVector c = e.sub(u.sub(one));
    DoubleVector sv = f.div(f.add(2.0));
    DoubleVector z = sv.mul(sv);
    DoubleVector w = z.mul(z);
    DoubleVector t1 = w.fma(w.fma(w.fma(DoubleVector.broadcast(s, LG7), DoubleVector.broadcast(s, LG5)),
        DoubleVector.broadcast(s, LG3)), DoubleVector.broadcast(s, LG1)).mul(z);
    DoubleVector t2 = w.fma(w.fma(DoubleVector.broadcast(s, LG6), DoubleVector.broadcast(s, LG4)),
        DoubleVector.broadcast(s, LG2)).mul(w);
    DoubleVector r = t1.add(t2);
    DoubleVector hfsq = f.mul(f).mul(0.5);
    // log m = f - (hfsq - s (hfsq + R)); log u = k ln2 + log m; log1p(e) = log u + c/u.
    DoubleVector logM = f.sub(hfsq.sub(sv.mul(hfsq.add(r))));
    // c/u to first order: c (1 - e), off by c e^2/(1 + e), below 2^-53 e of the result.
    DoubleVector lo = k.fma(DoubleVector.broadcast(s, LN2_LO_D), c.fma(e.neg(), c));
    return k.fma(DoubleVector.broadcast(s, LN2_HI_D), logM.add(lo));
  }

  /** Near-minimax coefficients of \( Q(T) \), degree 9 down to 0, on \( T \in [0, 4/9] \). */
  private static final double LQ9 = 7.707617574664846e-08;
  private static final double LQ8 = 1.6786076519288395e-07;
  private static final double LQ7 = 9.156091926262446e-07;
  private static final double LQ6 = 4.063154360856609e-06;
  private static final double LQ5 = 1.8781213458201444e-05;
  private static final double LQ4 = 8.877826873111747e-05;
  private static final double LQ3 = 0.00043402778744976297;
  private static final double LQ2 = 0.0022321428568053718;
  private static final double LQ1 = 0.012500000000004558;
  private static final double LQ0 = 0.08333333333333333;

  /**
   * Computes \( \log(1 + e) \) lane-wise in double, for lanes in [0, 1], without range reduction: with
   * \( s_2 = e/(1 + e/2) = 2\,\frac{e}{2 + e} \in [0, 2/3] \), \( \log(1 + e) = 2\operatorname{atanh}(s_2/2)
   * = s_2 + s_2 T\,Q(T) \), \( T = s_2^2 \), where \( Q \) is a near-minimax polynomial of degree 9 (Chebyshev fit;
   * its error adds below \( 2^{-56.9} \) of the result). Relative error below \( 2^{-51} \): \( s_2 \) carries two
   * roundings (\( 1 + e/2 \) as one fused multiply-add, and the division), the correction \( s_2 T Q \le 0.04\,s_2 \)
   * and the final fused multiply-add one each. Tiny {@code e} keep full relative accuracy (\( s_2 \to e \)), with no
   * rounding of \( 1 + e \) to compensate. About half the operations of {@link #log1pUnit(DoubleVector)} and no
   * blends; for the loss of BCE with logits, whose float32 value needs far less (the gradient does not use it).
   *
   * @param e lanes in [0, 1] (NaN propagates)
   * @return \( \log(1 + e) \)
   */
  static DoubleVector log1pUnitAtanh(DoubleVector e) {
    VectorSpecies<Double> s = e.species();
    DoubleVector s2 = e.div(e.fma(DoubleVector.broadcast(s, 0.5), DoubleVector.broadcast(s, 1.0)));
    DoubleVector t = s2.mul(s2);
    DoubleVector q = DoubleVector.broadcast(s, LQ9);
    q = q.fma(t, DoubleVector.broadcast(s, LQ8));
    q = q.fma(t, DoubleVector.broadcast(s, LQ7));
    q = q.fma(t, DoubleVector.broadcast(s, LQ6));
    q = q.fma(t, DoubleVector.broadcast(s, LQ5));
    q = q.fma(t, DoubleVector.broadcast(s, LQ4));
    q = q.fma(t, DoubleVector.broadcast(s, LQ3));
    q = q.fma(t, DoubleVector.broadcast(s, LQ2));
    q = q.fma(t, DoubleVector.broadcast(s, LQ1));
    q = q.fma(t, DoubleVector.broadcast(s, LQ0));
    return s2.mul(t).fma(q, s2);
  }
}
