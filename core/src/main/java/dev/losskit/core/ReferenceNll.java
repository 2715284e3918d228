package dev.losskit.core;

/**
 * The reference negative log-likelihood loss, as libtorch's {@code nll_loss} / {@code nll_loss2d}: the input holds
 * log-probabilities and is not normalised. At a non-ignored position with target \( t \) and weight \( w \) (ones
 * when absent), \( \ell = -x_t\,w_t \); an ignored position gives 0. {@code mean} divides the sum by
 * \( W = \sum w_t \) over the non-ignored positions. The gradient is \( -w_t\,g \) at the target class and 0
 * elsewhere.
 */
final class ReferenceNll {
  private ReferenceNll() {}

  static LossResult run(ClassProblem p, ClassOptions o, Request r) {
    double[] weight = o.weight();
    long ignoreIndex = o.ignoreIndex();
    Reduction reduction = o.reduction();
    Tensor gradOutput = r.gradOutput();
    DType dtype = p.input.dtype();
    int positions = p.positions();
    double[] w = ReferenceKernels.weightsFor(weight, p.classes, dtype);

    double[] perPosition = new double[positions];
    double sum = 0;
    double weightSum = 0;
    for (int pos = 0; pos < positions; pos++) {
      long t = p.target.getLong(pos);
      if (t == ignoreIndex) {
        continue;
      }
      int target = (int) t;
      perPosition[pos] = -p.input.getDouble(p.at(pos, target)) * w[target];
      sum += perPosition[pos];
      weightSum += w[target];
    }

    Tensor loss = !r.wantLoss() ? null
        : ReferenceKernels.reduce(dtype, reduction, perPosition, p.lossShape, sum, sum / weightSum);
    if (!r.wantGrad()) {
      return new LossResult(loss, null);
    }

    double[] grad = new double[p.input.numel()];
    for (int pos = 0; pos < positions; pos++) {
      long t = p.target.getLong(pos);
      if (t != ignoreIndex) {
        int target = (int) t;
        double g = ReferenceCrossEntropy.upstream(reduction, gradOutput, pos, weightSum);
        grad[p.at(pos, target)] = -w[target] * g;
      }
    }
    return new LossResult(loss, ReferenceKernels.tensor(dtype, grad, p.input.shape()));
  }
}
