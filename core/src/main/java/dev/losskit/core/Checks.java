package dev.losskit.core;

import dev.losskit.core.LossArgumentException.Cause;
import java.util.Arrays;

/** Argument checks and message helpers shared by the losses. */
final class Checks {
  private Checks() {}

  /** Checks an upstream gradient against the loss's shape. */
  static void checkGradOutput(String loss, Tensor gradOutput, int[] lossShape) {
    if (!gradOutput.dtype().isFloating()) {
      throw new LossArgumentException(Cause.DTYPE,
          loss + ": gradOutput must be float32 or float64, got " + gradOutput.dtype());
    }
    if (!Arrays.equals(gradOutput.shape(), lossShape)) {
      throw new LossArgumentException(Cause.GRAD_OUTPUT_SHAPE, loss + ": gradOutput shape " + shape(gradOutput)
          + " does not match the loss's shape " + Arrays.toString(lossShape));
    }
  }

  /** {@return the multi-index of flat index {@code i} in {@code shape}, e.g. {@code [1, 2]}} */
  static String position(int[] shape, int i) {
    int[] idx = new int[shape.length];
    int rest = i;
    for (int d = shape.length - 1; d >= 0; d--) {
      idx[d] = shape[d] == 0 ? 0 : rest % shape[d];
      rest = shape[d] == 0 ? 0 : rest / shape[d];
    }
    return Arrays.toString(idx);
  }

  static String shape(Tensor t) {
    return Arrays.toString(t.shape());
  }

  /** Checks that a smoothing factor is a number in [0, 1]. */
  static double labelSmoothing(double eps) {
    if (!(eps >= 0 && eps <= 1)) {
      throw new LossArgumentException(Cause.LABEL_SMOOTHING_RANGE, "labelSmoothing must be in [0, 1], got " + eps);
    }
    return eps;
  }

  /** Copies a 1-D floating tensor of weights. */
  static double[] vector(Tensor t, String what) {
    if (t == null) {
      return null;
    }
    if (!t.dtype().isFloating()) {
      throw new LossArgumentException(Cause.DTYPE, what + " must be float32 or float64, got " + t.dtype());
    }
    if (t.dim() != 1) {
      throw new LossArgumentException(Cause.WEIGHT_SHAPE,
          what + " must be 1-D (one entry per class), got shape " + shape(t));
    }
    return t.toDoubleArray();
  }
}
