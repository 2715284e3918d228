package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Probability-target cross-entropy (rows and K-dim), BCE with logits and BCE on probabilities (every reduction)
 * give the same bits on
 * the first call, interpreted, as after the JIT has compiled them, and for 1, 2 and 3 threads: each position's and
 * element's arithmetic is its own lane's, and loss sums go by fixed blocks in a fixed order.
 */
class ReproducibleKernelsTest {
  record Call(Loss loss, Tensor input, Tensor target, Tensor gradOutput) {}

  private static float[] gaussian(Random r, int n, double scale) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (scale * r.nextGaussian());
    }
    return v;
  }

  private static Tensor direct(float[] f, int... shape) {
    ByteBuffer b = ByteBuffer.allocateDirect(4 * f.length).order(ByteOrder.nativeOrder());
    b.asFloatBuffer().put(f);
    return Tensor.view(b, DType.FLOAT32, shape);
  }

  private static List<Call> calls() {
    Random r = new Random(5);
    List<Call> calls = new ArrayList<>();
    int[][] shapes = {{64, 1000}, {3, 37, 50, 3}, {200, 129}};
    for (int[] shape : shapes) {
      int n = Tensor.checkedSize(shape);
      float[] y = new float[n];
      for (int i = 0; i < n; i++) {
        y[i] = r.nextFloat() / shape[1];
      }
      int[] lossShape = ClassProblem.lossShape(shape);
      double[] w = new double[shape[1]];
      for (int c = 0; c < w.length; c++) {
        w[c] = 0.25 * (1 + r.nextInt(8));
      }
      calls.add(new Call(CrossEntropyLoss.builder().labelSmoothing(0.1).build(), Tensor.of(gaussian(r, n, 16), shape),
          Tensor.of(y, shape), null));
      calls.add(new Call(CrossEntropyLoss.builder().reduction(Reduction.NONE).weight(w).build(),
          direct(gaussian(r, n, 3), shape), direct(y, shape),
          Tensor.of(gaussian(r, Tensor.checkedSize(lossShape), 1), lossShape)));
    }
    // Class indices in short rows (the transposed K-dim blocks), with a partial last block and a scalar tail.
    int shortRows = 1500;
    int shortClasses = 10;
    long[] t = new long[shortRows];
    for (int i = 0; i < shortRows; i++) {
      t[i] = r.nextInt(10) == 0 ? -100 : r.nextInt(shortClasses);
    }
    double[] sw = new double[shortClasses];
    for (int c = 0; c < shortClasses; c++) {
      sw[c] = 0.25 * (1 + r.nextInt(8));
    }
    calls.add(new Call(CrossEntropyLoss.builder().labelSmoothing(0.1).weight(sw).build(),
        Tensor.of(gaussian(r, shortRows * shortClasses, 4), shortRows, shortClasses), Tensor.of(t, shortRows), null));
    calls.add(new Call(CrossEntropyLoss.builder().reduction(Reduction.NONE).build(),
        direct(gaussian(r, shortRows * shortClasses, 4), shortRows, shortClasses), Tensor.of(t, shortRows),
        Tensor.of(gaussian(r, shortRows, 1), shortRows)));
    int rows = 300;
    int cols = 1001;
    float[] y = new float[rows * cols];
    for (int i = 0; i < y.length; i++) {
      y[i] = r.nextInt(3) == 0 ? r.nextFloat() : r.nextInt(2);
    }
    double[] pw = new double[cols];
    for (int c = 0; c < cols; c++) {
      pw[c] = 0.5 + r.nextInt(8);
    }
    for (Reduction reduction : Reduction.values()) {
      BceWithLogitsLoss bce = BceWithLogitsLoss.builder().reduction(reduction).posWeight(pw).build();
      Tensor g = reduction == Reduction.NONE ? Tensor.of(gaussian(r, rows * cols, 1), rows, cols) : null;
      calls.add(new Call(bce, Tensor.of(gaussian(r, rows * cols, 4), rows, cols), Tensor.of(y, rows, cols), g));
      calls.add(new Call(bce, direct(gaussian(r, rows * cols, 4), rows, cols), direct(y, rows, cols), g));
      // BCELoss on probabilities, with exact 0s and 1s among them.
      float[] p = new float[rows * cols];
      for (int i = 0; i < p.length; i++) {
        p[i] = r.nextInt(50) == 0 ? r.nextInt(2) : r.nextFloat();
      }
      BceLoss probabilities = BceLoss.builder().reduction(reduction).weight(pw).build();
      calls.add(new Call(probabilities, Tensor.of(p, rows, cols), Tensor.of(y, rows, cols), g));
      calls.add(new Call(probabilities, direct(p, rows, cols), direct(y, rows, cols), g));
    }
    return calls;
  }

  @Test
  void sameBitsColdAndWarmAndForAnyThreadCount() {
    List<Call> calls = calls();
    int threads = Parallelism.get();
    try {
      Parallelism.set(1);
      List<LossResult> first = new ArrayList<>();
      for (Call c : calls) {
        first.add(c.loss().forwardBackward(c.input(), c.target(), c.gradOutput()));
      }
      for (int round = 0; round < 60; round++) {
        Parallelism.set(1 + round % 3);
        for (int k = 0; k < calls.size(); k++) {
          Call c = calls.get(k);
          LossResult got = round % 2 == 0 ? c.loss().forwardBackward(c.input(), c.target(), c.gradOutput())
              : c.loss().forwardBackward(c.input(), c.target(), c.gradOutput(), new float[c.input().numel()]);
          assertArrayEquals(first.get(k).loss().toFloatArray(), got.loss().toFloatArray(),
              "loss of call " + k + " in round " + round);
          assertArrayEquals(first.get(k).gradInput().toFloatArray(), got.gradInput().toFloatArray(),
              "gradient of call " + k + " in round " + round);
        }
      }
    } finally {
      Parallelism.set(threads);
    }
  }
}
