package dev.losskit.onnx;

import java.util.List;

/**
 * A tensor in a {@link Graph}, with one method per ONNX operator the losses use, so that loss code reads like its
 * formula: {@code logp.gatherElements(t.unsqueeze(1), 1).squeeze(1).mul(w).neg()}. Each call adds one node.
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

  Value logSoftmax(long axis) {
    return g.op("LogSoftmax", List.of(this), "axis", axis);
  }

  /** ReduceSum over {@code axes}, or over everything when none are given. */
  Value reduceSum(boolean keepDims, long... axes) {
    return axes.length == 0
        ? g.op("ReduceSum", List.of(this), "keepdims", keepDims ? 1L : 0L)
        : g.op("ReduceSum", List.of(this, g.int64s(axes)), "keepdims", keepDims ? 1L : 0L);
  }

  Value unsqueeze(long... axes) {
    return g.op("Unsqueeze", List.of(this, g.int64s(axes)));
  }

  Value squeeze(long... axes) {
    return g.op("Squeeze", List.of(this, g.int64s(axes)));
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
