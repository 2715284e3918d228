package dev.losskit.benchmarks;

import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.DType;
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
 * JMH benchmarks of the core's half-precision paths: the fused kernels on float16 and bfloat16 inputs, the reference
 * kernels on the same inputs (the path half inputs took before the fused kernels read them), and the fused float32
 * kernels on the same values widened: cross-entropy with class indices and BCE with logits, forward and backward.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx4g"})
public class HalfKernelBenchmarks {
  @Param({"256"})
  int n;

  @Param({"1000", "32000"})
  int c;

  @Param({"bfloat16", "float16"})
  String dtype;

  Tensor half;
  Tensor widened;
  Tensor halfProbabilities;
  Tensor widenedProbabilities;
  Tensor targets;
  CrossEntropyLoss ce;
  BceWithLogitsLoss bce;

  /** Creates the benchmark state; JMH calls this, then {@link #setup}. */
  public HalfKernelBenchmarks() {}

  /** Makes the inputs: Gaussian logits and BCE targets in [0, 1) in the half dtype, their float32 widenings. */
  @Setup
  public void setup() {
    Random r = new Random(1);
    double[] x = new double[n * c];
    double[] y = new double[n * c];
    long[] t = new long[n];
    for (int i = 0; i < x.length; i++) {
      x[i] = r.nextGaussian();
      y[i] = r.nextDouble();
    }
    for (int i = 0; i < n; i++) {
      t[i] = r.nextInt(c);
    }
    DType d = DType.fromPytorchName(dtype);
    half = Tensor.rounded(x, d, n, c);
    widened = Tensor.of(half.toFloatArray(), n, c);
    halfProbabilities = Tensor.rounded(y, d, n, c);
    widenedProbabilities = Tensor.of(halfProbabilities.toFloatArray(), n, c);
    targets = Tensor.of(t, n);
    ce = CrossEntropyLoss.create();
    bce = BceWithLogitsLoss.create();
  }

  /**
   * The fused cross-entropy on the half input: a half loss and gradient.
   *
   * @return the result (kept, so the JIT cannot drop the work)
   */
  @Benchmark
  public LossResult crossEntropyHalfFused() {
    return ce.forwardBackward(half, targets);
  }

  /**
   * The reference cross-entropy on the half input.
   *
   * @return the result (kept, so the JIT cannot drop the work)
   */
  @Benchmark
  public LossResult crossEntropyHalfReference() {
    return Reference.forwardBackward(ce, half, targets, null);
  }

  /**
   * The fused float32 cross-entropy on the same values widened.
   *
   * @return the result (kept, so the JIT cannot drop the work)
   */
  @Benchmark
  public LossResult crossEntropyFloat32Fused() {
    return ce.forwardBackward(widened, targets);
  }

  /**
   * The fused BCE with logits on half input and target.
   *
   * @return the result (kept, so the JIT cannot drop the work)
   */
  @Benchmark
  public LossResult bceHalfFused() {
    return bce.forwardBackward(half, halfProbabilities);
  }

  /**
   * The reference BCE with logits on half input and target.
   *
   * @return the result (kept, so the JIT cannot drop the work)
   */
  @Benchmark
  public LossResult bceHalfReference() {
    return Reference.forwardBackward(bce, half, halfProbabilities, null);
  }

  /**
   * The fused float32 BCE with logits on the same values widened.
   *
   * @return the result (kept, so the JIT cannot drop the work)
   */
  @Benchmark
  public LossResult bceFloat32Fused() {
    return bce.forwardBackward(widened, widenedProbabilities);
  }
}
