package dev.losskit.conformance;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.losskit.conformance.Matrix.Combination;
import dev.losskit.core.DType;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Both DJL backends, alternating on four threads over the conformance combinations, with a full collection between
 * calls and a small heap (its own surefire run): every result must still match libtorch. This is the setting in
 * which freed Java memory under a libtorch graph shows (a gradient of 2.9e-309 where 1.98 belonged, once): the
 * collector runs between every forward and the next, buffers are freed and reused all the time, and the warm
 * gradient buffers of four threads come and go.
 *
 * <p>It runs for {@code losskit.stress.seconds} (60 in {@code ./mvnw verify}, 600 with {@code -Pstress}).
 */
class DjlStressTest {
  private static final int THREADS = 4;

  @Test
  void bothDjlBackendsMatchLibtorchUnderCollectionOnFourThreads() throws Exception {
    long seconds = Long.getLong("losskit.stress.seconds", 60);
    List<Combination> combos = Matrix.all();
    Outcome[] torch = new Outcome[combos.size()];
    Outcome[] torch64 = new Outcome[combos.size()];
    try (TorchOracle oracle = TorchOracle.open()) {
      for (int i = 0; i < combos.size(); i++) {
        Combination c = combos.get(i);
        ConformanceRunner.Reference ref = ConformanceRunner.reference(oracle, c);
        torch[i] = ref.torch();
        torch64[i] = ref.torch64();
      }
    }
    Backend[] backends = {DjlBackend.CORE, DjlBackend.ENGINE};
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    AtomicLong calls = new AtomicLong();
    List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    try {
      List<Future<?>> work = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        int thread = t;
        work.add(pool.submit(() -> {
          // Each thread walks the combinations from its own offset, switching backend on every call.
          for (long k = 0; System.nanoTime() < deadline && failures.size() < 20; k++) {
            int i = (int) ((thread * combos.size() / THREADS + k) % combos.size());
            Backend b = backends[(int) ((k + thread) % 2)];
            CaseResult r = ConformanceRunner.judge(combos.get(i), b, torch[i], torch64[i]);
            if (!r.ok()) {
              failures.add(b.name() + " " + r.combination() + ": " + r.reason());
            }
            calls.incrementAndGet();
            System.gc();
          }
          return null;
        }));
      }
      for (Future<?> f : work) {
        f.get(seconds + 300, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }
    System.out.printf("DjlStressTest: %d calls in %d s on %d threads, max heap %d MiB%n", calls.get(), seconds,
        THREADS, Runtime.getRuntime().maxMemory() >> 20);
    assertTrue(failures.isEmpty(), failures.size() + " failure(s) in " + calls.get() + " calls: " + failures);
    assertTrue(calls.get() >= combos.size() / 4, "too few calls to mean anything: " + calls.get());
  }
}
