package dev.losskit.djl;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.loss.Loss;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;

/**
 * A reference measurement, not a test: cross-entropy forward and backward through DJL's autograd at
 * N=4096, C=32000 float32, for the adapter (core-backed and engine-native) and DJL's own
 * {@code SoftmaxCrossEntropyLoss}. Median of 5 after one warm-up. Run with the test class path and a large heap;
 * {@code losskit bench} (the performance issue) supersedes it.
 */
public final class AdapterMeasurement {
  private AdapterMeasurement() {}

  /**
   * Runs the measurement and prints each implementation's median time.
   *
   * @param args optional N and C
   */
  public static void main(String[] args) {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 4096;
    int c = args.length > 1 ? Integer.parseInt(args[1]) : 32000;
    Random r = new Random(1);
    float[] x = new float[n * c];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) r.nextGaussian();
    }
    long[] t = new long[n];
    for (int i = 0; i < n; i++) {
      t[i] = r.nextInt(c);
    }
    try (NDManager m = NDManager.newBaseManager("PyTorch")) {
      NDArray label = m.create(t);
      NDArray pred = m.create(x, new Shape(n, c));
      Loss[] losses = {
        CrossEntropyLoss.builder().execution(Execution.CORE).build(),
        CrossEntropyLoss.builder().execution(Execution.ENGINE).build(),
        Loss.softmaxCrossEntropyLoss()
      };
      String[] names = {"losskit-djl core-backed", "losskit-djl engine-native", "DJL SoftmaxCrossEntropyLoss"};
      for (int k = 0; k < losses.length; k++) {
        double[] seconds = new double[6];
        for (int rep = 0; rep < seconds.length; rep++) {
          seconds[rep] = step(losses[k], label, pred);
        }
        double[] timed = Arrays.copyOfRange(seconds, 1, seconds.length);
        Arrays.sort(timed);
        System.out.printf(Locale.ROOT, "%-30s N=%d C=%d float32 forward+backward: median %.3f s (min %.3f, max %.3f)%n",
            names[k], n, c, timed[timed.length / 2], timed[0], timed[timed.length - 1]);
      }
    }
  }

  @SuppressWarnings("try")
  private static double step(Loss loss, NDArray label, NDArray pred) {
    try (NDManager sub = pred.getManager().newSubManager()) {
      NDArray p = pred.duplicate();
      p.attach(sub);
      p.setRequiresGradient(true);
      long start = System.nanoTime();
      try (GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
        NDArray value = loss.evaluate(new NDList(label), new NDList(p));
        collector.backward(value);
      }
      p.getGradient().getFloat(0, 0);
      return (System.nanoTime() - start) / 1e9;
    }
  }
}
