package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Loss objects are shared by 8 threads over thousands of calls, mixing small inputs with inputs large enough for
 * the vectorised and parallel kernels, fresh gradients with caller buffers: every result must equal, bit for bit,
 * the result of the same call made alone beforehand.
 */
class ConcurrencyTest {
  private static final int THREADS = 8;
  private static final int CALLS_PER_THREAD = 1500;

  record Call(Loss loss, Tensor input, Tensor target, Tensor gradOutput) {}

  private static float[] gaussian(Random r, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (3 * r.nextGaussian());
    }
    return v;
  }

  private static List<Call> calls() {
    Random r = new Random(11);
    List<Loss> classLosses = List.of(
        CrossEntropyLoss.create(),
        CrossEntropyLoss.builder().labelSmoothing(0.1).weight(new double[] {1, 2, 0.5, 1, 3, 0, 1, 1}).build(),
        CrossEntropyLoss.builder().reduction(Reduction.NONE).ignoreIndex(2).build(),
        NllLoss.builder().reduction(Reduction.SUM).build());
    List<Call> calls = new ArrayList<>();
    for (int k = 0; k < 24; k++) {
      Loss loss = classLosses.get(k % classLosses.size());
      boolean large = k % 3 == 0 && !(loss instanceof CrossEntropyLoss && ((CrossEntropyLoss) loss).weight() != null);
      int n = large ? 64 : 1 + r.nextInt(6);
      int c = large ? 4096 : 8;
      long ignore = loss instanceof CrossEntropyLoss ? ((CrossEntropyLoss) loss).ignoreIndex()
          : ((NllLoss) loss).ignoreIndex();
      long[] t = new long[n];
      for (int i = 0; i < n; i++) {
        t[i] = r.nextInt(7) == 0 ? ignore : r.nextInt(c);
      }
      Tensor g = loss.reduction() == Reduction.NONE ? Tensor.of(gaussian(r, n), n) : null;
      calls.add(new Call(loss, Tensor.of(gaussian(r, n * c), n, c), Tensor.of(t, n), g));
    }
    BceWithLogitsLoss bce = BceWithLogitsLoss.builder().posWeight(Tensor.of(new float[] {2f, 0.5f, 1f, 3f}, 4))
        .build();
    for (int k = 0; k < 6; k++) {
      int n = k % 2 == 0 ? 4096 : 3;
      float[] y = new float[n * 4];
      for (int i = 0; i < y.length; i++) {
        y[i] = r.nextFloat();
      }
      calls.add(new Call(bce, Tensor.of(gaussian(r, n * 4), n, 4), Tensor.of(y, n, 4), null));
    }
    return calls;
  }

  @Test
  void sharedLossesGiveTheSerialResultsOnEightThreads() throws Exception {
    List<Call> calls = calls();
    List<LossResult> serial = new ArrayList<>();
    for (Call c : calls) {
      serial.add(c.loss().forwardBackward(c.input(), c.target(), c.gradOutput()));
    }
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    try {
      List<Future<Integer>> done = new ArrayList<>();
      for (int thread = 0; thread < THREADS; thread++) {
        int seed = thread;
        done.add(pool.submit(() -> {
          Random r = new Random(seed);
          int checked = 0;
          for (int i = 0; i < CALLS_PER_THREAD; i++) {
            int k = r.nextInt(calls.size());
            Call c = calls.get(k);
            LossResult expected = serial.get(k);
            LossResult got;
            if (r.nextBoolean()) {
              got = c.loss().forwardBackward(c.input(), c.target(), c.gradOutput());
            } else {
              got = c.loss().forwardBackward(c.input(), c.target(), c.gradOutput(), new float[c.input().numel()]);
            }
            assertArrayEquals(expected.loss().toDoubleArray(), got.loss().toDoubleArray(), 0.0, "loss of call " + k);
            assertArrayEquals(expected.gradInput().toFloatArray(), got.gradInput().toFloatArray(), 0f,
                "gradient of call " + k);
            checked++;
          }
          return checked;
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
}
