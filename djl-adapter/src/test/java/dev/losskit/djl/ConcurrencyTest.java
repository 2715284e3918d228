package dev.losskit.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.loss.Loss;
import dev.losskit.core.Reduction;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The adapter's loss objects, shared by 8 threads that each hold their own NDManager, over thousands of
 * evaluations on both execution paths: every value must equal the one the same call gave alone. (DJL allows one
 * GradientCollector at a time, so this checks forward values; the gradients come from the same core calls, which
 * the core's own concurrency test covers.)
 */
class ConcurrencyTest {
  private static final int THREADS = 8;
  private static final int CALLS_PER_THREAD = 250;

  record Call(Loss loss, float[] logits, Shape shape, long[] labels, float[] soft) {}

  @Test
  void sharedLossesGiveTheSerialValuesOnEightThreads() throws Exception {
    Random r = new Random(5);
    List<Loss> losses = List.of(
        CrossEntropyLoss.builder().weight(1, 2, 0.5, 1, 1, 3, 1, 0.25).labelSmoothing(0.1).build(),
        CrossEntropyLoss.builder().execution(Execution.ENGINE).ignoreIndex(3).build(),
        CrossEntropyLoss.builder().reduction(Reduction.NONE).build(),
        NllLoss.builder().reduction(Reduction.SUM).build(),
        BceWithLogitsLoss.builder().posWeight(2, 1, 1, 1, 1, 1, 1, 0.5).build());
    List<Call> calls = new ArrayList<>();
    for (int k = 0; k < 20; k++) {
      Loss loss = losses.get(k % losses.size());
      int n = 1 + r.nextInt(k % 4 == 0 ? 200 : 5);
      float[] x = new float[n * 8];
      for (int i = 0; i < x.length; i++) {
        x[i] = (float) (2 * r.nextGaussian());
      }
      long[] t = new long[n];
      float[] soft = new float[n * 8];
      for (int i = 0; i < n; i++) {
        t[i] = r.nextInt(8);
      }
      for (int i = 0; i < soft.length; i++) {
        soft[i] = r.nextFloat();
      }
      calls.add(new Call(loss, x, new Shape(n, 8), t, soft));
    }
    List<float[]> alone = new ArrayList<>();
    try (NDManager m = NDManager.newBaseManager("PyTorch")) {
      for (Call c : calls) {
        alone.add(evaluate(m, c));
      }
    }
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    try {
      List<Future<Integer>> done = new ArrayList<>();
      for (int thread = 0; thread < THREADS; thread++) {
        int seed = thread;
        done.add(pool.submit(() -> {
          Random pick = new Random(seed);
          try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            for (int i = 0; i < CALLS_PER_THREAD; i++) {
              int k = pick.nextInt(calls.size());
              try (NDManager step = m.newSubManager()) {
                assertArrayEquals(alone.get(k), evaluate(step, calls.get(k)), 0f, "call " + k);
              }
            }
          }
          return CALLS_PER_THREAD;
        }));
      }
      int total = 0;
      for (Future<Integer> f : done) {
        total += f.get(5, TimeUnit.MINUTES);
      }
      assertEquals(THREADS * CALLS_PER_THREAD, total);
    } finally {
      pool.shutdownNow();
    }
  }

  private static float[] evaluate(NDManager m, Call c) {
    NDArray pred = m.create(c.logits(), c.shape());
    NDArray label = c.loss() instanceof BceWithLogitsLoss ? m.create(c.soft(), c.shape()) : m.create(c.labels());
    if (c.loss() instanceof NllLoss) {
      pred = pred.logSoftmax(1);
    }
    return c.loss().evaluate(new NDList(label), new NDList(pred)).toFloatArray();
  }
}
