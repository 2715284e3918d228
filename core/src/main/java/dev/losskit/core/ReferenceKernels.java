package dev.losskit.core;

/**
 * Helpers shared by the reference kernels: they read like the formulas and compute in double precision, rounding
 * once at the end to the input's dtype.
 */
final class ReferenceKernels {
  private ReferenceKernels() {}

  /**
   * The log-softmax over the class dimension, position-major: {@code logp[p·C + c]}.
   *
   * <p>\( \log p_c = (x_c - m) - \log \sum_j e^{x_j - m} \) with \( m = \max_j x_j \), as libtorch computes it: a
   * NaN anywhere in a row makes the row NaN, and so does a {@code +inf} or an all-{@code -inf} row.
   */
  static double[] logSoftmax(ClassProblem p) {
    int positions = p.positions();
    int classes = p.classes;
    double[] logp = new double[positions * classes];
    for (int pos = 0; pos < positions; pos++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int c = 0; c < classes; c++) {
        max = Math.max(max, p.input.getDouble(p.at(pos, c)));
      }
      double sum = 0;
      for (int c = 0; c < classes; c++) {
        sum += Math.exp(p.input.getDouble(p.at(pos, c)) - max);
      }
      double logSum = Math.log(sum);
      for (int c = 0; c < classes; c++) {
        logp[pos * classes + c] = p.input.getDouble(p.at(pos, c)) - max - logSum;
      }
    }
    return logp;
  }

  /**
   * The weights as the computation sees them: ones when absent, and rounded to float for float32 inputs, because
   * PyTorch holds a float32 loss's weight in float32.
   */
  static double[] weightsFor(double[] weight, int count, DType dtype) {
    double[] w = new double[count];
    for (int i = 0; i < count; i++) {
      w[i] = weight == null ? 1.0 : roundTo(dtype, weight[i]);
    }
    return w;
  }

  static double roundTo(DType dtype, double v) {
    switch (dtype) {
      case FLOAT32:
        return (float) v;
      case FLOAT16:
        return HalfFloats.float16ToFloat(HalfFloats.doubleToFloat16(v));
      case BFLOAT16:
        return HalfFloats.bfloat16ToFloat(HalfFloats.doubleToBfloat16(v));
      default:
        return v;
    }
  }

  /** The upstream gradient at the scalar loss: {@code gradOutput}'s single element, or 1 when absent. */
  static double scalarGrad(Tensor gradOutput) {
    return gradOutput == null ? 1.0 : gradOutput.getDouble(0);
  }

  /** The upstream gradient of position {@code pos} of an unreduced loss, or 1 when absent. */
  static double positionGrad(Tensor gradOutput, int pos) {
    return gradOutput == null ? 1.0 : gradOutput.getDouble(pos);
  }

  /**
   * The backward of log-softmax at one position: \( \partial x_c = \partial\log p_c - p_c \sum_j \partial\log p_j \),
   * computed for every position, ignored ones included, as libtorch does (so a NaN row stays NaN).
   */
  static void logSoftmaxBackward(ClassProblem p, double[] logp, int pos, double[] dLogp, double[] gradInput) {
    int classes = p.classes;
    double dSum = 0;
    for (int c = 0; c < classes; c++) {
      dSum += dLogp[c];
    }
    for (int c = 0; c < classes; c++) {
      gradInput[p.at(pos, c)] = dLogp[c] - Math.exp(logp[pos * classes + c]) * dSum;
    }
  }

  /**
   * The loss as the reduction asks for it, in the input's dtype: the per-position values for {@code none}, else
   * the given sum or mean.
   */
  static Tensor reduce(DType dtype, Reduction reduction, double[] perPosition, int[] shape, double sum,
      double mean) {
    switch (reduction) {
      case NONE:
        return tensor(dtype, perPosition, shape);
      case SUM:
        return scalar(dtype, sum);
      case MEAN:
        return scalar(dtype, mean);
      default:
        throw new AssertionError(reduction);
    }
  }

  /** Wraps per-position or scalar results in a tensor of the input's dtype. */
  static Tensor tensor(DType dtype, double[] values, int[] shape) {
    return Tensor.fromDoubles(dtype, values, shape);
  }

  static Tensor scalar(DType dtype, double value) {
    return Tensor.fromDoubles(dtype, new double[] {value}, new int[0]);
  }
}
