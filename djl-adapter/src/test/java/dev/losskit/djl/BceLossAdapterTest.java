package dev.losskit.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossResult;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * BCELoss through DJL on both paths against the core: loss and gradient (libtorch's, with its clamps, including
 * probabilities of exactly 0 and 1), labels as DJL produces them, bad values, and the labels' manager.
 */
class BceLossAdapterTest {
  private NDManager m;

  @BeforeEach
  void manager() {
    m = NDManager.newBaseManager("PyTorch");
  }

  @AfterEach
  void close() {
    m.close();
  }

  /** Probabilities with exact 0s and 1s among them, and soft labels with hard ones among them. */
  private static float[][] data(int n, long seed) {
    Random r = new Random(seed);
    float[] p = new float[n];
    float[] y = new float[n];
    for (int i = 0; i < n; i++) {
      p[i] = i % 7 == 0 ? i % 2 : r.nextFloat();
      y[i] = i % 3 == 0 ? r.nextFloat() : r.nextInt(2);
    }
    return new float[][] {p, y};
  }

  /** Each element within 2e-6 of the core's, relative to the element's magnitude (gradients reach 1e12 at 0 and 1). */
  private static void assertClose(float[] expected, float[] actual, String what) {
    assertEquals(expected.length, actual.length, what);
    for (int i = 0; i < expected.length; i++) {
      assertEquals(expected[i], actual[i], 2e-6 * Math.max(1, Math.abs(expected[i])), what + " element " + i);
    }
  }

  @ParameterizedTest
  @EnumSource(Execution.class)
  void matchesTheCoreOnEveryPathWithEveryReductionAndWeight(Execution execution) {
    float[][] d = data(4 * 5, 7);
    double[] w = {1, 2, 0.5, 0, 3};
    for (Reduction reduction : Reduction.values()) {
      for (boolean weighted : new boolean[] {false, true}) {
        BceLoss.Builder b = BceLoss.builder().reduction(reduction).execution(execution);
        if (weighted) {
          b.weight(w);
        }
        BceLoss loss = b.build();
        float[][] djl = TorchLossTest.lossAndGradient(loss, m.create(d[1], new Shape(4, 5)), m.create(d[0], new Shape(4, 5)));
        Tensor g = reduction == Reduction.NONE ? Tensor.of(onesF(20), 4, 5) : null;
        LossResult core = loss.core().forwardBackward(Tensor.of(d[0], 4, 5), Tensor.of(d[1], 4, 5), g);
        String what = loss.core() + " on " + execution;
        assertClose(core.loss().toFloatArray(), djl[0], what + " loss");
        assertClose(core.gradInput().toFloatArray(), djl[1], what + " gradient");
      }
    }
  }

  private static float[] onesF(int n) {
    float[] v = new float[n];
    java.util.Arrays.fill(v, 1);
    return v;
  }

  @ParameterizedTest
  @EnumSource(Execution.class)
  void theGradientAtExactZerosAndOnesIsLibtorchsNotTheClampedLogsDerivative(Execution execution) {
    // (x - y) / max((1 - x) x, eps) with eps = 1e-12 rounded to float: -1/eps at x = 0, y = 1; where the clamped
    // log's own derivative would be 0.
    float[][] djl = TorchLossTest.lossAndGradient(BceLoss.builder().reduction(Reduction.SUM).execution(execution).build(),
        m.create(new float[] {1, 0, 0.5f}), m.create(new float[] {0, 1, 0.5f}));
    // 100 for each confident wrong answer, and -(0.5 log 0.5 + 0.5 log 0.5) = log 2 for the last.
    assertEquals((float) (200 + Math.log(2)), djl[0][0], 2e-5);
    assertEquals((float) (-1 / (double) 1e-12f), djl[1][0], 0);
    assertEquals((float) (1 / (double) 1e-12f), djl[1][1], 0);
    assertEquals(0, djl[1][2], 0);
  }

  @ParameterizedTest
  @EnumSource(Execution.class)
  void tinyProbabilitiesKeepTheirRelativeAccuracy(Execution execution) {
    // y = 0: the loss is -log1p(-x) = x(1 + x/2 + ...), which log(1 - x) would round to 0 in float32 below 2^-24.
    float[] x = {1e-7f, 3e-9f, 1e-20f, 0.25f};
    float[] y = new float[4];
    float[] loss = BceLoss.builder().reduction(Reduction.NONE).execution(execution).build()
        .evaluate(new NDList(m.create(y)), new NDList(m.create(x))).toFloatArray();
    for (int i = 0; i < 4; i++) {
      double exact = -Math.log1p(-(double) x[i]);
      assertEquals(exact, loss[i], 4 * Math.ulp((float) exact), "element " + i);
    }
  }

  @ParameterizedTest
  @EnumSource(Execution.class)
  void labelsOfTheTypesDjlDatasetsProduceAreConverted(Execution execution) {
    float[][] d = data(12, 3);
    BceLoss loss = BceLoss.builder().execution(execution).build();
    float expected = (float) loss.core().forward(Tensor.of(d[0], 12), Tensor.of(d[1], 12)).getDouble(0);
    double[] y64 = new double[12];
    long[] hard = new long[12];
    for (int i = 0; i < 12; i++) {
      y64[i] = d[1][i];
      hard[i] = Math.round(d[1][i]);
      d[1][i] = hard[i];
    }
    assertEquals(expected, loss.evaluate(new NDList(m.create(y64)), new NDList(m.create(data(12, 3)[0])))
        .getFloat(), 1e-6);
    float hardExpected = (float) loss.core().forward(Tensor.of(data(12, 3)[0], 12), Tensor.of(d[1], 12))
        .getDouble(0);
    NDArray value = loss.evaluate(new NDList(m.create(hard)), new NDList(m.create(data(12, 3)[0])));
    assertEquals(DataType.FLOAT32, value.getDataType());
    assertEquals(hardExpected, value.getFloat(), 1e-6);
  }

  @ParameterizedTest
  @EnumSource(Execution.class)
  void bothPathsRejectValuesOutsideTheUnitIntervalWithTheCoresMessage(Execution execution) {
    BceLoss loss = BceLoss.builder().execution(execution).build();
    NDArray ok = m.create(new float[] {0.5f, 0.2f, 0.9f, 0.1f}, new Shape(2, 2));
    LossArgumentException e = assertThrows(LossArgumentException.class, () -> loss.evaluate(new NDList(ok),
        new NDList(m.create(new float[] {0.5f, 0.2f, 1.5f, 0.1f}, new Shape(2, 2)))));
    assertTrue(e.getMessage().startsWith("bce: input[1, 0] = 1.5 is outside [0, 1]"), e.getMessage());
    e = assertThrows(LossArgumentException.class, () -> loss.evaluate(new NDList(ok),
        new NDList(m.create(new float[] {Float.NaN, 0.2f, 0.5f, 0.1f}, new Shape(2, 2)))));
    assertTrue(e.getMessage().startsWith("bce: input[0, 0] = NaN is outside [0, 1]"), e.getMessage());
    e = assertThrows(LossArgumentException.class, () -> loss.evaluate(
        new NDList(m.create(new float[] {0, 1, -1, 0}, new Shape(2, 2))), new NDList(ok)));
    assertEquals("bce: target[1, 0] = -1.0 is outside [0, 1]", e.getMessage());
    e = assertThrows(LossArgumentException.class, () -> loss.evaluate(new NDList(m.create(new float[] {0, 1})),
        new NDList(ok)));
    assertTrue(e.getMessage().contains("target shape [2] must equal input shape [2, 2]"), e.getMessage());
  }

  @Test
  @SuppressWarnings("try")
  void stepsLeaveNothingInTheLabelsManager() {
    float[][] d = data(24, 9);
    for (Execution execution : Execution.values()) {
      try (NDManager labels = NDManager.newBaseManager("PyTorch");
          NDManager model = NDManager.newBaseManager("PyTorch")) {
        for (NDArray label : new NDArray[] {labels.create(d[1], new Shape(6, 4)),
            labels.create(d[1], new Shape(6, 4)).toType(DataType.FLOAT64, false)}) {
          int before = ((BaseNDManager) labels).getManagedArrays().size();
          BceLoss loss = BceLoss.builder().weight(1, 2, 3, 4).execution(execution).build();
          for (int step = 0; step < 3; step++) {
            try (NDManager stepManager = model.newSubManager()) {
              NDArray pred = stepManager.create(d[0], new Shape(6, 4));
              pred.setRequiresGradient(true);
              try (GradientCollector g = Engine.getEngine("PyTorch").newGradientCollector()) {
                g.backward(loss.evaluate(new NDList(label), new NDList(pred)));
              }
              pred.getGradient().getFloat(0, 0);
            }
          }
          assertEquals(before, ((BaseNDManager) labels).getManagedArrays().size(),
              execution + " " + label.getDataType() + ": arrays were left in the labels' manager");
        }
      }
    }
  }

  @Test
  void theFactoriesUsePytorchsDefaults() {
    assertEquals(Reduction.MEAN, TorchLosses.bce().core().reduction());
    assertEquals(null, ((dev.losskit.core.BceLoss) TorchLosses.bce().core()).weight());
    assertArrayEquals(new double[] {1, 2},
        ((dev.losskit.core.BceLoss) TorchLosses.bce(1, 2).core()).weight().toDoubleArray(), 0);
    assertEquals("BCELoss", TorchLosses.bce().getName());
  }
}
