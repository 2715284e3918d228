package dev.losskit.core;

/**
 * The reference binary cross-entropy with logits, as libtorch's {@code binary_cross_entropy_with_logits}
 * ({@code aten/src/ATen/native/Loss.cpp}), element by element in double precision:
 * \[ \ell = \big((1-y)\,x - (1 + (p-1)\,y)\,\log\sigma(x)\big)\,w, \qquad
 *    \log\sigma(x) = \min(x, 0) - \operatorname{log1p}(e^{-|x|}) \]
 * with \( p \) the broadcast {@code pos_weight} and \( w \) the broadcast {@code weight} (ones when absent).
 * The gradient is \( \big((p y + 1 - y)\,\sigma(x) - p y\big)\,w\,g \), or \( (\sigma(x) - y)\,w\,g \) without
 * {@code pos_weight}; {@code mean} divides by the number of elements (NaN when there are none).
 */
final class ReferenceBceWithLogits {
  private ReferenceBceWithLogits() {}

  static LossResult run(Tensor input, Tensor target, Broadcast weight, Broadcast posWeight, Reduction reduction,
      Request r) {
    Tensor gradOutput = r.gradOutput();
    DType dtype = input.dtype();
    int n = input.numel();
    int[] shape = input.shape();
    int[] weightAt = weight == null ? null : weight.indexMap(shape, BceWithLogitsLoss.NAME, "weight");
    int[] posWeightAt = posWeight == null ? null : posWeight.indexMap(shape, BceWithLogitsLoss.NAME, "posWeight");

    Tensor loss = null;
    if (r.wantLoss()) {
      double[] perElement = new double[n];
      double sum = 0;
      for (int i = 0; i < n; i++) {
        double x = input.getDouble(i);
        double y = target.getDouble(i);
        double logSigmoid = Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x)));
        double logWeight = posWeight == null ? 1 : (at(dtype, posWeight, posWeightAt, i) - 1) * y + 1;
        double l = (1 - y) * x - logWeight * logSigmoid;
        if (weight != null) {
          l *= at(dtype, weight, weightAt, i);
        }
        perElement[i] = l;
        sum += l;
      }
      loss = ReferenceKernels.reduce(dtype, reduction, perElement, shape, sum, n == 0 ? Double.NaN : sum / n);
    }
    if (!r.wantGrad()) {
      return new LossResult(loss, null);
    }

    double[] grad = new double[n];
    for (int i = 0; i < n; i++) {
      double x = input.getDouble(i);
      double y = target.getDouble(i);
      double sigmoid = 1 / (1 + Math.exp(-x));
      double d;
      if (posWeight != null) {
        double py = at(dtype, posWeight, posWeightAt, i) * y;
        d = (py + 1 - y) * sigmoid - py;
      } else {
        d = sigmoid - y;
      }
      if (weight != null) {
        d *= at(dtype, weight, weightAt, i);
      }
      double g = reduction == Reduction.NONE
          ? ReferenceKernels.positionGrad(gradOutput, i)
          : ReferenceKernels.scalarGrad(gradOutput);
      grad[i] = reduction == Reduction.MEAN ? d * g / n : d * g;
    }
    return new LossResult(loss, ReferenceKernels.tensor(dtype, grad, shape));
  }

  private static double at(DType dtype, Broadcast operand, int[] map, int i) {
    return ReferenceKernels.roundTo(dtype, operand.get(map[i]));
  }
}
