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
}
