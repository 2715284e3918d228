package dev.losskit.core;

import dev.losskit.core.ElementwiseBlocks.Operand;

/**
 * The fused BCE-with-logits kernel: loss and gradient block by block (a pass over each block's elements, in cache),
 * in parallel chunks, with no temporary beyond the gradient and per-block scratch. Weights and positive weights either have the input's shape or broadcast along
 * the last dimension (shape {@code (L)} or {@code (1, ..., 1, L)}); other broadcasts use the reference kernel.
 * Float32 inputs use the Vector API (heap arrays or buffers, every reduction, the gradient into the caller's array
 * or buffer), in double lanes rounded once to float; everything else is double scalar code. The loss sum is
 * accumulated per block of {@link ElementwiseBlocks#BLOCK} elements, blocks at fixed indices, and the blocks' sums are
 * added in order, so results depend neither on timing nor on the number of threads.
 */
final class FastBceWithLogits {
  private FastBceWithLogits() {}

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
    int n = input.numel();
    ElementwiseBlocks.Call c = new ElementwiseBlocks.Call(input, target, o.reduction(), r);
    double[] w = weight == null ? null : weight.expanded(n);
    double[] pw = posWeight == null ? null : posWeight.expanded(n);
    return ElementwiseBlocks.run(c, (from, to) -> scalarRange(c, weight, posWeight, from, to), () -> {
      double[] lanes = new double[VectorBce.scratchLanes()];
      double[] ex = new double[ElementwiseBlocks.BLOCK];
      return b -> VectorBce.block(b.x, b.xo, b.y, b.yo, w, w == null ? 0 : weight.offset(b.from), pw,
          pw == null ? 0 : posWeight.offset(b.from), b.g, b.go, c.scale, b.len, c.perElement, b.from, c.wantSum,
          b.grad, b.gro, lanes, ex);
    });
  }

  /** Elements [from, to) in double: returns their loss sum, and fills the per-element loss and the gradient. */
  private static double scalarRange(ElementwiseBlocks.Call c, Operand weight, Operand posWeight, int from,
      int to) {
    double sum = 0;
    for (int i = from; i < to; i++) {
      double x = c.input.getDouble(i);
      double y = c.target.getDouble(i);
      double logSigmoid = Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x)));
      double p = posWeight == null ? 1 : posWeight.at(i);
      double w = weight == null ? 1 : weight.at(i);
      double l = (1 - y) * x - (posWeight == null ? 1 : (p - 1) * y + 1) * logSigmoid;
      if (weight != null) {
        l *= w;
      }
      sum += l;
      c.loss(i, l);
      if (c.scalarGrad()) {
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
        c.grad(i, d);
      }
    }
    return sum;
  }
}
