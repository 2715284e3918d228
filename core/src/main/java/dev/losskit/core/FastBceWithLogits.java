package dev.losskit.core;

/**
 * The fused BCE-with-logits kernel: loss and gradient block by block (a pass over each block's elements, in cache),
 * in parallel chunks, with no temporary beyond the gradient and per-block scratch. Weights and positive weights either have the input's shape or broadcast along
 * the last dimension (shape {@code (L)} or {@code (1, ..., 1, L)}); other broadcasts use the reference kernel.
 * Float32 inputs use the Vector API (heap arrays or buffers, every reduction, the gradient into the caller's array
 * or buffer), in double lanes rounded once to float; everything else is double scalar code. The loss sum is
 * accumulated per block of {@link #BLOCK} elements, blocks at fixed indices, and the blocks' sums are added in
 * order, so results depend neither on timing nor on the number of threads.
 */
final class FastBceWithLogits {
  private FastBceWithLogits() {}

  /** Inputs at least this large use vectors. */
  static final int VECTOR_MIN_ELEMENTS = 64;

  /** Elements per block: the unit of work and of the loss sum. */
  static final int BLOCK = 2048;

  /** The operand's values as the kernel reads them: a period (1 for a scalar, L, or numel) and the values. */
  record Operand(double[] values, int period) {
    double at(int i) {
      return values[i % period];
    }

    /**
     * The values laid out so that the elements of the block from index {@code b} read theirs contiguously from
     * {@link #offset(int)}: the values themselves when the period is the element count, else
     * {@code period + BLOCK} of them repeated.
     */
    double[] expanded(int n) {
      if (period == n) {
        return values;
      }
      double[] e = new double[period + BLOCK];
      for (int i = 0; i < e.length; i++) {
        e[i] = values[i % period];
      }
      return e;
    }

    /** {@return where the block from index {@code b} starts in {@link #expanded}} */
    int offset(int b) {
      return b % period;
    }
  }

  /** {@return the operand in a form this kernel reads, or null when its broadcast needs the reference kernel} */
  static Operand operand(Broadcast b, int[] shape, DType dtype) {
    int[] s = b.shape();
    int n = Tensor.checkedSize(shape);
    int size = Tensor.checkedSize(s);
    int last = shape.length == 0 ? 1 : shape[shape.length - 1];
    boolean lastDim = true;
    for (int k = 0; k < s.length - 1; k++) {
      lastDim &= s[k] == 1;
    }
    int period;
    if (size == 1) {
      period = 1;
    } else if (size == n && java.util.Arrays.equals(s, shape)) {
      period = n;
    } else if (lastDim && s.length > 0 && s[s.length - 1] == last) {
      period = last;
    } else {
      return null;
    }
    double[] v = b.toTensor().toDoubleArray();
    for (int i = 0; i < v.length; i++) {
      v[i] = ReferenceKernels.roundTo(dtype, v[i]);
    }
    return new Operand(v, period);
  }

  /**
   * The options this kernel reads.
   *
   * @param reduction the reduction
   * @param weight the weight, or null for none
   * @param posWeight the positive-class weight, or null for none
   */
  record Options(Reduction reduction, Operand weight, Operand posWeight) {}

  static LossResult run(Tensor input, Tensor target, Options o, Request r) {
    Operand weight = o.weight();
    Operand posWeight = o.posWeight();
    Reduction reduction = o.reduction();
    Tensor gradOutput = r.gradOutput();
    boolean wantLoss = r.wantLoss();
    boolean wantGrad = r.wantGrad();
    DType dtype = input.dtype();
    int n = input.numel();
    int[] shape = input.shape();
    boolean none = reduction == Reduction.NONE;
    boolean vector = dtype == DType.FLOAT32 && target.dtype() == DType.FLOAT32 && n >= VECTOR_MIN_ELEMENTS
        && VectorSupport.AVAILABLE && !(none && wantGrad && gradOutput != null && gradOutput.dtype() != DType.FLOAT32);
    double[] perElement = wantLoss && none ? new double[n] : null;
    java.nio.FloatBuffer sink = wantGrad && vector ? r.out().floatSink(n) : null;
    float[] gradF = wantGrad && dtype == DType.FLOAT32 && sink == null ? r.out().floats(n) : null;
    double[] gradD = wantGrad && dtype == DType.FLOAT64 ? r.out().doubles(n) : null;
    double scalarGrad = none ? 1 : ReferenceKernels.scalarGrad(gradOutput);
    double scale = reduction == Reduction.MEAN ? scalarGrad / n : scalarGrad;
    int blocks = (n + BLOCK - 1) / BLOCK;
    double[] sums = new double[blocks];
    boolean wantSum = wantLoss && !none;
    Tensor upstream = none && wantGrad ? gradOutput : null;
    double[] w = weight == null ? null : weight.expanded(n);
    double[] pw = posWeight == null ? null : posWeight.expanded(n);
    Parallelism.forChunks(blocks, Math.max(1, 65536 / BLOCK), (fromBlock, toBlock) -> {
      if (!vector) {
        for (int k = fromBlock; k < toBlock; k++) {
          int from = k * BLOCK;
          sums[k] = scalarRange(input, target, weight, posWeight, from, Math.min(n, from + BLOCK), reduction,
              gradOutput, scale, perElement, gradF, gradD);
        }
        return 0;
      }
      float[] xs = input.floatArray() == null ? new float[BLOCK] : null;
      float[] ys = target.floatArray() == null ? new float[BLOCK] : null;
      float[] gs = upstream != null && upstream.floatArray() == null ? new float[BLOCK] : null;
      float[] row = sink != null ? new float[BLOCK] : null;
      java.nio.FloatBuffer out = sink == null ? null : sink.duplicate();
      double[] lanes = new double[VectorBce.scratchLanes()];
      double[] ex = new double[BLOCK];
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
        sums[k] = VectorBce.block(xs != null ? xs : input.floatArray(), xs != null ? 0 : input.offset() + from,
            ys != null ? ys : target.floatArray(), ys != null ? 0 : target.offset() + from,
            w, w == null ? 0 : weight.offset(from), pw, pw == null ? 0 : posWeight.offset(from),
            ga, ga == null ? 0 : gs != null ? 0 : upstream.offset() + from, scale, len,
            perElement, from, wantSum, !wantGrad ? null : row != null ? row : gradF, row != null ? 0 : from, lanes, ex);
        if (out != null) {
          out.put(from, row, 0, len);
        }
      }
      return 0;
    });
    Tensor loss = null;
    if (wantLoss) {
      double sum = 0;
      for (double s : sums) {
        sum += s;
      }
      loss = ReferenceKernels.reduce(dtype, reduction, perElement, shape, sum, n == 0 ? Double.NaN : sum / n);
    }
    Tensor grad = !wantGrad ? null
        : sink != null ? Tensor.view(sink, 0, shape)
        : gradF != null ? Tensor.of(gradF, shape) : Tensor.of(gradD, shape);
    return new LossResult(loss, grad);
  }

  /** Elements [from, to) in double: returns their loss sum, and fills the per-element loss and the gradient. */
  private static double scalarRange(Tensor input, Tensor target, Operand weight, Operand posWeight, int from,
      int to, Reduction reduction, Tensor gradOutput, double scale, double[] perElement, float[] gradF,
      double[] gradD) {
    double sum = 0;
    for (int i = from; i < to; i++) {
      double x = input.getDouble(i);
      double y = target.getDouble(i);
      double logSigmoid = Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x)));
      double p = posWeight == null ? 1 : posWeight.at(i);
      double w = weight == null ? 1 : weight.at(i);
      double l = (1 - y) * x - (posWeight == null ? 1 : (p - 1) * y + 1) * logSigmoid;
      if (weight != null) {
        l *= w;
      }
      sum += l;
      if (perElement != null) {
        perElement[i] = l;
      }
      if (gradF != null || gradD != null) {
        double sigmoid = 1 / (1 + Math.exp(-x));
        double d;
        if (posWeight != null) {
          double py = p * y;
          d = (py + 1 - y) * sigmoid - py;
        } else {
          d = sigmoid - y;
        }
        if (weight != null) {
          d *= w;
        }
        double g = reduction == Reduction.NONE ? ReferenceKernels.positionGrad(gradOutput, i) : scale;
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
