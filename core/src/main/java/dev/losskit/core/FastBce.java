package dev.losskit.core;

import dev.losskit.core.FastBceWithLogits.Operand;

/**
 * The fused kernel of {@link BceLoss}: loss and gradient block by block, in parallel chunks, with no temporary
 * beyond the gradient and per-block scratch. A weight either has the input's shape or broadcasts along the last
 * dimension (other broadcasts use the reference kernel). Float32 inputs of at least {@link #VECTOR_MIN_ELEMENTS}
 * elements use the Vector API ({@code VectorBceProbability}: heap arrays or buffers, every reduction) in double
 * lanes rounded once to float; everything else is double scalar code with {@link Math#log} and
 * {@link Math#log1p}. The loss sum is taken per block of {@link FastBceWithLogits#BLOCK} elements at fixed indices
 * and the blocks' sums added in order, so results depend neither on timing nor on the number of threads.
 */
final class FastBce {
  private FastBce() {}

  /** Inputs at least this large use vectors. */
  static final int VECTOR_MIN_ELEMENTS = 64;

  private static final int BLOCK = FastBceWithLogits.BLOCK;

  /** {@return the first index whose value is outside [0, 1] or NaN, or -1} */
  static int firstOutsideUnit(Tensor t) {
    int n = t.numel();
    if (t.floatArray() != null && VectorSupport.AVAILABLE) {
      return VectorBceProbability.firstOutsideUnit(t.floatArray(), t.offset(), n);
    }
    for (int i = 0; i < n; i++) {
      double v = t.getDouble(i);
      if (!(v >= 0 && v <= 1)) {
        return i;
      }
    }
    return -1;
  }

  static LossResult run(Tensor input, Tensor target, Reduction reduction, Operand weight, Request r) {
    Tensor gradOutput = r.gradOutput();
    boolean wantLoss = r.wantLoss();
    boolean wantGrad = r.wantGrad();
    DType dtype = input.dtype();
    int n = input.numel();
    int[] shape = input.shape();
    boolean none = reduction == Reduction.NONE;
    boolean vector = dtype == DType.FLOAT32 && n >= VECTOR_MIN_ELEMENTS && VectorSupport.AVAILABLE
        && !(none && wantGrad && gradOutput != null && gradOutput.dtype() != DType.FLOAT32);
    double[] perElement = wantLoss && none ? new double[n] : null;
    java.nio.FloatBuffer sink = wantGrad && vector ? r.out().floatSink(n) : null;
    float[] gradF = wantGrad && dtype == DType.FLOAT32 && sink == null ? r.out().floats(n) : null;
    double[] gradD = wantGrad && dtype == DType.FLOAT64 ? r.out().doubles(n) : null;
    double scale = none ? 1 : ReferenceKernels.scalarGrad(gradOutput);
    if (reduction == Reduction.MEAN) {
      scale /= n;
    }
    double epsilon = ReferenceKernels.roundTo(dtype, ReferenceBce.EPSILON);
    int blocks = (n + BLOCK - 1) / BLOCK;
    double[] sums = new double[blocks];
    boolean wantSum = wantLoss && !none;
    Tensor upstream = none && wantGrad ? gradOutput : null;
    double[] w = weight == null ? null : weight.expanded(n);
    double s = scale;
    Parallelism.forChunks(blocks, Math.max(1, 65536 / BLOCK), (fromBlock, toBlock) -> {
      if (!vector) {
        for (int k = fromBlock; k < toBlock; k++) {
          int from = k * BLOCK;
          sums[k] = scalarRange(input, target, weight, from, Math.min(n, from + BLOCK), none, upstream, s, epsilon,
              perElement, gradF, gradD);
        }
        return 0;
      }
      float[] xs = input.floatArray() == null ? new float[BLOCK] : null;
      float[] ys = target.floatArray() == null ? new float[BLOCK] : null;
      float[] gs = upstream != null && upstream.floatArray() == null ? new float[BLOCK] : null;
      float[] row = sink != null ? new float[BLOCK] : null;
      java.nio.FloatBuffer out = sink == null ? null : sink.duplicate();
      double[] lanes = new double[VectorBceProbability.scratchLanes()];
      for (int k = fromBlock; k < toBlock; k++) {
        int from = k * BLOCK;
        int len = Math.min(n, from + BLOCK) - from;
        if (xs != null) {
          input.readFloats(from, xs, len);
        }
        if (ys != null) {
          target.readFloats(from, ys, len);
        }
        if (gs != null) {
          upstream.readFloats(from, gs, len);
        }
        float[] ga = upstream == null ? null : gs != null ? gs : upstream.floatArray();
        float[] gradOut = !wantGrad ? null : row != null ? row : gradF;
        sums[k] = VectorBceProbability.block(new VectorBceProbability.Block(
            xs != null ? xs : input.floatArray(), xs != null ? 0 : input.offset() + from,
            ys != null ? ys : target.floatArray(), ys != null ? 0 : target.offset() + from,
            w, w == null ? 0 : weight.offset(from),
            ga, ga == null ? 0 : gs != null ? 0 : upstream.offset() + from, s, epsilon, len,
            perElement, from, wantSum, gradOut, row != null ? 0 : from), lanes);
        if (out != null) {
          out.put(from, row, 0, len);
        }
      }
      return 0;
    });
    Tensor loss = null;
    if (wantLoss) {
      double sum = 0;
      for (double v : sums) {
        sum += v;
      }
      loss = ReferenceKernels.reduce(dtype, reduction, perElement, shape, sum, n == 0 ? Double.NaN : sum / n);
    }
    Tensor grad = !wantGrad ? null
        : sink != null ? Tensor.view(sink, 0, shape)
        : gradF != null ? Tensor.of(gradF, shape) : Tensor.of(gradD, shape);
    return new LossResult(loss, grad);
  }

  /**
   * Elements [from, to) in double, as {@link ReferenceBce}: returns their loss sum, and fills the per-element loss
   * and the gradient ({@code scale} times the element's, or the upstream gradient's element for {@code none}).
   */
  private static double scalarRange(Tensor input, Tensor target, Operand weight, int from, int to, boolean none,
      Tensor upstream, double scale, double epsilon, double[] perElement, float[] gradF, double[] gradD) {
    double sum = 0;
    for (int i = from; i < to; i++) {
      double x = input.getDouble(i);
      double y = target.getDouble(i);
      double w = weight == null ? 1 : weight.at(i);
      double l = (y - 1) * ReferenceBce.clampedLog(Math.log1p(-x)) - y * ReferenceBce.clampedLog(Math.log(x));
      if (weight != null) {
        l *= w;
      }
      sum += l;
      if (perElement != null) {
        perElement[i] = l;
      }
      if (gradF != null || gradD != null) {
        double d = (x - y) / Math.max((1 - x) * x, epsilon);
        if (weight != null) {
          d *= w;
        }
        double g = none ? (upstream == null ? 1 : upstream.getDouble(i)) : scale;
        if (gradF != null) {
          gradF[i] = (float) (d * g);
        } else {
          gradD[i] = d * g;
        }
      }
    }
    return sum;
  }
}
