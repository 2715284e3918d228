package dev.losskit.core;

/**
 * The reference binary cross-entropy on probabilities, as libtorch's {@code binary_cross_entropy} and its backward
 * ({@code aten/src/ATen/native/Loss.cpp}), element by element in double precision:
 * \[ \ell = \big((y - 1)\max(\operatorname{log1p}(-x), -100) - y\max(\log x, -100)\big)\,w, \qquad
 *    \frac{\partial \ell}{\partial x} = \frac{x - y}{\max((1 - x)\,x,\ \epsilon)}\,w\,g \]
 * with \( w \) the broadcast {@code weight} (ones when absent), \( g \) the upstream gradient and \( \epsilon \)
 * libtorch's {@code EPSILON}, the float {@code 1e-12f}, in the input's dtype; {@code mean} divides by the number of
 * elements (NaN when there are none). The values are checked to be in [0, 1] before this runs.
 */
final class ReferenceBce {
  private ReferenceBce() {}

  /** libtorch's clamp of the gradient's denominator, {@code EPSILON} in {@code Loss.cpp}. */
  static final double EPSILON = BceLoss.EPSILON;

  /** {@return the clamped log: \( \max(\log x, -100) \)} */
  static double clampedLog(double v) {
    return Math.max(v, -100);
  }

  /**
   * {@return one element's loss before its weight:
   * \( (y-1)\max(\operatorname{log1p}(-x), -100) - y\max(\log x, -100) \)}
   */
  static double elementLoss(double x, double y) {
    return (y - 1) * clampedLog(Math.log1p(-x)) - y * clampedLog(Math.log(x));
  }

  /** {@return one element's gradient before its weight and upstream gradient, \( (x-y)/\max((1-x)x, \epsilon) \)} */
  static double elementGrad(double x, double y, double epsilon) {
    return (x - y) / Math.max((1 - x) * x, epsilon);
  }

  static LossResult run(Tensor input, Tensor target, Broadcast weight, Reduction reduction, Request r) {
    Tensor gradOutput = r.gradOutput();
    DType dtype = input.dtype();
    int n = input.numel();
    int[] shape = input.shape();
    int[] weightAt = weight == null ? null : weight.indexMap(shape, BceLoss.NAME, "weight");

    Tensor loss = null;
    if (r.wantLoss()) {
      double[] perElement = new double[n];
      double sum = 0;
      for (int i = 0; i < n; i++) {
        double x = input.getDouble(i);
        double y = target.getDouble(i);
        double l = elementLoss(x, y);
        if (weight != null) {
          l *= ReferenceKernels.roundTo(dtype, weight.get(weightAt[i]));
        }
        perElement[i] = l;
        sum += l;
      }
      loss = ReferenceKernels.reduce(dtype, reduction, perElement, shape, sum, n == 0 ? Double.NaN : sum / n);
    }
    if (!r.wantGrad()) {
      return new LossResult(loss, null);
    }

    double epsilon = ReferenceKernels.roundTo(dtype, EPSILON);
    double[] grad = new double[n];
    for (int i = 0; i < n; i++) {
      double x = input.getDouble(i);
      double y = target.getDouble(i);
      double d = elementGrad(x, y, epsilon);
      if (weight != null) {
        d *= ReferenceKernels.roundTo(dtype, weight.get(weightAt[i]));
      }
      double g = reduction == Reduction.NONE
          ? ReferenceKernels.positionGrad(gradOutput, i)
          : ReferenceKernels.scalarGrad(gradOutput);
      grad[i] = reduction == Reduction.MEAN ? d * g / n : d * g;
    }
    return new LossResult(loss, ReferenceKernels.tensor(dtype, grad, shape));
  }
}
