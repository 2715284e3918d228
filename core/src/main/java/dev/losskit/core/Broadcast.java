package dev.losskit.core;

import dev.losskit.core.LossArgumentException.Cause;
import java.util.Arrays;

/**
 * An immutable operand broadcast to an input's shape by NumPy's rules, as PyTorch applies {@code weight} and
 * {@code pos_weight} in {@code binary_cross_entropy_with_logits}: align trailing dimensions; each of the operand's
 * extents must be 1 or equal the input's; the operand may not have more dimensions than the input (libtorch
 * multiplies in place, so the result must keep the input's shape).
 */
final class Broadcast {
  private final double[] values;
  private final int[] shape;
  /** The cause a shape that does not broadcast is rejected with: the weight's or the posWeight's. */
  private final Cause shapeCause;

  private Broadcast(double[] values, int[] shape, Cause shapeCause) {
    this.values = values;
    this.shape = shape;
    this.shapeCause = shapeCause;
  }

  /** Copies a tensor's values, so later changes to its store do not reach the loss. */
  static Broadcast copyOf(Tensor t, String what, Cause shapeCause) {
    if (!t.dtype().isFloating()) {
      throw new LossArgumentException(Cause.DTYPE, what + " must be float32 or float64, got " + t.dtype());
    }
    return new Broadcast(t.toDoubleArray(), t.shape(), shapeCause);
  }

  int[] shape() {
    return shape.clone();
  }

  Tensor toTensor() {
    return Tensor.of(values.clone(), shape);
  }

  /**
   * Maps every element of an input of shape {@code target} to the operand element it meets.
   *
   * @throws IllegalArgumentException naming both shapes when the operand does not broadcast to the input
   */
  int[] indexMap(int[] target, String loss, String what) {
    check(target, loss, what);
    int r = target.length;
    int m = shape.length;
    int[] stride = new int[r];
    int s = 1;
    for (int k = m - 1; k >= 0; k--) {
      stride[r - m + k] = shape[k] == 1 ? 0 : s;
      s *= shape[k];
    }
    int n = Tensor.checkedSize(target);
    int[] map = new int[n];
    int[] idx = new int[r];
    for (int i = 0; i < n; i++) {
      int j = 0;
      for (int d = 0; d < r; d++) {
        j += idx[d] * stride[d];
      }
      map[i] = j;
      for (int d = r - 1; d >= 0; d--) {
        if (++idx[d] < target[d]) {
          break;
        }
        idx[d] = 0;
      }
    }
    return map;
  }

  /**
   * Checks that this operand broadcasts to the input's shape {@code target}.
   *
   * @throws IllegalArgumentException naming both shapes when the operand does not broadcast to the input
   */
  void check(int[] target, String loss, String what) {
    int r = target.length;
    int m = shape.length;
    boolean ok = m <= r;
    for (int k = 0; ok && k < m; k++) {
      int extent = shape[k];
      ok = extent == 1 || extent == target[r - m + k];
    }
    if (!ok) {
      throw new LossArgumentException(shapeCause, loss + ": " + what + " of shape " + Arrays.toString(shape)
          + " is not broadcastable to input shape " + Arrays.toString(target));
    }
  }

  double get(int i) {
    return values[i];
  }
}
