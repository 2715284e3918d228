package dev.losskit.examples;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import dev.losskit.djl.CrossEntropyLoss;
import dev.losskit.djl.TorchLosses;
import java.util.Locale;
import java.util.Random;

/**
 * Imbalanced classification: an MLP trained with {@code EasyTrain} on three overlapping classes of 900, 150 and
 * 30 examples. With class weights and label smoothing the rare classes are found far more often than with a plain
 * cross-entropy, and the mean recall over classes rises, on a balanced test set.
 *
 * <p>The weights are tempered, \( w_k = (	ext{inverse frequency})^{1/2} \), for a reason that is PyTorch's
 * semantics rather than losskit's: with weights, the smoothing term is \( 	frac{arepsilon}{C} \sum_c w_c
 * (-\log p_c) \), which is smallest when \( p_c \propto w_c \), so it pulls every prediction towards the heavily
 * weighted classes. With full inverse-frequency weights (12× on the rarest class here) and \( arepsilon = 0.05 \)
 * the commonest class's recall collapses; tempered weights keep the gain.
 *
 * <p>Run it with {@code ./losskit example imbalanced}.
 */
public final class ImbalancedClassification {
  private ImbalancedClassification() {}

  /**
   * What one comparison measured.
   *
   * @param lossBefore the weighted loss on the training set before training
   * @param lossAfter the weighted loss after training
   * @param recallPlain per-class recall on the test set, trained with an unweighted cross-entropy
   * @param recallWeighted per-class recall, trained with class weights and label smoothing
   */
  public record Result(float lossBefore, float lossAfter, double[] recallPlain, double[] recallWeighted) {}

  static final double[][] CENTRES = {{0, 0, 0, 0}, {2.2, 0.6, 0, 0}, {0.4, 2.2, 0, 0}};
  static final int[] TRAIN = {900, 150, 30};
  static final double WEIGHT_POWER = 0.5;
  static final double SMOOTHING = 0.1;

  /**
   * Trains both models and measures them.
   *
   * @param epochs training epochs
   * @param seed the seed
   * @return the measurements
   * @throws Exception when the engine fails to load or to run
   */
  public static Result run(int epochs, int seed) throws Exception {
    return run(epochs, seed, WEIGHT_POWER, SMOOTHING);
  }

  /**
   * Trains both models with a given tempering of the class weights and smoothing, and measures them.
   *
   * @param epochs training epochs
   * @param seed the seed
   * @param power the class weight is {@code (inverse frequency)^power}; 1 is plain inverse frequency
   * @param smoothing the label smoothing
   * @return the measurements
   * @throws Exception when the engine fails to load or to run
   */
  public static Result run(int epochs, int seed, double power, double smoothing) throws Exception {
    try (NDManager m = NDManager.newBaseManager("PyTorch")) {
      Random r = new Random(seed);
      NDList train = Support.blobs(m, CENTRES, TRAIN, 1.0, r);
      NDList test = Support.blobs(m, CENTRES, new int[] {400, 400, 400}, 1.0, r);
      int total = java.util.Arrays.stream(TRAIN).sum();
      double[] weight = new double[TRAIN.length];
      for (int k = 0; k < weight.length; k++) {
        weight[k] = Math.pow(total / (double) (TRAIN.length * TRAIN[k]), power);
      }
      // The whole switch from DJL's loss: one line.
      CrossEntropyLoss weighted = CrossEntropyLoss.builder().weight(weight).labelSmoothing(smoothing).build();
      CrossEntropyLoss plain = TorchLosses.crossEntropy();

      double[] recallPlain;
      try (Support.Trained t = Support.train(plain, train.get(0), train.get(1), 3, epochs, seed)) {
        recallPlain = recall(t.predict(test.get(0)), test.get(1), 3);
      }
      try (Support.Trained t = Support.train(weighted, train.get(0), train.get(1), 3, epochs, seed)) {
        return new Result(t.lossBefore(), t.lossAfter(), recallPlain, recall(t.predict(test.get(0)), test.get(1), 3));
      }
    }
  }

  /** Per-class recall: the fraction of each class's examples predicted as that class. */
  static double[] recall(NDArray logits, NDArray labels, int classes) {
    long[] predicted = logits.argMax(1).toLongArray();
    float[] truth = labels.toFloatArray();
    double[] hit = new double[classes];
    double[] count = new double[classes];
    for (int i = 0; i < truth.length; i++) {
      int k = (int) truth[i];
      count[k]++;
      if (predicted[i] == k) {
        hit[k]++;
      }
    }
    for (int k = 0; k < classes; k++) {
      hit[k] /= count[k];
    }
    return hit;
  }

  /**
   * Averages per-class recalls into the balanced accuracy.
   *
   * @param recall per-class recalls
   * @return their mean (balanced accuracy)
   */
  public static double mean(double[] recall) {
    return java.util.Arrays.stream(recall).average().orElse(Double.NaN);
  }

  /**
   * Prints the comparison.
   *
   * @param args unused
   * @throws Exception when the engine fails to load or to run
   */
  public static void main(String[] args) throws Exception {
    Support.offline();
    Result r = run(12, 7);
    System.out.printf(Locale.ROOT, "training set: %d / %d / %d examples; test set: 400 per class%n",
        TRAIN[0], TRAIN[1], TRAIN[2]);
    System.out.printf(Locale.ROOT, "weighted, smoothed loss: %.4f before training, %.4f after%n",
        r.lossBefore(), r.lossAfter());
    System.out.println("recall per class      class 0   class 1   class 2   mean");
    System.out.printf(Locale.ROOT, "plain cross-entropy   %7.3f   %7.3f   %7.3f   %5.3f%n",
        r.recallPlain()[0], r.recallPlain()[1], r.recallPlain()[2], mean(r.recallPlain()));
    System.out.printf(Locale.ROOT, "weight + smoothing    %7.3f   %7.3f   %7.3f   %5.3f%n",
        r.recallWeighted()[0], r.recallWeighted()[1], r.recallWeighted()[2], mean(r.recallWeighted()));
  }
}
