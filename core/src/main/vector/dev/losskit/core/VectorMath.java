package dev.losskit.core;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * \( e^x \) for \( x \le 0 \) and \( \log(1 + e) \) for \( 0 \le e \le 1 \) in double lanes, built from
 * additions, multiplications, fused multiply-adds, divisions and bit operations only, to a relative error below
 * \( 2^{-50} \): far below half an ulp of float, so a float32 result formed from them in double and rounded once
 * is within 1 ulp of the exact value even where a gradient cancels by 26 bits. (The class-index cross-entropy
 * kernel writes its own, shorter exponential into its loops: see {@link VectorCrossEntropy}.)
 *
 * <p>Why not {@code VectorOperators.EXP} and {@code LOG1P}: the JIT replaces them with a vector math library whose
 * last bit differs from the Java fallback that runs before compilation, so one call gave different gradients cold
 * and warm (6,435 of 262,144 elements, by an ulp). IEEE arithmetic gives the same bits in the interpreter and in
 * compiled code, so these functions make every result reproducible, call after call and thread after thread.
 */
final class VectorMath {
  private VectorMath() {}

  static final double LOG2E_D = 1.4426950408889634;
  /** fdlibm's split of ln 2: the high part has 32 significant bits, so {@code n·LN2_HI_D} is exact. */
  static final double LN2_HI_D = 6.93147180369123816490e-01;
  static final double LN2_LO_D = 1.90821492927058770002e-10;
  /** 1.5·2^52: adding it rounds to an integer, held in the low bits of the sum. */
  static final double ROUND_D = 6755399441055744.0;
  /** Below this, \( e^x \) is far under float's smallest subnormal (\( e^{-103.3} \)); such lanes give 0. */
  private static final double EXP_MIN_D = -700;

  /**
   * The maximum of {@code a[off, off + n)} (NaN if one is NaN; -inf for none), in float lanes over four
   * accumulators: Java's {@code max} is a chain of several instructions (for NaN and signed zeros), so one
   * accumulator would bind the loop to that chain's latency (about 3.5 times slower in cache).
   */
  static float maxFloats(float[] a, int off, int n) {
    VectorSpecies<Float> sf = FloatVector.SPECIES_PREFERRED;
    int lanes = sf.length();
    int bound4 = n - n % (4 * lanes);
    int bound = sf.loopBound(n);
    FloatVector v0 = FloatVector.broadcast(sf, Float.NEGATIVE_INFINITY);
    FloatVector v1 = v0;
    FloatVector v2 = v0;
    FloatVector v3 = v0;
    for (int i = 0; i < bound4; i += 4 * lanes) {
      v0 = v0.max(FloatVector.fromArray(sf, a, off + i));
      v1 = v1.max(FloatVector.fromArray(sf, a, off + i + lanes));
      v2 = v2.max(FloatVector.fromArray(sf, a, off + i + 2 * lanes));
      v3 = v3.max(FloatVector.fromArray(sf, a, off + i + 3 * lanes));
    }
    for (int i = bound4; i < bound; i += lanes) {
      v0 = v0.max(FloatVector.fromArray(sf, a, off + i));
    }
    float max = v0.max(v1).max(v2.max(v3)).reduceLanes(VectorOperators.MAX);
    for (int i = bound; i < n; i++) {
      max = Math.max(max, a[off + i]);
    }
    return max;
  }

  /**
   * The sum of the lanes in lane order, \( (((0 + v_0) + v_1) + \dots) + v_{L-1} \) in double.
   *
   * <p>Why not {@code reduceLanes(VectorOperators.ADD)}: the Vector API promises no order for a floating sum, and
   * since JDK 24 (JDK-8337062) C2 on x86 adds the lanes as a halving tree while the interpreter and C1 add them
   * in lane order, so the same row gave a different sum, by an ulp, cold and warm. Scalar Java arithmetic has one
   * result in every tier, so this sum is reproducible to the bit.
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
   * Computes \( e^x \) lane-wise in double for lanes at most 0, to a relative error below \( 2^{-50} \): range
   * reduction \( x = n \ln 2 + r \) with fdlibm's two-part \( \ln 2 \), then the polynomial
   * \( 1 + r + r^2 Q(r) \) of degree 11 in one Horner chain of fused multiply-adds. The accuracy is for results
   * that cancel, such as the probability-target gradient \( p_c T - y'_c w_c \) when the model matches its target:
   * an error of \( 2^{-50} \) in \( p_c \) shows in the float result only once the difference is \( 2^{-26} \) of
   * \( p_c T \). The error budget: the polynomial's own error is below
   * \( 2^{-55.7} \); the reduced argument carries at most about \( 2^{-53}|r| \) absolute (the low part of
   * \( \ln 2 \), the last fused multiply-add), which moves \( e^r \) by under \( 2^{-54} \) relative; each
   * Horner step rounds once, and a rounding in the step of degree \( j \) reaches the result scaled by
   * \( |r|^{j} \le 0.35^{j} \), so all but the last two add below \( 2^{-54.5} \), the degree-1 step
   * \( 2^{-53} \cdot 0.35 \cdot 1.42 \) and the last one \( 2^{-53} \); the scale by \( 2^n \), an integer add to
   * the exponent field, is exact. In all, about \( 2.4 \cdot 2^{-53} < 2^{-51} \). Lanes under -700 give 0.
   *
   * @param x lanes at most 0 (NaN propagates; larger values are not supported)
   * @return \( e^x \), 0 where \( x < -700 \)
   */
  static DoubleVector expNonPositive(DoubleVector x) {
    VectorSpecies<Double> s = x.species();
    VectorMask<Double> under = x.compare(VectorOperators.LT, EXP_MIN_D);
    // No clamp: a lane under -700 (-inf included) computes garbage bits, which the blend below replaces with 0, and
    // a NaN flows through. (Java's floating max, a chain of several instructions, cost more than the exponential's
    // polynomial.)
    DoubleVector t = x.fma(DoubleVector.broadcast(s, LOG2E_D), DoubleVector.broadcast(s, ROUND_D));
    DoubleVector n = t.sub(ROUND_D);
    DoubleVector r = n.fma(DoubleVector.broadcast(s, -LN2_HI_D), x);
    r = n.fma(DoubleVector.broadcast(s, -LN2_LO_D), r);
    DoubleVector er = poly(r);
    // t's bits are ROUND_D's bits + n, and ROUND_D's bits << 52 are 0 (mod 2^64): shifted, they are n in the
    // exponent field. Adding them to er's bits multiplies er in [0.7, 1.42] by 2^n exactly: n >= -1011 keeps it normal.
    LongVector scale = t.reinterpretAsLongs().lanewise(VectorOperators.LSHL, 52);
    return er.reinterpretAsLongs().add(scale).reinterpretAsDoubles().blend(0.0, under);
  }

  /**
   * \( 1 + r + r^2 Q(r) \) in Horner order: a method of its own to keep {@link #expNonPositive} under C2's inlining
   * limit.
   */
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

  // q(r), near-minimax for (e^r - 1 - r) / r^2 on |r| <= ln2 / 2 (Lawson's algorithm), e^r to 2^-45.8: here and
  // in VectorCrossEntropy's written-out exponentials.
  static final double EQ0 = 0.49999999999664546;
  static final double EQ1 = 0.1666666666726472;
  static final double EQ2 = 0.0416666669620825;
  static final double EQ3 = 0.008333333095244361;
  static final double EQ4 = 0.0013888811173253205;
  static final double EQ5 = 0.00019841538962672454;
  static final double EQ6 = 2.48807951020151e-05;
  static final double EQ7 = 2.749308719602386e-06;

  /** fdlibm's \( \ln 2 \) rounded to double: off by \( 2^{-55.3} \). */
  static final double LN2_D = 0.6931471805599453;
  /** Beyond this \( |x| \), \( e^{-|x|} \) is taken as 0 (below it, \( 2^n \) is normal). */
  private static final double EXP_MAX_ABS_D = 700;

  /**
   * Computes \( e^{-|x|} \) lane-wise in double to a relative error below \( 2^{-44.5} \) (measured in 200-bit
   * arithmetic: \( 2^{-45.8} \) for \( |x| < 5 \), \( 2^{-45.4} \) near 150, \( 2^{-44.5} \) near 700), in fewer
   * operations than {@link #expNonPositive}: \( -a = n \ln 2 + r \) with \( a = |x| \),
   * \( u = -r = a + n \ln 2 \) in one fused multiply-add with \( \ln 2 \) rounded to double (its error grows with
   * \( |n| \)); \( e^{r} = 1 - u + u^2 q(-u) \), with \( q \) near-minimax of degree 7 for
   * \( (e^r - 1 - r)/r^2 \) on \( |r| \le \ln 2 / 2 \) (Lawson's algorithm, as in {@link VectorCrossEntropy}:
   * \( 2^{-45.8} \)) evaluated by Estrin's scheme; \( 2^n \) is applied by adding \( n \) to the exponent field
   * (exact: the result stays normal). Lanes with \( |x| > 700 \) give exactly 0, as the reference's
   * {@code Math.exp} does there in effect: a tiny non-zero value times an infinite weight would give infinity where
   * the reference gives NaN. For callers that can tell where \( 2^{-44.5} \) is not enough and recompute those
   * elements (see {@link VectorBce}).
   *
   * @param x any lanes (NaN propagates)
   * @return \( e^{-|x|} \), 0 where \( |x| > 700 \)
   */
  static DoubleVector expNegAbs(DoubleVector x) {
    VectorSpecies<Double> s = x.species();
    // No clamp: a lane beyond 700 (an infinity included) computes garbage bits, which the blend at the end replaces
    // with 0, and a NaN flows through. (Java's floating min, a chain of several instructions, cost as much as a
    // quarter of the loop.)
    DoubleVector a = x.abs();
    DoubleVector t = a.fma(DoubleVector.broadcast(s, -LOG2E_D), DoubleVector.broadcast(s, ROUND_D));
    DoubleVector n = t.sub(ROUND_D);
    DoubleVector u = n.fma(DoubleVector.broadcast(s, LN2_D), a);
    DoubleVector u2 = u.mul(u);
    DoubleVector u4 = u2.mul(u2);
    // q(-u): the odd coefficients negated.
    DoubleVector q01 = u.fma(DoubleVector.broadcast(s, -EQ1), DoubleVector.broadcast(s, EQ0));
    DoubleVector q23 = u.fma(DoubleVector.broadcast(s, -EQ3), DoubleVector.broadcast(s, EQ2));
    DoubleVector q45 = u.fma(DoubleVector.broadcast(s, -EQ5), DoubleVector.broadcast(s, EQ4));
    DoubleVector q67 = u.fma(DoubleVector.broadcast(s, -EQ7), DoubleVector.broadcast(s, EQ6));
    DoubleVector q = q23.fma(u2, q01).add(q67.fma(u2, q45).mul(u4));
    DoubleVector er = q.fma(u2, DoubleVector.broadcast(s, 1.0).sub(u));
    // t's low bits hold n (two's complement): shifted by 52 they are n in the exponent field.
    LongVector shift = t.reinterpretAsLongs().lanewise(VectorOperators.LSHL, 52);
    return er.reinterpretAsLongs().add(shift).reinterpretAsDoubles()
        .blend(0.0, a.compare(VectorOperators.GT, EXP_MAX_ABS_D));
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
   * rounding of \( 1 + e \) to compensate. About half the operations of fdlibm's {@code log1p}, with no
   * blends; for the loss of BCE with logits, whose float32 value needs far less (the gradient does not use it).
   *
   * <p>The series is odd in \( s_2 \), and \( T \le 4/9 \) holds for \( e \in [-1/2, 1] \) too: BCELoss takes
   * \( \operatorname{log1p}(-s) \) of \( s \in [0, 1/2] \) with it, to the same relative accuracy.
   *
   * @param e lanes in [-1/2, 1] (NaN propagates)
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
