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
        new Row("unknown dtype name", Cause.OPTION, () -> DType.fromPytorchName("float16"), "float16"));
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
