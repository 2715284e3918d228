package dev.losskit.onnx;

import java.util.List;

/**
 * A tensor in a {@link Graph}, with one method per ONNX operator the losses use, so that loss code reads like its
 * formula: {@code logp.gatherElements(t.unsqueeze(1), 1).squeeze(1).mul(w).neg()}. Each call adds one node (two more
 * for {@link #logSoftmax} before opset 13), in the form the graph's opset defines.
 *
 * <p>The operators and their versions from opset 11 to 26 (ONNX's {@code docs/Operators.md} and
 * {@code docs/Changelog.md}): {@code Unsqueeze}, {@code Squeeze} (11, 13, 21, 23, 24, 25) and {@code ReduceSum}
 * (11, 13) take their axes as an attribute before 13 and as an input from 13; {@code LogSoftmax} (11, 13) before
 * 13 flattens its input to 2-D at the axis (see {@link #logSoftmax}). The other operators' versions in the range,
 * {@code Add}, {@code Sub}, {@code Mul}, {@code Div} (7, 13, 14), {@code Neg}, {@code Exp}, {@code Log},
 * {@code Abs}, {@code Reciprocal} (6, 13), {@code Relu} (6, 13, 14), {@code Gather}, {@code GatherElements}
 * (11, 13), {@code Equal} (11, 13, 19), {@code Less} (9, 13), {@code Max} (8, 12, 13), {@code Not} (1),
 * {@code Where} (9, 16), {@code Cast} (9, 13, 19, 21, 23, 24, 25), {@code Shape} (1, 13, 15, 19, 21, 23, 24,
 * 25), {@code Size} (1, 13, 19, 21, 23, 24, 25), {@code Reshape} (5, 13, 14, 19, 21, 23, 24, 25),
 * {@code Identity} (1, 13, 14, 16, 19, 21, 23, 24, 25), {@code Transpose} (1, 13, 21, 23, 24, 25), {@code Range}
 * (11), {@code SoftmaxCrossEntropyLoss} (12, 13) and {@code NegativeLogLikelihoodLoss} (12, 13, 22), only add
 * element types, or attributes whose defaults keep the meaning (Shape's {@code start} and {@code end}, Reshape's
 * {@code allowzero}, Cast's {@code saturate} and {@code round_mode}), so one form serves every opset. Opset 26
 * changes none of them.
 */
final class Value {
  final Graph g;
  final String name;

  Value(Graph g, String name) {
    this.g = g;
    this.name = name;
  }

  Value add(Value o) {
    return g.op("Add", List.of(this, o));
  }

  Value add(double c) {
    return add(g.scalar(c));
  }

  Value sub(Value o) {
    return g.op("Sub", List.of(this, o));
  }

  Value mul(Value o) {
    return g.op("Mul", List.of(this, o));
  }

  Value mul(double c) {
    return mul(g.scalar(c));
  }

  Value div(Value o) {
    return g.op("Div", List.of(this, o));
  }

  Value neg() {
    return g.op("Neg", List.of(this));
  }

  Value exp() {
    return g.op("Exp", List.of(this));
  }

  Value log() {
    return g.op("Log", List.of(this));
  }

  Value abs() {
    return g.op("Abs", List.of(this));
  }

  Value relu() {
    return g.op("Relu", List.of(this));
  }

  Value reciprocal() {
    return g.op("Reciprocal", List.of(this));
  }

  /** The elementwise maximum; ONNX's {@code Max} broadcasts, so {@code o} may be a scalar constant. */
  Value max(Value o) {
    return g.op("Max", List.of(this, o));
  }

  /**
   * LogSoftmax along {@code axis} of this rank-{@code rank} tensor. Before opset 13, LogSoftmax flattens its input
   * to 2-D, {@code (d0···d[axis-1], d[axis]···d[rank-1])}, and normalizes each row, which is the per-axis result only
   * when the axis is the last one; otherwise the axis is transposed last, normalized there, and transposed back.
   */
  Value logSoftmax(long axis, int rank) {
    if (g.opset >= 13 || axis == rank - 1) {
      return g.op("LogSoftmax", List.of(this), "axis", axis);
    }
    long[] perm = new long[rank];
    long[] inverse = new long[rank];
    for (int d = 0, k = 0; d < rank; d++) {
      if (d != axis) {
        perm[k++] = d;
      }
    }
    perm[rank - 1] = axis;
    for (int k = 0; k < rank; k++) {
      inverse[(int) perm[k]] = k;
    }
    Value last = g.op("Transpose", List.of(this), "perm", perm);
    Value normalized = g.op("LogSoftmax", List.of(last), "axis", (long) (rank - 1));
    return g.op("Transpose", List.of(normalized), "perm", inverse);
  }

  /** ReduceSum over {@code axes}, or over everything when none are given; axes are an attribute before opset 13. */
  Value reduceSum(boolean keepDims, long... axes) {
    long keep = keepDims ? 1L : 0L;
    if (axes.length == 0) {
      return g.op("ReduceSum", List.of(this), "keepdims", keep);
    }
    return g.opset < 13
        ? g.op("ReduceSum", List.of(this), "axes", axes, "keepdims", keep)
        : g.op("ReduceSum", List.of(this, g.int64s(axes)), "keepdims", keep);
  }

  /** Unsqueeze; axes are an attribute before opset 13. */
  Value unsqueeze(long... axes) {
    return g.opset < 13
        ? g.op("Unsqueeze", List.of(this), "axes", axes)
        : g.op("Unsqueeze", List.of(this, g.int64s(axes)));
  }

  /** Squeeze; axes are an attribute before opset 13. */
  Value squeeze(long... axes) {
    return g.opset < 13
        ? g.op("Squeeze", List.of(this), "axes", axes)
        : g.op("Squeeze", List.of(this, g.int64s(axes)));
  }

  Value gatherElements(Value index, long axis) {
    return g.op("GatherElements", List.of(this, index), "axis", axis);
  }

  Value gather(Value index, long axis) {
    return g.op("Gather", List.of(this, index), "axis", axis);
  }

  Value equal(Value o) {
    return g.op("Equal", List.of(this, o));
  }

  Value less(Value o) {
    return g.op("Less", List.of(this, o));
  }

  /** A boolean scalar: every element of this boolean tensor is true. */
  Value all() {
    return not().cast(Graph.INT64).reduceSum(false).equal(g.int64(0));
  }

  Value not() {
    return g.op("Not", List.of(this));
  }

  Value cast(int to) {
    return g.op("Cast", List.of(this), "to", (long) to);
  }

  /** {@code where(condition, this, otherwise)}. */
  Value where(Value condition, Value otherwise) {
    return g.op("Where", List.of(condition, this, otherwise));
  }

  Value shape() {
    return g.op("Shape", List.of(this));
  }

  Value size() {
    return g.op("Size", List.of(this));
  }

  Value reshape(Value shape) {
    return g.op("Reshape", List.of(this, shape));
  }

  /** The loss's dtype version of an int64 value. */
  Value toFloat() {
    return cast(g.elemType);
  }
}
