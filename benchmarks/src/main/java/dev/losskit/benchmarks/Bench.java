package dev.losskit.benchmarks;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.loss.SigmoidBinaryCrossEntropyLoss;
import ai.djl.training.loss.SoftmaxCrossEntropyLoss;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.losskit.conformance.LossCase;
import dev.losskit.conformance.TorchOracle;
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.DType;
import dev.losskit.core.Loss;
import dev.losskit.core.Parallelism;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import dev.losskit.onnx.OnnxLoss;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * {@code losskit bench}: named cases, each a realistic loss call, for losskit's core, libtorch (PyTorch's own
 * kernels through the TorchScript oracle), DJL's built-in losses, the DJL adapter and ONNX Runtime's
 * {@code SoftmaxCrossEntropyLoss}, with the machine's memory bandwidth; a sweep over C at fixed N·C; and a whole
 * DJL training epoch. Only the computation is timed, with the inputs already in each implementation's own memory.
 * Large calls are the median of several repetitions after warm-up; small calls (under a million elements) are timed
 * over at least 2,000 calls after 500 warm-up calls, as the median of batches of calls.
 */
public final class Bench {
  private Bench() {}

  /** An LLM's vocabulary: N=4096, C=32000, class indices. */
  public static final String LLM_VOCAB = "llm-vocab";
  /**
   * {@link #LLM_VOCAB} in bfloat16: the same logits rounded to bfloat16, the core's fused bfloat16 kernel against
   * libtorch's bfloat16 cross-entropy (a TorchScript module, {@code fixtures/make_bf16_bench.py}).
   */
  public static final String LLM_VOCAB_BF16 = "llm-vocab-bf16";
  /** A small classifier's batch: N=32, C=10. */
  public static final String SMALL_BATCH = "small-batch";
  /** Semantic segmentation: (4, 21, 512, 512), class weights, ignore_index=255 on about 5% of pixels. */
  public static final String SEGMENTATION = "segmentation";
  /** Distillation: N=4096, C=1000, probability targets, label smoothing 0.1. */
  public static final String DISTILLATION = "distillation";
  /** Multi-label classification: BCE with logits, 4096×1000, pos_weight. */
  public static final String MULTILABEL = "multilabel";
  /** Sequence tagging: (32, 512, 9), class axis last, DJL only. */
  public static final String TAGGING = "tagging";
  /** A whole DJL {@code EasyTrain} epoch of an MLP 784-128-10, batch 32 and 256. */
  public static final String MLP_EPOCH = "mlp-epoch";
  /** Cross-entropy against C at fixed N·C; its C=32000 point is {@link #LLM_VOCAB}. */
  public static final String SWEEP = "sweep";

  /** Every case, in the order they run. */
  public static final List<String> CASES = List.of(LLM_VOCAB, LLM_VOCAB_BF16, SMALL_BATCH, SEGMENTATION, DISTILLATION, MULTILABEL,
      TAGGING, MLP_EPOCH, SWEEP);

  /**
   * One measurement.
   *
   * @param caseName the case: one of {@link #CASES}
   * @param workload {@code ce_fwd_bwd}, {@code ce_fwd}, {@code bce_fwd_bwd} or {@code train_epoch}
   * @param shape the input's shape (for {@code train_epoch}: examples per epoch and classes)
   * @param n the batch size
   * @param c the number of classes (BCE: elements per row)
   * @param dtype the dtype
   * @param impl the implementation
   * @param threads the threads it may use
   * @param medianS the median time in seconds: of one call, or of one epoch for {@code train_epoch}
   * @param peakExtraBytes heap bytes allocated beyond the inputs and outputs (Java implementations), or null
   * @param loss the loss this implementation computed on the case's inputs (one call, outside the timing), or null
   * @param note how this implementation's call differs from the case, or null when it does the case's work exactly
   */
  public record Result(String caseName, String workload, List<Integer> shape, int n, int c, String dtype,
      String impl, int threads, double medianS, Long peakExtraBytes, Double loss, String note) {
    /** {@return the input's element count (the logits of one epoch for {@code train_epoch})} */
    public long elements() {
      long e = 1;
      for (int d : shape) {
        e *= d;
      }
      return e;
    }

    /** {@return elements per second} */
    public double throughput() {
      return elements() / medianS;
    }
  }

  /**
   * A named case: what it computes, for the table, the charts and the JSON.
   *
   * @param name one of {@link #CASES}
   * @param shape the shape, e.g. {@code N=4096 C=32000}
   * @param options the loss's options, e.g. {@code class indices}
   * @param note what some implementation does not do, or null
   * @param unit the unit the table and chart give times in: {@code us}, {@code ms} or {@code s}
   */
  public record Case(String name, String shape, String options, String note, String unit) {}

  /**
   * A whole run.
   *
   * @param memoryBandwidthGbs the measured memory bandwidth: bytes read plus written per second by a large copy
   * @param results the measurements
   * @param machine the machine, in one line
   * @param floors the measured costs of the steps no implementation can avoid, at llm-vocab's size
   * @param cases the cases that ran, in order
   * @param quick whether this was a {@code --quick} run (smaller sizes, fewer repetitions)
   */
  public record Report(double memoryBandwidthGbs, List<Result> results, String machine, List<Floor> floors,
      List<Case> cases, boolean quick) {}

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
  static final int[] SWEEP_C = {10, 1000, 32000, 128256};

  /**
   * How a call is timed.
   *
   * @param warmups untimed calls first
   * @param batches timed batches; the figure is the median batch
   * @param calls calls per batch, whose mean time is the batch's figure
   */
  record Plan(int warmups, int batches, int calls) {
    /**
     * Large calls: the median of {@code reps} batches after at least two warm-up calls and a second of warm-up; a
     * batch holds one call, or as many as make 20 ms.
     */
    static Plan large(int reps) {
      return new Plan(2, reps, 1);
    }

    /** Small calls: at least 2,000 calls after 500 warm-ups (a tenth of that for a quick run). */
    static Plan small(boolean quick) {
      return quick ? new Plan(50, 5, 40) : new Plan(500, 10, 200);
    }
  }

  /**
   * Runs every case.
   *
   * @param quick smaller sizes and fewer repetitions
   * @param progress told what is being measured
   * @return the measurements
   * @throws Exception when an engine fails to load or to run
   */
  public static Report run(boolean quick, Consumer<String> progress) throws Exception {
    return run(quick, CASES, progress);
  }

  /**
   * Runs some cases.
   *
   * @param quick smaller sizes and fewer repetitions
   * @param cases the cases to run, from {@link #CASES}
   * @param progress told what is being measured
   * @return the measurements
   * @throws IllegalArgumentException when a case is unknown
   * @throws Exception when an engine fails to load or to run
   */
  public static Report run(boolean quick, Collection<String> cases, Consumer<String> progress) throws Exception {
    for (String c : cases) {
      if (!CASES.contains(c)) {
        throw new IllegalArgumentException("unknown case '" + c + "': valid cases are " + String.join(", ", CASES));
      }
    }
    int reps = quick ? 3 : 5;
    List<Result> results = new ArrayList<>();
    List<Floor> floors = new ArrayList<>();
    List<Case> ran = new ArrayList<>();
    progress.accept("memory bandwidth");
    double bandwidth = bandwidth(quick ? 1 << 24 : 1 << 26, reps);
    try (TorchOracle oracle = TorchOracle.open()) {
      for (String name : CASES) {
        if (!cases.contains(name)) {
          continue;
        }
        progress.accept(name);
        Runner r = new Runner(name, quick, reps, oracle, results);
        int first = results.size();
        switch (name) {
          case LLM_VOCAB:
            ran.add(r.llmVocab(floors));
            break;
          case LLM_VOCAB_BF16:
            ran.add(r.llmVocabBf16());
            break;
          case SMALL_BATCH:
            ran.add(r.smallBatch());
            break;
          case SEGMENTATION:
            ran.add(r.segmentation());
            break;
          case DISTILLATION:
            ran.add(r.distillation());
            break;
          case MULTILABEL:
            ran.add(r.multilabel());
            break;
          case TAGGING:
            ran.add(r.tagging());
            break;
          case MLP_EPOCH:
            ran.add(MlpEpoch.run(quick, results, progress));
            break;
          case SWEEP:
            ran.add(r.sweep(cases.contains(LLM_VOCAB), progress));
            break;
          default:
            throw new AssertionError(name);
        }
        crossCheck(results, first);
        System.gc(); // the large cases' arrays are garbage now; free them before the next case allocates its own
      }
    }
    return new Report(bandwidth, results, machine(), floors, ran, quick);
  }

  /** The rows of one case. */
  private static final class Runner {
    private final String name;
    private final boolean quick;
    private final int reps;
    private final TorchOracle oracle;
    private final List<Result> out;

    Runner(String name, boolean quick, int reps, TorchOracle oracle, List<Result> out) {
      this.name = name;
      this.quick = quick;
      this.reps = reps;
      this.oracle = oracle;
      this.out = out;
    }

    Case llmVocab(List<Floor> floors) throws OrtException {
      int n = quick ? 256 : 4096;
      int c = 32000;
      float[] x = gaussian(n * c, 1);
      long[] t = classes(n, c, 2);
      classIndices(x, t, n, c, Plan.large(reps));
      floors.add(newGradientArray(n, c, Plan.large(reps)));
      floors.add(djlInjection(x, t, n, c, Plan.large(reps)));
      return new Case(name, "N=" + n + " C=" + c, "class indices", null, "ms");
    }

    /**
     * llm-vocab's logits rounded to bfloat16: the core's bfloat16 kernel (a fresh bfloat16 gradient per call), the
     * core under autocast (float32 loss and gradient) and the float32 core on the same values widened, for
     * comparison, against libtorch's bfloat16 cross-entropy forward and backward.
     */
    Case llmVocabBf16() throws IOException {
      int n = quick ? 256 : 4096;
      int c = 32000;
      float[] x = gaussian(n * c, 1);
      short[] bits = new short[x.length];
      for (int i = 0; i < x.length; i++) {
        bits[i] = toBfloat16(x[i]);
        x[i] = Float.intBitsToFloat(bits[i] << 16); // the bfloat16 value, widened: what every row computes on
      }
      long[] t = classes(n, c, 2);
      Tensor input = Tensor.of(bits, DType.BFLOAT16, n, c);
      Tensor target = Tensor.of(t, n);
      Plan plan = Plan.large(reps);
      List<Integer> shape = List.of(n, c);
      CrossEntropyLoss ce = CrossEntropyLoss.create();
      // The float32 row first: it shares the row kernel with the bfloat16 rows, so the JIT has compiled that kernel
      // before they are timed, whichever row comes first (each still warms up for a second of its own).
      Tensor widened = Tensor.of(x, n, c);
      Runnable f32 = () -> ce.forwardBackward(widened, target);
      out.add(new Result(name, "ce_fwd_bwd", shape, n, c, "float32", "losskit-core-float32", Parallelism.get(),
          time(plan, f32), null, ce.forward(widened, target).getDouble(0),
          "float32 input: the bfloat16 values widened; float32 gradient"));
      Runnable fresh = () -> ce.forwardBackward(input, target);
      out.add(new Result(name, "ce_fwd_bwd", shape, n, c, "bfloat16", "losskit-core", Parallelism.get(),
          time(plan, fresh), Math.max(0, allocated(fresh) - 2L * input.numel()),
          ce.forwardBackward(input, target).loss().getDouble(0), null));
      CrossEntropyLoss autocast = CrossEntropyLoss.builder().autocast(true).build();
      Runnable auto = () -> autocast.forwardBackward(input, target);
      out.add(new Result(name, "ce_fwd_bwd", shape, n, c, "bfloat16", "losskit-core-autocast", Parallelism.get(),
          time(plan, auto), null, autocast.forward(input, target).getDouble(0),
          "autocast(true): float32 loss and gradient, the bfloat16 input read in place"));
      String agreement;
      double coreLoss = ce.forward(input, target).getDouble(0);
      double float32Loss = ce.forward(widened, target).getDouble(0);
      try (Bf16Torch torch = Bf16Torch.open(x, t, n, c)) {
        double value = torch.loss();
        agreement = gradientAgreement(ce.forwardBackward(input, target).gradInput(), torch.gradient());
        // libtorch forms the bfloat16 loss from bfloat16 intermediates (log_softmax's output); the core rounds the
        // exact mean once. Where the two bfloat16 losses differ, say so with the float32 loss of the same values.
        String note = Math.abs(value - coreLoss) <= 1e-3 * Math.max(1, Math.abs(coreLoss)) ? null
            : String.format(java.util.Locale.ROOT, "bfloat16 loss %.6g, the core's %.6g; the float32 loss of the"
                + " same values is %.6g (libtorch rounds log_softmax's output to bfloat16)", value, coreLoss,
                float32Loss);
        out.add(new Result(name, "ce_fwd_bwd", shape, n, c, "bfloat16", "libtorch", cores(), time(plan, torch::run),
            null, value, note));
      }
      return new Case(name, "N=" + n + " C=" + c, "class indices, bfloat16 logits", agreement, "ms");
    }

    Case smallBatch() throws OrtException {
      int n = 32;
      int c = 10;
      classIndices(gaussian(n * c, 3), classes(n, c, 4), n, c, Plan.small(quick));
      return new Case(name, "N=32 C=10", "class indices",
          "libtorch: its kernels through DJL's TorchScript call, whose dispatch dominates at this size", "us");
    }

    Case sweep(boolean haveLlmVocab, Consumer<String> progress) throws OrtException {
      int elements = quick ? 1 << 23 : 4096 * 32000;
      for (int c : SWEEP_C) {
        if (c == 32000 && haveLlmVocab) {
          continue; // llm-vocab is this point
        }
        int n = Math.max(1, elements / c);
        progress.accept(name + " N=" + n + " C=" + c);
        classIndices(gaussian(n * c, 5), classes(n, c, 6), n, c, Plan.large(reps));
      }
      return new Case(name, "C=" + Arrays.toString(SWEEP_C).replaceAll("[\\[\\] ]", "") + " at N·C≈" + elements,
          "class indices" + (haveLlmVocab ? "; the C=32000 point is llm-vocab" : ""), null, "ms");
    }

    /** Every implementation on class indices: core fresh and reused, libtorch, DJL, the adapter, forward and ORT. */
    private void classIndices(float[] x, long[] t, int n, int c, Plan plan) throws OrtException {
      Tensor input = Tensor.of(x, n, c);
      Tensor target = Tensor.of(t, n);
      CrossEntropyLoss ce = CrossEntropyLoss.create();
      core(ce, input, target, "ce_fwd_bwd", plan);
      libtorch(new LossCase(CrossEntropyLoss.NAME, DType.FLOAT32, Reduction.MEAN, -100, 0, null, null, input,
          target, null), "ce_fwd_bwd", n, c, plan);
      djl(ai.djl.training.loss.Loss.softmaxCrossEntropyLoss(), "djl-builtin", null, "ce_fwd_bwd", x,
          new int[] {n, c}, m -> m.create(t), plan);
      djl(dev.losskit.djl.CrossEntropyLoss.builder().build(), "losskit-djl", null, "ce_fwd_bwd", x,
          new int[] {n, c}, m -> m.create(t), plan);
      Runnable forward = () -> ce.forward(input, target);
      out.add(new Result(name, "ce_fwd", List.of(n, c), n, c, "float32", "losskit-core", Parallelism.get(),
          time(plan, forward), Math.max(0, allocated(forward)), ce.forward(input, target).getDouble(0), null));
      ort(x, t, n, c, plan);
    }

    Case segmentation() {
      int n = 4;
      int c = 21;
      int side = quick ? 128 : 512;
      int pixels = side * side;
      float[] x = gaussian(n * c * pixels, 7);
      long[] t = new long[n * pixels];
      Random random = new Random(8);
      int ignored = 0;
      for (int i = 0; i < t.length; i++) {
        if (random.nextDouble() < 0.05) {
          t[i] = 255;
          ignored++;
        } else {
          t[i] = random.nextInt(c);
        }
      }
      double[] w = new double[c];
      float[] w32 = new float[c];
      for (int k = 0; k < c; k++) {
        w[k] = 0.5 + 1.5 * random.nextDouble();
        w32[k] = (float) w[k];
      }
      Tensor input = Tensor.of(x, n, c, side, side);
      Tensor target = Tensor.of(t, n, side, side);
      Plan plan = Plan.large(reps);
      core(CrossEntropyLoss.builder().weight(w).ignoreIndex(255).build(), input, target, "ce_fwd_bwd", plan);
      libtorch(new LossCase(CrossEntropyLoss.NAME, DType.FLOAT32, Reduction.MEAN, 255, 0, Tensor.of(w32, c), null,
          input, target, null), "ce_fwd_bwd", n, c, plan);
      return new Case(name, "N=4 C=21 " + side + "×" + side, String.format(java.util.Locale.ROOT,
          "class weights in [0.5, 2], ignore_index=255 on %.1f%% of pixels", 100.0 * ignored / t.length),
          "no DJL rows: DJL's SoftmaxCrossEntropyLoss has no class weights or ignore_index", "ms");
    }

    Case distillation() {
      int n = quick ? 512 : 4096;
      int c = 1000;
      float[] x = gaussian(n * c, 9);
      float[] p = gaussian(n * c, 10);
      for (int i = 0; i < n; i++) { // a teacher's softmax: each row sums to 1
        double max = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < c; k++) {
          max = Math.max(max, p[i * c + k]);
        }
        double sum = 0;
        for (int k = 0; k < c; k++) {
          sum += Math.exp(p[i * c + k] - max);
        }
        for (int k = 0; k < c; k++) {
          p[i * c + k] = (float) (Math.exp(p[i * c + k] - max) / sum);
        }
      }
      Tensor input = Tensor.of(x, n, c);
      Tensor target = Tensor.of(p, n, c);
      Plan plan = Plan.large(reps);
      core(CrossEntropyLoss.builder().labelSmoothing(0.1).build(), input, target, "ce_fwd_bwd", plan);
      libtorch(new LossCase(CrossEntropyLoss.NAME, DType.FLOAT32, Reduction.MEAN, -100, 0.1, null, null, input,
          target, null), "ce_fwd_bwd", n, c, plan);
      String noSmoothing = "sparseLabel=false, no label smoothing";
      djl(new SoftmaxCrossEntropyLoss("SoftmaxCrossEntropyLoss", 1, -1, false, true), "djl-builtin", noSmoothing,
          "ce_fwd_bwd", x, new int[] {n, c}, m -> m.create(p, new Shape(n, c)), plan);
      djl(dev.losskit.djl.CrossEntropyLoss.builder().labelSmoothing(0.1).build(), "losskit-djl", null, "ce_fwd_bwd",
          x, new int[] {n, c}, m -> m.create(p, new Shape(n, c)), plan);
      return new Case(name, "N=" + n + " C=" + c, "probability targets, label_smoothing=0.1",
          "djl-builtin: SoftmaxCrossEntropyLoss(sparseLabel=false), which has no label smoothing", "ms");
    }

    Case multilabel() {
      int n = quick ? 512 : 4096;
      int c = 1000;
      float[] x = gaussian(n * c, 11);
      float[] y = new float[n * c];
      Random random = new Random(12);
      for (int i = 0; i < y.length; i++) {
        y[i] = random.nextDouble() < 0.1 ? 1 : 0;
      }
      double[] pw = new double[c];
      float[] pw32 = new float[c];
      for (int k = 0; k < c; k++) {
        pw[k] = 1 + 4 * random.nextDouble();
        pw32[k] = (float) pw[k];
      }
      Tensor input = Tensor.of(x, n, c);
      Tensor target = Tensor.of(y, n, c);
      Plan plan = Plan.large(reps);
      core(BceWithLogitsLoss.builder().posWeight(pw).build(), input, target, "bce_fwd_bwd", plan);
      libtorch(new LossCase(BceWithLogitsLoss.NAME, DType.FLOAT32, Reduction.MEAN, -100, 0, null, Tensor.of(pw32, c),
          input, target, null), "bce_fwd_bwd", n, c, plan);
      djl(new SigmoidBinaryCrossEntropyLoss(), "djl-builtin", "no pos_weight", "bce_fwd_bwd", x, new int[] {n, c},
          m -> m.create(y, new Shape(n, c)), plan);
      djl(dev.losskit.djl.BceWithLogitsLoss.builder().posWeight(pw).build(), "losskit-djl", null, "bce_fwd_bwd", x,
          new int[] {n, c}, m -> m.create(y, new Shape(n, c)), plan);
      return new Case(name, n + "×" + c, "BCE with logits, targets in {0, 1} (10% ones), pos_weight in [1, 5]",
          "djl-builtin: SigmoidBinaryCrossEntropyLoss, which has no pos_weight", "ms");
    }

    Case tagging() {
      int n = 32;
      int len = 512;
      int c = 9;
      float[] x = gaussian(n * len * c, 13);
      long[] t = classes(n * len, c, 14);
      Plan plan = Plan.small(quick);
      // DJL's pick along the last axis of a rank-3 array needs labels of shape (N, T, 1); (N, T) fails in libtorch
      djl(new SoftmaxCrossEntropyLoss("SoftmaxCrossEntropyLoss", 1, -1, true, true), "djl-builtin",
          "labels (32, 512, 1): its pick fails on (32, 512)", "ce_fwd_bwd", x, new int[] {n, len, c},
          m -> m.create(t, new Shape(n, len, 1)), plan);
      djl(dev.losskit.djl.CrossEntropyLoss.builder().classAxis(-1).build(), "losskit-djl", null, "ce_fwd_bwd", x,
          new int[] {n, len, c}, m -> m.create(t, new Shape(n, len)), plan);
      return new Case(name, "N=32 T=512 C=9", "class axis last (channels-last), class indices",
          "DJL only: the adapter with classAxis(-1) against SoftmaxCrossEntropyLoss with classAxis -1", "us");
    }

    /** The core's two rows: a fresh gradient per call, and the gradient written into one reused buffer. */
    private void core(Loss loss, Tensor input, Tensor target, String workload, Plan plan) {
      List<Integer> shape = shapeOf(input);
      int n = input.size(0);
      int c = input.size(1);
      Runnable fresh = () -> loss.forwardBackward(input, target);
      double value = loss.forwardBackward(input, target).loss().getDouble(0);
      out.add(new Result(name, workload, shape, n, c, "float32", "losskit-core", Parallelism.get(),
          time(plan, fresh), Math.max(0, allocated(fresh) - 4L * input.numel()), value, null));
      float[] gradient = new float[input.numel()];
      Runnable reuse = () -> loss.forwardBackward(input, target, null, gradient);
      out.add(new Result(name, workload, shape, n, c, "float32", "losskit-core-reuse", Parallelism.get(),
          time(plan, reuse), Math.max(0, allocated(reuse)), loss.forwardBackward(input, target, null, gradient)
          .loss().getDouble(0), null));
    }

    private void libtorch(LossCase call, String workload, int n, int c, Plan plan) {
      dev.losskit.conformance.Outcome once = oracle.run(call);
      if (once.failed()) {
        throw new IllegalStateException(name + ": libtorch failed: " + once.error());
      }
      double value = once.loss().getDouble(0);
      once = null; // its gradient is as large as the input: let it go before the timing
      try (TorchOracle.Prepared p = oracle.prepare(call)) {
        out.add(new Result(name, workload, shapeOf(call.input()), n, c, "float32", "libtorch", cores(),
            time(plan, p::run), null, value, null));
      }
    }

    private void djl(ai.djl.training.loss.Loss loss, String impl, String note, String workload, float[] x,
        int[] shape, Function<NDManager, NDArray> labels, Plan plan) {
      double s;
      double value;
      try (NDManager m = NDManager.newBaseManager("PyTorch")) {
        NDArray label = labels.apply(m);
        NDList labelList = new NDList(label);
        try (NDManager once = m.newSubManager()) {
          NDArray p = once.create(x, new Shape(Arrays.stream(shape).asLongStream().toArray()));
          p.setRequiresGradient(true);
          // Under a collector, as the timed step runs it: the adapter takes its forward-only path otherwise.
          try (GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
            NDArray l = loss.evaluate(labelList, new NDList(p));
            value = l.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).getDouble();
            collector.backward(l);
          }
        }
        s = djlStep(m, x, shape, plan, (sub, p) -> loss.evaluate(labelList, new NDList(p)));
      }
      out.add(new Result(name, workload, Arrays.stream(shape).boxed().toList(), shape[0], shape[shape.length - 1],
          "float32", impl, cores(), s, null, value, note));
    }

    private void ort(float[] x, long[] t, int n, int c, Plan plan) throws OrtException {
      OrtEnvironment env = dev.losskit.conformance.Ort.environment();
      byte[] model = OnnxLoss.builder(CrossEntropyLoss.create()).lowering(OnnxLoss.Lowering.OP).build().export()
          .toByteArray();
      ByteBuffer bytes = ByteBuffer.allocateDirect(4 * x.length).order(ByteOrder.nativeOrder());
      bytes.asFloatBuffer().put(x);
      FloatBuffer direct = bytes.asFloatBuffer();
      try (OrtSession session = env.createSession(model, dev.losskit.conformance.Ort.sessionOptions());
          OnnxTensor input = OnnxTensor.createTensor(env, direct, new long[] {n, c});
          OnnxTensor target = OnnxTensor.createTensor(env, LongBuffer.wrap(t), new long[] {n})) {
        Map<String, OnnxTensor> feed = Map.of("input", input, "target", target);
        double value;
        try (OrtSession.Result r = session.run(feed)) {
          value = ((Number) ((OnnxTensor) r.get(0)).getValue()).doubleValue();
        }
        double s = time(plan, () -> {
          try (OrtSession.Result r = session.run(feed)) {
            r.get(0);
          } catch (OrtException e) {
            throw new IllegalStateException(e);
          }
        });
        out.add(new Result(name, "ce_fwd", List.of(n, c), n, c, "float32", "ort", cores(), s, null, value, null));
      }
    }
  }

  /**
   * Checks that the rows of one case computed the same loss, so that the same work was timed: each row without a
   * note (a note says how its call differs) against the case's first row of its workload and size; a row that
   * disagrees by more than 1e-3 relative gets a note saying so.
   */
  static void crossCheck(List<Result> results, int from) {
    for (int i = from; i < results.size(); i++) {
      Result x = results.get(i);
      if (x.loss() == null || x.note() != null) {
        continue;
      }
      for (int j = from; j < i; j++) {
        Result ref = results.get(j);
        if (ref.loss() != null && ref.note() == null && ref.workload().equals(x.workload()) && ref.n() == x.n()
            && ref.c() == x.c()) {
          if (!(Math.abs(x.loss() - ref.loss()) <= 1e-3 * Math.max(1, Math.abs(ref.loss())))) {
            results.set(i, new Result(x.caseName(), x.workload(), x.shape(), x.n(), x.c(), x.dtype(), x.impl(),
                x.threads(), x.medianS(), x.peakExtraBytes(), x.loss(), String.format(java.util.Locale.ROOT,
                "LOSS DIFFERS: %.6g, %s gives %.6g", x.loss(), ref.impl(), ref.loss())));
          }
          break;
        }
      }
    }
  }

  /**
   * {@return how the core's bfloat16 gradient compares with libtorch's: the share of bit-identical elements and the
   * largest distance in bfloat16 ulps}
   */
  static String gradientAgreement(Tensor core, float[] torch) {
    long same = 0;
    int worst = 0;
    for (int i = 0; i < torch.length; i++) {
      int a = toBfloat16((float) core.getDouble(i));
      int b = toBfloat16(torch[i]);
      int d = Math.abs(((a & 0x8000) != 0 ? -(a & 0x7fff) : a & 0x7fff) - ((b & 0x8000) != 0 ? -(b & 0x7fff)
          : b & 0x7fff));
      same += d == 0 ? 1 : 0;
      worst = Math.max(worst, d);
    }
    return String.format(java.util.Locale.ROOT, "gradient vs libtorch's: %.4f%% of elements bit-identical, at most"
        + " %d bfloat16 ulps apart", 100.0 * same / torch.length, worst);
  }

  /** {@return the bfloat16 nearest to a finite float, ties to even} */
  static short toBfloat16(float f) {
    int bits = Float.floatToRawIntBits(f);
    return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
  }

  static List<Integer> shapeOf(Tensor t) {
    return Arrays.stream(t.shape()).boxed().toList();
  }

  static int cores() {
    return Runtime.getRuntime().availableProcessors();
  }

  static long[] classes(int n, int c, long seed) {
    long[] t = new long[n];
    Random random = new Random(seed);
    for (int i = 0; i < n; i++) {
      t[i] = random.nextInt(c);
    }
    return t;
  }

  /** The median of {@code reps} timed runs after two warm-ups. */
  static double median(int reps, Runnable run) {
    return time(Plan.large(reps), run);
  }

  /** The median, over the plan's batches, of the mean time of one call in a batch, after the warm-up calls. */
  /**
   * Collects the garbage of the rows before, outside every timed region, so that a row neither pays for another's
   * collections nor finds the heap grown to its maximum: at the full sizes each fresh-gradient call leaves 0.5 GiB
   * behind, and a heap left to grow to -Xmx16g beside libtorch's and ONNX Runtime's native memory exceeded this
   * 23 GiB machine (the kernel's OOM killer ended a run in the sweep). A full collection also lets G1 return memory
   * to the system.
   */
  static void settle() {
    System.gc();
    System.gc();
  }

  /** The least warm-up before a timing, in nanoseconds. */
  static final long WARM_UP_NS = 1_000_000_000L;

  static double time(Plan plan, Runnable run) {
    settle();
    // Warm-up: the plan's calls, and then on until a second has passed, so that the JIT has compiled the kernels
    // before the timing starts: a call of a few milliseconds timed after two warm-ups caught C2 mid-compilation,
    // and one case's figure swung by 2x from run to run.
    long warmStart = System.nanoTime();
    int warm = 0;
    while (warm < plan.warmups() || (System.nanoTime() - warmStart < WARM_UP_NS && warm < 5000)) {
      run.run();
      warm++;
    }
    double perCall = (System.nanoTime() - warmStart) / 1e9 / Math.max(1, warm);
    // A batch lasts at least 20 ms, so that a short call is not timed one at a time.
    int calls = (int) Math.max(plan.calls(), Math.min(1000, Math.ceil(0.02 / Math.max(perCall, 1e-9))));
    double[] s = new double[plan.batches()];
    for (int b = 0; b < s.length; b++) {
      long start = System.nanoTime();
      for (int i = 0; i < calls; i++) {
        run.run();
      }
      s[b] = (System.nanoTime() - start) / 1e9 / calls;
    }
    Arrays.sort(s);
    return s[s.length / 2];
  }

  /** Bytes read and written per second by {@code System.arraycopy} between two warm arrays. */
  static double bandwidth(int floats, int reps) {
    float[] a = gaussian(floats, 9);
    float[] b = new float[floats];
    double s = median(reps, () -> System.arraycopy(a, 0, b, 0, floats));
    return 2.0 * 4 * floats / s / 1e9;
  }

  /**
   * The time of a DJL training step, as a training loop takes it: the predictions copied and put under autograd,
   * a loss formed from them (the labels already in the engine), and the backward pass.
   */
  @SuppressWarnings("try")
  private static double djlStep(NDManager m, float[] x, int[] shape, Plan plan,
      java.util.function.BiFunction<NDManager, NDArray, NDArray> lossOf) {
    NDArray pred = m.create(x, new Shape(Arrays.stream(shape).asLongStream().toArray()));
    Engine engine = Engine.getEngine("PyTorch");
    return time(plan, () -> {
      try (NDManager sub = m.newSubManager()) {
        NDArray p = pred.duplicate();
        p.attach(sub);
        p.setRequiresGradient(true);
        try (GradientCollector collector = engine.newGradientCollector()) {
          collector.backward(lossOf.apply(sub, p));
        }
        p.getGradient().getFloat(new long[shape.length]); // the gradient is there: its first element
      }
    });
  }

  /** The JVM allocating (and so zeroing) a fresh gradient array, as {@code forwardBackward(input, target)} must. */
  private static Floor newGradientArray(int n, int c, Plan plan) {
    float[][] keep = new float[1][];
    double s = time(plan, () -> {
      keep[0] = null;
      keep[0] = new float[n * c];
    });
    keep[0] = null;
    return new Floor("new_gradient_array", n, c, s);
  }

  /**
   * Exactly what a DJL row times for the adapter, minus the core: the predictions copied and put under autograd,
   * the straight-through term \( L + (\sum p\,G - \mathrm{stop}(\sum p\,G)) \) and the backward pass. The gradient
   * G is the core's own, computed once, outside the timing, and held by the engine.
   */
  private static Floor djlInjection(float[] x, long[] t, int n, int c, Plan plan) {
    float[] gradient = CrossEntropyLoss.create().forwardBackward(Tensor.of(x, n, c), Tensor.of(t, n)).gradInput()
        .toFloatArray();
    try (NDManager held = NDManager.newBaseManager("PyTorch")) {
      ByteBuffer bytes = ByteBuffer.allocateDirect(4 * gradient.length).order(ByteOrder.nativeOrder());
      bytes.asFloatBuffer().put(gradient);
      NDArray g = held.create(bytes, new Shape((long) n * c), ai.djl.ndarray.types.DataType.FLOAT32);
      double s = djlStep(held, x, new int[] {n, c}, plan, (m, p) -> {
        NDArray dot = p.flatten().dot(g);
        return m.create(1f).add(dot.sub(dot.stopGradient()));
      });
      return new Floor("djl_gradient_injection", n, c, s);
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
    return Runtime.getRuntime().availableProcessors() + " cores, " + System.getProperty("os.arch") + ", "
        + Runtime.getRuntime().maxMemory() / (1 << 20) + " MiB heap, Java " + System.getProperty("java.version")
        + ", Vector API " + (ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent() ? "on" : "off");
  }

  /**
   * Writes the JSON report: {@code {"memory_bandwidth_gbs": x, "machine": "...", "quick": b, "cases": [...],
   * "results": [...], "floors": [...]}}; each result names its {@code case}.
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
    json.name("quick").value(report.quick());
    json.name("cases").beginArray();
    for (Case c : report.cases()) {
      json.beginObject().name("case").value(c.name()).name("shape").value(c.shape()).name("options")
          .value(c.options()).name("unit").value(c.unit());
      nullable(json.name("note"), c.note());
      json.endObject();
    }
    json.endArray();
    json.name("results").beginArray();
    for (Result r : report.results()) {
      json.beginObject().name("case").value(r.caseName()).name("workload").value(r.workload()).name("n")
          .value(r.n()).name("c").value(r.c());
      json.name("shape").beginArray();
      for (int d : r.shape()) {
        json.value(d);
      }
      json.endArray();
      json.name("dtype").value(r.dtype()).name("impl").value(r.impl()).name("threads").value(r.threads())
          .name("median_s").value(r.medianS());
      json.name("peak_extra_bytes");
      if (r.peakExtraBytes() == null) {
        json.nullValue();
      } else {
        json.value(r.peakExtraBytes());
      }
      json.name("loss");
      if (r.loss() == null) {
        json.nullValue();
      } else {
        json.value(r.loss());
      }
      nullable(json.name("note"), r.note());
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

  private static void nullable(com.google.gson.stream.JsonWriter json, String value) throws IOException {
    if (value == null) {
      json.nullValue();
    } else {
      json.value(value);
    }
  }
}
