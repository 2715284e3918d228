package dev.losskit.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.losskit.core.LossResult;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The adapter in DJL terms: labels as DJL produces them, layouts, accumulators, side effects and bad input. */
class TorchLossTest {
  private NDManager m;
  private final Random r = new Random(3);

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

  /** The build runs these tests with the Vector API module, so the core-backed path uses the fast kernels. */
  @Test
  void theCoreBackedPathRunsTheVectorKernelsHere() {
    assertTrue(dev.losskit.core.Kernels.vectorized(), dev.losskit.core.Kernels.describe());
  }

  /** The loss and the predictions' gradient, as a DJL training step computes them. */
  @SuppressWarnings("try")
  static float[][] lossAndGradient(TorchLoss loss, NDArray label, NDArray pred) {
    NDArray p = pred.duplicate();
    p.setRequiresGradient(true);
    NDArray value;
    try (GradientCollector c = Engine.getEngine("PyTorch").newGradientCollector()) {
      value = loss.evaluate(new NDList(label), new NDList(p));
      c.backward(value.sum());
    }
    return new float[][] {value.toFloatArray(), p.getGradient().toFloatArray()};
  }

  /**
   * The core-backed path reuses one gradient buffer per thread across steps. Two losses alive in one graph must not
   * share it: each prediction gets its own core gradient. Then, step after step in sub-managers (as a training loop
   * closes each batch's arrays), the reused buffer still gives each step's own gradient.
   */
  @Test
  @SuppressWarnings("try")
  void twoLossesInOneGraphAndStepAfterStepKeepTheirOwnGradients() {
    CrossEntropyLoss loss = CrossEntropyLoss.builder().execution(Execution.CORE).build();
    float[] x1 = gaussian(4 * 70);
    float[] x2 = gaussian(4 * 70);
    long[] t = {3, 69, 0, 12};
    NDArray p1 = m.create(x1, new Shape(4, 70));
    NDArray p2 = m.create(x2, new Shape(4, 70));
    p1.setRequiresGradient(true);
    p2.setRequiresGradient(true);
    try (GradientCollector c = Engine.getEngine("PyTorch").newGradientCollector()) {
      NDArray l1 = loss.evaluate(new NDList(m.create(t)), new NDList(p1));
      NDArray l2 = loss.evaluate(new NDList(m.create(t)), new NDList(p2));
      c.backward(l1.add(l2));
    }
    assertArrayEquals(loss.core().forwardBackward(Tensor.of(x1, 4, 70), Tensor.of(t, 4)).gradInput()
        .toFloatArray(), p1.getGradient().toFloatArray(), 1e-7f);
    assertArrayEquals(loss.core().forwardBackward(Tensor.of(x2, 4, 70), Tensor.of(t, 4)).gradInput()
        .toFloatArray(), p2.getGradient().toFloatArray(), 1e-7f);
    for (int step = 0; step < 4; step++) {
      float[] x = gaussian(4 * 70);
      try (NDManager batch = m.newSubManager()) {
        NDArray p = batch.create(x, new Shape(4, 70));
        p.setRequiresGradient(true);
        try (GradientCollector c = Engine.getEngine("PyTorch").newGradientCollector()) {
          c.backward(loss.evaluate(new NDList(batch.create(t)), new NDList(p)));
        }
        assertArrayEquals(loss.core().forwardBackward(Tensor.of(x, 4, 70), Tensor.of(t, 4)).gradInput()
            .toFloatArray(), p.getGradient().toFloatArray(), 1e-7f, "step " + step);
      }
    }
  }

  @ParameterizedTest
  @EnumSource(Execution.class)
  void matchesTheCoreOnEveryPath(Execution execution) {
    float[] x = gaussian(2 * 5 * 3);
    long[] t = {0, 4, 2, -100, 1, 3};
    CrossEntropyLoss loss = CrossEntropyLoss.builder().weight(1, 2, 0.5, 1, 3).labelSmoothing(0.1)
        .execution(execution).build();
    float[][] djl = lossAndGradient(loss, m.create(t, new Shape(2, 3)), m.create(x, new Shape(2, 5, 3)));
    LossResult core = loss.core().forwardBackward(Tensor.of(x, 2, 5, 3), Tensor.of(t, 2, 3));
    assertEquals(core.loss().getDouble(0), djl[0][0], 1e-6);
    for (Reduction reduction : Reduction.values()) {
      NDArray value = CrossEntropyLoss.builder().reduction(reduction).labelSmoothing(0.1).execution(execution)
          .build().evaluate(new NDList(m.create(t, new Shape(2, 3))), new NDList(m.create(x, new Shape(2, 5, 3))));
      assertEquals(DataType.FLOAT32, value.getDataType(), "the loss keeps the predictions' dtype: " + reduction);
    }
    assertArrayEquals(core.gradInput().toFloatArray(), djl[1], 1e-6f);
  }

  @ParameterizedTest
  @EnumSource(Execution.class)
  void evaluateHasNoSideEffectsAndFeedsDjlsAccumulators(Execution execution) {
    NllLoss loss = NllLoss.builder().execution(execution).build();
    NDArray pred = m.create(new float[] {-0.5f, -1f, -2f, -0.1f}, new Shape(2, 2));
    NDList labels = new NDList(m.create(new long[] {1, 0}));
    float first = loss.evaluate(labels, new NDList(pred)).getFloat();
    assertEquals(first, loss.evaluate(labels, new NDList(pred)).getFloat(), 0f);
    loss.addAccumulator("train");
    loss.updateAccumulator("train", labels, new NDList(pred));
    loss.updateAccumulator("train", labels, new NDList(pred));
    assertEquals(first, loss.getAccumulator("train"), 1e-6f);
    assertEquals((1f + 2f) / 2, first, 1e-6f); // -x[0][1] and -x[1][0]
  }

  @ParameterizedTest
  @EnumSource(value = DataType.class, names = {"INT32", "INT64", "FLOAT32", "FLOAT64"})
  void acceptsTheLabelTypesDjlDatasetsProduce(DataType type) {
    float[] x = gaussian(3 * 4);
    NDArray pred = m.create(x, new Shape(3, 4));
    NDArray label = m.create(new long[] {3, 0, 2}).toType(type, false);
    for (Execution e : Execution.values()) {
      float value = CrossEntropyLoss.builder().execution(e).build().evaluate(new NDList(label), new NDList(pred))
          .getFloat();
      double expected = dev.losskit.core.CrossEntropyLoss.create()
          .forward(Tensor.of(x, 3, 4), Tensor.of(new long[] {3, 0, 2}, 3)).getDouble(0);
      assertEquals(expected, value, 1e-6, type + " labels, " + e);
    }
  }

  @ParameterizedTest
  @EnumSource(Execution.class)
  void fractionalFloatLabelsAreRejectedByName(Execution execution) {
    NDArray pred = m.create(gaussian(6), new Shape(3, 2));
    NDArray label = m.create(new float[] {1, 0.5f, 0});
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> CrossEntropyLoss.builder().execution(execution).build().evaluate(new NDList(label), new NDList(pred)));
    assertTrue(e.getMessage().contains("0.5") && e.getMessage().contains("whole number"), e.getMessage());
  }

  @ParameterizedTest
  @EnumSource(Execution.class)
  void channelsLastEqualsPytorchsLayout(Execution execution) {
    // (N, T, C) channels-last against its transpose (N, C, T).
    float[] x = gaussian(2 * 3 * 4);
    NDArray last = m.create(x, new Shape(2, 3, 4));
    NDArray first = last.transpose(0, 2, 1).duplicate();
    NDArray label = m.create(new long[] {0, 3, 1, 2, -100, 3}, new Shape(2, 3));
    for (Reduction reduction : Reduction.values()) {
      CrossEntropyLoss torchLayout = CrossEntropyLoss.builder().reduction(reduction).labelSmoothing(0.2)
          .execution(execution).build();
      CrossEntropyLoss channelsLast = CrossEntropyLoss.builder().reduction(reduction).labelSmoothing(0.2)
          .classAxis(-1).execution(execution).build();
      float[][] a = lossAndGradient(torchLayout, label, first);
      float[][] b = lossAndGradient(channelsLast, label, last);
      assertArrayEquals(a[0], b[0], 1e-6f, reduction.toString());
      NDArray gradB = m.create(b[1], new Shape(2, 3, 4)).transpose(0, 2, 1);
      assertArrayEquals(a[1], gradB.toFloatArray(), 1e-6f, reduction.toString());
    }
  }

  @ParameterizedTest
  @EnumSource(Execution.class)
  void bothPathsRejectBadInputWithTheCoresMessage(Execution execution) {
    NDArray pred = m.create(gaussian(6), new Shape(2, 3));
    Function<TorchLoss, String> message = loss -> assertThrows(IllegalArgumentException.class,
        () -> loss.evaluate(new NDList(m.create(new long[] {0, 3})), new NDList(pred))).getMessage();
    assertEquals("cross_entropy: target 3 at position [1] is out of range [0, 3) and is not ignoreIndex (-100)",
        message.apply(CrossEntropyLoss.builder().execution(execution).build()));
    assertTrue(message.apply(NllLoss.builder().weight(1, 2).execution(execution).build())
        .contains("weight has 2 entries but the input has 3 classes"));
    IllegalArgumentException shape = assertThrows(IllegalArgumentException.class, () -> BceWithLogitsLoss.builder()
        .posWeight(1, 2).execution(execution).build().evaluate(new NDList(pred), new NDList(pred)));
    assertTrue(shape.getMessage().contains("posWeight of shape [2] is not broadcastable"), shape.getMessage());
  }

  @Test
  void nonFiniteLogitsTakeTheEnginePathAndStillMatchTheCore() {
    float ninf = Float.NEGATIVE_INFINITY;
    float[] x = {0.5f, ninf, 1f, 2f, 0.1f, ninf};
    long[] t = {1, 0};
    CrossEntropyLoss loss = CrossEntropyLoss.builder().reduction(Reduction.NONE).execution(Execution.CORE).build();
    float[][] djl = lossAndGradient(loss, m.create(t), m.create(x, new Shape(2, 3)));
    LossResult core = loss.core().forwardBackward(Tensor.of(x, 2, 3), Tensor.of(t, 2));
    assertEquals(Double.POSITIVE_INFINITY, djl[0][0]);
    assertEquals(core.loss().getDouble(1), djl[0][1], 1e-6);
    assertArrayEquals(core.gradInput().toFloatArray(), djl[1], 1e-6f);
  }

  @Test
  void autoOnTheCpuGivesTheCoreBackedResultAndTheFactoriesUsePytorchsDefaults() {
    float[] x = gaussian(8);
    NDArray pred = m.create(x, new Shape(2, 4));
    NDArray label = m.create(new long[] {1, 3});
    CrossEntropyLoss auto = TorchLosses.crossEntropy();
    assertEquals(Execution.AUTO, auto.execution());
    assertEquals("CrossEntropyLoss", auto.getName());
    assertEquals(-100, ((dev.losskit.core.CrossEntropyLoss) auto.core()).ignoreIndex());
    float[][] a = lossAndGradient(auto, label, pred);
    float[][] c = lossAndGradient(CrossEntropyLoss.builder().execution(Execution.CORE).build(), label, pred);
    assertArrayEquals(c[0], a[0], 0f);
    assertArrayEquals(c[1], a[1], 0f);
    assertEquals(0.25, ((dev.losskit.core.CrossEntropyLoss) TorchLosses.crossEntropy(0.25).core()).labelSmoothing());
    assertEquals("BCEWithLogitsLoss", TorchLosses.bceWithLogits(2.0).getName());
  }

  @Test
  void classAxisMustBeOneOrMinusOne() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> CrossEntropyLoss.builder().classAxis(2).build());
    assertTrue(e.getMessage().contains("classAxis") && e.getMessage().contains("2"), e.getMessage());
  }
}
