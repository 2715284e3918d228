package dev.losskit.core;

import java.util.Arrays;

/**
 * A validated call of a loss with a class dimension ({@link CrossEntropyLoss}, {@link NllLoss}).
 *
 * <p>The input has shape {@code (C)}, {@code (N, C)} or {@code (N, C, d1, ..., dk)}. It is read as {@code batch}
 * blocks of {@code classes × inner} elements, so that element {@code (n, c, s)} sits at
 * {@code (n·C + c)·inner + s}. A <em>position</em> {@code p = n·inner + s} is one sample of one spatial location;
 * a class-index target holds one index per position.
 */
final class ClassProblem {
  final String loss;
  final Tensor input;
  final Tensor target;
  final boolean probabilities;
  final int batch;
  final int classes;
  final int inner;
  /** The shape of the unreduced loss: the input's shape without the class dimension. */
  final int[] lossShape;

  private ClassProblem(String loss, Tensor input, Tensor target, boolean probabilities) {
    this.loss = loss;
    this.input = input;
    this.target = target;
    this.probabilities = probabilities;
    int[] shape = input.shape();
    if (shape.length == 1) {
      batch = 1;
      classes = shape[0];
      inner = 1;
      lossShape = new int[0];
    } else {
      batch = shape[0];
      classes = shape[1];
      int in = 1;
      for (int d = 2; d < shape.length; d++) {
        in *= shape[d];
      }
      inner = in;
      lossShape = new int[shape.length - 1];
      lossShape[0] = batch;
      System.arraycopy(shape, 2, lossShape, 1, shape.length - 2);
    }
  }

  /** @return the number of positions, {@code batch × inner} */
  int positions() {
    return batch * inner;
  }

  /** @return the flat index of class {@code c} at position {@code p} */
  int at(int p, int c) {
    int n = p / inner;
    int s = p - n * inner;
    return (n * classes + c) * inner + s;
  }

  /**
   * Validates the arguments of a class-dimension loss the way libtorch does, and returns their geometry.
   *
   * @param loss the loss's name, for messages
   * @param input the input
   * @param target the target
   * @param weight the per-class weights, or null
   * @param ignoreIndex the ignored class index
   * @param allowProbabilities whether a target of the input's shape holds class probabilities (cross-entropy)
   * @return the validated problem
   */
  static ClassProblem validate(
      String loss, Tensor input, Tensor target, double[] weight, long ignoreIndex, boolean allowProbabilities) {
    if (input == null || target == null) {
      throw new IllegalArgumentException(loss + ": input and target must not be null");
    }
    if (!input.dtype().isFloating()) {
      throw new IllegalArgumentException(
          loss + ": input must be float32 or float64, got " + input.dtype() + " (input shape " + Checks.shape(input) + ")");
    }
    if (input.dim() == 0) {
      throw new IllegalArgumentException(
          loss + ": input must have shape (C), (N, C) or (N, C, d1, ...), got a scalar (shape [])");
    }
    boolean probabilities = allowProbabilities && input.sameShape(target);
    ClassProblem p = new ClassProblem(loss, input, target, probabilities);
    if (weight != null && weight.length != p.classes) {
      throw new IllegalArgumentException(loss + ": weight has " + weight.length + " entries but the input has "
          + p.classes + " classes (input shape " + Checks.shape(input) + ")");
    }
    if (probabilities) {
      if (!target.dtype().isFloating()) {
        throw new IllegalArgumentException(loss + ": target of shape " + Checks.shape(target)
            + " has the input's shape, so it holds class probabilities and must be float32 or float64, got "
            + target.dtype());
      }
      if (ignoreIndex >= 0) {
        throw new IllegalArgumentException(loss + ": ignoreIndex=" + ignoreIndex
            + " is not supported with class-probability targets (target shape " + Checks.shape(target)
            + "); it must be negative");
      }
      return p;
    }
    if (target.dtype().isFloating()) {
      throw new IllegalArgumentException(loss + ": class-index target must be int64 or int32, got "
          + target.dtype() + " of shape " + Checks.shape(target) + " (probability targets must have the input's shape "
          + Checks.shape(input) + ")");
    }
    if (!Arrays.equals(target.shape(), p.lossShape)) {
      throw new IllegalArgumentException(loss + ": target shape " + Checks.shape(target) + " does not match input shape "
          + Checks.shape(input) + ": expected target shape " + Arrays.toString(p.lossShape));
    }
    for (int i = 0; i < target.numel(); i++) {
      long t = target.getLong(i);
      if (t != ignoreIndex && (t < 0 || t >= p.classes)) {
        throw new IllegalArgumentException(loss + ": target " + t + " at position " + Checks.position(p.lossShape, i)
            + " is out of range [0, " + p.classes + ") and is not ignoreIndex (" + ignoreIndex + ")");
      }
    }
    return p;
  }
}
