package dev.losskit.examples;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.losskit.djl.BceWithLogitsLoss;
import dev.losskit.djl.TorchLosses;
import java.util.Locale;
import java.util.Random;

/**
 * Multi-label classification with {@code BCEWithLogitsLoss}: four labels whose prevalence falls from about 40% to
 * 3%. With {@code pos_weight} set to each label's negative-to-positive ratio, the rare labels are found far more
 * often than without.
 *
 * <p>Run it with {@code ./losskit example multilabel}.
 */
public final class MultiLabel {
  private MultiLabel() {}

  /**
   * What the example measured.
   *
   * @param prevalence each label's share of positives in the training set
   * @param lossBefore the pos-weighted loss before training
   * @param lossAfter the pos-weighted loss after training
   * @param recallPlain per-label recall on the test set without pos_weight
   * @param recallPosWeight per-label recall with pos_weight
   */
  public record Result(double[] prevalence, float lossBefore, float lossAfter, double[] recallPlain,
      double[] recallPosWeight) {}

  static final int F = 8;
  static final int L = 4;
  static final double[] THRESHOLDS = {0.25, 0.85, 1.45, 1.95};

  /**
   * Trains the classifier without and with {@code pos_weight}, and measures both.
   *
   * @param epochs training epochs
   * @param seed the seed
   * @return the measurements
   * @throws Exception when the engine fails to load or to run
   */
  public static Result run(int epochs, int seed) throws Exception {
    Random r = new Random(seed);
    double[][] directions = new double[L][F];
    for (double[] d : directions) {
      double norm = 0;
      for (int f = 0; f < F; f++) {
        d[f] = r.nextGaussian();
        norm += d[f] * d[f];
      }
      for (int f = 0; f < F; f++) {
        d[f] /= Math.sqrt(norm);
      }
    }
    try (NDManager m = NDManager.newBaseManager("PyTorch")) {
      float[][] train = data(r, directions, 2000);
      float[][] test = data(r, directions, 4000);
      NDArray x = m.create(train[0], new Shape(2000, F));
      NDArray y = m.create(train[1], new Shape(2000, L));
      double[] prevalence = new double[L];
      double[] posWeight = new double[L];
      for (int j = 0; j < L; j++) {
        double positives = 0;
        for (int i = 0; i < 2000; i++) {
          positives += train[1][i * L + j];
        }
        prevalence[j] = positives / 2000;
        posWeight[j] = (2000 - positives) / Math.max(positives, 1);
      }
      BceWithLogitsLoss weighted = TorchLosses.bceWithLogits(posWeight);
      BceWithLogitsLoss plain = TorchLosses.bceWithLogits();
      NDArray testX = m.create(test[0], new Shape(4000, F));
      double[] recallPlain;
      try (Support.Trained t = Support.train(plain, x, y, L, epochs, seed)) {
        recallPlain = recall(t.predict(testX), test[1]);
      }
      try (Support.Trained t = Support.train(weighted, x, y, L, epochs, seed)) {
        return new Result(prevalence, t.lossBefore(), t.lossAfter(), recallPlain, recall(t.predict(testX), test[1]));
      }
    }
  }

  /** Features, and labels: label j is on when the features' projection on direction j, plus noise, passes a threshold. */
  private static float[][] data(Random r, double[][] directions, int n) {
    float[] x = new float[n * F];
    float[] y = new float[n * L];
    for (int i = 0; i < n; i++) {
      for (int f = 0; f < F; f++) {
        x[i * F + f] = (float) r.nextGaussian();
      }
      for (int j = 0; j < L; j++) {
        double s = 0;
        for (int f = 0; f < F; f++) {
          s += directions[j][f] * x[i * F + f];
        }
        y[i * L + j] = s + 0.3 * r.nextGaussian() > THRESHOLDS[j] ? 1 : 0;
      }
    }
    return new float[][] {x, y};
  }

  /** Per-label recall: the fraction of positives whose logit is above 0. */
  private static double[] recall(NDArray logits, float[] labels) {
    float[] z = logits.toFloatArray();
    double[] hit = new double[L];
    double[] count = new double[L];
    for (int i = 0; i < z.length; i++) {
      if (labels[i] == 1) {
        count[i % L]++;
        if (z[i] > 0) {
          hit[i % L]++;
        }
      }
    }
    for (int j = 0; j < L; j++) {
      hit[j] /= Math.max(count[j], 1);
    }
    return hit;
  }

  /**
   * Prints the measurements.
   *
   * @param args unused
   * @throws Exception when the engine fails to load or to run
   */
  public static void main(String[] args) throws Exception {
    Support.offline();
    Result r = run(15, 5);
    System.out.println("label                 0         1         2         3");
    System.out.printf(Locale.ROOT, "prevalence      %9.3f %9.3f %9.3f %9.3f%n", r.prevalence()[0], r.prevalence()[1],
        r.prevalence()[2], r.prevalence()[3]);
    System.out.printf(Locale.ROOT, "recall, plain   %9.3f %9.3f %9.3f %9.3f%n", r.recallPlain()[0],
        r.recallPlain()[1], r.recallPlain()[2], r.recallPlain()[3]);
    System.out.printf(Locale.ROOT, "recall, pos_wt  %9.3f %9.3f %9.3f %9.3f%n", r.recallPosWeight()[0],
        r.recallPosWeight()[1], r.recallPosWeight()[2], r.recallPosWeight()[3]);
    System.out.printf(Locale.ROOT, "pos-weighted loss: %.4f before training, %.4f after%n", r.lossBefore(),
        r.lossAfter());
  }
}
