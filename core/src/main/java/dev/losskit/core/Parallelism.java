package dev.losskit.core;

import dev.losskit.core.LossArgumentException.Cause;
import java.util.concurrent.ForkJoinPool;
import java.util.function.IntBinaryOperator;

/**
 * How many threads the fast kernels use. The default is the number of available processors, or the system
 * property {@code losskit.parallelism}; {@link #set} changes it for every loss.
 */
public final class Parallelism {
  private static volatile ForkJoinPool pool = create(Integer.getInteger("losskit.parallelism",
      Runtime.getRuntime().availableProcessors()));

  private Parallelism() {}

  private static ForkJoinPool create(int threads) {
    if (threads < 1) {
      throw new LossArgumentException(Cause.OPTION, "parallelism must be at least 1, got " + threads);
    }
    return new ForkJoinPool(threads, p -> {
      var t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(p);
      t.setDaemon(true);
      t.setName("losskit-" + t.getPoolIndex());
      return t;
    }, null, false);
  }

  /** {@return the number of threads the fast kernels use} */
  public static int get() {
    return pool.getParallelism();
  }

  /**
   * Changes the number of threads the fast kernels use, for every loss.
   *
   * @param threads the number of threads the fast kernels use, at least 1
   * @throws IllegalArgumentException when {@code threads} is below 1
   */
  public static synchronized void set(int threads) {
    ForkJoinPool old = pool;
    pool = create(threads);
    old.shutdown();
  }

  /**
   * Runs {@code chunk(from, to)} over {@code [0, n)} split into at most one chunk per thread, each at least
   * {@code minChunk} long, and returns the chunks' results in order (so reductions over them are deterministic).
   */
  static int[] forChunks(int n, int minChunk, IntBinaryOperator chunk) {
    int threads = get();
    int chunks = Math.max(1, Math.min(threads, n / Math.max(1, minChunk)));
    if (chunks == 1) {
      return new int[] {chunk.applyAsInt(0, n)};
    }
    int[] results = new int[chunks];
    pool.submit(() -> java.util.stream.IntStream.range(0, chunks).parallel().forEach(k -> {
      int from = (int) ((long) n * k / chunks);
      int to = (int) ((long) n * (k + 1) / chunks);
      results[k] = chunk.applyAsInt(from, to);
    })).join();
    return results;
  }
}
