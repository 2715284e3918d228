package dev.losskit.benchmarks;

import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.LossResult;
import dev.losskit.core.Reference;
import dev.losskit.core.Tensor;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * JMH benchmarks of the core's kernels: the fused kernels against the reference kernels, cross-entropy and BCE,
 * forward and backward, at a size the reference kernels can run in reasonable time. {@code losskit bench}
 * measures the large sizes against other implementations; these isolate the kernels with JMH's rigour.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g"})
public class KernelBenchmarks {
  @Param({"256"})
  int n;

  @Param({"1000", "32000"})
  int c;

  Tensor logits;
  Tensor targets;
  Tensor probabilities;
  CrossEntropyLoss ce;
  BceWithLogitsLoss bce;

  /** Creates the benchmark state; JMH calls this, then {@link #setup}. */
  public KernelBenchmarks() {}

  /** Makes the inputs: Gaussian logits, random class indices, and BCE targets in [0, 1). */
  @Setup
  public void setup() {
    Random r = new Random(1);
    float[] x = new float[n * c];
    float[] y = new float[n * c];
    long[] t = new long[n];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) r.nextGaussian();
      y[i] = r.nextFloat();
    }
    for (int i = 0; i < n; i++) {
      t[i] = r.nextInt(c);
    }
    logits = Tensor.of(x, n, c);
    targets = Tensor.of(t, n);
    probabilities = Tensor.of(y, n, c);
    ce = CrossEntropyLoss.builder().labelSmoothing(0.1).build();
    bce = BceWithLogitsLoss.create();
  }

  /**
   * The fused cross-entropy, forward and backward.
   *
   * @return the loss (kept, so the JIT cannot drop the work)
   */
  @Benchmark
  public LossResult crossEntropyFused() {
    return ce.forwardBackward(logits, targets);
  }

  /**
   * The reference cross-entropy, forward and backward.
   *
   * @return the loss (kept, so the JIT cannot drop the work)
   */
  @Benchmark
  public LossResult crossEntropyReference() {
    return Reference.forwardBackward(ce, logits, targets, null);
  }

  /**
   * The fused cross-entropy, forward only.
   *
   * @return the loss (kept, so the JIT cannot drop the work)
   */
  @Benchmark
  public Tensor crossEntropyForward() {
    return ce.forward(logits, targets);
  }

  /**
   * The fused BCE with logits, forward and backward.
   *
   * @return the loss (kept, so the JIT cannot drop the work)
   */
  @Benchmark
  public LossResult bceFused() {
    return bce.forwardBackward(logits, probabilities);
  }

  /**
   * The reference BCE with logits, forward and backward.
   *
   * @return the loss (kept, so the JIT cannot drop the work)
   */
  @Benchmark
  public LossResult bceReference() {
    return Reference.forwardBackward(bce, logits, probabilities, null);
  }
}
