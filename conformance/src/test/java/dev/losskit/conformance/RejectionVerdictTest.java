package dev.losskit.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.EngineException;
import dev.losskit.conformance.Matrix.Combination;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossArgumentException.Cause;
import dev.losskit.core.Tensor;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The verdict on input libtorch rejects: a backend passes such a combination only by rejecting it for the
 * combination's cause, with losskit's own {@link LossArgumentException} or, for a graph backend, a run-time failure of
 * a loaded graph that can express the cause. Crashes, foreign exceptions, wrong causes and graphs that did not load
 * fail, and the reason names the exception. The matrix's causes are checked against libtorch.
 */
class RejectionVerdictTest {
  private static TorchOracle oracle;
  /** libtorch's outcome on every combination of the matrix, in matrix order. */
  private static final Map<Combination, Outcome> TORCH = new LinkedHashMap<>();

  @BeforeAll
  static void runLibtorch() throws Exception {
    oracle = TorchOracle.open();
    for (Combination c : Matrix.all()) {
      TORCH.put(c, oracle.run(c.call()));
    }
  }

  @AfterAll
  static void close() {
    if (oracle != null) {
      oracle.close();
    }
  }

  private static List<Combination> rejectedByLibtorch() {
    List<Combination> out = new ArrayList<>();
    TORCH.forEach((c, o) -> {
      if (o.failed()) {
        out.add(c);
      }
    });
    assertFalse(out.isEmpty(), "libtorch rejects some combinations of the matrix");
    return out;
  }

  /** A backend that runs {@code call} on every combination. */
  private static Backend backend(String name, Set<Cause> runTimeCauses, Function<LossCase, Outcome> call) {
    return new Backend() {
      @Override
      public String name() {
        return name;
      }

      @Override
      public String description() {
        return "a test backend: " + name;
      }

      @Override
      public Outcome run(LossCase c) {
        return call.apply(c);
      }

      @Override
      public Set<Cause> runTimeCauses() {
        return runTimeCauses;
      }
    };
  }

  private static List<CaseResult> judgeRejected(Backend b) {
    List<CaseResult> out = new ArrayList<>();
    for (Combination c : rejectedByLibtorch()) {
      out.add(ConformanceRunner.judge(c, b, TORCH.get(c), null));
    }
    return out;
  }

  private static void assertAllFail(List<CaseResult> results, String... reasonMentions) {
    for (CaseResult r : results) {
      assertEquals("fail", r.status(), r.combination() + ": " + r.reason());
      assertFalse(r.valid(), r.combination());
      for (String s : reasonMentions) {
        assertTrue(r.reason().contains(s), r.combination() + ": reason '" + r.reason() + "' should mention '" + s
            + "'");
      }
    }
  }

  // ---- the matrix's causes against libtorch --------------------------------------------------------------------

  /** libtorch 2.7.1's words for each cause the matrix uses (cross_entropy, nll_loss, bce_with_logits, bce). */
  private static final Map<Cause, Pattern> LIBTORCH_SAYS = new EnumMap<>(Map.of(
      Cause.TARGET_OUT_OF_RANGE, Pattern.compile("Target -?\\d+ is out of bounds"),
      Cause.WEIGHT_SHAPE, Pattern.compile("weight tensor should be defined either for all \\d+ classes"
          + "|The size of tensor a \\(\\d+\\) must match the size of tensor b"
          + "|Attempting to broadcast a dimension of length \\d+"),
      Cause.POS_WEIGHT_SHAPE, Pattern.compile("The size of tensor a \\(\\d+\\) must match the size of tensor b"),
      Cause.SHAPE_MISMATCH, Pattern.compile("Expected input batch_size|Expected target size"
          + "|Target size .* must be the same as input size"
          + "|Using a target size .* that is different to the input size"),
      Cause.LABEL_SMOOTHING_RANGE, Pattern.compile("label_smoothing must be between"),
      Cause.PROBABILITY_TARGET_IGNORE_INDEX, Pattern.compile("ignore_index is not supported for floating point"),
      Cause.PROBABILITY_RANGE, Pattern.compile("all elements of (input|target) should be between 0 and 1")));

  @Test
  void theCombinationsLabelledInvalidAreExactlyTheOnesLibtorchRejectsForThatCause() {
    int invalid = 0;
    for (Map.Entry<Combination, Outcome> e : TORCH.entrySet()) {
      Combination c = e.getKey();
      Outcome torch = e.getValue();
      assertEquals(torch.failed(), c.invalid(), c.id() + ": label " + c.expectedCause() + ", libtorch "
          + (torch.failed() ? "rejects it: " + torch.error() : "accepts it"));
      if (!c.invalid()) {
        continue;
      }
      invalid++;
      Pattern says = LIBTORCH_SAYS.get(c.expectedCause());
      assertNotNull(says, c.id() + ": no libtorch wording recorded for " + c.expectedCause());
      assertTrue(says.matcher(torch.error()).find(), c.id() + ": labelled " + c.expectedCause() + " but libtorch says "
          + torch.error());
    }
    assertTrue(invalid > 0);
  }

  /**
   * libtorch's broadcast error does not say which BCE operand failed; dropping the labelled operand must make
   * libtorch accept the call.
   */
  @Test
  void bceWeightCausesNameTheOperandLibtorchTripsOn() {
    int checked = 0;
    for (Combination c : rejectedByLibtorch()) {
      LossCase k = c.call();
      if (c.expectedCause() != Cause.WEIGHT_SHAPE && c.expectedCause() != Cause.POS_WEIGHT_SHAPE
          || !c.loss().equals(dev.losskit.core.BceWithLogitsLoss.NAME)) {
        continue;
      }
      boolean weight = c.expectedCause() == Cause.WEIGHT_SHAPE;
      LossCase without = new LossCase(k.loss(), k.dtype(), k.reduction(), k.ignoreIndex(), k.labelSmoothing(),
          weight ? null : k.weight(), weight ? k.posWeight() : null, k.input(), k.target(), k.gradOutput());
      Outcome o = oracle.run(without);
      assertFalse(o.failed(), c.id() + ": without its " + (weight ? "weight" : "pos_weight")
          + " libtorch still rejects it: " + o.error());
      checked++;
    }
    assertTrue(checked > 0);
  }

  @Test
  void aMislabelledCombinationFailsEveryBackend() {
    Combination invalid = rejectedByLibtorch().get(0);
    Combination valid = TORCH.entrySet().stream().filter(e -> !e.getValue().failed()).findFirst().orElseThrow()
        .getKey();
    CaseResult unlabelled = ConformanceRunner.judge(
        new Combination(invalid.id(), invalid.axes(), invalid.call(), null), Backend.CORE, TORCH.get(invalid), null);
    assertEquals("fail", unlabelled.status());
    assertTrue(unlabelled.reason().contains("labels it valid but libtorch rejects it"), unlabelled.reason());
    CaseResult labelled = ConformanceRunner.judge(
        new Combination(valid.id(), valid.axes(), valid.call(), Cause.SHAPE_MISMATCH), Backend.CORE,
        TORCH.get(valid), null);
    assertEquals("fail", labelled.status());
    assertTrue(labelled.reason().contains("labels it invalid (SHAPE_MISMATCH) but libtorch accepts it"),
        labelled.reason());
  }

  // ---- rejections that must not count --------------------------------------------------------------------------

  /** The input's shape, or a NullPointerException when there is no input: the kind of slip a backend makes. */
  private static int[] shapeOf(LossCase c, boolean input) {
    Tensor t = input ? c.input() : null;
    return t.shape();
  }

  @Test
  void aBackendThatThrowsNullPointerExceptionFailsEveryRejectedCombination() throws Exception {
    // A real NullPointerException on every call, from a backend whose graph could express some of the causes: a
    // crash is never excused as a rejection.
    Backend npe = backend("npe", OnnxBackend.RUN_TIME_CAUSES,
        c -> Outcome.values(Tensor.of(new float[0], shapeOf(c, false)), c.input()));
    List<CaseResult> all = judgeRejected(npe);
    assertAllFail(all, "npe rejected it with NullPointerException", "not losskit's LossArgumentException");

    ConformanceReport report = new ConformanceReport(oracle.libtorchVersion(), all);
    assertEquals(rejectedByLibtorch().size(), report.failures());
    ByteArrayOutputStream md = new ByteArrayOutputStream();
    report.writeMarkdown(md);
    String text = md.toString(StandardCharsets.UTF_8);
    assertTrue(text.contains("### Failures (" + all.size() + ")"), text);
    assertTrue(text.contains("npe rejected it with NullPointerException"), text);
    assertTrue(report.table().contains("npe"), report.table());
  }

  @Test
  void aBackendThatThrowsIndexOutOfBoundsFailsEveryRejectedCombination() {
    Backend oob = backend("oob", OnnxBackend.RUN_TIME_CAUSES, c -> {
      int[] shape = c.input().shape();
      return Outcome.values(null, Tensor.of(new float[] {shape[shape.length + 1]}));
    });
    assertAllFail(judgeRejected(oob), "ArrayIndexOutOfBoundsException", "not losskit's LossArgumentException");
  }

  @Test
  void aGenericIllegalArgumentExceptionFailsEveryRejectedCombination() {
    Backend generic = backend("generic", OnnxBackend.RUN_TIME_CAUSES, c -> {
      throw new IllegalArgumentException("bad input");
    });
    assertAllFail(judgeRejected(generic), "generic rejected it with IllegalArgumentException: bad input",
        "not losskit's LossArgumentException");
    // The same caught and returned as an outcome, as the real backends return a rejection.
    Backend returned = backend("returned", Set.of(), c -> Outcome.threw(new IllegalArgumentException("bad input")));
    assertAllFail(judgeRejected(returned), "IllegalArgumentException: bad input");
  }

  @Test
  void anEngineErrorFailsEveryRejectedCombination() {
    Backend engine = backend("engine", Set.of(), c -> Outcome.threw(new EngineException("Target 9 is out of bounds."),
        "RuntimeError: Target 9 is out of bounds."));
    assertAllFail(judgeRejected(engine), "EngineException: RuntimeError: Target 9 is out of bounds.");
  }

  @Test
  void losskitsExceptionWithTheWrongCauseFailsEveryRejectedCombination() {
    Cause[] causes = Cause.values();
    Backend wrong = backend("wrong-cause", OnnxBackend.RUN_TIME_CAUSES, c -> {
      Cause right = expectedCauseOf(c);
      Cause other = causes[(right.ordinal() + 1) % causes.length];
      throw new LossArgumentException(other, "wrong cause");
    });
    for (CaseResult r : judgeRejected(wrong)) {
      assertEquals("fail", r.status(), r.combination() + ": " + r.reason());
      Cause right = cause(r.combination());
      Cause other = causes[(right.ordinal() + 1) % causes.length];
      assertTrue(r.reason().contains("losskit's cause is " + other + ", expected " + right), r.reason());
    }
  }

  @Test
  void anOnnxGraphThatDidNotLoadFailsEveryRejectedCombination() {
    Backend noSession = backend("no-session", OnnxBackend.RUN_TIME_CAUSES, c -> Outcome.rejected(
        new IllegalStateException("[ONNXRuntimeError] : 10 : INVALID_GRAPH : Load model failed"),
        "ONNX Runtime did not load the graph: INVALID_GRAPH", Outcome.Stage.SESSION));
    assertAllFail(judgeRejected(noSession), "building the ONNX Runtime session", "did not load");
  }

  @Test
  void aRunTimeFailureCountsOnlyForTheCausesAGraphCanExpress() {
    Function<LossCase, Outcome> runFails = c -> Outcome.rejected(new IllegalStateException("Gather: index out of"
        + " bounds"), "ONNX Runtime: Gather: index out of bounds", Outcome.Stage.GRAPH_RUN);
    Backend graph = backend("graph", OnnxBackend.RUN_TIME_CAUSES, runFails);
    int passed = 0;
    int failed = 0;
    for (CaseResult r : judgeRejected(graph)) {
      Cause expected = cause(r.combination());
      boolean expressible = OnnxBackend.RUN_TIME_CAUSES.contains(expected);
      assertEquals(expressible ? "pass" : "fail", r.status(), r.combination() + ": " + r.reason());
      if (expressible) {
        passed++;
      } else {
        failed++;
        assertTrue(r.reason().contains("a graph cannot reject " + expected + " when it runs"), r.reason());
      }
    }
    assertTrue(passed > 0 && failed > 0, passed + " passed, " + failed + " failed");
    // A backend that runs no graph cannot excuse anything with a run-time failure.
    assertAllFail(judgeRejected(backend("no-graph", Set.of(), runFails)), "a graph cannot reject");
  }

  @Test
  void losskitsExceptionWithTheRightCausePassesEveryRejectedCombination() {
    Backend right = backend("right-cause", Set.of(), c -> Outcome.threw(
        new LossArgumentException(expectedCauseOf(c), "rejected for the right cause")));
    for (CaseResult r : judgeRejected(right)) {
      assertEquals("pass", r.status(), r.combination() + ": " + r.reason());
      assertTrue(r.reason().contains("LossArgumentException(" + cause(r.combination()) + ")"), r.reason());
    }
  }

  @Test
  void theRealBackendsRejectEveryInvalidCombinationForItsCause() {
    List<String> failures = new ArrayList<>();
    int passed = 0;
    for (Backend b : Backends.all()) {
      for (CaseResult r : judgeRejected(b)) {
        if (!r.ok()) {
          failures.add(r.backend() + " " + r.combination() + ": " + r.reason());
        } else if (r.status().equals("pass")) {
          passed++;
        }
      }
    }
    assertTrue(failures.isEmpty(), String.join("\n", failures));
    assertTrue(passed > 0);
  }

  private static Cause expectedCauseOf(LossCase call) {
    return TORCH.keySet().stream().filter(c -> c.call() == call).findFirst().orElseThrow().expectedCause();
  }

  private static Cause cause(String combination) {
    return TORCH.keySet().stream().filter(c -> c.id().equals(combination)).findFirst().orElseThrow()
        .expectedCause();
  }
}
