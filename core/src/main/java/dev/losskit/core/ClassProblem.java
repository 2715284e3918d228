package dev.losskit.core;

import dev.losskit.core.LossArgumentException.Cause;
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
  final Tensor input;
  final Tensor target;
  final boolean probabilities;
  final int batch;
  final int classes;
  final int inner;
  /** The shape of the unreduced loss: the input's shape without the class dimension. */
  final int[] lossShape;

  private ClassProblem(Tensor input, Tensor target, boolean probabilities) {
    this.input = input;
    this.target = target;
    this.probabilities = probabilities;
    int[] shape = input.shape();
    batch = shape.length == 1 ? 1 : shape[0];
    classes = classes(shape);
    inner = shape.length <= 2 ? 1 : Tensor.checkedSize(Arrays.copyOfRange(shape, 2, shape.length));
    lossShape = lossShape(shape);
  }

  private static int classes(int[] inputShape) {
    return inputShape.length == 1 ? inputShape[0] : inputShape[1];
  }

  /** The input's shape without the class dimension: {@code []} for {@code (C)}, {@code (N, d1, ...)} otherwise. */
  static int[] lossShape(int[] inputShape) {
    if (inputShape.length == 1) {
      return new int[0];
    }
    int[] out = new int[inputShape.length - 1];
    out[0] = inputShape[0];
    System.arraycopy(inputShape, 2, out, 1, inputShape.length - 2);
    return out;
  }

  /** {@return the number of positions, {@code batch × inner}} */
  int positions() {
    return batch * inner;
  }

  /**
   * The class-index targets, read once.
   *
   * @param index each position's class, or -1 where it is ignored
   * @param weightSum \( \sum w_t \) over the non-ignored positions (their count without weights): {@code mean}'s
   *     divisor
   */
  record Targets(int[] index, double weightSum) {}

  /**
   * Reads the class-index targets, with -1 at the ignored positions.
   *
   * @param ignoreIndex the ignored class index
   * @param w the per-class weights, or null for ones
   * @return the targets and their weight sum
   */
  Targets indexTargets(long ignoreIndex, double[] w) {
    int positions = positions();
    int[] index = new int[positions];
    double weightSum = 0;
    for (int pos = 0; pos < positions; pos++) {
      long t = target.getLong(pos);
      index[pos] = t == ignoreIndex ? -1 : (int) t;
      if (index[pos] >= 0) {
        weightSum += w == null ? 1 : w[index[pos]];
      }
    }
    return new Targets(index, weightSum);
  }

  /** {@return the flat index of class {@code c} at position {@code p}} */
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
      throw new LossArgumentException(Cause.NULL_ARGUMENT, loss + ": input and target must not be null");
    }
    boolean probabilities = checkShapes(loss, input.shape(), input.dtype(), target.shape(), target.dtype(), weight,
        ignoreIndex, allowProbabilities);
    if (!probabilities) {
      checkTargetValues(loss, input.shape(), target, ignoreIndex);
    }
    return new ClassProblem(input, target, probabilities);
  }

  /** Range-checks class indices against an input of the given shape. */
  static void checkTargetValues(String loss, int[] inputShape, Tensor target, long ignoreIndex) {
    int classes = classes(inputShape);
    int[] lossShape = lossShape(inputShape);
    for (int i = 0; i < target.numel(); i++) {
      long t = target.getLong(i);
      if (t != ignoreIndex && (t < 0 || t >= classes)) {
        throw new LossArgumentException(Cause.TARGET_OUT_OF_RANGE,
            outOfRange(loss, t, Checks.position(lossShape, i), classes, ignoreIndex));
      }
    }
  }

  /** The message for a class index that is neither in range nor ignored. */
  static String outOfRange(String loss, long target, String position, int classes, long ignoreIndex) {
    return loss + ": target " + target + " at position " + position + " is out of range [0, " + classes
        + ") and is not ignoreIndex (" + ignoreIndex + ")";
  }

  /**
   * Checks everything about a call that does not need the values: dtypes, shapes and the weight's length.
   *
   * @return whether the target holds class probabilities
   */
  static boolean checkShapes(String loss, int[] inputShape, DType inputDtype, int[] targetShape, DType targetDtype,
      double[] weight, long ignoreIndex, boolean allowProbabilities) {
    String in = Arrays.toString(inputShape);
    String tg = Arrays.toString(targetShape);
    if (!inputDtype.isFloating()) {
      throw new LossArgumentException(Cause.DTYPE,
          loss + ": input must be float32 or float64, got " + inputDtype + " (input shape " + in + ")");
    }
    if (inputShape.length == 0) {
      throw new LossArgumentException(Cause.INPUT_SHAPE,
          loss + ": input must have shape (C), (N, C) or (N, C, d1, ...), got a scalar (shape [])");
    }
    int classes = classes(inputShape);
    if (weight != null && weight.length != classes) {
      throw new LossArgumentException(Cause.WEIGHT_SHAPE,
          loss + ": weight has " + weight.length + " entries but the input has "
          + classes + " classes (input shape " + in + ")");
    }
    if (allowProbabilities && Arrays.equals(inputShape, targetShape)) {
      if (!targetDtype.isFloating()) {
        throw new LossArgumentException(Cause.DTYPE, loss + ": target of shape " + tg
            + " has the input's shape, so it holds class probabilities and must be float32 or float64, got "
            + targetDtype);
      }
      if (ignoreIndex >= 0) {
        throw new LossArgumentException(Cause.PROBABILITY_TARGET_IGNORE_INDEX, loss + ": ignoreIndex=" + ignoreIndex
            + " is not supported with class-probability targets (target shape " + tg + "); it must be negative");
      }
      return true;
    }
    if (targetDtype.isFloating()) {
      throw new LossArgumentException(Cause.DTYPE,
          loss + ": class-index target must be int64 or int32, got " + targetDtype
          + " of shape " + tg + " (probability targets must have the input's shape " + in + ")");
    }
    int[] expected = lossShape(inputShape);
    if (!Arrays.equals(targetShape, expected)) {
      throw new LossArgumentException(Cause.SHAPE_MISMATCH,
          loss + ": target shape " + tg + " does not match input shape " + in
          + ": expected target shape " + Arrays.toString(expected));
    }
    return false;
  }
}
