package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.function.Executable;

/** Every bad input raises IllegalArgumentException with a one-line message that names the value and where it is. */
class BadInputTest {
  private static final Tensor X23 = Tensor.of(new float[6], 2, 3);

  private static DynamicTest bad(String name, Executable call, String... mustMention) {
    return DynamicTest.dynamicTest(name, () -> {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
      String m = e.getMessage();
      assertFalse(m.contains("\n"), "one line: " + m);
      for (String s : mustMention) {
        assertTrue(m.contains(s), "message '" + m + "' should mention '" + s + "'");
      }
    });
  }

  @TestFactory
  Stream<DynamicTest> badInputs() {
    return Stream.of(
        bad("target out of range names the index and position",
            () -> CrossEntropyLoss.create().forward(X23, Tensor.of(new long[] {0, 3}, 2)), "target 3", "[1]",
            "[0, 3)"),
        bad("negative target that is not ignoreIndex",
            () -> NllLoss.create().forward(X23, Tensor.of(new long[] {-2, 0}, 2)), "target -2", "[0]"),
        bad("target out of range in a K-dim batch names the multi-index",
            () -> CrossEntropyLoss.create().forward(Tensor.of(new double[12], 2, 3, 2),
                Tensor.of(new long[] {0, 1, 2, 9}, 2, 2)), "target 9", "[1, 1]"),
        bad("weight of the wrong length",
            () -> CrossEntropyLoss.builder().weight(1, 2).build().forward(X23, Tensor.of(new long[] {0, 1}, 2)),
            "weight has 2 entries", "3 classes"),
        bad("NLL weight of the wrong length",
            () -> NllLoss.builder().weight(1, 2, 3, 4).build().forward(X23, Tensor.of(new long[] {0, 1}, 2)),
            "weight has 4 entries"),
        bad("batch size mismatch",
            () -> CrossEntropyLoss.create().forward(X23, Tensor.of(new long[] {0, 1, 2}, 3)), "[3]", "[2, 3]",
            "expected target shape [2]"),
        bad("spatial mismatch",
            () -> NllLoss.create().forward(Tensor.of(new double[12], 2, 3, 2), Tensor.of(new long[6], 2, 3)),
            "[2, 3]", "expected target shape [2, 2]"),
        bad("unbatched input with a 1-D target",
            () -> CrossEntropyLoss.create().forward(Tensor.of(new float[3], 3), Tensor.of(new long[] {1}, 1)),
            "expected target shape []"),
        bad("label smoothing above 1", () -> CrossEntropyLoss.builder().labelSmoothing(1.5), "1.5", "[0, 1]"),
        bad("label smoothing below 0", () -> CrossEntropyLoss.builder().labelSmoothing(-0.1), "-0.1"),
        bad("label smoothing NaN", () -> CrossEntropyLoss.builder().labelSmoothing(Double.NaN), "NaN"),
        bad("probability targets with ignoreIndex >= 0",
            () -> CrossEntropyLoss.builder().ignoreIndex(0).build().forward(X23, Tensor.of(new float[6], 2, 3)),
            "ignoreIndex=0", "probability"),
        bad("probability-shaped integer target",
            () -> CrossEntropyLoss.create().forward(X23, Tensor.of(new long[6], 2, 3)), "int64", "probabilities"),
        bad("floating class-index target",
            () -> NllLoss.create().forward(X23, Tensor.of(new float[] {0, 1}, 2)), "float32", "int64"),
        bad("posWeight not broadcastable",
            () -> BceWithLogitsLoss.builder().posWeight(1, 2).build().forward(X23, X23), "posWeight", "[2]",
            "[2, 3]"),
        bad("weight with more dimensions than the input",
            () -> BceWithLogitsLoss.builder().weight(Tensor.of(new double[6], 1, 2, 3)).build().forward(X23, X23),
            "weight", "[1, 2, 3]"),
        bad("BCE target shape differs",
            () -> BceWithLogitsLoss.create().forward(X23, Tensor.of(new float[3], 3)), "[3]", "[2, 3]"),
        bad("non-floating input",
            () -> CrossEntropyLoss.create().forward(Tensor.of(new long[6], 2, 3), Tensor.of(new long[2], 2)),
            "input", "int64"),
        bad("non-floating BCE input",
            () -> BceWithLogitsLoss.create().forward(Tensor.of(new int[2], 2), Tensor.of(new float[2], 2)),
            "int32"),
        bad("scalar input", () -> NllLoss.create().forward(Tensor.scalar(1f), Tensor.of(new long[] {0})), "scalar"),
        bad("more than 2^31-1 elements",
            () -> Tensor.of(new float[0], 65536, 65536), "4294967296", "2^31-1"),
        bad("shape and data disagree", () -> Tensor.of(new float[5], 2, 3), "[2, 3]", "6", "5"),
        bad("negative extent", () -> Tensor.of(new float[0], -1, 0), "-1"),
        bad("gradOutput of the wrong shape",
            () -> CrossEntropyLoss.create().backward(X23, Tensor.of(new long[2], 2), Tensor.of(new float[2], 2)),
            "gradOutput shape [2]", "[]"),
        bad("null gradOutput for backward",
            () -> NllLoss.create().backward(X23, Tensor.of(new long[2], 2), null), "gradOutput"),
        bad("null reduction", () -> NllLoss.builder().reduction(null), "reduction"),
        bad("2-D class weight",
            () -> CrossEntropyLoss.builder().weight(Tensor.of(new double[4], 2, 2)), "1-D", "[2, 2]"));
  }

  private static final Tensor P22 = Tensor.of(new double[] {0.3, 0.7, 0.6, 0.4}, 2, 2);
  private static final Tensor Y2 = Tensor.of(new long[] {0, 1}, 2);

  private static Tensor p22(double at01) {
    return Tensor.of(new double[] {0.3, at01, 0.6, 0.4}, 2, 2);
  }

  /** scikit-learn's log_loss: one row per check, each naming the value as scikit-learn's message does. */
  @TestFactory
  Stream<DynamicTest> badLogLossInputs() {
    LogLoss ll = LogLoss.create();
    LogLoss labelled = LogLoss.builder().labels(0, 1).build();
    return Stream.of(
        bad("log_loss: null y_true", () -> ll.compute((Tensor) null, P22), "y_true", "null"),
        bad("log_loss: null y_pred", () -> ll.compute(Y2, null), "y_pred", "null"),
        bad("log_loss: scalar y_pred", () -> ll.compute(Y2, Tensor.scalar(0.5)), "y_pred", "scalar"),
        bad("log_loss: 3-D y_pred", () -> ll.compute(Y2, Tensor.of(new double[4], 2, 2, 1)), "y_pred",
            "[2, 2, 1]"),
        bad("log_loss: NaN in y_pred", () -> ll.compute(Y2, p22(Double.NaN)), "y_pred", "NaN", "[0, 1]"),
        bad("log_loss: infinity in y_pred", () -> ll.compute(Y2, p22(Double.POSITIVE_INFINITY)), "y_pred",
            "infinity", "[0, 1]"),
        bad("log_loss: empty y_pred",
            () -> ll.compute(Tensor.of(new long[0], 0), Tensor.of(new double[0], 0, 2)), "0 samples", "[0, 2]"),
        bad("log_loss: y_pred without columns", () -> ll.compute(Y2, Tensor.of(new double[0], 2, 0)),
            "0 columns", "[2, 0]"),
        bad("log_loss: y_pred above 1", () -> ll.compute(Y2, p22(1.5)), "greater than 1", "1.5", "[0, 1]"),
        bad("log_loss: float32 y_pred below 0",
            () -> ll.compute(Y2, Tensor.of(new float[] {0.3f, -0.1f, 0.6f, 0.4f}, 2, 2)), "lower than 0", "-0.1",
            "[0, 1]"),
        bad("log_loss: scalar y_true", () -> ll.compute(Tensor.of(new long[] {1}), Tensor.of(new double[] {0.5},
            1)), "y_true", "scalar"),
        bad("log_loss: scalar sample_weight", () -> ll.compute(Y2, P22, Tensor.scalar(1.0)), "sample_weight",
            "scalar"),
        bad("log_loss: inconsistent numbers of samples",
            () -> ll.compute(Tensor.of(new long[] {0, 1, 1}, 3), P22), "inconsistent", "y_pred 2", "y_true 3"),
        bad("log_loss: sample_weight of another length", () -> ll.compute(Y2, P22, Tensor.of(new double[3], 3)),
            "sample_weight 3"),
        bad("log_loss: 2-D sample_weight", () -> ll.compute(Y2, P22, Tensor.of(new double[] {1, 1}, 2, 1)),
            "sample_weight", "[2, 1]"),
        bad("log_loss: infinite sample weight",
            () -> ll.compute(Y2, P22, Tensor.of(new double[] {1, Double.POSITIVE_INFINITY}, 2)), "sample_weight",
            "infinity", "[1]"),
        bad("log_loss: all sample weights zero", () -> ll.compute(Y2, P22, Tensor.of(new double[2], 2)),
            "every sample weight is 0"),
        bad("log_loss: sample weights summing to zero",
            () -> ll.compute(Y2, P22, Tensor.of(new double[] {2, -2}, 2)), "sum to zero"),
        bad("log_loss: 3-D y_true", () -> ll.compute(Tensor.of(new long[2], 2, 1, 1), P22), "y_true",
            "[2, 1, 1]"),
        bad("log_loss: indicator y_true with labels",
            () -> labelled.compute(Tensor.of(new long[] {0, 1, 1, 0}, 2, 2), P22), "indicator", "[2, 2]",
            "labels"),
        bad("log_loss: y_true without columns", () -> ll.compute(Tensor.of(new long[0], 2, 0), P22), "y_true",
            "[2, 0]"),
        bad("log_loss: indicator value not whole",
            () -> ll.compute(Tensor.of(new double[] {0, 0.5, 1, 0}, 2, 2), P22), "0.5", "[0, 1]"),
        bad("log_loss: indicator with three values",
            () -> ll.compute(Tensor.of(new long[] {0, 1, 2, 0, 1, 0}, 2, 3), Tensor.of(new double[6], 2, 3)),
            "[0, 1, 2]", "[2, 3]"),
        bad("log_loss: floating label not whole", () -> ll.compute(Tensor.of(new double[] {0, 0.5}, 2), P22),
            "0.5", "[1]"),
        bad("log_loss: one class without labels", () -> ll.compute(Tensor.of(new long[] {1, 1}, 2), P22),
            "only one label (1)", "labels"),
        bad("log_loss: label not among labels", () -> labelled.compute(Tensor.of(new long[] {0, 3}, 2), P22),
            "[3]", "[0, 1]", "[1]"),
        bad("log_loss: numbers with string labels",
            () -> LogLoss.builder().labels("a", "b").build().compute(Y2, P22), "numbers", "[a, b]"),
        bad("log_loss: strings with numeric labels", () -> labelled.compute(new String[] {"a", "b"}, P22, null),
            "strings", "[0, 1]"),
        bad("log_loss: null string label in y_true", () -> ll.compute(new String[] {"a", null}, P22, null),
            "y_true[1]"),
        bad("log_loss: y_pred columns vs classes", () -> ll.compute(Tensor.of(new long[] {0, 2, 1}, 3),
            Tensor.of(new double[] {0.5, 0.5, 0.5}, 3)), "3 vs 2", "[0, 1, 2]", "[1-p, p]"),
        bad("log_loss: y_pred columns vs labels",
            () -> LogLoss.builder().labels(0, 1, 2).build().compute(Y2, P22), "labels (3", "2 columns"),
        bad("log_loss: no labels", () -> LogLoss.builder().labels(new String[0]), "at least two", "[]"),
        bad("log_loss: one label", () -> LogLoss.builder().labels(4), "at least two", "[4]"),
        bad("log_loss: repeated label", () -> LogLoss.builder().labels(2, 0, 2), "[2, 0, 2]", "repeat 2"),
        bad("log_loss: null string label", () -> LogLoss.builder().labels("a", null), "labels[1]"),
        bad("log_loss: accumulating labels without labels", () -> ll.accumulator().add(Y2, P22), "labels("),
        bad("log_loss: accumulating another dtype", () -> {
          LogLoss.Accumulator acc = labelled.accumulator();
          acc.add(Y2, Tensor.of(new float[] {0.5f, 0.5f, 0.5f, 0.5f}, 2, 2));
          acc.add(Y2, P22);
        }, "float64", "float32"),
        bad("log_loss: accumulating another number of indicator columns", () -> {
          LogLoss.Accumulator acc = ll.accumulator();
          acc.add(Tensor.of(new long[] {0, 1, 1, 0}, 2, 2), P22);
          acc.add(Tensor.of(new long[] {0, 1, 0}, 1, 3), Tensor.of(new double[] {0.2, 0.3, 0.5}, 1, 3));
        }, "3 columns", "2"),
        bad("log_loss: accumulated nothing", () -> ll.accumulator().result(), "no samples"));
  }
}
