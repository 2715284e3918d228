package dev.losskit.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.dataset.Batch;
import ai.djl.training.listener.EvaluatorTrainingListener;
import ai.djl.training.listener.TrainingListener;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.util.Pair;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The loss in DJL's own training loop, as {@code DefaultTrainingConfig(loss)} sets it up: the loss inside the
 * collector, then again as the evaluator after the collector has closed (the lean path). Each step's parameters and
 * the evaluator's running loss equal those of DJL's {@code SoftmaxCrossEntropyLoss}, which computes the same mean
 * cross-entropy for class indices.
 */
class EasyTrainTest {

  @ParameterizedTest
  @EnumSource(Execution.class)
  void aTrainingStepAndItsEvaluatorMatchDjlsOwnLoss(Execution e) throws Exception {
    Result ours = train(CrossEntropyLoss.builder().execution(e).build());
    Result djl = train(Loss.softmaxCrossEntropyLoss());
    assertArrayEquals(djl.weights, ours.weights, 1e-6f);
    assertEquals(djl.evaluated, ours.evaluated, 1e-5f);
  }

  private record Result(float[] weights, float evaluated) {}

  private static Result train(Loss loss) throws Exception {
    int n = 24;
    float[] x = new float[n * 5];
    float[] y = new float[n]; // float labels, as DJL's datasets produce them
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) Math.sin(0.7 * i);
    }
    for (int i = 0; i < n; i++) {
      y[i] = i % 3;
    }
    try (NDManager m = NDManager.newBaseManager("PyTorch");
        Model model = Model.newInstance("linear", "PyTorch")) {
      model.setBlock(Linear.builder().setUnits(3).build());
      ArrayDataset data = new ArrayDataset.Builder().setData(m.create(x, new Shape(n, 5)))
          .optLabels(m.create(y)).setSampling(8, false).build();
      DefaultTrainingConfig config = new DefaultTrainingConfig(loss)
          .optOptimizer(Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.5f)).build())
          .addTrainingListeners(TrainingListener.Defaults.basic());
      try (Trainer trainer = model.newTrainer(config)) {
        trainer.initialize(new Shape(8, 5));
        int k = 0;
        for (Pair<String, Parameter> p : model.getBlock().getParameters()) {
          NDArray a = p.getValue().getArray();
          float[] v = new float[(int) a.size()];
          for (int i = 0; i < v.length; i++) {
            v[i] = (float) Math.cos(1.3 * (k++));
          }
          a.set(v);
        }
        for (Batch batch : trainer.iterateDataset(data)) {
          EasyTrain.trainBatch(trainer, batch);
          trainer.step();
          batch.close();
        }
        List<Float> weights = new ArrayList<>();
        for (Pair<String, Parameter> p : model.getBlock().getParameters()) {
          for (float f : p.getValue().getArray().toFloatArray()) {
            weights.add(f);
          }
        }
        float[] w = new float[weights.size()];
        for (int i = 0; i < w.length; i++) {
          w[i] = weights.get(i);
        }
        return new Result(w, trainer.getLoss().getAccumulator(EvaluatorTrainingListener.TRAIN_EPOCH));
      }
    }
  }
}
