package dev.losskit.core;

/**
 * The fused BCE-with-logits kernel: loss and gradient in one elementwise pass, in parallel chunks, with no
 * temporary beyond the gradient. Weights and positive weights either have the input's shape or broadcast along
 * the last dimension (shape {@code (L)} or {@code (1, ..., 1, L)}); other broadcasts use the reference kernel.
 * Large float32 inputs use the Vector API; everything else is double scalar code. Per-chunk loss sums are double,
 * added in chunk order, so results do not depend on timing.
 */
final class FastBceWithLogits {
  private FastBceWithLogits() {}

  /** Inputs at least this large use float vectors. */
  static final int VECTOR_MIN_ELEMENTS = 4096;

  /** The operand's values as the kernel reads them: a period (1 for a scalar, L, or numel) and the values. */
  record Operand(double[] values, float[] floats, int period) {
    double at(int i) {
      return values[i % period];
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
    float[] f = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      v[i] = ReferenceKernels.roundTo(dtype, v[i]);
      f[i] = (float) v[i];
    }
    return new Operand(v, f, period);
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
    boolean vector = dtype == DType.FLOAT32 && n >= VECTOR_MIN_ELEMENTS && VectorSupport.AVAILABLE
        && input.floatArray() != null && target.floatArray() != null
        && reduction != Reduction.NONE;
    double[] perElement = wantLoss && reduction == Reduction.NONE ? new double[n] : null;
    float[] gradF = wantGrad && dtype == DType.FLOAT32 ? r.out().floats(n) : null;
    double[] gradD = wantGrad && dtype == DType.FLOAT64 ? r.out().doubles(n) : null;
    double scalarGrad = reduction == Reduction.NONE ? 1 : ReferenceKernels.scalarGrad(gradOutput);
    double scale = reduction == Reduction.MEAN ? scalarGrad / n : scalarGrad;
    int chunkCount = Math.max(1, Math.min(Parallelism.get(), n / 65536));
    double[] sums = new double[chunkCount];
    Parallelism.forChunks(chunkCount, 1, (fromChunk, toChunk) -> {
      for (int k = fromChunk; k < toChunk; k++) {
        int from = (int) ((long) n * k / chunkCount);
        int to = (int) ((long) n * (k + 1) / chunkCount);
        sums[k] = vector
            ? VectorBce.bceRange(input.floatArray(), input.offset(), target.floatArray(), target.offset(),
                weight == null ? null : weight.floats(), weight == null ? 0 : weight.period(),
                posWeight == null ? null : posWeight.floats(), posWeight == null ? 0 : posWeight.period(),
                from, to, (float) scale, gradF)
            : scalarRange(input, target, weight, posWeight, from, to, reduction, gradOutput, scale, perElement,
                gradF, gradD);
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
    Tensor grad = !wantGrad ? null : gradF != null ? Tensor.of(gradF, shape) : Tensor.of(gradD, shape);
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
