package dev.losskit.examples;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
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
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.listener.TrainingListener;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;

/** What the examples share: offline DJL, a small MLP, and a training run with EasyTrain. */
final class Support {
  private Support() {}

  /** No network, ever: DJL reads these before it would phone home or download anything. */
  static void offline() {
    System.setProperty("ai.djl.offline", "true");
    System.setProperty("OPT_OUT_TRACKING", "true");
  }

  /** A trained model and the loss over the whole training set before and after. */
  record Trained(Model model, Trainer trainer, float lossBefore, float lossAfter) implements AutoCloseable {
    NDArray predict(NDArray x) {
      return trainer.forward(new NDList(x)).head();
    }

    @Override
    public void close() {
      trainer.close();
      model.close();
    }
  }

  /**
   * Trains a two-layer MLP with {@code EasyTrain.fit}.
   *
   * @param loss the loss (a losskit loss, or DJL's own)
   * @param x the features, (N, F)
   * @param y the labels
   * @param outputs the number of logits
   * @param epochs the epochs
   * @param seed the seed for the engine's initialisation and for shuffling
   * @return the trained model, which the caller closes
   */
  static Trained train(Loss loss, NDArray x, NDArray y, int outputs, int epochs, int seed) throws Exception {
    Engine.getEngine("PyTorch").setRandomSeed(seed);
    Model model = Model.newInstance("mlp", Device.cpu(), "PyTorch");
    model.setBlock(new SequentialBlock()
        .add(Linear.builder().setUnits(32).build())
        .add(Activation::relu)
        .add(Linear.builder().setUnits(outputs).build()));
    DefaultTrainingConfig config = new DefaultTrainingConfig(loss)
        .optOptimizer(Optimizer.adam().optLearningRateTracker(Tracker.fixed(0.01f)).build())
        .addTrainingListeners(TrainingListener.Defaults.basic());
    Trainer trainer = model.newTrainer(config);
    trainer.initialize(new Shape(1, x.getShape().get(1)));
    float before = loss.evaluate(new NDList(y), trainer.forward(new NDList(x))).getFloat();
    ArrayDataset data = new ArrayDataset.Builder().setData(x).optLabels(y).setSampling(32, true).build();
    EasyTrain.fit(trainer, epochs, data, null);
    float after = loss.evaluate(new NDList(y), trainer.forward(new NDList(x))).getFloat();
    return new Trained(model, trainer, before, after);
  }

  /** Gaussian blobs around the given centres, {@code counts[k]} points for class k, as (N, F) and float labels. */
  static NDList blobs(NDManager m, double[][] centres, int[] counts, double spread, java.util.Random r) {
    int n = java.util.Arrays.stream(counts).sum();
    int f = centres[0].length;
    float[] x = new float[n * f];
    float[] y = new float[n];
    int i = 0;
    for (int k = 0; k < counts.length; k++) {
      for (int j = 0; j < counts[k]; j++, i++) {
        for (int d = 0; d < f; d++) {
          x[i * f + d] = (float) (centres[k][d] + spread * r.nextGaussian());
        }
        y[i] = k;
      }
    }
    return new NDList(m.create(x, new Shape(n, f)), m.create(y));
  }
}
