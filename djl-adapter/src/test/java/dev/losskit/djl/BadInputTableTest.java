package dev.losskit.djl;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.loss.Loss;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The adapter's bad inputs as a table, each on both execution paths: an IllegalArgumentException with one line that
 * names the value, before any engine error could surface.
 */
class BadInputTableTest {
  private static NDManager m;

  @BeforeAll
  static void open() {
    m = NDManager.newBaseManager("PyTorch");
  }

  @AfterAll
  static void close() {
    m.close();
  }

  record Row(String name, Function<Execution, Loss> loss, Function<NDManager, NDArray> label,
      Function<NDManager, NDArray> pred, List<String> mention) {}

  private static NDArray logits(NDManager m, long... shape) {
    int n = (int) new Shape(shape).size();
    float[] x = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) Math.sin(i + 1);
    }
    return m.create(x, new Shape(shape));
  }

  static List<Row> rows() {
    List<Row> r = new ArrayList<>();
    r.add(new Row("a class index out of range", e -> CrossEntropyLoss.builder().execution(e).build(),
        m -> m.create(new long[] {0, 3}), m -> logits(m, 2, 3), List.of("target 3", "[0, 3)")));
    r.add(new Row("a negative class index", e -> NllLoss.builder().execution(e).build(),
        m -> m.create(new long[] {-2, 0}), m -> logits(m, 2, 3), List.of("target -2")));
    r.add(new Row("a fractional float label", e -> CrossEntropyLoss.builder().execution(e).build(),
        m -> m.create(new float[] {0.5f, 1f}), m -> logits(m, 2, 3), List.of("0.5", "whole number")));
    r.add(new Row("a weight of the wrong length", e -> CrossEntropyLoss.builder().weight(1, 2).execution(e).build(),
        m -> m.create(new long[] {0, 1}), m -> logits(m, 2, 3), List.of("weight has 2 entries", "3 classes")));
    r.add(new Row("probability labels with ignoreIndex >= 0",
        e -> CrossEntropyLoss.builder().ignoreIndex(0).execution(e).build(),
        m -> m.create(new float[6], new Shape(2, 3)), m -> logits(m, 2, 3), List.of("ignoreIndex=0")));
    r.add(new Row("labels of the wrong batch size", e -> CrossEntropyLoss.builder().execution(e).build(),
        m -> m.create(new long[] {0, 1, 2}), m -> logits(m, 2, 3), List.of("[3]", "[2, 3]")));
    r.add(new Row("a pos_weight that does not broadcast",
        e -> BceWithLogitsLoss.builder().posWeight(1, 2).execution(e).build(),
        m -> m.create(new float[6], new Shape(2, 3)), m -> logits(m, 2, 3), List.of("posWeight", "[2]")));
    r.add(new Row("BCE labels of another shape", e -> BceWithLogitsLoss.builder().execution(e).build(),
        m -> m.create(new float[4], new Shape(2, 2)), m -> logits(m, 2, 3), List.of("[2, 2]", "[2, 3]")));
    r.add(new Row("integer predictions", e -> CrossEntropyLoss.builder().execution(e).build(),
        m -> m.create(new long[] {0, 1}), m -> m.create(new int[6], new Shape(2, 3)), List.of("int32")));
    return r;
  }

  @TestFactory
  Stream<DynamicTest> everyBadInputIsOneClearLineOnBothPaths() {
    return rows().stream().flatMap(row -> Stream.of(Execution.CORE, Execution.ENGINE).map(e ->
        DynamicTest.dynamicTest(row.name() + " (" + e + ")", () -> {
          try (NDManager step = m.newSubManager()) {
            Loss loss = row.loss().apply(e);
            NDArray label = row.label().apply(step);
            NDArray pred = row.pred().apply(step);
            String message = assertThrows(IllegalArgumentException.class,
                () -> loss.evaluate(new NDList(label), new NDList(pred))).getMessage();
            assertFalse(message.contains("\n"), message);
            for (String s : row.mention()) {
              assertTrue(message.contains(s), "'" + message + "' should mention '" + s + "'");
            }
          }
        })));
  }

  @TestFactory
  Stream<DynamicTest> badOptionsAreRefusedByTheBuilders() {
    return Stream.of(
        DynamicTest.dynamicTest("label smoothing 2", () -> assertTrue(assertThrows(IllegalArgumentException.class,
            () -> CrossEntropyLoss.builder().labelSmoothing(2)).getMessage().contains("2.0"))),
        DynamicTest.dynamicTest("label smoothing NaN", () -> assertTrue(assertThrows(IllegalArgumentException.class,
            () -> CrossEntropyLoss.builder().labelSmoothing(Double.NaN)).getMessage().contains("NaN"))),
        DynamicTest.dynamicTest("class axis 2", () -> assertTrue(assertThrows(IllegalArgumentException.class,
            () -> CrossEntropyLoss.builder().classAxis(2).build()).getMessage().contains("2"))));
  }
}
