package dev.losskit.examples;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.listener.TrainingListener;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import dev.losskit.djl.CrossEntropyLoss;
import java.util.Locale;
import java.util.Random;

/**
 * Sequence tagging: variable-length sequences padded to a common length, with padding labelled
 * {@code ignore_index = -100}. The loss over logits {@code (N, C, T)} does not move when the padding changes, it
 * equals the loss over the real tokens alone, and padding gets exactly zero gradient. A linear tagger then trains
 * on channels-last logits {@code (N, T, C)} with {@code classAxis(-1)}.
 *
 * <p>Run it with {@code ./losskit example tagging}.
 */
public final class SequenceTagging {
  private SequenceTagging() {}

  /**
   * What the example measured.
   *
   * @param padded the loss of the padded batch, logits (N, C, T)
   * @param garbagePadding the same with the padded logits replaced by ±1e4
   * @param longerPadding the same with five more padded steps
   * @param realTokensOnly the loss of the real tokens alone, as (tokens, C)
   * @param paddingGradient the largest absolute gradient at a padded position
   * @param lossBefore the tagger's loss before training
   * @param lossAfter the tagger's loss after training
   */
  public record Result(float padded, float garbagePadding, float longerPadding, float realTokensOnly,
      double paddingGradient, float lossBefore, float lossAfter) {}

  static final int N = 16;
  static final int T = 12;
  static final int C = 5;
  static final int F = 6;

  /**
   * Checks the loss and its gradient as the padding changes, then trains the channels-last tagger.
   *
   * @param epochs training epochs for the tagger
   * @param seed the seed
   * @return the measurements
   * @throws Exception when the engine fails to load or to run
   */
  @SuppressWarnings("try")
  public static Result run(int epochs, int seed) throws Exception {
    Random r = new Random(seed);
    int[] lengths = new int[N];
    for (int n = 0; n < N; n++) {
      lengths[n] = 3 + r.nextInt(T - 2);
    }
    CrossEntropyLoss loss = CrossEntropyLoss.builder().ignoreIndex(-100).build();
    try (NDManager m = NDManager.newBaseManager("PyTorch")) {
      float[] logits = gaussian(r, N * C * T);
      long[] labels = new long[N * T];
      for (int n = 0; n < N; n++) {
        for (int t = 0; t < T; t++) {
          labels[n * T + t] = t < lengths[n] ? r.nextInt(C) : -100;
        }
      }
      NDArray y = m.create(labels, new Shape(N, T));
      NDArray x = m.create(logits, new Shape(N, C, T));
      float padded = loss.evaluate(new NDList(y), new NDList(x)).getFloat();

      float[] garbage = logits.clone();
      for (int n = 0; n < N; n++) {
        for (int c = 0; c < C; c++) {
          for (int t = lengths[n]; t < T; t++) {
            garbage[(n * C + c) * T + t] = (t + c) % 2 == 0 ? 1e4f : -1e4f;
          }
        }
      }
      float garbagePadding = loss.evaluate(new NDList(y), new NDList(m.create(garbage, new Shape(N, C, T))))
          .getFloat();

      int t2 = T + 5;
      float[] longer = new float[N * C * t2];
      long[] longerLabels = new long[N * t2];
      java.util.Arrays.fill(longerLabels, -100);
      int tokens = 0;
      for (int n = 0; n < N; n++) {
        tokens += lengths[n];
        for (int t = 0; t < T; t++) {
          longerLabels[n * t2 + t] = labels[n * T + t];
          for (int c = 0; c < C; c++) {
            longer[(n * C + c) * t2 + t] = logits[(n * C + c) * T + t];
          }
        }
      }
      float longerPadding = loss.evaluate(new NDList(m.create(longerLabels, new Shape(N, t2))),
          new NDList(m.create(longer, new Shape(N, C, t2)))).getFloat();

      float[] packed = new float[tokens * C];
      long[] packedLabels = new long[tokens];
      int k = 0;
      for (int n = 0; n < N; n++) {
        for (int t = 0; t < lengths[n]; t++, k++) {
          packedLabels[k] = labels[n * T + t];
          for (int c = 0; c < C; c++) {
            packed[k * C + c] = logits[(n * C + c) * T + t];
          }
        }
      }
      float realTokensOnly = loss.evaluate(new NDList(m.create(packedLabels)),
          new NDList(m.create(packed, new Shape(tokens, C)))).getFloat();

      x.setRequiresGradient(true);
      try (GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
        collector.backward(loss.evaluate(new NDList(y), new NDList(x)));
      }
      float[] grad = x.getGradient().toFloatArray();
      double paddingGradient = 0;
      for (int n = 0; n < N; n++) {
        for (int c = 0; c < C; c++) {
          for (int t = lengths[n]; t < T; t++) {
            paddingGradient = Math.max(paddingGradient, Math.abs(grad[(n * C + c) * T + t]));
          }
        }
      }
      float[] trained = trainTagger(m, r, lengths, epochs, seed);
      return new Result(padded, garbagePadding, longerPadding, realTokensOnly, paddingGradient, trained[0],
          trained[1]);
    }
  }

  /** Trains a linear tagger on (N, T, F) features, channels-last logits (N, T, C); returns the loss before and after. */
  private static float[] trainTagger(NDManager m, Random r, int[] lengths, int epochs, int seed) throws Exception {
    int sequences = 256;
    float[] truth = gaussian(r, F * C);
    float[] features = new float[sequences * T * F];
    float[] tags = new float[sequences * T];
    for (int s = 0; s < sequences; s++) {
      int length = lengths[s % lengths.length];
      for (int t = 0; t < T; t++) {
        int best = 0;
        double bestScore = Double.NEGATIVE_INFINITY;
        for (int c = 0; c < C; c++) {
          double score = 0;
          for (int f = 0; f < F; f++) {
            if (c == 0) {
              features[(s * T + t) * F + f] = (float) r.nextGaussian();
            }
            score += truth[f * C + c] * features[(s * T + t) * F + f];
          }
          if (score > bestScore) {
            bestScore = score;
            best = c;
          }
        }
        tags[s * T + t] = t < length ? best : -100; // float labels, as DJL datasets produce them
      }
    }
    CrossEntropyLoss loss = CrossEntropyLoss.builder().classAxis(-1).build();
    Engine.getEngine("PyTorch").setRandomSeed(seed);
    try (Model model = Model.newInstance("tagger", Device.cpu(), "PyTorch")) {
      model.setBlock(Linear.builder().setUnits(C).build());
      DefaultTrainingConfig config = new DefaultTrainingConfig(loss)
          .optOptimizer(Optimizer.adam().optLearningRateTracker(Tracker.fixed(0.05f)).build())
          .addTrainingListeners(TrainingListener.Defaults.basic());
      try (Trainer trainer = model.newTrainer(config)) {
        trainer.initialize(new Shape(1, T, F));
        NDArray x = m.create(features, new Shape(sequences, T, F));
        NDArray y = m.create(tags, new Shape(sequences, T));
        float before = loss.evaluate(new NDList(y), trainer.forward(new NDList(x))).getFloat();
        ArrayDataset data = new ArrayDataset.Builder().setData(x).optLabels(y).setSampling(32, true).build();
        EasyTrain.fit(trainer, epochs, data, null);
        float after = loss.evaluate(new NDList(y), trainer.forward(new NDList(x))).getFloat();
        return new float[] {before, after};
      }
    }
  }

  private static float[] gaussian(Random r, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return v;
  }

  /**
   * Prints the measurements.
   *
   * @param args unused
   * @throws Exception when the engine fails to load or to run
   */
  public static void main(String[] args) throws Exception {
    Support.offline();
    Result r = run(10, 11);
    System.out.printf(Locale.ROOT, "%d sequences padded to %d steps, %d tags, padding labelled -100%n", N, T, C);
    System.out.printf(Locale.ROOT, "loss of the padded batch (N, C, T):          %.7f%n", r.padded());
    System.out.printf(Locale.ROOT, "padding logits replaced by +-1e4:            %.7f%n", r.garbagePadding());
    System.out.printf(Locale.ROOT, "five more padded steps:                      %.7f%n", r.longerPadding());
    System.out.printf(Locale.ROOT, "real tokens only, (tokens, C):               %.7f%n", r.realTokensOnly());
    System.out.printf(Locale.ROOT, "largest gradient at a padded position:       %s%n", r.paddingGradient());
    System.out.printf(Locale.ROOT, "linear tagger, channels-last (N, T, C): loss %.4f before training, %.4f after%n",
        r.lossBefore(), r.lossAfter());
  }
}
