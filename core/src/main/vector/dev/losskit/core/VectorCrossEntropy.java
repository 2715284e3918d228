package dev.losskit.core;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 cross-entropy with class-index targets in double lanes, for rows ({@code (N, C)}, classes contiguous) and
 * for the K-dim layout ({@code (N, C, d...)}, vectorised across spatial positions, which are contiguous for a fixed
 * class). Loaded only when {@link VectorSupport#AVAILABLE}.
 *
 * <p>Every float32 output is formed in double and rounded once, so it lies within 1 ulp of the exact value:
 * \( e_c = \exp(x_c - m) \) is taken of the double difference \( x_c - m \) (exact enough where the float one is
 * not), with a relative error below \( 2^{-28} \) without label smoothing and below \( 2^{-45} \) with it (where
 * \( k p_c - \tfrac{\varepsilon}{C} g w_c \) may cancel); sums, the loss and the scaling are in double. The
 * maximum's term, exactly 1, is summed apart from the rest R, so that \( \log S = \operatorname{log1p}(R) \), and
 * the target's element uses \( 1 - p_t = O/S \) with \( O = \sum_{c \ne t} e_c \) (R itself when the target is
 * the maximum): both keep their relative accuracy when one class dominates its row.
 *
 * <p>The exponential is written out in the two loops that take it rather than called: a vector passed to a method
 * that the JIT leaves out of line (which it does to large callees in some compilations) is boxed on every call,
 * several times slower. Its polynomial is evaluated by Estrin's scheme, since the loops are bound by the latency of
 * that chain. Sums over lanes are taken in lane order ({@link VectorMath#sumLanes(DoubleVector, double[])}), and
 * each position's result depends only on its own values, so results are reproducible to the bit cold and warm, and
 * for every number of threads.
 */
final class VectorCrossEntropy {
  private VectorCrossEntropy() {}

  private static final VectorSpecies<Float> SF = FloatVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Double> SD = DoubleVector.SPECIES_PREFERRED;
  private static final VectorSpecies<Long> SL = LongVector.SPECIES_PREFERRED;
  /** Float vectors of as many lanes as {@link #SD}: they convert to and from its vectors. */
  private static final VectorSpecies<Float> SH =
      VectorSpecies.of(float.class, VectorShape.forBitSize(SD.vectorBitSize() / 2));

  /** {@return the number of double lanes: the length of the lane scratch the kernels need} */
  static int doubleLanes() {
    return SD.length();
  }

  /** {@return the number of float lanes: K-dim blocks are a multiple of it} */
  static int floatLanes() {
    return SF.length();
  }

  // The range reduction's constants, VectorMath's: log2 e, fdlibm's split of ln 2 (n·LN2_HI exact), ln 2 rounded,
  // and 1.5·2^52, which rounds a sum to an integer held in its low bits.
  private static final double LOG2E = VectorMath.LOG2E_D;
  private static final double LN2_HI = VectorMath.LN2_HI_D;
  private static final double LN2_LO = VectorMath.LN2_LO_D;
  private static final double LN2 = VectorMath.LN2_D;
  private static final double ROUND = VectorMath.ROUND_D;
  /**
   * Arguments are clamped to this: \( e^{-700} \approx 10^{-304} \) stands for 0, which it equals after any scaling
   * and rounding to float (and it keeps \( 2^n \) normal).
   */
  private static final double EXP_MIN = -700;
  /** The bits of {@code -EXP_MIN}: for d >= 0, {@code min(bits(d), CLAMP_BITS)} is the bits of min(d, 700). */
  private static final long CLAMP_BITS = Double.doubleToRawLongBits(-EXP_MIN);

  // q(r), near-minimax for (e^r - 1 - r) / r^2 on |r| <= ln2 / 2: e^r to 2^-45.8 (VectorMath's, which BCE shares).
  private static final double Q0 = VectorMath.EQ0;
  private static final double Q1 = VectorMath.EQ1;
  private static final double Q2 = VectorMath.EQ2;
  private static final double Q3 = VectorMath.EQ3;
  private static final double Q4 = VectorMath.EQ4;
  private static final double Q5 = VectorMath.EQ5;
  private static final double Q6 = VectorMath.EQ6;
  private static final double Q7 = VectorMath.EQ7;
  // The same of degree 4, e^r to 2^-28.3: enough without smoothing, where nothing cancels.
  private static final double F0 = 0.49999993451472624;
  private static final double F1 = 0.16666520687563108;
  private static final double F2 = 0.041668387408547;
  private static final double F3 = 0.00836871003530827;
  private static final double F4 = 0.0013814611001065158;

  /** The scalar counterpart for tails: {@link Math#exp}, reproducible in every tier. */
  private static double exp(double x) {
    return Math.exp(x);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Rows: classes contiguous.

  /**
   * One row: statistics, the loss into {@code nll[pos]} (and {@code smooth[pos]} when smoothing), and, when
   * {@code grad} is not null, the gradient row at {@code grad[ga...]}. An ignored row has target -1 and g = 0.
   * Pass 1 finds the maximum in float lanes, pass 2 keeps each \( e_c \) in {@code eScratch} and sums them, pass 3
   * scales: \( \partial x_c = (k/S)\,e_c - \tfrac{\varepsilon}{C} g\,w_c \), the target's element written apart.
   *
   * @param scratch a row of floats for a buffer-backed input, else unused
   * @param eScratch at least {@code classes} doubles when {@code grad} is not null
   * @param laneScratch at least {@link #doubleLanes()} doubles
   * @param stats 2 doubles of scratch
   */
  static void row(Tensor input, int at, int classes, float[] scratch, double[] eScratch, double[] laneScratch,
      double[] stats, int target, double[] w, double weightTotal, double eps, double g, double[] nll,
      double[] smooth, int pos, float[] grad, int ga) {
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
    float max = VectorMath.maxFloats(a, off, n);
    boolean smoothing = eps > 0 && target >= 0;
    // The first maximum, e = 1 exactly, is summed apart: S = 1 + R, and log S = log1p(R) keeps its relative
    // accuracy when the maximum dominates the row (a NaN or infinite maximum makes the row NaN either way).
    int am = Float.isFinite(max) ? firstIndexOf(a, off, n, max) : -1;
    expPass(a, off, n, max, grad == null ? null : eScratch, am, smoothing, w, eps > 0, laneScratch, stats);
    double rest = stats[0];
    double shiftSum = stats[1];
    double sum = am >= 0 ? 1 + rest : rest;
    double logSum = am >= 0 ? Math.log1p(rest) : Math.log(sum);
    double wt = target < 0 ? 0 : w == null ? 1 : w[target];
    double xt = target < 0 ? 0 : (double) a[off + target] - max;
    if (target >= 0) {
      // -log p_t = log S - (x_t - m): two terms of which neither is negative.
      nll[pos] = (logSum - xt) * wt;
      if (smoothing) {
        // -sum_c w_c log p_c = -sum_c w_c (x_c - m) + log(S) * sum_c w_c
        smooth[pos] = -(shiftSum - logSum * weightTotal);
      }
    }
    if (grad == null) {
      return;
    }
    double k = g * ((1 - eps) * wt + (eps / classes) * weightTotal);
    double spread = g * (eps / classes);
    scalePass(eScratch, n, k / sum, spread, w, grad, ga);
    if (target >= 0) {
      double et = eScratch[target];
      // O = S - e_t, which is R when the target is a maximum (e_t = 1).
      double others = xt == 0 && am >= 0 ? rest : sum - et;
      grad[ga + target] = (float) targetGrad(g, wt, eps, spread, weightTotal, others, et, sum);
    }
  }

  /** {@return the first index of {@code value} in {@code a[off, off + n)}, or -1} */
  private static int firstIndexOf(float[] a, int off, int n, float value) {
    int lanes = SF.length();
    int bound = SF.loopBound(n);
    for (int i = 0; i < bound; i += lanes) {
      VectorMask<Float> hit = FloatVector.fromArray(SF, a, off + i).compare(VectorOperators.EQ, value);
      if (hit.anyTrue()) {
        return i + hit.firstTrue();
      }
    }
    for (int i = bound; i < n; i++) {
      if (a[off + i] == value) {
        return i;
      }
    }
    return -1;
  }

  /**
   * \( k p_t - \tfrac{\varepsilon}{C} g w_t - (1-\varepsilon) g w_t \) written with \( 1 - p_t = O/S \), so that
   * it keeps its relative accuracy when \( p_t \) is near 1.
   */
  private static double targetGrad(double g, double wt, double eps, double spread, double weightTotal,
      double others, double et, double sum) {
    double v = -(1 - eps) * g * wt * (others / sum);
    if (eps > 0) {
      v += spread * (weightTotal * (et / sum) - wt);
    }
    return v;
  }


  /**
   * Pass 2 of a row, in its own small method so that the JIT compiles the loop with the exponential inlined (in a
   * large method an OSR compilation may leave it out of line, and every vector that crosses the call is boxed).
   * Writes \( \sum_{c \ne x} e_c \) (x = {@code exclude}) and \( \sum_c w_c (x_c - m) \) (when {@code shift})
   * into {@code stats}; stores each \( e_c \) into {@code e} unless it is null.
   */
  private static void expPass(float[] a, int off, int n, float max, double[] e, int exclude, boolean shift,
      double[] w, boolean accurate, double[] laneScratch, double[] stats) {
    int dl = SD.length();
    int dbound = SD.loopBound(n);
    // The vector holding the excluded element, summed without it (none when it is -1 or in the tail).
    int tv = exclude >= 0 && exclude < dbound ? exclude - exclude % dl : -1;
    DoubleVector vm = DoubleVector.broadcast(SD, (double) max);
    DoubleVector vsum = DoubleVector.zero(SD);
    DoubleVector vshift = DoubleVector.zero(SD);
    LongVector clamp = LongVector.broadcast(SL, CLAMP_BITS);
    DoubleVector negLog2e = DoubleVector.broadcast(SD, -LOG2E);
    DoubleVector round = DoubleVector.broadcast(SD, ROUND);
    DoubleVector one = DoubleVector.broadcast(SD, 1.0);
    for (int i = 0; i < dbound; i += dl) {
      // d = m - x >= 0, clamped to 700 on its bits (an integer minimum, one instruction, where a floating one is a
      // chain of several; d >= 0 and +inf order as their bits do); e = exp(-d), written out here (see the class
      // comment). With n = round(-d log2 e) and r = d + n ln2 (the reduced argument, negated), e = 2^n (1 - r + r^2
      // q(-r)), q by Estrin's scheme (the odd coefficients negated), and 2^n added to the exponent field: the same
      // bits as exp(x - m) by 2^n · e^r, in fewer operations. A non-finite maximum is handled after the loop.
      DoubleVector d = vm.sub((DoubleVector) FloatVector.fromArray(SH, a, off + i)
          .convertShape(VectorOperators.F2D, SD, 0));
      DoubleVector dc = ((LongVector) d.reinterpretAsLongs()).min(clamp).reinterpretAsDoubles();
      DoubleVector t = dc.fma(negLog2e, round);
      DoubleVector nv = t.sub(ROUND);
      DoubleVector r = accurate
          ? nv.fma(DoubleVector.broadcast(SD, LN2_HI), dc).add(nv.mul(DoubleVector.broadcast(SD, LN2_LO)))
          : nv.fma(DoubleVector.broadcast(SD, LN2), dc);
      DoubleVector r2 = r.mul(r);
      DoubleVector q;
      if (accurate) {
        DoubleVector r4 = r2.mul(r2);
        DoubleVector q01 = r.fma(DoubleVector.broadcast(SD, -Q1), DoubleVector.broadcast(SD, Q0));
        DoubleVector q23 = r.fma(DoubleVector.broadcast(SD, -Q3), DoubleVector.broadcast(SD, Q2));
        DoubleVector q45 = r.fma(DoubleVector.broadcast(SD, -Q5), DoubleVector.broadcast(SD, Q4));
        DoubleVector q67 = r.fma(DoubleVector.broadcast(SD, -Q7), DoubleVector.broadcast(SD, Q6));
        q = q23.fma(r2, q01).add(q67.fma(r2, q45).mul(r4));
      } else {
        DoubleVector q01 = r.fma(DoubleVector.broadcast(SD, -F1), DoubleVector.broadcast(SD, F0));
        DoubleVector q23 = r.fma(DoubleVector.broadcast(SD, -F3), DoubleVector.broadcast(SD, F2));
        q = r2.fma(DoubleVector.broadcast(SD, F4), q23).fma(r2, q01);
      }
      DoubleVector v = q.fma(r2, one.sub(r)).reinterpretAsLongs()
          .add(t.reinterpretAsLongs().lanewise(VectorOperators.LSHL, 52)).reinterpretAsDoubles();
      if (e != null) {
        v.intoArray(e, i);
      }
      if (i == tv) {
        // Through memory: lane(i) and withLane(i) with a variable index are not intrinsics on every JDK, and a
        // vector that leaves the intrinsics is boxed.
        v.intoArray(laneScratch, 0);
        laneScratch[exclude - i] = 0;
        vsum = vsum.add(DoubleVector.fromArray(SD, laneScratch, 0));
      } else {
        vsum = vsum.add(v);
      }
      if (shift) {
        // The sum of w·d, negated after the loop: exactly the sum of w·(x - m).
        vshift = w == null ? vshift.add(d) : d.fma(DoubleVector.fromArray(SD, w, i), vshift);
      }
    }
    // The lanes summed in lane order, as VectorMath.sumLanes does, but here: a vector passed to a method at the
    // loop's exit was boxed on every row (about 100 bytes a row).
    vsum.intoArray(laneScratch, 0);
    double others = 0;
    for (int k = 0; k < dl; k++) {
      others += laneScratch[k];
    }
    double shiftSum = 0;
    if (shift) {
      vshift.intoArray(laneScratch, 0);
      for (int k = 0; k < dl; k++) {
        shiftSum += laneScratch[k];
      }
      shiftSum = -shiftSum;
    }
    for (int i = dbound; i < n; i++) {
      double shifted = (double) a[off + i] - max;
      double v = exp(shifted);
      if (e != null) {
        e[i] = v;
      }
      if (i != exclude) {
        others += v;
      }
      if (shift) {
        shiftSum += shifted * (w == null ? 1 : w[i]);
      }
    }
    // A non-finite maximum (an infinity, a NaN, or a row of -inf) makes the row NaN, as in the reference, where
    // some x - m is NaN: here the clamp would have turned it into a number.
    stats[0] = Float.isFinite(max) ? others : Double.NaN;
    stats[1] = shiftSum;
  }

  /** Pass 3 of a row: \( \partial x_c = s\,e_c - \mathit{spread}\,w_c \) in double, rounded once to float. */
  private static void scalePass(double[] e, int n, double scale, double spread, double[] w, float[] grad, int ga) {
    int dl = SD.length();
    int dbound = SD.loopBound(n);
    DoubleVector vscale = DoubleVector.broadcast(SD, scale);
    DoubleVector vspread = DoubleVector.broadcast(SD, -spread);
    boolean spreading = spread != 0;
    for (int i = 0; i < dbound; i += dl) {
      DoubleVector v = DoubleVector.fromArray(SD, e, i).mul(vscale);
      if (spreading) {
        v = w == null ? v.add(vspread) : DoubleVector.fromArray(SD, w, i).fma(vspread, v);
      }
      ((FloatVector) v.convertShape(VectorOperators.D2F, SH, 0)).intoArray(grad, ga + i);
    }
    for (int i = dbound; i < n; i++) {
      double v = e[i] * scale;
      if (spreading) {
        v = Math.fma(w == null ? 1 : w[i], -spread, v);
      }
      grad[ga + i] = (float) v;
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // K-dim: (N, C, d...), positions contiguous for a fixed class.

  /** Per-thread scratch of the K-dim kernel, for blocks of at most {@code block} positions of {@code classes}. */
  static final class KdimScratch {
    final float[] x;
    final float[] row;
    final float[] max;
    final double[] e;
    final double[] rest;
    final double[] ties;
    final double[] shift;
    final double[] scale;
    final double[] negSpread;
    final double[] targetGrad;
    final float[] grad;

    KdimScratch(int classes, int block, boolean bufferInput, boolean sink) {
      x = bufferInput ? new float[classes * block] : null;
      row = bufferInput ? new float[block] : null;
      max = new float[block];
      e = new double[classes * block];
      rest = new double[block];
      ties = new double[block];
      shift = new double[block];
      scale = new double[block];
      negSpread = new double[block];
      targetGrad = new double[block];
      grad = sink ? new float[classes * block] : null;
    }
  }

  /**
   * Positions {@code [s0, s0 + len)} of item {@code item} of a K-dim input ({@code len} a multiple of
   * {@link #floatLanes()}): the loss into {@code nll} and {@code smooth} at positions {@code item·inner + s}, and
   * the gradient into {@code grad} (the whole gradient array) or {@code sink}, or neither. Pass 1: the maximum over
   * classes per position, in float lanes; pass 2: \( e_c \) into scratch, \( O \) and the shift sum per position,
   * in double lanes; per position, the loss and the scale in double; pass 3: the gradient, rounded once; then the
   * target's element of each position.
   */
  static void kdimBlock(Tensor input, int classes, int inner, int item, int s0, int len, int[] target, int tBase,
      double[] w, double weightTotal, double eps, double[] upstream, double[] nll, double[] smooth, float[] grad,
      GradientSink sink, KdimScratch sc) {
    int stride = inner;
    int base = item * classes * inner + s0; // flat index of (item, 0, s0)
    float[] a;
    int off;
    int rowStride;
    if (input.floatArray() != null) {
      a = input.floatArray();
      off = input.offset() + base;
      rowStride = stride;
    } else {
      a = sc.x;
      off = 0;
      rowStride = len;
      float[] row = sc.row;
      for (int c = 0; c < classes; c++) {
        input.readFloats(base + c * stride, row, len);
        System.arraycopy(row, 0, a, c * len, len);
      }
    }
    int p0 = item * inner + s0; // position of s0
    boolean wantGrad = grad != null || sink != null;
    boolean smoothing = eps > 0;
    int fl = SF.length();
    int dl = SD.length();

    // Pass 1: the maximum over classes, per position.
    float[] mx = sc.max;
    kdimMax(a, off, rowStride, classes, len, mx);

    // Pass 2: e_c; per position R (the sum without the maxima, whose e is 1), their count, and the shift sum.
    kdimExp(a, off, rowStride, mx, len, classes, w, sc.e, sc.rest, sc.ties, smoothing ? sc.shift : null,
        smoothing);

    // Per position: the loss, the scale, and the target's gradient element.
    for (int j = 0; j < len; j++) {
      int pos = p0 + j - tBase;
      int t = target[pos];
      double m = mx[j];
      // A non-finite maximum makes the position NaN, as in the reference, where some x - m is NaN (the exponential's
      // clamp would have turned that into a number).
      double rest = Float.isFinite(mx[j]) ? sc.rest[j] : Double.NaN;
      // S = ties + R; log S = log1p(ties - 1 + R) keeps its relative accuracy when the maximum dominates. A NaN or
      // infinite maximum leaves no ties and R NaN: the position is NaN, as in the reference.
      double sum = sc.ties[j] + rest;
      double beyondOne = sc.ties[j] - 1 + rest;
      double logSum = Math.log1p(beyondOne);
      double wt = t < 0 ? 0 : w == null ? 1 : w[t];
      double xt = t < 0 ? 0 : (double) a[off + t * rowStride + j] - m;
      if (t >= 0) {
        nll[pos] = (logSum - xt) * wt;
        if (smoothing) {
          smooth[pos] = -(sc.shift[j] - logSum * weightTotal);
        }
      }
      double et = t >= 0 ? sc.e[t * len + j] : 0;
      double others = xt == 0 ? beyondOne : sum - et;
      if (wantGrad) {
        double g = upstream[pos];
        double k = g * ((1 - eps) * wt + (eps / classes) * weightTotal);
        double spread = g * (eps / classes);
        sc.scale[j] = k / sum;
        sc.negSpread[j] = -spread;
        sc.targetGrad[j] = t >= 0 ? targetGrad(g, wt, eps, spread, weightTotal, others, et, sum) : 0;
      }
    }
    if (!wantGrad) {
      return;
    }

    // Pass 3: the gradient, class row by class row, then each position's target element.
    float[] out = sink != null ? sc.grad : grad;
    int outBase = sink != null ? 0 : base;
    int outStride = sink != null ? len : stride;
    for (int c = 0; c < classes; c++) {
      int o = outBase + c * outStride;
      int er = c * len;
      double wc = w == null ? 1 : w[c];
      for (int j = 0; j < len; j += dl) {
        DoubleVector v = DoubleVector.fromArray(SD, sc.e, er + j).mul(DoubleVector.fromArray(SD, sc.scale, j));
        if (smoothing) {
          v = DoubleVector.fromArray(SD, sc.negSpread, j).fma(DoubleVector.broadcast(SD, wc), v);
        }
        ((FloatVector) v.convertShape(VectorOperators.D2F, SH, 0)).intoArray(out, o + j);
      }
    }
    for (int j = 0; j < len; j++) {
      int t = target[p0 + j - tBase];
      if (t >= 0) {
        out[outBase + t * outStride + j] = (float) sc.targetGrad[j];
      }
    }
    if (sink != null) {
      for (int c = 0; c < classes; c++) {
        sink.put(base + c * stride, out, c * len, len);
      }
    }
  }

  /**
   * Pass 1 of a K-dim block, the maximum over classes per position into {@code mx}, in a small method of its own. The
   * first class's row is copied with {@code System.arraycopy}: as a vector load stored at once, JDK 17's C2 failed
   * to intrinsify the store in the method's full compilation and boxed every vector (6.5 MB a call at
   * 4×21×512×512).
   */
  private static void kdimMax(float[] a, int off, int rowStride, int classes, int len, float[] mx) {
    int fl = SF.length();
    System.arraycopy(a, off, mx, 0, len);
    for (int c = 1; c < classes; c++) {
      int row = off + c * rowStride;
      for (int j = 0; j < len; j += fl) {
        FloatVector.fromArray(SF, mx, j).max(FloatVector.fromArray(SF, a, row + j)).intoArray(mx, j);
      }
    }
  }

  /**
   * Pass 2 of a K-dim block, in its own method so that the exponential is inlined, for {@link #SD}-lane chunks of
   * positions: stores \( e_c \) at {@code e[c·len + j]} and accumulates in registers over the classes, per
   * position, \( R \) (the sum of \( e_c \) where \( x_c \ne m \)), the number of classes where \( x_c = m \)
   * ({@code ties}) and, when {@code shift} is not null, \( \sum_c w_c (x_c - m) \).
   */
  private static void kdimExp(float[] a, int off, int rowStride, float[] mx, int len, int classes, double[] w,
      double[] e, double[] rest, double[] ties, double[] shift, boolean accurate) {
    int dl = SD.length();
    // The constants are made inside the loop, where C2 hoists them: made before it, they were boxed on every call
    // (once per block, 243 KB a call at 4×21×512×512).
    for (int j = 0; j < len; j += dl) {
      DoubleVector zero = DoubleVector.zero(SD);
      DoubleVector one = DoubleVector.broadcast(SD, 1.0);
      LongVector clamp = LongVector.broadcast(SL, CLAMP_BITS);
      DoubleVector negLog2e = DoubleVector.broadcast(SD, -LOG2E);
      DoubleVector round = DoubleVector.broadcast(SD, ROUND);
      DoubleVector vm = (DoubleVector) FloatVector.fromArray(SH, mx, j).convertShape(VectorOperators.F2D, SD, 0);
      DoubleVector vrest = zero;
      DoubleVector vties = zero;
      DoubleVector vshift = zero;
      for (int c = 0; c < classes; c++) {
        // d = m - x >= 0, clamped on its bits, and e = exp(-d), as in the rows' expPass (see there); a position
        // whose maximum is not finite is made NaN by the caller.
        DoubleVector d = vm.sub((DoubleVector) FloatVector.fromArray(SH, a, off + c * rowStride + j)
            .convertShape(VectorOperators.F2D, SD, 0));
        DoubleVector dc = ((LongVector) d.reinterpretAsLongs()).min(clamp).reinterpretAsDoubles();
        DoubleVector t = dc.fma(negLog2e, round);
        DoubleVector nv = t.sub(ROUND);
        DoubleVector r = accurate
            ? nv.fma(DoubleVector.broadcast(SD, LN2_HI), dc).add(nv.mul(DoubleVector.broadcast(SD, LN2_LO)))
            : nv.fma(DoubleVector.broadcast(SD, LN2), dc);
        DoubleVector r2 = r.mul(r);
        DoubleVector q;
        if (accurate) {
          DoubleVector r4 = r2.mul(r2);
          DoubleVector q01 = r.fma(DoubleVector.broadcast(SD, -Q1), DoubleVector.broadcast(SD, Q0));
          DoubleVector q23 = r.fma(DoubleVector.broadcast(SD, -Q3), DoubleVector.broadcast(SD, Q2));
          DoubleVector q45 = r.fma(DoubleVector.broadcast(SD, -Q5), DoubleVector.broadcast(SD, Q4));
          DoubleVector q67 = r.fma(DoubleVector.broadcast(SD, -Q7), DoubleVector.broadcast(SD, Q6));
          q = q23.fma(r2, q01).add(q67.fma(r2, q45).mul(r4));
        } else {
          DoubleVector q01 = r.fma(DoubleVector.broadcast(SD, -F1), DoubleVector.broadcast(SD, F0));
          DoubleVector q23 = r.fma(DoubleVector.broadcast(SD, -F3), DoubleVector.broadcast(SD, F2));
          q = r2.fma(DoubleVector.broadcast(SD, F4), q23).fma(r2, q01);
        }
        DoubleVector v = q.fma(r2, one.sub(r)).reinterpretAsLongs()
            .add(t.reinterpretAsLongs().lanewise(VectorOperators.LSHL, 52)).reinterpretAsDoubles();
        v.intoArray(e, c * len + j);
        VectorMask<Double> isMax = d.compare(VectorOperators.EQ, 0.0);
        vrest = vrest.add(v.blend(zero, isMax));
        vties = vties.add(zero.blend(one, isMax));
        if (shift != null) {
          vshift = d.fma(DoubleVector.broadcast(SD, w == null ? 1 : w[c]), vshift);
        }
      }
      vrest.intoArray(rest, j);
      vties.intoArray(ties, j);
      if (shift != null) {
        // The sum of w·d, negated: exactly the sum of w·(x - m).
        vshift.neg().intoArray(shift, j);
      }
    }
  }
}
