package dev.losskit.core;

import dev.losskit.core.ElementwiseBlocks.Operand;

/**
 * The fused kernel of {@link BceLoss}: loss and gradient block by block, in parallel chunks, with no temporary
 * beyond the gradient and per-block scratch. A weight either has the input's shape or broadcasts along the last
 * dimension (other broadcasts use the reference kernel). Float32 inputs of at least
 * {@link ElementwiseBlocks#VECTOR_MIN_ELEMENTS} elements use the Vector API ({@code VectorBceProbability}: heap
 * arrays or buffers, every reduction) in double
 * lanes rounded once to float; everything else is double scalar code with {@link Math#log} and
 * {@link Math#log1p}. Blocks, threads and the loss sum are {@link ElementwiseBlocks}'s: results depend neither on
 * timing nor on the number of threads.
 */
final class FastBce {
  private FastBce() {}

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
    int n = input.numel();
    ElementwiseBlocks.Call c = new ElementwiseBlocks.Call(input, target, reduction, r);
    double epsilon = ReferenceKernels.roundTo(input.dtype(), ReferenceBce.EPSILON);
    double[] w = weight == null ? null : weight.expanded(n);
    return ElementwiseBlocks.run(c, (from, to) -> scalarRange(c, weight, epsilon, from, to), () -> {
      double[] lanes = new double[VectorBceProbability.scratchLanes()];
      return b -> VectorBceProbability.block(b, w, w == null ? 0 : weight.offset(b.from), c.scale, epsilon,
          c.perElement, c.wantSum, lanes);
    });
  }

  /**
   * Elements [from, to) in double, as {@link ReferenceBce}: returns their loss sum, and fills the per-element loss
   * and the gradient ({@code scale} times the element's, or the upstream gradient's element for {@code none}).
   */
  private static double scalarRange(ElementwiseBlocks.Call c, Operand weight, double epsilon, int from, int to) {
    double sum = 0;
    for (int i = from; i < to; i++) {
      double x = c.input.getDouble(i);
      double y = c.target.getDouble(i);
      double w = weight == null ? 1 : weight.at(i);
      double l = ReferenceBce.elementLoss(x, y);
      if (weight != null) {
        l *= w;
      }
      sum += l;
      c.loss(i, l);
      if (c.scalarGrad()) {
        double d = ReferenceBce.elementGrad(x, y, epsilon);
        if (weight != null) {
          d *= w;
        }
        c.grad(i, d);
      }
    }
    return sum;
  }
}
