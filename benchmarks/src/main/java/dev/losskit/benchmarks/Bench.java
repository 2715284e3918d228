package dev.losskit.benchmarks;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.losskit.conformance.LossCase;
import dev.losskit.conformance.TorchOracle;
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.DType;
import dev.losskit.core.Parallelism;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import dev.losskit.djl.Execution;
import dev.losskit.onnx.OnnxLoss;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

/**
 * {@code losskit bench}: cross-entropy and BCE on large batches for losskit's core, libtorch (PyTorch's own
 * kernels through the TorchScript oracle), DJL's built-in {@code SoftmaxCrossEntropyLoss}, the DJL adapter and
 * ONNX Runtime's {@code SoftmaxCrossEntropyLoss}, with the machine's memory bandwidth. Each figure is the median of
 * several repetitions after warm-up; only the computation is timed, with the inputs already in each
 * implementation's own memory.
 */
public final class Bench {
  private Bench() {}

  /**
   * One measurement.
   *
   * @param workload {@code ce_fwd_bwd}, {@code ce_fwd} or {@code bce_fwd_bwd}
   * @param n the batch size
   * @param c the number of classes (BCE: elements per row)
   * @param dtype the dtype
   * @param impl the implementation
   * @param threads the threads it may use
   * @param medianS the median time in seconds
   * @param peakExtraBytes heap bytes allocated beyond the inputs and outputs (Java implementations), or null
   */
  public record Result(String workload, int n, int c, String dtype, String impl, int threads, double medianS,
      Long peakExtraBytes) {
    /** {@return elements (N·C) per second} */
    public double throughput() {
      return (double) n * c / medianS;
    }
  }

  /**
   * A whole run.
   *
   * @param memoryBandwidthGbs the measured memory bandwidth: bytes read plus written per second by a large copy
   * @param results the measurements
   * @param machine the machine, in one line
   * @param floors the measured costs of the steps no implementation can avoid, at the size of the targets
   */
  public record Report(double memoryBandwidthGbs, List<Result> results, String machine, List<Floor> floors) {}

  /**
   * The measured cost of a step that an implementation cannot avoid, at one size: what bounds a target that a
   * faster kernel alone cannot reach.
   *
   * @param what {@code new_gradient_array} (the JVM allocating and zeroing a fresh N·C float array, which every
   *     call that returns a fresh gradient pays) or {@code djl_gradient_injection} (DJL's autograd carrying a
   *     gradient that is already computed into the predictions, which the DJL adapter pays on top of the core)
   * @param n the batch size
   * @param c the number of classes
   * @param medianS the median time in seconds
   */
  public record Floor(String what, int n, int c, double medianS) {}

  /** Classes of the sweep. */
  static final int[] SWEEP = {10, 1000, 32000, 128256};

  /**
   * Runs the benchmark.
   *
   * @param quick smaller sizes and fewer repetitions
   * @param progress told what is being measured
   * @return the measurements
   * @throws Exception when an engine fails to load or to run
   */
  public static Report run(boolean quick, Consumer<String> progress) throws Exception {
    int reps = quick ? 3 : 5;
    int elements = quick ? 1 << 23 : 4096 * 32000;
    List<Result> results = new ArrayList<>();
    List<Floor> floors = new ArrayList<>();
    progress.accept("memory bandwidth");
    double bandwidth = bandwidth(quick ? 1 << 24 : 1 << 26, reps);
    try (TorchOracle oracle = TorchOracle.open()) {
      List<int[]> sizes = new ArrayList<>();
      sizes.add(new int[] {quick ? 256 : 4096, 32000});
      for (int c : SWEEP) {
        if (c != 32000) {
          sizes.add(new int[] {Math.max(1, elements / c), c});
        }
      }
      sizes.add(new int[] {32, 10});
      for (int[] size : sizes) {
        int n = size[0];
        int c = size[1];
        int r = n * c < 1 << 20 ? reps * 20 : reps;
        progress.accept("cross-entropy N=" + n + " C=" + c);
        float[] x = gaussian(n * c, 1);
        long[] t = new long[n];
        Random random = new Random(2);
        for (int i = 0; i < n; i++) {
          t[i] = random.nextInt(c);
        }
        results.add(coreCe(x, t, n, c, r, true));
        results.add(coreCeReused(x, t, n, c, r));
        results.add(libtorch(oracle, ceCase(x, t, n, c), "ce_fwd_bwd", n, c, r));
        results.add(djl(x, t, n, c, r, false));
        results.add(djl(x, t, n, c, r, true));
        results.add(coreCe(x, t, n, c, r, false));
        results.add(ort(x, t, n, c, r));
        if (size == sizes.get(0)) { // the floors, at the size of the targets
          floors.add(newGradientArray(n, c, r));
          floors.add(djlInjection(x, t, n, c, r));
        }
      }
      int n = quick ? 256 : 4096;
      int c = 32000;
      progress.accept("BCE with logits N=" + n + " C=" + c);
      float[] x = gaussian(n * c, 2);
      float[] y = new float[n * c];
      Random random = new Random(3);
      for (int i = 0; i < y.length; i++) {
        y[i] = random.nextFloat();
      }
      results.add(coreBce(x, y, n, c, reps));
      LossCase bce = new LossCase(BceWithLogitsLoss.NAME, DType.FLOAT32, Reduction.MEAN, -100, 0, null, null,
          Tensor.of(x, n, c), Tensor.of(y, n, c), null);
      results.add(libtorch(oracle, bce, "bce_fwd_bwd", n, c, reps));
    }
    return new Report(bandwidth, results, machine(), floors);
  }

  private static LossCase ceCase(float[] x, long[] t, int n, int c) {
    return new LossCase(CrossEntropyLoss.NAME, DType.FLOAT32, Reduction.MEAN, -100, 0, null, null, Tensor.of(x, n, c),
        Tensor.of(t, n), null);
  }

  /** The median of {@code reps} timed runs after two warm-ups. */
  static double median(int reps, Runnable run) {
    run.run();
    run.run();
    double[] s = new double[reps];
    for (int i = 0; i < reps; i++) {
      long start = System.nanoTime();
      run.run();
      s[i] = (System.nanoTime() - start) / 1e9;
    }
    Arrays.sort(s);
    return s[reps / 2];
  }

  /** Bytes read and written per second by {@code System.arraycopy} between two warm arrays. */
  static double bandwidth(int floats, int reps) {
    float[] a = gaussian(floats, 9);
    float[] b = new float[floats];
    double s = median(reps, () -> System.arraycopy(a, 0, b, 0, floats));
    return 2.0 * 4 * floats / s / 1e9;
  }

  private static Result coreCe(float[] x, long[] t, int n, int c, int reps, boolean backward) {
    CrossEntropyLoss ce = CrossEntropyLoss.create();
    Tensor input = Tensor.of(x, n, c);
    Tensor target = Tensor.of(t, n);
    Runnable call = backward ? () -> ce.forwardBackward(input, target) : () -> ce.forward(input, target);
    double s = median(reps, call);
    long output = backward ? 4L * n * c : 0;
    return new Result(backward ? "ce_fwd_bwd" : "ce_fwd", n, c, "float32", "losskit-core", Parallelism.get(), s,
        Math.max(0, allocated(call) - output));
  }

  /** The core writing its gradient into one buffer reused across calls, as a training loop does. */
  private static Result coreCeReused(float[] x, long[] t, int n, int c, int reps) {
    CrossEntropyLoss ce = CrossEntropyLoss.create();
    Tensor input = Tensor.of(x, n, c);
    Tensor target = Tensor.of(t, n);
    float[] gradient = new float[n * c];
    Runnable call = () -> ce.forwardBackward(input, target, null, gradient);
    double s = median(reps, call);
    return new Result("ce_fwd_bwd", n, c, "float32", "losskit-core-reuse", Parallelism.get(), s,
        Math.max(0, allocated(call)));
  }

  private static Result coreBce(float[] x, float[] y, int n, int c, int reps) {
    BceWithLogitsLoss bce = BceWithLogitsLoss.create();
    Tensor input = Tensor.of(x, n, c);
    Tensor target = Tensor.of(y, n, c);
    Runnable call = () -> bce.forwardBackward(input, target);
    double s = median(reps, call);
    return new Result("bce_fwd_bwd", n, c, "float32", "losskit-core", Parallelism.get(), s,
        Math.max(0, allocated(call) - 4L * n * c));
  }

  private static Result libtorch(TorchOracle oracle, LossCase call, String workload, int n, int c, int reps) {
    try (TorchOracle.Prepared p = oracle.prepare(call)) {
      double s = median(reps, p::run);
      return new Result(workload, n, c, "float32", "libtorch", Runtime.getRuntime().availableProcessors(), s, null);
    }
  }

  private static Result djl(float[] x, long[] t, int n, int c, int reps, boolean losskit) {
    ai.djl.training.loss.Loss loss = losskit
        ? dev.losskit.djl.CrossEntropyLoss.builder().execution(Execution.CORE).build()
        : ai.djl.training.loss.Loss.softmaxCrossEntropyLoss();
    double s = djlStep(x, n, c, reps, (m, p) -> loss.evaluate(new NDList(m.create(t)), new NDList(p)));
    return new Result("ce_fwd_bwd", n, c, "float32", losskit ? "losskit-djl" : "djl-builtin",
        Runtime.getRuntime().availableProcessors(), s, null);
  }

  /**
   * The median time of a DJL training step: the predictions copied and put under autograd, a loss formed from
   * them, and the backward pass.
   */
  @SuppressWarnings("try")
  private static double djlStep(float[] x, int n, int c, int reps,
      java.util.function.BiFunction<NDManager, NDArray, NDArray> lossOf) {
    try (NDManager m = NDManager.newBaseManager("PyTorch")) {
      NDArray pred = m.create(x, new Shape(n, c));
      return median(reps, () -> {
        try (NDManager sub = m.newSubManager()) {
          NDArray p = pred.duplicate();
          p.attach(sub);
          p.setRequiresGradient(true);
          try (GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
            collector.backward(lossOf.apply(sub, p));
          }
          p.getGradient().getFloat(0, 0);
        }
      });
    }
  }

  /** The JVM allocating (and so zeroing) a fresh gradient array, as {@code forwardBackward(input, target)} must. */
  private static Floor newGradientArray(int n, int c, int reps) {
    float[][] keep = new float[1][];
    double s = median(reps, () -> {
      keep[0] = null;
      keep[0] = new float[n * c];
    });
    keep[0] = null;
    return new Floor("new_gradient_array", n, c, s);
  }

  /**
   * Exactly what {@link #djl} times for the adapter, minus the core: the predictions copied and put under autograd,
   * the straight-through term \( L + (\sum p\,G - \mathrm{stop}(\sum p\,G)) \) and the backward pass. The gradient
   * G is the core's own, computed once, outside the timing, and held by the engine.
   */
  private static Floor djlInjection(float[] x, long[] t, int n, int c, int reps) {
    float[] gradient = CrossEntropyLoss.create().forwardBackward(Tensor.of(x, n, c), Tensor.of(t, n)).gradInput()
        .toFloatArray();
    try (NDManager held = NDManager.newBaseManager("PyTorch")) {
      ByteBuffer bytes = ByteBuffer.allocateDirect(4 * gradient.length).order(ByteOrder.nativeOrder());
      bytes.asFloatBuffer().put(gradient);
      NDArray g = held.create(bytes, new Shape((long) n * c), ai.djl.ndarray.types.DataType.FLOAT32);
      double s = djlStep(x, n, c, reps, (m, p) -> {
        NDArray dot = p.flatten().dot(g);
        return m.create(1f).add(dot.sub(dot.stopGradient()));
      });
      return new Floor("djl_gradient_injection", n, c, s);
    }
  }


  private static Result ort(float[] x, long[] t, int n, int c, int reps) throws OrtException {
    OrtEnvironment env = dev.losskit.conformance.Ort.environment();
    byte[] model = OnnxLoss.builder(CrossEntropyLoss.create()).lowering(OnnxLoss.Lowering.OP).build().export()
        .toByteArray();
    ByteBuffer bytes = ByteBuffer.allocateDirect(4 * x.length).order(ByteOrder.nativeOrder());
    bytes.asFloatBuffer().put(x);
    FloatBuffer direct = bytes.asFloatBuffer();
    try (OrtSession session = env.createSession(model, dev.losskit.conformance.Ort.sessionOptions());
        OnnxTensor input = OnnxTensor.createTensor(env, direct, new long[] {n, c});
        OnnxTensor target = OnnxTensor.createTensor(env, LongBuffer.wrap(t), new long[] {n})) {
      double s = median(reps, () -> {
        try (OrtSession.Result r = session.run(Map.of("input", input, "target", target))) {
          r.get(0);
        } catch (OrtException e) {
          throw new IllegalStateException(e);
        }
      });
      return new Result("ce_fwd", n, c, "float32", "ort", Runtime.getRuntime().availableProcessors(), s, null);
    }
  }

  /** Heap bytes allocated, on every thread, by one run of {@code call}. */
  private static long allocated(Runnable call) {
    var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    long before = total(mx);
    call.run();
    return total(mx) - before;
  }

  private static long total(com.sun.management.ThreadMXBean mx) {
    long sum = 0;
    for (long v : mx.getThreadAllocatedBytes(mx.getAllThreadIds())) {
      sum += Math.max(0, v);
    }
    return sum;
  }

  static float[] gaussian(int n, long seed) {
    Random r = new Random(seed);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) r.nextGaussian();
    }
    return v;
  }

  private static String machine() {
    return Runtime.getRuntime().availableProcessors() + " cores, " + System.getProperty("os.arch") + ", Java "
        + System.getProperty("java.version") + ", Vector API " + (ModuleLayer.boot()
        .findModule("jdk.incubator.vector").isPresent() ? "on" : "off");
  }

  /**
   * Writes the JSON report: {@code {"memory_bandwidth_gbs": x, "machine": "...", "results": [...], "floors": [...]}}.
   *
   * @param report the report
   * @param out where to write
   * @throws IOException when writing fails
   */
  public static void writeJson(Report report, java.io.OutputStream out) throws IOException {
    var w = new java.io.OutputStreamWriter(out, java.nio.charset.StandardCharsets.UTF_8);
    var json = new com.google.gson.stream.JsonWriter(w);
    json.setIndent(" ");
    json.beginObject().name("memory_bandwidth_gbs").value(report.memoryBandwidthGbs());
    json.name("machine").value(report.machine());
    json.name("results").beginArray();
    for (Result r : report.results()) {
      json.beginObject().name("workload").value(r.workload()).name("n").value(r.n()).name("c").value(r.c())
          .name("dtype").value(r.dtype()).name("impl").value(r.impl()).name("threads").value(r.threads())
          .name("median_s").value(r.medianS());
      json.name("peak_extra_bytes");
      if (r.peakExtraBytes() == null) {
        json.nullValue();
      } else {
        json.value(r.peakExtraBytes());
      }
      json.endObject();
    }
    json.endArray();
    json.name("floors").beginArray();
    for (Floor f : report.floors()) {
      json.beginObject().name("what").value(f.what()).name("n").value(f.n()).name("c").value(f.c())
          .name("median_s").value(f.medianS()).endObject();
    }
    json.endArray().endObject();
    json.flush();
    w.write('\n');
    w.flush();
  }
}
