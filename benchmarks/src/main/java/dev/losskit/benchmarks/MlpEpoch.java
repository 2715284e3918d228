package dev.losskit.benchmarks;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.evaluator.Accuracy;
import ai.djl.training.listener.TrainingListener;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

/**
 * The {@code mlp-epoch} case: whole DJL training epochs of an MLP 784-128-10 on 60,000 synthetic MNIST-sized
 * examples, as a DJL user writes them ({@code DefaultTrainingConfig(loss)}, SGD, an accuracy evaluator, the quiet
 * default listeners, {@code EasyTrain.fit}), once with DJL's {@code SoftmaxCrossEntropyLoss} and once with
 * losskit's default {@code CrossEntropyLoss}. {@code DefaultTrainingConfig(loss)} also makes the loss a training
 * evaluator, so it runs twice per step, as it does for users.
 *
 * <p>The two models start from the same initialisation (the engine's seed set before each is initialised) and
 * train on the same in-memory data; their epochs alternate (ABBA...) so that drift of the machine's speed falls on
 * both. Nothing is downloaded: the data is made here.
 */
final class MlpEpoch {
  private MlpEpoch() {}

  static final int FEATURES = 784;
  static final int CLASSES = 10;
  static final int[] BATCHES = {32, 256};

  static Bench.Case run(boolean quick, List<Bench.Result> out, Consumer<String> progress)
      throws IOException, TranslateException {
    int examples = quick ? 12000 : 60000;
    int epochs = quick ? 3 : 5;
    float[] x = new float[examples * FEATURES];
    float[] y = new float[examples];
    Random random = new Random(15);
    for (int i = 0; i < x.length; i++) {
      x[i] = random.nextFloat(); // pixel-like values in [0, 1)
    }
    // Labels a model can learn: the class a fixed random linear teacher picks. Float labels, as DJL's MNIST gives.
    float[] teacher = Bench.gaussian(CLASSES * FEATURES, 17);
    for (int i = 0; i < examples; i++) {
      int best = 0;
      double bestScore = Double.NEGATIVE_INFINITY;
      for (int k = 0; k < CLASSES; k++) {
        double score = 0;
        for (int f = 0; f < FEATURES; f++) {
          score += teacher[k * FEATURES + f] * (x[i * FEATURES + f] - 0.5);
        }
        if (score > bestScore) {
          bestScore = score;
          best = k;
        }
      }
      y[i] = best;
    }
    try (NDManager data = NDManager.newBaseManager("PyTorch")) {
      NDArray features = data.create(x, new Shape(examples, FEATURES));
      NDArray labels = data.create(y, new Shape(examples));
      for (int batch : BATCHES) {
        ArrayDataset dataset = new ArrayDataset.Builder().setData(features).optLabels(labels)
            .setSampling(batch, true).build();
        Loss[] losses = {Loss.softmaxCrossEntropyLoss(), dev.losskit.djl.CrossEntropyLoss.builder().build()};
        String[] impls = {"djl-builtin", "losskit-djl"};
        double[][] seconds = new double[2][epochs];
        String[] notes = new String[2];
        List<Model> models = new ArrayList<>();
        List<Trainer> trainers = new ArrayList<>();
        try {
          for (Loss loss : losses) {
            Model model = Model.newInstance("mlp", "PyTorch");
            models.add(model);
            model.setBlock(new SequentialBlock().add(Linear.builder().setUnits(128).build())
                .add(Activation::relu).add(Linear.builder().setUnits(CLASSES).build()));
            DefaultTrainingConfig config = new DefaultTrainingConfig(loss)
                .optOptimizer(Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.1f)).build())
                .addEvaluator(new Accuracy()).addTrainingListeners(TrainingListener.Defaults.basic());
            Trainer trainer = model.newTrainer(config);
            trainers.add(trainer);
            Engine.getEngine("PyTorch").setRandomSeed(16);
            trainer.initialize(new Shape(batch, FEATURES));
          }
          for (int k = 0; k < 2; k++) {
            progress.accept("mlp-epoch batch " + batch + ": warm-up epoch, " + impls[k]);
            EasyTrain.fit(trainers.get(k), 1, dataset, null);
          }
          for (int e = 0; e < epochs; e++) {
            for (int j = 0; j < 2; j++) {
              int k = e % 2 == 0 ? j : 1 - j; // ABBA: a linear drift falls on both alike
              progress.accept("mlp-epoch batch " + batch + ": epoch " + (e + 1) + "/" + epochs + ", " + impls[k]);
              long start = System.nanoTime();
              EasyTrain.fit(trainers.get(k), 1, dataset, null);
              seconds[k][e] = (System.nanoTime() - start) / 1e9;
            }
          }
          for (int k = 0; k < 2; k++) { // both trained alike: their losses after the last epoch are close
            Float loss = trainers.get(k).getTrainingResult().getTrainLoss();
            Float accuracy = trainers.get(k).getTrainingResult().getTrainEvaluation("Accuracy");
            notes[k] = String.format(java.util.Locale.ROOT, "train loss %.3f, accuracy %.3f after %d epochs",
                loss == null ? Float.NaN : loss, accuracy == null ? Float.NaN : accuracy, epochs + 1);
          }
        } finally {
          trainers.forEach(Trainer::close);
          models.forEach(Model::close);
        }
        for (int k = 0; k < 2; k++) {
          double[] s = seconds[k].clone();
          Arrays.sort(s);
          out.add(new Bench.Result(Bench.MLP_EPOCH, "train_epoch", List.of(examples, CLASSES), batch, CLASSES,
              "float32", impls[k], Bench.cores(), s[s.length / 2], null, null, notes[k]));
        }
      }
    }
    return new Bench.Case(Bench.MLP_EPOCH, "MLP 784-128-10, " + examples + " examples, batch 32 and 256",
        "EasyTrain.fit, one epoch; SGD lr 0.1; DefaultTrainingConfig(loss) + Accuracy, default listeners; median"
            + " of " + epochs + " epochs after a warm-up, the two losses alternating",
        "DJL only: losskit's default CrossEntropyLoss against Loss.softmaxCrossEntropyLoss()", "s");
  }
}
