package dev.losskit.core;

import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * The fused negative log-likelihood kernel, for every layout. The loss reads one element per position, so it is
 * O(N); the gradient, \( -w_t\,g \) at the target class and 0 elsewhere, is written in one parallel pass: each
 * chunk of positions clears its own block of the gradient and sets its targets while the block is in cache. A
 * caller's NIO buffer is written in place. Extra memory is O(N) besides the gradient.
 *
 * <p>Per-position losses are formed in parallel and summed in position order in double, exactly as the reference
 * kernel ({@link ReferenceNll}) sums them, so both give the same bits; the tests check this.
 */
final class FastNll {
  private FastNll() {}

  static LossResult run(ClassProblem p, ClassOptions o, Request r) {
    double[] weight = o.weight();
    long ignoreIndex = o.ignoreIndex();
    Reduction reduction = o.reduction();
    Tensor gradOutput = r.gradOutput();
    boolean wantLoss = r.wantLoss();
    boolean wantGrad = r.wantGrad();
    DType dtype = r.resultType(p.input.dtype()); // float32 for a half input under autocast
    int positions = p.positions();
    int classes = p.classes;
    int inner = p.inner;
    double[] w = ReferenceKernels.weightsFor(weight, classes, dtype);
    ClassProblem.Targets targets = p.indexTargets(ignoreIndex, w);
    int[] target = targets.index();
    double weightSum = targets.weightSum();
    double[] perPosition = new double[positions];
    double ws = weightSum;
    int numel = p.input.numel();
    FloatBuffer sink = wantGrad && dtype == DType.FLOAT32 ? r.out().floatSink(numel) : null;
    float[] gradF = wantGrad && dtype == DType.FLOAT32 && sink == null ? r.out().floats(numel) : null;
    double[] gradD = wantGrad && dtype == DType.FLOAT64 ? r.out().doubles(numel) : null;
    // Half inputs: a new half gradient (zeros already), each target element rounded once from double.
    GradientSink half = wantGrad && dtype.isHalf() ? GradientSink.half(dtype, numel) : null;
    // Chunks of whole batch items: item n owns the block [n·C·inner, (n+1)·C·inner) of the gradient.
    int block = classes * inner;
    int minItems = Math.max(1, 65536 / Math.max(1, block));
    Parallelism.forChunks(p.batch, minItems, (from, to) -> {
      float[] zeros = sink != null ? new float[Math.min(block, 65536)] : null;
      FloatBuffer out = sink != null ? sink.duplicate() : null;
      for (int n = from; n < to; n++) {
        int base = n * block;
        if (gradF != null) {
          Arrays.fill(gradF, base, base + block, 0f);
        } else if (gradD != null) {
          Arrays.fill(gradD, base, base + block, 0d);
        } else if (out != null) {
          for (int i = 0; i < block; i += zeros.length) {
            out.put(base + i, zeros, 0, Math.min(zeros.length, block - i));
          }
        }
        for (int s = 0; s < inner; s++) {
          int pos = n * inner + s;
          int t = target[pos];
          if (t < 0) {
            continue;
          }
          int at = base + t * inner + s;
          perPosition[pos] = -p.input.getDouble(at) * w[t];
          if (wantGrad) {
            double v = -w[t] * ReferenceCrossEntropy.upstream(reduction, gradOutput, pos, ws);
            if (gradF != null) {
              gradF[at] = (float) v;
            } else if (gradD != null) {
              gradD[at] = v;
            } else if (out != null) {
              out.put(at, (float) v);
            } else {
              half.put(at, v);
            }
          }
        }
      }
      return 0;
    });
    Tensor loss = null;
    if (wantLoss) {
      double sum = 0;
      for (int pos = 0; pos < positions; pos++) {
        if (target[pos] >= 0) {
          sum += perPosition[pos];
        }
      }
      loss = ReferenceKernels.reduce(dtype, reduction, perPosition, p.lossShape, sum, sum / weightSum);
    }
    Tensor grad = !wantGrad ? null
        : sink != null ? Tensor.view(sink, 0, p.input.shape())
        : half != null ? half.tensor(p.input.shape())
        : gradF != null ? Tensor.of(gradF, p.input.shape()) : Tensor.of(gradD, p.input.shape());
    return new LossResult(loss, grad);
  }
}
