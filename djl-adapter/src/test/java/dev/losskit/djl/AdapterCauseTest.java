package dev.losskit.djl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.loss.Loss;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossArgumentException.Cause;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The adapter's rejections are losskit's {@link LossArgumentException} with the cause, on both execution paths:
 * the core's checks it reuses, and its own (label dtypes, fractional float labels, options).
 */
class AdapterCauseTest {
  private static NDManager m;

  @BeforeAll
  static void open() {
    m = NDManager.newBaseManager("PyTorch");
  }

  @AfterAll
  static void close() {
    m.close();
  }

  private record Row(String name, Cause cause, Function<Execution, Loss> loss, Function<NDManager, NDArray> label,
      Function<NDManager, NDArray> pred) {}

  private static NDArray logits(NDManager m, long... shape) {
    return m.randomNormal(new Shape(shape));
  }

  private static List<Row> rows() {
    return List.of(
        new Row("class index out of range", Cause.TARGET_OUT_OF_RANGE,
            e -> CrossEntropyLoss.builder().execution(e).build(), m -> m.create(new long[] {0, 3}),
            m -> logits(m, 2, 3)),
        new Row("negative class index", Cause.TARGET_OUT_OF_RANGE, e -> NllLoss.builder().execution(e).build(),
            m -> m.create(new long[] {-2, 0}), m -> logits(m, 2, 3)),
        new Row("fractional float label", Cause.TARGET_NOT_CLASS_INDEX,
            e -> CrossEntropyLoss.builder().execution(e).build(), m -> m.create(new float[] {0.5f, 1f}),
            m -> logits(m, 2, 3)),
        new Row("class weight of the wrong length", Cause.WEIGHT_SHAPE,
            e -> NllLoss.builder().weight(1, 2).execution(e).build(), m -> m.create(new long[] {0, 1}),
            m -> logits(m, 2, 3)),
        new Row("probability labels with ignoreIndex >= 0", Cause.PROBABILITY_TARGET_IGNORE_INDEX,
            e -> CrossEntropyLoss.builder().ignoreIndex(0).execution(e).build(),
            m -> m.create(new float[6], new Shape(2, 3)), m -> logits(m, 2, 3)),
        new Row("labels of another batch size", Cause.SHAPE_MISMATCH,
            e -> CrossEntropyLoss.builder().execution(e).build(), m -> m.create(new long[] {0, 1, 2}),
            m -> logits(m, 2, 3)),
        new Row("pos_weight that does not broadcast", Cause.POS_WEIGHT_SHAPE,
            e -> BceWithLogitsLoss.builder().posWeight(1, 2).execution(e).build(),
            m -> m.create(new float[6], new Shape(2, 3)), m -> logits(m, 2, 3)),
        new Row("BCE weight that does not broadcast", Cause.WEIGHT_SHAPE,
            e -> BceWithLogitsLoss.builder().weight(1, 2).execution(e).build(),
            m -> m.create(new float[6], new Shape(2, 3)), m -> logits(m, 2, 3)),
        new Row("uint8 labels", Cause.DTYPE, e -> CrossEntropyLoss.builder().execution(e).build(),
            m -> m.create(new long[] {0, 1}).toType(DataType.UINT8, false), m -> logits(m, 2, 3)),
        new Row("integer predictions", Cause.DTYPE, e -> CrossEntropyLoss.builder().execution(e).build(),
            m -> m.create(new long[] {0, 1}), m -> m.create(new int[6], new Shape(2, 3))),
        new Row("no labels", Cause.NULL_ARGUMENT, e -> CrossEntropyLoss.builder().execution(e).build(),
            m -> null, m -> logits(m, 2, 3)));
  }

  @TestFactory
  Stream<DynamicTest> everyBadInputCarriesItsCauseOnBothPaths() {
    return rows().stream().flatMap(row -> Stream.of(Execution.CORE, Execution.ENGINE).map(e ->
        DynamicTest.dynamicTest(row.name() + " (" + e + ") -> " + row.cause(), () -> {
          try (NDManager step = m.newSubManager()) {
            Loss loss = row.loss().apply(e);
            NDArray label = row.label().apply(step);
            NDArray pred = row.pred().apply(step);
            NDList labels = label == null ? new NDList() : new NDList(label);
            LossArgumentException x = assertThrows(LossArgumentException.class,
                () -> loss.evaluate(labels, new NDList(pred)));
            assertEquals(row.cause(), x.cause(), x.getMessage());
          }
        })));
  }

  @TestFactory
  Stream<DynamicTest> badOptionsCarryTheirCause() {
    return Stream.of(
        DynamicTest.dynamicTest("label smoothing 2", () -> assertEquals(Cause.LABEL_SMOOTHING_RANGE,
            assertThrows(LossArgumentException.class, () -> CrossEntropyLoss.builder().labelSmoothing(2)).cause())),
        DynamicTest.dynamicTest("class axis 2", () -> assertEquals(Cause.OPTION,
            assertThrows(LossArgumentException.class, () -> CrossEntropyLoss.builder().classAxis(2).build())
                .cause())));
  }
}
