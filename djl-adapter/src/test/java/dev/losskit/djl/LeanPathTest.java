package dev.losskit.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The adapter's lean paths give the values of the full ones: the loss alone when no backward can reach the call,
 * the engine's four-operation sequence for plain class indices, checks on the host, and {@link Execution#AUTO}'s
 * choice by shape.
 */
class LeanPathTest {
  private NDManager m;
  private final Random r = new Random(11);

  @BeforeEach
  void manager() {
    m = NDManager.newBaseManager("PyTorch");
  }

  @AfterEach
  void close() {
    m.close();
  }

  private float[] gaussian(int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return v;
  }

  /** The loss as a training step returns it (inside a collector, predictions requiring a gradient). */
  @SuppressWarnings("try")
  private static NDArray recorded(TorchLoss loss, NDArray label, NDArray pred) {
    NDArray p = pred.duplicate();
    p.setRequiresGradient(true);
    try (GradientCollector c = Engine.getEngine("PyTorch").newGradientCollector()) {
      assertTrue(Autograd.recording(p));
      return loss.evaluate(new NDList(label), new NDList(p));
    }
  }

  /** The loss as DJL's evaluator computes it, after the collector has closed. */
  private static NDArray unrecorded(TorchLoss loss, NDArray label, NDArray pred) {
    NDArray p = pred.duplicate();
    p.setRequiresGradient(true);
    assertFalse(Autograd.recording(p), "the grad mode is off outside a collector");
    return loss.evaluate(new NDList(label), new NDList(p));
  }

  private static void assertSameLoss(NDArray expected, NDArray actual, float delta, String what) {
    assertEquals(expected.getShape(), actual.getShape(), what);
    assertEquals(expected.getDataType(), actual.getDataType(), what);
    NDArray e = expected.toType(DataType.FLOAT64, false);
    NDArray a = actual.toType(DataType.FLOAT64, false);
    assertArrayEquals(e.toDoubleArray(), a.toDoubleArray(), delta, what);
  }

  record Case(String name, TorchLoss loss, NDArray label, NDArray pred) {}

  private List<Case> cases(Reduction reduction, Execution e) {
    List<Case> out = new ArrayList<>();
    long[] t = {0, 4, 2, -100, 1, 3};
    out.add(new Case("CE weight smoothing ignore", CrossEntropyLoss.builder().reduction(reduction)
        .weight(1, 2, 0.5, 1, 3).labelSmoothing(0.1).execution(e).build(), m.create(t), m.create(gaussian(30),
        new Shape(6, 5))));
    out.add(new Case("CE channels-last", CrossEntropyLoss.builder().reduction(reduction).classAxis(-1)
        .execution(e).build(), m.create(new long[] {0, 3, 1, 2, 2, 3}, new Shape(2, 3)),
        m.create(gaussian(24), new Shape(2, 3, 4))));
    out.add(new Case("CE float labels", CrossEntropyLoss.builder().reduction(reduction).execution(e).build(),
        m.create(new float[] {1, 0, 2}), m.create(gaussian(9), new Shape(3, 3))));
    out.add(new Case("CE probabilities", CrossEntropyLoss.builder().reduction(reduction).labelSmoothing(0.2)
        .execution(e).build(), m.create(new float[] {0.2f, 0.8f, 0, 0.5f, 0.25f, 0.25f}, new Shape(2, 3)),
        m.create(gaussian(6), new Shape(2, 3))));
    out.add(new Case("NLL", NllLoss.builder().reduction(reduction).execution(e).build(),
        m.create(new int[] {2, 0}), m.create(gaussian(6), new Shape(2, 3))));
    out.add(new Case("BCE pos_weight", BceWithLogitsLoss.builder().reduction(reduction).posWeight(2, 0.5, 1)
        .execution(e).build(), m.create(new float[] {1, 0, 0.5f, 0, 1, 1}, new Shape(2, 3)),
        m.create(gaussian(6), new Shape(2, 3))));
    out.add(new Case("CE float64", CrossEntropyLoss.builder().reduction(reduction).execution(e).build(),
        m.create(new long[] {1, 0}), m.create(gaussian(6), new Shape(2, 3)).toType(DataType.FLOAT64, false)));
    return out;
  }

  @ParameterizedTest
  @EnumSource(Reduction.class)
  void theLossAloneEqualsTheRecordedLossOnEveryPath(Reduction reduction) {
    for (Execution e : Execution.values()) {
      for (Case c : cases(reduction, e)) {
        assertSameLoss(recorded(c.loss(), c.label(), c.pred()), unrecorded(c.loss(), c.label(), c.pred()), 0,
            c.name() + ", " + e + ", " + reduction);
      }
    }
  }

  /** Non-finite logits: the recorded loss comes from the engine path, the loss alone from the core's forward. */
  @ParameterizedTest
  @EnumSource(Reduction.class)
  void theLossAloneOfNonFiniteLogitsIsLibtorchs(Reduction reduction) {
    float ninf = Float.NEGATIVE_INFINITY;
    float[] x = {0.5f, ninf, 1f, 2f, 0.1f, ninf, Float.NaN, 0, 1};
    NDArray label = m.create(new long[] {1, 0, 2});
    CrossEntropyLoss loss = CrossEntropyLoss.builder().reduction(reduction).execution(Execution.CORE).build();
    assertSameLoss(recorded(loss, label, m.create(x, new Shape(3, 3))),
        unrecorded(loss, label, m.create(x, new Shape(3, 3))), 1e-6f, reduction.toString());
  }

  /**
   * Above the Java check's size, a non-finite logit is found on the straight-through term read back from the engine:
   * the engine path takes over, for every reduction, and the gradient is libtorch's.
   */
  @ParameterizedTest
  @EnumSource(Reduction.class)
  void aNonFiniteLogitInALargeInputIsFoundOnTheInnerProduct(Reduction reduction) {
    int n = 2 * CoreBacked.JAVA_FINITE_CHECK_MAX / 100;
    float[] x = gaussian(n * 100);
    x[7 * 100 + 3] = Float.NEGATIVE_INFINITY;
    x[n * 100 - 1] = Float.NaN;
    long[] t = new long[n];
    for (int i = 0; i < n; i++) {
      t[i] = r.nextInt(100);
    }
    float[][] core = step(CrossEntropyLoss.builder().reduction(reduction).execution(Execution.CORE).build(),
        m.create(t), m.create(x, new Shape(n, 100)));
    float[][] engine = step(CrossEntropyLoss.builder().reduction(reduction).execution(Execution.ENGINE).build(),
        m.create(t), m.create(x, new Shape(n, 100)));
    assertArrayEquals(engine[0], core[0], 0f);
    assertArrayEquals(engine[1], core[1], 0f);
  }

  /**
   * Predictions a model computed (not leaves: DJL's {@code hasGradient()} is false for them) still get their
   * gradient: the call is recorded whenever the collector is open.
   */
  @ParameterizedTest
  @EnumSource(Execution.class)
  @SuppressWarnings("try")
  void modelOutputsGetTheirGradient(Execution e) {
    float[] x = gaussian(6);
    long[] t = {1, 2};
    NDArray leaf = m.create(x, new Shape(2, 3));
    leaf.setRequiresGradient(true);
    CrossEntropyLoss loss = CrossEntropyLoss.builder().execution(e).build();
    try (GradientCollector c = Engine.getEngine("PyTorch").newGradientCollector()) {
      NDArray output = leaf.mul(leaf.onesLike()); // a model output: not a leaf
      assertFalse(output.hasGradient(), "DJL reports no gradient for a non-leaf");
      assertTrue(Autograd.recording(output));
      c.backward(loss.evaluate(new NDList(m.create(t)), new NDList(output)));
    }
    assertArrayEquals(loss.core().forwardBackward(Tensor.of(x, 2, 3), Tensor.of(t, 2)).gradInput().toFloatArray(),
        leaf.getGradient().toFloatArray(), 1e-7f);
  }

  /** Float labels are read in place on both paths; a fractional one gets one and the same line from each. */
  @ParameterizedTest
  @ValueSource(strings = {"float32", "float64"})
  void aFractionalFloatLabelGetsTheSameLineOnBothPaths(String type) {
    NDArray pred = m.create(gaussian(8), new Shape(4, 2));
    NDArray label = m.create(new float[] {1, 0, 0.3f, 2.5f});
    if (type.equals("float64")) {
      label = label.toType(DataType.FLOAT64, false);
    }
    List<String> messages = new ArrayList<>();
    for (Execution e : Execution.values()) {
      NDArray l = label;
      messages.add(assertThrows(IllegalArgumentException.class, () -> CrossEntropyLoss.builder().execution(e).build()
          .evaluate(new NDList(l), new NDList(pred))).getMessage());
    }
    assertEquals("cross_entropy: label " + (double) 0.3f + " at index 2 is not a whole number, so it is not a class"
        + " index (labels of the predictions' shape are class probabilities)", messages.get(0));
    assertTrue(messages.stream().allMatch(messages.get(0)::equals), messages.toString());
    assertFalse(messages.get(0).contains("\n"));
  }

  @Test
  void valueChecksRunOnTheHostOnlyOnTheCpu() {
    assertTrue(EngineNative.hostChecks(Device.cpu()));
    assertFalse(EngineNative.hostChecks(Device.gpu()));
    assertFalse(EngineNative.hostChecks(Device.gpu(1)));
    assertFalse(EngineNative.hostChecks(Device.of("mps", 0)));
  }

  @Test
  void autoTakesTheEngineWhereItsRowsAreLongAndTheCoresShort() {
    assertFalse(TorchLoss.engineOnCpu(10, 32 * 10, false), "small batch: the core");
    assertFalse(TorchLoss.engineOnCpu(10, 4096 * 10, false), "C=10 rows: libtorch's log-softmax is scalar too");
    assertTrue(TorchLoss.engineOnCpu(9, 32 * 512 * 9, true), "tagging, channels-last");
    assertTrue(TorchLoss.engineOnCpu(32, 4096 * 32, false));
    assertFalse(TorchLoss.engineOnCpu(32, 32 * 32, false), "too few elements to pay the engine's fixed cost");
    assertFalse(TorchLoss.engineOnCpu(64, 4096 * 64, false), "the core's vector kernel");
    assertFalse(TorchLoss.engineOnCpu(32000, 4096L * 32000, false));
  }

  /** AUTO's value and gradient are exactly those of the path it takes. */
  @Test
  void autoGivesExactlyThePathItTakes() {
    long[] t = new long[32 * 64];
    for (int i = 0; i < t.length; i++) {
      t[i] = r.nextInt(9);
    }
    NDArray label = m.create(t, new Shape(32, 64));
    NDArray pred = m.create(gaussian(32 * 64 * 9), new Shape(32, 64, 9));
    float[][] auto = step(CrossEntropyLoss.builder().classAxis(-1).build(), label, pred);
    float[][] engine = step(CrossEntropyLoss.builder().classAxis(-1).execution(Execution.ENGINE).build(), label, pred);
    assertArrayEquals(engine[0], auto[0], 0f);
    assertArrayEquals(engine[1], auto[1], 0f);
  }

  /** The engine's plain sequence (no weight, no smoothing, nothing ignored) against the core, every reduction. */
  @ParameterizedTest
  @EnumSource(Reduction.class)
  void thePlainEngineSequenceMatchesTheCore(Reduction reduction) {
    float[] x = gaussian(5 * 7);
    for (long[] t : new long[][] {{0, 6, 3, 3, 1}, {0, 6, -100, 3, 1}}) {
      CrossEntropyLoss loss = CrossEntropyLoss.builder().reduction(reduction).execution(Execution.ENGINE).build();
      float[][] djl = step(loss, m.create(t), m.create(x, new Shape(5, 7)));
      var core = loss.core().forwardBackward(Tensor.of(x, 5, 7), Tensor.of(t, 5),
          reduction == Reduction.NONE ? Tensor.of(new float[] {1, 1, 1, 1, 1}, 5) : null);
      assertArrayEquals(core.loss().toFloatArray(), djl[0], 1e-6f, reduction + " " + t[2]);
      assertArrayEquals(core.gradInput().toFloatArray(), djl[1], 1e-6f, reduction + " " + t[2]);
    }
  }

  @SuppressWarnings("try")
  private static float[][] step(TorchLoss loss, NDArray label, NDArray pred) {
    NDArray p = pred.duplicate();
    p.setRequiresGradient(true);
    NDArray value;
    try (GradientCollector c = Engine.getEngine("PyTorch").newGradientCollector()) {
      value = loss.evaluate(new NDList(label), new NDList(p));
      c.backward(value.sum());
    }
    return new float[][] {value.toFloatArray(), p.getGradient().toFloatArray()};
  }
}
