package dev.losskit.core;

/**
 * The reference cross-entropy: plain loops over positions and classes that read like libtorch's definition
 * ({@code cross_entropy_loss_label_smoothing} and {@code cross_entropy_loss_prob_target} in
 * {@code aten/src/ATen/native/LossNLL.cpp}). Every value is computed in double precision and rounded once.
 *
 * <p>Class-index targets, with \( \log p = \mathrm{logsoftmax}(x) \), weight \( w \) (ones when absent), smoothing
 * \( \varepsilon \) and \( C \) classes, at a non-ignored position with target \( t \):
 * \[ \ell_{nll} = -w_t \log p_t, \qquad \ell_{s} = -\sum_c w_c \log p_c, \qquad
 *    \ell = (1-\varepsilon)\,\ell_{nll} + \tfrac{\varepsilon}{C}\,\ell_{s} \]
 * (just \( \ell_{nll} \) when \( \varepsilon = 0 \)); an ignored position contributes 0. {@code mean} divides both
 * sums by \( W = \sum w_t \) over the non-ignored positions, so an empty or all-ignored batch gives NaN.
 *
 * <p>Class-probability targets \( y \) are smoothed to \( y' = y(1-\varepsilon) + \varepsilon/C \), and
 * \( \ell = -\sum_c \log p_c \, y'_c \, w_c \). {@code mean} divides by the number of positions \( N d_1 \cdots d_k \).
 */
final class ReferenceCrossEntropy {
  private ReferenceCrossEntropy() {}

  static LossResult indexTargets(ClassProblem p, ClassOptions o, Request r) {
    double[] weight = o.weight();
    long ignoreIndex = o.ignoreIndex();
    double eps = o.labelSmoothing();
    Reduction reduction = o.reduction();
    Tensor gradOutput = r.gradOutput();
    DType dtype = p.input.dtype();
    int positions = p.positions();
    int classes = p.classes;
    double[] w = ReferenceKernels.weightsFor(weight, classes, dtype);
    double[] logp = ReferenceKernels.logSoftmax(p);

    double[] perPosition = new double[positions];
    double nllSum = 0;
    double smoothSum = 0;
    double weightSum = 0;
    for (int pos = 0; pos < positions; pos++) {
      long t = p.target.getLong(pos);
      if (t == ignoreIndex) {
        continue;
      }
      int target = (int) t;
      double nll = -logp[pos * classes + target] * w[target];
      weightSum += w[target];
      nllSum += nll;
      if (eps > 0) {
        double smooth = 0;
        for (int c = 0; c < classes; c++) {
          smooth += logp[pos * classes + c] * w[c];
        }
        smooth = -smooth;
        smoothSum += smooth;
        perPosition[pos] = (1 - eps) * nll + smooth * (eps / classes);
      } else {
        perPosition[pos] = nll;
      }
    }

    Tensor loss = !r.wantLoss() ? null : ReferenceKernels.reduce(dtype, reduction, perPosition, p.lossShape,
        combine(nllSum, smoothSum, eps, classes),
        combine(nllSum / weightSum, smoothSum / weightSum, eps, classes));
    if (!r.wantGrad()) {
      return new LossResult(loss, null);
    }

    double[] grad = new double[p.input.numel()];
    double[] dLogp = new double[classes];
    for (int pos = 0; pos < positions; pos++) {
      java.util.Arrays.fill(dLogp, 0.0);
      long t = p.target.getLong(pos);
      if (t != ignoreIndex) {
        double g = upstream(reduction, gradOutput, pos, weightSum);
        int target = (int) t;
        if (eps > 0) {
          for (int c = 0; c < classes; c++) {
            dLogp[c] = -(eps / classes) * w[c] * g;
          }
          dLogp[target] += -(1 - eps) * w[target] * g;
        } else {
          dLogp[target] = -w[target] * g;
        }
      }
      ReferenceKernels.logSoftmaxBackward(p, logp, pos, dLogp, grad);
    }
    return new LossResult(loss, ReferenceKernels.tensor(dtype, grad, p.input.shape()));
  }

  static LossResult probabilityTargets(ClassProblem p, ClassOptions o, Request r) {
    double[] weight = o.weight();
    double eps = o.labelSmoothing();
    Reduction reduction = o.reduction();
    Tensor gradOutput = r.gradOutput();
    DType dtype = p.input.dtype();
    int positions = p.positions();
    int classes = p.classes;
    double[] w = ReferenceKernels.weightsFor(weight, classes, dtype);
    double[] logp = ReferenceKernels.logSoftmax(p);
    // mean divides by N·d1···dk (input.numel() / C); an empty input gives NaN.
    double count = p.input.numel() == 0 ? Double.NaN : positions;

    Tensor loss = null;
    if (r.wantLoss()) {
      double[] perPosition = new double[positions];
      double sum = 0;
      for (int pos = 0; pos < positions; pos++) {
        double l = 0;
        for (int c = 0; c < classes; c++) {
          l += logp[pos * classes + c] * smoothed(p, pos, c, eps) * w[c];
        }
        perPosition[pos] = -l;
        sum += -l;
      }
      loss = ReferenceKernels.reduce(dtype, reduction, perPosition, p.lossShape, sum, sum / count);
    }
    if (!r.wantGrad()) {
      return new LossResult(loss, null);
    }

    double[] grad = new double[p.input.numel()];
    double[] dLogp = new double[classes];
    for (int pos = 0; pos < positions; pos++) {
      double g = upstream(reduction, gradOutput, pos, count);
      for (int c = 0; c < classes; c++) {
        dLogp[c] = -smoothed(p, pos, c, eps) * w[c] * g;
      }
      ReferenceKernels.logSoftmaxBackward(p, logp, pos, dLogp, grad);
    }
    return new LossResult(loss, ReferenceKernels.tensor(dtype, grad, p.input.shape()));
  }

  /** \( y'_c = y_c(1-\varepsilon) + \varepsilon/C \), or \( y_c \) when \( \varepsilon = 0 \). */
  private static double smoothed(ClassProblem p, int pos, int c, double eps) {
    double y = p.target.getDouble(p.at(pos, c));
    return eps > 0 ? y * (1 - eps) + eps / p.classes : y;
  }

  /** \( (1-\varepsilon)\,a + b\,\varepsilon/C \), or just \( a \) without smoothing (b is then never formed). */
  private static double combine(double nll, double smooth, double eps, int classes) {
    return eps > 0 ? (1 - eps) * nll + smooth * (eps / classes) : nll;
  }

  /** The gradient reaching one position's loss: per position for none, shared for sum, divided for mean. */
  static double upstream(Reduction reduction, Tensor gradOutput, int pos, double meanDivisor) {
    switch (reduction) {
      case NONE:
        return ReferenceKernels.positionGrad(gradOutput, pos);
      case SUM:
        return ReferenceKernels.scalarGrad(gradOutput);
      case MEAN:
        return ReferenceKernels.scalarGrad(gradOutput) / meanDivisor;
      default:
        throw new AssertionError(reduction);
    }
  }
}
