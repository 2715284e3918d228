package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.losskit.core.LossArgumentException.Cause;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.function.Executable;

/**
 * Every rejection of the core is a {@link LossArgumentException} whose cause says what was wrong, so callers match
 * the cause and not the message; the message stays one line naming the value.
 */
class LossArgumentCauseTest {
  private static final Tensor X23 = Tensor.of(new float[6], 2, 3);
  private static final Tensor T2 = Tensor.of(new long[] {0, 1}, 2);

  private record Row(String name, Cause cause, Executable call, String mention) {}

  private static List<Row> rows() {
    return List.of(
        new Row("target out of range", Cause.TARGET_OUT_OF_RANGE,
            () -> CrossEntropyLoss.create().forward(X23, Tensor.of(new long[] {0, 3}, 2)), "target 3"),
        new Row("negative target", Cause.TARGET_OUT_OF_RANGE,
            () -> NllLoss.create().forward(X23, Tensor.of(new long[] {-2, 0}, 2)), "target -2"),
        new Row("target values checked alone", Cause.TARGET_OUT_OF_RANGE,
            () -> NllLoss.create().checkTargetValues(new int[] {2, 3}, Tensor.of(new long[] {0, 7}, 2)), "target 7"),
        new Row("class weight of the wrong length", Cause.WEIGHT_SHAPE,
            () -> CrossEntropyLoss.builder().weight(1, 2).build().forward(X23, T2), "weight has 2 entries"),
        new Row("class weight of the wrong length, checkShapes", Cause.WEIGHT_SHAPE,
            () -> NllLoss.builder().weight(1, 2, 3, 4).build().checkShapes(new int[] {2, 3}, DType.FLOAT32,
                new int[] {2}, DType.INT64), "weight has 4 entries"),
        new Row("2-D class weight", Cause.WEIGHT_SHAPE,
            () -> CrossEntropyLoss.builder().weight(Tensor.of(new double[4], 2, 2)), "1-D"),
        new Row("BCE weight not broadcastable", Cause.WEIGHT_SHAPE,
            () -> BceWithLogitsLoss.builder().weight(Tensor.of(new double[2], 2)).build().forward(X23, X23),
            "weight of shape [2]"),
        new Row("BCE posWeight not broadcastable", Cause.POS_WEIGHT_SHAPE,
            () -> BceWithLogitsLoss.builder().posWeight(1, 2).build().forward(X23, X23), "posWeight of shape [2]"),
        new Row("BCE posWeight not broadcastable, reference kernels", Cause.POS_WEIGHT_SHAPE,
            () -> Reference.forwardBackward(BceWithLogitsLoss.builder().posWeight(1, 2).build(), X23, X23, null),
            "posWeight"),
        new Row("label smoothing above 1", Cause.LABEL_SMOOTHING_RANGE,
            () -> CrossEntropyLoss.builder().labelSmoothing(1.5), "1.5"),
        new Row("label smoothing NaN", Cause.LABEL_SMOOTHING_RANGE,
            () -> CrossEntropyLoss.builder().labelSmoothing(Double.NaN), "NaN"),
        new Row("probability targets with ignoreIndex >= 0", Cause.PROBABILITY_TARGET_IGNORE_INDEX,
            () -> CrossEntropyLoss.builder().ignoreIndex(1).build().forward(X23, X23), "ignoreIndex=1"),
        new Row("batch size mismatch", Cause.SHAPE_MISMATCH,
            () -> CrossEntropyLoss.create().forward(X23, Tensor.of(new long[] {0, 1, 2}, 3)), "[3]"),
        new Row("BCE target shape differs", Cause.SHAPE_MISMATCH,
            () -> BceWithLogitsLoss.create().forward(X23, Tensor.of(new float[3], 3)), "[3]"),
        new Row("scalar input", Cause.INPUT_SHAPE,
            () -> NllLoss.create().forward(Tensor.scalar(1f), Tensor.of(new long[] {0})), "scalar"),
        new Row("integer input", Cause.DTYPE,
            () -> CrossEntropyLoss.create().forward(Tensor.of(new long[6], 2, 3), T2), "int64"),
        new Row("floating class-index target", Cause.DTYPE,
            () -> NllLoss.create().forward(X23, Tensor.of(new float[] {0, 1}, 2)), "float32"),
        new Row("integer probability-shaped target", Cause.DTYPE,
            () -> CrossEntropyLoss.create().forward(X23, Tensor.of(new long[6], 2, 3)), "int64"),
        new Row("integer BCE weight", Cause.DTYPE,
            () -> BceWithLogitsLoss.builder().weight(Tensor.of(new long[3], 3)), "int64"),
        new Row("gradOutput of the wrong shape", Cause.GRAD_OUTPUT_SHAPE,
            () -> CrossEntropyLoss.create().backward(X23, T2, Tensor.of(new float[2], 2)), "gradOutput shape [2]"),
        new Row("gradient buffer of the wrong length", Cause.GRADIENT_BUFFER,
            () -> CrossEntropyLoss.create().forwardBackward(X23, T2, null, new float[5]), "5 elements"),
        new Row("read-only gradient buffer", Cause.GRADIENT_BUFFER,
            () -> CrossEntropyLoss.create().forwardBackward(X23, T2, null,
                FloatBuffer.allocate(6).asReadOnlyBuffer()), "read-only"),
        new Row("shape and data disagree", Cause.TENSOR_SHAPE, () -> Tensor.of(new float[5], 2, 3), "[2, 3]"),
        new Row("negative extent", Cause.TENSOR_SHAPE, () -> Tensor.of(new float[0], -1, 0), "-1"),
        new Row("null target", Cause.NULL_ARGUMENT, () -> NllLoss.create().forward(X23, null), "null"),
        new Row("null gradOutput for backward", Cause.NULL_ARGUMENT,
            () -> NllLoss.create().backward(X23, T2, null), "gradOutput"),
        new Row("unknown reduction name", Cause.OPTION, () -> Reduction.fromPytorchName("avg"), "avg"),
        new Row("unknown dtype name", Cause.OPTION, () -> DType.fromPytorchName("float8"), "float8"));
  }

  // ---- scikit-learn's log_loss: every check, in scikit-learn's order ----------------------------------------------

  private static final LogLoss LL = LogLoss.create();
  private static final Tensor P22 = Tensor.of(new double[] {0.3, 0.7, 0.6, 0.4}, 2, 2);
  private static final Tensor Y2 = Tensor.of(new long[] {0, 1}, 2);

  private static Tensor p22(double at01) {
    return Tensor.of(new double[] {0.3, at01, 0.6, 0.4}, 2, 2);
  }

  private static List<Row> logLossRows() {
    LogLoss labelled = LogLoss.builder().labels(0, 1).build();
    return List.of(
        new Row("log_loss: null y_true", Cause.NULL_ARGUMENT, () -> LL.compute((Tensor) null, P22), "y_true"),
        new Row("log_loss: null y_pred", Cause.NULL_ARGUMENT, () -> LL.compute(Y2, null), "y_pred"),
        new Row("log_loss: scalar y_pred", Cause.INPUT_SHAPE, () -> LL.compute(Y2, Tensor.scalar(0.5)), "scalar"),
        new Row("log_loss: 3-D y_pred", Cause.INPUT_SHAPE,
            () -> LL.compute(Y2, Tensor.of(new double[4], 2, 2, 1)), "[2, 2, 1]"),
        new Row("log_loss: NaN in y_pred", Cause.PROBABILITY_RANGE, () -> LL.compute(Y2, p22(Double.NaN)),
            "NaN at [0, 1]"),
        new Row("log_loss: infinity in y_pred", Cause.PROBABILITY_RANGE,
            () -> LL.compute(Y2, p22(Double.NEGATIVE_INFINITY)), "infinity"),
        new Row("log_loss: empty y_pred", Cause.INPUT_SHAPE,
            () -> LL.compute(Tensor.of(new long[0], 0), Tensor.of(new double[0], 0, 2)), "0 samples"),
        new Row("log_loss: y_pred without columns", Cause.INPUT_SHAPE,
            () -> LL.compute(Y2, Tensor.of(new double[0], 2, 0)), "0 columns"),
        new Row("log_loss: y_pred above 1", Cause.PROBABILITY_RANGE, () -> LL.compute(Y2, p22(1.5)), "1.5"),
        new Row("log_loss: y_pred below 0", Cause.PROBABILITY_RANGE, () -> LL.compute(Y2, p22(-0.25)), "-0.25"),
        new Row("log_loss: scalar y_true", Cause.TARGET_TYPE,
            () -> LL.compute(Tensor.of(new long[] {1}), Tensor.of(new double[] {0.5}, 1)), "scalar"),
        new Row("log_loss: scalar sample_weight", Cause.WEIGHT_SHAPE, () -> LL.compute(Y2, P22, Tensor.scalar(1.0)),
            "scalar"),
        new Row("log_loss: inconsistent numbers of samples", Cause.SHAPE_MISMATCH,
            () -> LL.compute(Tensor.of(new long[] {0, 1, 1}, 3), P22), "y_pred 2, y_true 3"),
        new Row("log_loss: sample_weight of another length", Cause.SHAPE_MISMATCH,
            () -> LL.compute(Y2, P22, Tensor.of(new double[3], 3)), "sample_weight 3"),
        new Row("log_loss: 2-D sample_weight", Cause.WEIGHT_SHAPE,
            () -> LL.compute(Y2, P22, Tensor.of(new double[] {1, 1}, 2, 1)), "[2, 1]"),
        new Row("log_loss: NaN sample weight", Cause.SAMPLE_WEIGHT,
            () -> LL.compute(Y2, P22, Tensor.of(new double[] {1, Double.NaN}, 2)), "NaN at [1]"),
        new Row("log_loss: all sample weights zero", Cause.SAMPLE_WEIGHT,
            () -> LL.compute(Y2, P22, Tensor.of(new double[2], 2)), "non-zero"),
        new Row("log_loss: sample weights summing to zero", Cause.SAMPLE_WEIGHT,
            () -> LL.compute(Y2, P22, Tensor.of(new double[] {1, -1}, 2)), "sum to zero"),
        new Row("log_loss: 3-D y_true", Cause.TARGET_TYPE, () -> LL.compute(Tensor.of(new long[2], 2, 1, 1), P22),
            "[2, 1, 1]"),
        new Row("log_loss: indicator y_true with labels", Cause.TARGET_TYPE,
            () -> labelled.compute(Tensor.of(new long[] {0, 1, 1, 0}, 2, 2), P22), "labels"),
        new Row("log_loss: y_true without columns", Cause.TARGET_TYPE,
            () -> LL.compute(Tensor.of(new long[0], 2, 0), P22), "0 columns"),
        new Row("log_loss: indicator value not whole", Cause.TARGET_NOT_CLASS_INDEX,
            () -> LL.compute(Tensor.of(new double[] {0, 0.5, 1, 0}, 2, 2), P22), "0.5 at [0, 1]"),
        new Row("log_loss: indicator with three values", Cause.TARGET_TYPE,
            () -> LL.compute(Tensor.of(new long[] {0, 1, 2, 0, 1, 0}, 2, 3), Tensor.of(new double[6], 2, 3)),
            "[0, 1, 2]"),
        new Row("log_loss: floating label not whole", Cause.TARGET_NOT_CLASS_INDEX,
            () -> LL.compute(Tensor.of(new double[] {0, 0.5}, 2), P22), "0.5 at [1]"),
        new Row("log_loss: one class without labels", Cause.CLASS_COUNT,
            () -> LL.compute(Tensor.of(new long[] {1, 1}, 2), P22), "only one label (1)"),
        new Row("log_loss: one string class without labels", Cause.CLASS_COUNT,
            () -> LL.compute(new String[] {"a", "a"}, P22, null), "'a'"),
        new Row("log_loss: label not among labels", Cause.TARGET_OUT_OF_RANGE,
            () -> labelled.compute(Tensor.of(new long[] {0, 3}, 2), P22), "[3]"),
        new Row("log_loss: string label not among labels", Cause.TARGET_OUT_OF_RANGE,
            () -> LogLoss.builder().labels("a", "b").build().compute(new String[] {"a", "z"}, P22, null), "[z]"),
        new Row("log_loss: numbers with string labels", Cause.TARGET_OUT_OF_RANGE,
            () -> LogLoss.builder().labels("a", "b").build().compute(Y2, P22), "strings"),
        new Row("log_loss: strings with numeric labels", Cause.TARGET_OUT_OF_RANGE,
            () -> labelled.compute(new String[] {"a", "b"}, P22, null), "numbers"),
        new Row("log_loss: null string label in y_true", Cause.NULL_ARGUMENT,
            () -> LL.compute(new String[] {"a", null}, P22, null), "y_true[1]"),
        new Row("log_loss: y_pred columns vs classes", Cause.CLASS_COUNT,
            () -> LL.compute(Tensor.of(new long[] {0, 2, 1}, 3), Tensor.of(new double[6], 3, 2)), "3 vs 2"),
        new Row("log_loss: y_pred columns vs labels", Cause.CLASS_COUNT,
            () -> LogLoss.builder().labels(0, 1, 2).build().compute(Y2, P22), "labels (3"),
        new Row("log_loss: no labels", Cause.CLASS_COUNT, () -> LogLoss.builder().labels(new long[0]), "[]"),
        new Row("log_loss: one label", Cause.CLASS_COUNT, () -> LogLoss.builder().labels(1), "[1]"),
        new Row("log_loss: repeated label", Cause.OPTION, () -> LogLoss.builder().labels(0, 1, 1), "repeat 1"),
        new Row("log_loss: null string label", Cause.NULL_ARGUMENT, () -> LogLoss.builder().labels("a", null),
            "labels[1]"),
        new Row("log_loss: accumulating labels without labels", Cause.OPTION,
            () -> LL.accumulator().add(Y2, P22), "labels("),
        new Row("log_loss: accumulating another dtype", Cause.DTYPE, () -> {
          LogLoss.Accumulator acc = labelled.accumulator();
          acc.add(Y2, P22);
          acc.add(Y2, Tensor.of(new float[] {0.5f, 0.5f, 0.5f, 0.5f}, 2, 2));
        }, "float32"),
        new Row("log_loss: accumulating another number of indicator columns", Cause.SHAPE_MISMATCH, () -> {
          LogLoss.Accumulator acc = LL.accumulator();
          acc.add(Tensor.of(new long[] {0, 1, 1, 0}, 2, 2), P22);
          acc.add(Tensor.of(new long[] {0, 1, 0}, 1, 3), Tensor.of(new double[] {0.2, 0.3, 0.5}, 1, 3));
        }, "3 columns"),
        new Row("log_loss: accumulated nothing", Cause.INPUT_SHAPE, () -> LL.accumulator().result(), "no samples"));
  }

  @TestFactory
  Stream<DynamicTest> everyLogLossRejectionCarriesItsCause() {
    return logLossRows().stream().map(r -> DynamicTest.dynamicTest(r.name() + " -> " + r.cause(), () -> {
      LossArgumentException e = assertThrows(LossArgumentException.class, r.call());
      assertEquals(r.cause(), e.cause(), e.getMessage());
      assertFalse(e.getMessage().contains("\n"), e.getMessage());
      assertTrue(e.getMessage().startsWith("log_loss: "), e.getMessage());
      assertTrue(e.getMessage().contains(r.mention()), "'" + e.getMessage() + "' should mention '" + r.mention()
          + "'");
    }));
  }

  @TestFactory
  Stream<DynamicTest> everyRejectionCarriesItsCause() {
    return rows().stream().map(r -> DynamicTest.dynamicTest(r.name() + " -> " + r.cause(), () -> {
      LossArgumentException e = assertThrows(LossArgumentException.class, r.call());
      assertEquals(r.cause(), e.cause(), e.getMessage());
      assertFalse(e.getMessage().contains("\n"), e.getMessage());
      assertTrue(e.getMessage().contains(r.mention()), "'" + e.getMessage() + "' should mention '" + r.mention()
          + "'");
    }));
  }

  @Test
  void itIsAnIllegalArgumentExceptionAndNeedsACause() {
    IllegalArgumentException e = new LossArgumentException(Cause.OPTION, "x");
    assertEquals("x", e.getMessage());
    assertThrows(NullPointerException.class, () -> new LossArgumentException(null, "x"));
  }
}
