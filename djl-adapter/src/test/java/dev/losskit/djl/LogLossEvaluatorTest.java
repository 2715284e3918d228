package dev.losskit.djl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.TrainingResult;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.listener.TrainingListener;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import dev.losskit.core.LogLoss;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.Tensor;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * log_loss as a DJL evaluator: batches accumulate to scikit-learn's value on the concatenated data (checked against
 * the core's {@link LogLoss} on the concatenation, which the golden files hold to scikit-learn 1.9.1), single-class
 * batches, logits, and a run inside {@code EasyTrain} as a training and validation metric.
 */
class LogLossEvaluatorTest {
  private NDManager m;

  @BeforeEach
  void manager() {
    m = NDManager.newBaseManager("PyTorch");
  }

  @AfterEach
  void close() {
    m.close();
  }

  private static float[] probabilities(Random r, int n, int c) {
    float[] p = new float[n * c];
    for (int i = 0; i < n; i++) {
      float sum = 0;
      for (int k = 0; k < c; k++) {
        p[i * c + k] = r.nextFloat() + 0.01f;
        sum += p[i * c + k];
      }
      for (int k = 0; k < c; k++) {
        p[i * c + k] /= sum;
      }
    }
    return p;
  }

  @Test
  void batchesAccumulateToTheLossOfTheConcatenationEvenWhenABatchHoldsOneClass() {
    Random r = new Random(1);
    int n = 30;
    float[] p = probabilities(r, n, 3);
    long[] y = new long[n];
    for (int i = 0; i < n; i++) {
      y[i] = i < 10 ? 2 : r.nextInt(3); // the first batch holds class 2 alone
    }
    for (boolean normalize : new boolean[] {true, false}) {
      LogLossEvaluator e = LogLossEvaluator.builder().classes(3).normalize(normalize).build();
      e.addAccumulator("train");
      assertTrue(Float.isNaN(e.getAccumulator("train")), "NaN before any batch");
      for (int from = 0; from < n; from += 10) {
        e.updateAccumulator("train", new NDList(m.create(Arrays.copyOfRange(y, from, from + 10))),
            new NDList(m.create(Arrays.copyOfRange(p, 3 * from, 3 * from + 30), new Shape(10, 3))));
      }
      double whole = LogLoss.builder().labels(0, 1, 2).normalize(normalize).build()
          .compute(Tensor.of(y, n), Tensor.of(p, n, 3)).loss();
      assertEquals((float) whole, e.getAccumulator("train"), 0, "normalize=" + normalize);
      e.resetAccumulator("train");
      assertTrue(Float.isNaN(e.getAccumulator("train")));
    }
  }

  @Test
  void evaluateGivesTheBatchAloneAndLogitsAreTurnedIntoProbabilities() {
    Random r = new Random(2);
    float[] logits = new float[8 * 4];
    for (int i = 0; i < logits.length; i++) {
      logits[i] = (float) (2 * r.nextGaussian());
    }
    long[] y = {0, 3, 1, 1, 2, 0, 3, 3};
    NDArray x = m.create(logits, new Shape(8, 4));
    float[] p = x.softmax(-1).toFloatArray();
    double expected = LogLoss.builder().labels(0, 1, 2, 3).build().compute(Tensor.of(y, 8), Tensor.of(p, 8, 4))
        .loss();
    LogLossEvaluator e = LogLossEvaluator.builder().classes(4).fromLogits(true).build();
    assertEquals(expected, e.evaluate(new NDList(m.create(y)), new NDList(x)).getDouble(), 0);
    // Binary (N): the probability of class 1, or a logit through a sigmoid.
    float[] z = {-2, 0.5f, 3, -0.1f};
    long[] yb = {0, 1, 1, 0};
    float[] pb = Activation.sigmoid(m.create(z)).toFloatArray();
    double binary = LogLoss.builder().labels(0, 1).build().compute(Tensor.of(yb, 4), Tensor.of(pb, 4)).loss();
    assertEquals(binary, LogLossEvaluator.builder().classes(2).fromLogits(true).build()
        .evaluate(new NDList(m.create(yb)), new NDList(m.create(z))).getDouble(), 0);
    // (N, 1), DJL's usual binary output: a sigmoid too, not a softmax over one column (which would give 1s).
    assertEquals(binary, LogLossEvaluator.builder().classes(2).fromLogits(true).build()
        .evaluate(new NDList(m.create(yb)), new NDList(m.create(z, new Shape(4, 1)))).getDouble(), 0);
  }

  @Test
  void badInputIsAOneLineErrorAndLeavesTheAccumulatorAsItWas() {
    LogLossEvaluator e = LogLossEvaluator.builder().labels(0, 1, 2).build();
    e.addAccumulator("v");
    e.updateAccumulator("v", new NDList(m.create(new long[] {0, 2})),
        new NDList(m.create(new float[] {0.7f, 0.2f, 0.1f, 0.1f, 0.1f, 0.8f}, new Shape(2, 3))));
    float before = e.getAccumulator("v");
    LossArgumentException x = assertThrows(LossArgumentException.class, () -> e.updateAccumulator("v",
        new NDList(m.create(new long[] {5})), new NDList(m.create(new float[] {0.2f, 0.3f, 0.5f}, new Shape(1, 3)))));
    assertTrue(x.getMessage().contains("5"), x.getMessage());
    assertEquals(before, e.getAccumulator("v"), 0);
    x = assertThrows(LossArgumentException.class, () -> LogLossEvaluator.builder().build());
    assertTrue(x.getMessage().contains("labels(...) or classes(n)"), x.getMessage());
    assertThrows(LossArgumentException.class, () -> e.getAccumulator("absent"));
  }

  @Test
  void itRunsInEasyTrainAsATrainingAndValidationMetric() throws Exception {
    int n = 48;
    float[] x = new float[n * 4];
    float[] y = new float[n]; // float labels, as DJL's datasets produce them
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) Math.sin(0.37 * i);
    }
    for (int i = 0; i < n; i++) {
      y[i] = i % 3;
    }
    try (Model model = Model.newInstance("mlp", "PyTorch")) {
      model.setBlock(new SequentialBlock().add(Linear.builder().setUnits(3).build()));
      ArrayDataset data = new ArrayDataset.Builder().setData(m.create(x, new Shape(n, 4)))
          .optLabels(m.create(y)).setSampling(12, false).build();
      DefaultTrainingConfig config = new DefaultTrainingConfig(TorchLosses.crossEntropy())
          .addEvaluator(LogLossEvaluator.builder().classes(3).fromLogits(true).build())
          .optOptimizer(Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.1f)).build())
          .addTrainingListeners(TrainingListener.Defaults.basic());
      try (Trainer trainer = model.newTrainer(config)) {
        trainer.initialize(new Shape(12, 4));
        EasyTrain.fit(trainer, 2, data, data);
        TrainingResult result = trainer.getTrainingResult();
        float validation = result.getValidateEvaluation("LogLoss");
        // The validation pass after the last epoch: the core's log_loss of the model's softmax on every sample.
        NDArray logits = trainer.evaluate(new NDList(m.create(x, new Shape(n, 4)))).head();
        float[] p = logits.softmax(-1).toFloatArray();
        long[] labels = new long[n];
        for (int i = 0; i < n; i++) {
          labels[i] = (long) y[i];
        }
        double expected = LogLoss.builder().labels(0, 1, 2).build()
            .compute(Tensor.of(labels, n), Tensor.of(p, n, 3)).loss();
        assertEquals(expected, validation, 1e-6);
        assertTrue(Float.isFinite(result.getTrainEvaluation("LogLoss")));
      }
    }
  }
}
