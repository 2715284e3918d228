package dev.losskit.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.losskit.core.BceLoss;
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.DType;
import dev.losskit.core.Loss;
import dev.losskit.core.LossResult;
import dev.losskit.core.NllLoss;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * float16 and bfloat16 graphs of every loss kind, run in ONNX Runtime 1.29 on the CPU, against the core's half
 * results, loss and gradient, every reduction, the op lowering where it applies and primitives.
 *
 * <p>The bound: the core computes in double and rounds once to the half dtype; the graph computes in float32 and
 * rounds once at the end ({@code Cast}). On these inputs (moderate logits, so no result is a small difference of
 * large terms) the float32 result is within a few float32 ulps (2^-24 relative) of the exact one, far inside half a
 * half ulp (2^-12 relative for float16, 2^-9 for bfloat16), so the two roundings can only differ where the exact
 * value lies that close to a rounding midpoint: by one ulp of the half dtype, never more. {@link #MAX_ULPS} is that
 * bound, and the worst distance seen per dtype and output is printed at the end.
 */
class OnnxHalfTest {
  static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();
  static final OrtSession.SessionOptions OPTIONS = new OrtSession.SessionOptions();
  static final DType[] HALVES = {DType.FLOAT16, DType.BFLOAT16};
  /** At most one ulp of the half dtype: see the class description. */
  static final int MAX_ULPS = 1;
  /** Per dtype and output: the worst distance in ulps, and how many elements were off by one, of how many. */
  static final Map<String, int[]> SEEN = new TreeMap<>();
  /** Per dtype: the worst excess error on large logits, in units of 2^-24 times the terms' scale. */
  static final Map<String, Double> EXCESS = new TreeMap<>();
  /** Per dtype: the worst distance in ulps on large logits. */
  static final Map<String, Integer> WORST_LARGE = new TreeMap<>();

  @AfterAll
  static void report() {
    OPTIONS.close();
    SEEN.forEach((k, v) -> System.out.println("half graphs vs core: " + k + ": worst " + v[0] + " ulp, "
        + v[1] + " of " + v[2] + " elements off by one"));
    EXCESS.forEach((k, v) -> System.out.println("half graphs vs core, large logits: " + k + ": worst element more"
        + " than 1 ulp off is " + v + " x 2^-24 x the terms' scale off; worst " + WORST_LARGE.get(k) + " ulps"));
  }

  /** One loss configuration: its inputs are made by {@link #inputs}. */
  record Case(String name, Loss loss, boolean probabilities, int classAxis) {}

  /** Weights that no half dtype holds exactly, so that rounding them matters. */
  static final double[] CLASS_WEIGHT = {0.3, 1.7, 2.2, 0.45, 1.1};
  static final double[] LAST_WEIGHT = {0.3, 1.7, 2.2};
  static final double[] POS_WEIGHT = {2.6, 0.7, 1.3};
  static final int N = 16;
  static final int C = CLASS_WEIGHT.length;
  static final int D = 4;
  static final int BCE_LAST = LAST_WEIGHT.length;

  static List<Case> cases(Reduction r) {
    return List.of(
        new Case("cross_entropy index, weight, ignore_index, smoothing", CrossEntropyLoss.builder().reduction(r)
            .weight(CLASS_WEIGHT).ignoreIndex(1).labelSmoothing(0.1).build(), false, 1),
        new Case("cross_entropy index, weight, ignore_index", CrossEntropyLoss.builder().reduction(r)
            .weight(CLASS_WEIGHT).ignoreIndex(1).build(), false, 1),
        new Case("cross_entropy index, class last, smoothing", CrossEntropyLoss.builder().reduction(r)
            .labelSmoothing(0.2).build(), false, -1),
        new Case("cross_entropy probabilities, weight, smoothing", CrossEntropyLoss.builder().reduction(r)
            .weight(CLASS_WEIGHT).labelSmoothing(0.1).build(), true, 1),
        new Case("nll_loss, weight, ignore_index", NllLoss.builder().reduction(r).weight(CLASS_WEIGHT)
            .ignoreIndex(2).build(), false, 1),
        new Case("bce_with_logits, weight, pos_weight", BceWithLogitsLoss.builder().reduction(r)
            .weight(LAST_WEIGHT).posWeight(POS_WEIGHT).build(), false, 1),
        new Case("bce, weight", BceLoss.builder().reduction(r).weight(LAST_WEIGHT).build(), false, 1));
  }

  static boolean classLoss(Loss loss) {
    return loss instanceof CrossEntropyLoss || loss instanceof NllLoss;
  }

  /** The input's shape: (N, C, D), (N, D, C) for class axis -1, (N, 3) for BCE. */
  static int[] inputShape(Case c) {
    if (!classLoss(c.loss())) {
      return new int[] {N, BCE_LAST};
    }
    return c.classAxis() == 1 ? new int[] {N, C, D} : new int[] {N, D, C};
  }

  static int count(int[] shape) {
    return Arrays.stream(shape).reduce(1, (a, b) -> a * b);
  }

  /** {@return input, target and (for reduction none) grad_output, as the core takes them} */
  static Map<String, Tensor> inputs(Case c, DType dtype, long seed) {
    Random random = new Random(seed);
    int[] shape = inputShape(c);
    int n = count(shape);
    Map<String, Tensor> in = new HashMap<>();
    double[] x = new double[n];
    Loss loss = c.loss();
    if (loss instanceof BceLoss) {
      double[] y = new double[n];
      for (int i = 0; i < n; i++) {
        x[i] = random.nextDouble();
        y[i] = i % 3 == 0 ? random.nextInt(2) : random.nextDouble();
      }
      in.put("target", Tensor.rounded(y, dtype, shape));
    } else if (loss instanceof NllLoss) {
      // Log-probabilities along the class axis (1), as a log-softmax gives them.
      for (int b = 0; b < N; b++) {
        for (int d = 0; d < D; d++) {
          double[] z = new double[C];
          double max = Double.NEGATIVE_INFINITY;
          for (int k = 0; k < C; k++) {
            z[k] = 3 * random.nextGaussian();
            max = Math.max(max, z[k]);
          }
          double sum = 0;
          for (double v : z) {
            sum += Math.exp(v - max);
          }
          for (int k = 0; k < C; k++) {
            x[(b * C + k) * D + d] = z[k] - max - Math.log(sum);
          }
        }
      }
    } else {
      for (int i = 0; i < n; i++) {
        x[i] = loss instanceof BceWithLogitsLoss ? 12 * random.nextDouble() - 6 : 10 * random.nextDouble() - 5;
      }
      if (loss instanceof BceWithLogitsLoss) {
        double[] y = new double[n];
        for (int i = 0; i < n; i++) {
          y[i] = i % 2 == 0 ? random.nextInt(2) : random.nextDouble();
        }
        in.put("target", Tensor.rounded(y, dtype, shape));
      }
    }
    in.put("input", Tensor.rounded(x, dtype, shape));
    if (classLoss(loss)) {
      if (c.probabilities()) {
        double[] p = new double[n];
        for (int i = 0; i < n; i++) {
          p[i] = random.nextDouble() / C * 2; // about a distribution; PyTorch does not require one
        }
        in.put("target", Tensor.rounded(p, dtype, shape));
      } else {
        int[] targetShape = {N, D};
        long[] t = new long[N * D];
        for (int i = 0; i < t.length; i++) {
          t[i] = random.nextInt(C);
        }
        in.put("target", Tensor.of(t, targetShape));
      }
    }
    if (loss.reduction() == Reduction.NONE) {
      int[] lossShape = classLoss(loss) ? new int[] {N, D} : shape;
      double[] g = new double[count(lossShape)];
      for (int i = 0; i < g.length; i++) {
        g[i] = 4 * random.nextDouble() - 2;
      }
      in.put("grad_output", Tensor.rounded(g, dtype, lossShape));
    }
    return in;
  }

  /** {@return the graph's loss and gradient for the inputs} */
  static Tensor[] runGraph(ModelProto model, Map<String, Tensor> in, DType dtype, String gradName)
      throws Exception {
    Map<String, OnnxTensor> feeds = new HashMap<>();
    try (OrtSession s = ENV.createSession(model.toByteArray(), OPTIONS)) {
      for (Map.Entry<String, Tensor> e : in.entrySet()) {
        feeds.put(e.getKey(), HalfIo.tensor(ENV, e.getValue()));
      }
      try (OrtSession.Result r = s.run(feeds)) {
        return new Tensor[] {HalfIo.read((OnnxTensor) r.get("loss").orElseThrow(), dtype),
            HalfIo.read((OnnxTensor) r.get(gradName).orElseThrow(), dtype)};
      }
    } finally {
      feeds.values().forEach(OnnxTensor::close);
    }
  }

  /**
   * Asserts that a half result is the core's within {@link #MAX_ULPS}, shape and dtype included, and records the
   * worst distance.
   *
   * @return the worst distance in ulps
   */
  static int assertClose(String what, DType dtype, Tensor expected, Tensor actual) {
    assertEquals(dtype, expected.dtype(), what + ": the core gives the input's dtype");
    assertEquals(dtype, actual.dtype(), what);
    assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
    int worst = 0;
    int offByOne = 0;
    boolean nonzero = false;
    for (int i = 0; i < expected.numel(); i++) {
      double e = expected.getDouble(i);
      nonzero |= e != 0;
      int d = HalfIo.ulps(dtype, HalfIo.bits(dtype, e), HalfIo.bits(dtype, actual.getDouble(i)));
      if (d > MAX_ULPS) {
        throw new AssertionError(what + ": element " + i + " is " + actual.getDouble(i) + ", the core's "
            + e + ", " + d + " ulps apart");
      }
      worst = Math.max(worst, d);
      offByOne += d == 1 ? 1 : 0;
    }
    assertTrue(nonzero, what + ": the core's result is all zeros, which would compare trivially");
    String key = dtype + " " + (what.endsWith("gradient") ? "gradient" : "loss");
    synchronized (SEEN) {
      int[] v = SEEN.computeIfAbsent(key, k -> new int[3]);
      v[0] = Math.max(v[0], worst);
      v[1] += offByOne;
      v[2] += expected.numel();
    }
    return worst;
  }

  /** Runs one exported graph and compares it with the core. */
  static void check(Case c, DType dtype, OnnxLoss.Lowering lowering, int opset, long seed) throws Exception {
    OnnxLoss spec = OnnxLoss.builder(c.loss()).probabilityTargets(c.probabilities()).dtype(dtype).rank(1)
        .classAxis(c.classAxis()).lowering(lowering).opset(opset).withGradient(true).build();
    assertEquals(lowering == OnnxLoss.Lowering.OP, spec.usesOp(), "the lowering asked for is the one used");
    Map<String, Tensor> in = inputs(c, dtype, seed);
    // The core takes PyTorch's layout, (N, C, d): a class-last input is swapped for it, and its gradient back.
    boolean last = c.classAxis() == -1;
    LossResult core = c.loss().forwardBackward(last ? swapLastTwo(in.get("input")) : in.get("input"),
        in.get("target"), in.get("grad_output"));
    Tensor coreGrad = last ? swapLastTwo(core.gradInput()) : core.gradInput();
    Tensor[] graph = runGraph(spec.export(), in, dtype, "grad_input");
    String what = c.name() + ", " + c.loss().reduction() + ", " + dtype + ", " + lowering + ", opset " + opset;
    assertClose(what + ": loss", dtype, core.loss(), graph[0]);
    assertClose(what + ": gradient", dtype, coreGrad, graph[1]);
  }

  /** {@return a rank-3 tensor with its last two dimensions swapped, in its dtype (values copied exactly)} */
  static Tensor swapLastTwo(Tensor t) {
    int[] s = t.shape();
    double[] v = new double[t.numel()];
    for (int a = 0; a < s[0]; a++) {
      for (int b = 0; b < s[1]; b++) {
        for (int c = 0; c < s[2]; c++) {
          v[(a * s[2] + c) * s[1] + b] = t.getDouble((a * s[1] + b) * s[2] + c);
        }
      }
    }
    return Tensor.rounded(v, t.dtype(), s[0], s[2], s[1]);
  }

  @TestFactory
  Stream<DynamicTest> everyLossKindInFloat16AndBfloat16MatchesTheCoreWithinOneUlp() {
    List<DynamicTest> tests = new ArrayList<>();
    long seed = 1;
    for (DType dtype : HALVES) {
      for (Reduction r : Reduction.values()) {
        for (Case c : cases(r)) {
          OnnxLoss probe = OnnxLoss.builder(c.loss()).probabilityTargets(c.probabilities()).build();
          List<OnnxLoss.Lowering> lowerings = probe.opIsExact()
              ? List.of(OnnxLoss.Lowering.OP, OnnxLoss.Lowering.PRIMITIVES) : List.of(OnnxLoss.Lowering.PRIMITIVES);
          for (OnnxLoss.Lowering l : lowerings) {
            long s = seed++;
            tests.add(DynamicTest.dynamicTest(c.name() + ", " + r + ", " + dtype + ", " + l,
                () -> check(c, dtype, l, OnnxLoss.DEFAULT_OPSET, s)));
          }
        }
      }
    }
    return tests.stream();
  }

  /** float16 from opset 11, bfloat16 from 13, to 26: one graph with every class option, and NLL by its op. */
  @TestFactory
  Stream<DynamicTest> everyOpsetRunsHalfGraphs() {
    List<DynamicTest> tests = new ArrayList<>();
    for (DType dtype : HALVES) {
      int from = dtype == DType.BFLOAT16 ? OnnxLoss.MIN_BFLOAT16_OPSET : OnnxLoss.MIN_OPSET;
      for (int opset = from; opset <= OnnxLoss.MAX_OPSET; opset++) {
        Reduction r = Reduction.values()[opset % 3];
        Case ce = cases(r).get(0);
        Case nll = cases(r).get(4);
        int o = opset;
        tests.add(DynamicTest.dynamicTest(ce.name() + ", " + dtype + ", opset " + opset,
            () -> check(ce, dtype, OnnxLoss.Lowering.PRIMITIVES, o, 100 + o)));
        if (opset >= OnnxLoss.MIN_OP_LOWERING_OPSET) {
          tests.add(DynamicTest.dynamicTest(nll.name() + ", " + dtype + ", op, opset " + opset,
              () -> check(nll, dtype, OnnxLoss.Lowering.OP, o, 200 + o)));
        }
      }
    }
    return tests.stream();
  }

  /**
   * Where a result is a small difference of large float32 terms, float32's absolute error, not the final rounding,
   * decides: a confidently right class's loss {@code log(sum exp(x - max))} is {@code log(1 + 1e-9)} in double but
   * {@code log(1)} = 0 in float32, and bfloat16, with float32's exponent range, holds 1e-9 to 8 bits, so the graph's
   * 0 is thousands of bfloat16 ulps from the core's value. The bound there is float32's: every element is within
   * one half ulp, or within {@link #LARGE_LOGIT_TERMS} float32 rounding units (2^-24) of the scale S of the terms it
   * is computed from: for the loss, the logits' largest magnitude (twice it plus log C for cross-entropy, a
   * difference of logits and a log-sum-exp; plus 1 for BCE with logits, x and log(1 + e^-|x|)), times N for
   * {@code sum}; for the gradient, the upstream gradient (1, or 1/N for {@code mean}), since softmax and sigmoid are
   * at most 1. Logits of standard deviation 15, 256 rows.
   */
  @TestFactory
  Stream<DynamicTest> largeLogitsStayWithinFloat32sAbsoluteError() {
    List<DynamicTest> tests = new ArrayList<>();
    for (DType dtype : HALVES) {
      for (Reduction r : Reduction.values()) {
        for (Loss loss : List.of(CrossEntropyLoss.builder().reduction(r).build(),
            BceWithLogitsLoss.builder().reduction(r).build())) {
          boolean ce = loss instanceof CrossEntropyLoss;
          for (OnnxLoss.Lowering l : ce ? List.of(OnnxLoss.Lowering.OP, OnnxLoss.Lowering.PRIMITIVES)
              : List.of(OnnxLoss.Lowering.PRIMITIVES)) {
            tests.add(DynamicTest.dynamicTest(loss.name() + ", " + r + ", " + dtype + ", " + l,
                () -> checkLargeLogits(loss, dtype, l)));
          }
        }
      }
    }
    return tests.stream();
  }

  /**
   * How many float32 rounding units of the terms' scale an element may be off by, past one half ulp: the element
   * goes through a few float32 operations on terms of that scale (subtract the maximum, exp, sum, log, subtract;
   * softmax less the one-hot), each rounded to within one unit, and ONNX Runtime's exp and log are within a few
   * float32 ulps.
   */
  static final double LARGE_LOGIT_TERMS = 4;

  static void checkLargeLogits(Loss loss, DType dtype, OnnxLoss.Lowering lowering) throws Exception {
    boolean ce = loss instanceof CrossEntropyLoss;
    int rows = 256;
    int[] shape = ce ? new int[] {rows, C} : new int[] {rows, BCE_LAST};
    Random random = new Random(dtype.ordinal() * 10L + loss.reduction().ordinal());
    double[] x = new double[count(shape)];
    double maxAbs = 0;
    Map<String, Tensor> in = new HashMap<>();
    Tensor input = null;
    for (int i = 0; i < x.length; i++) {
      x[i] = 15 * random.nextGaussian();
    }
    input = Tensor.rounded(x, dtype, shape);
    for (int i = 0; i < x.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(input.getDouble(i)));
    }
    in.put("input", input);
    if (ce) {
      long[] t = new long[rows];
      for (int i = 0; i < rows; i++) {
        t[i] = random.nextInt(C);
      }
      in.put("target", Tensor.of(t, rows));
    } else {
      double[] y = new double[x.length];
      for (int i = 0; i < y.length; i++) {
        y[i] = random.nextInt(2);
      }
      in.put("target", Tensor.rounded(y, dtype, shape));
    }
    if (loss.reduction() == Reduction.NONE) {
      int[] lossShape = ce ? new int[] {rows} : shape;
      double[] g = new double[count(lossShape)];
      Arrays.fill(g, 1);
      in.put("grad_output", Tensor.rounded(g, dtype, lossShape));
    }
    OnnxLoss spec = OnnxLoss.builder(loss).dtype(dtype).rank(ce ? 0 : 1).lowering(lowering).withGradient(true)
        .build();
    LossResult core = loss.forwardBackward(in.get("input"), in.get("target"), in.get("grad_output"));
    Tensor[] graph = runGraph(spec.export(), in, dtype, "grad_input");
    double lossScale = (ce ? 2 * maxAbs + Math.log(C) : maxAbs + 1) * (loss.reduction() == Reduction.SUM ? rows : 1);
    double gradScale = loss.reduction() == Reduction.MEAN ? 1.0 / (ce ? rows : x.length) : 1;
    String what = loss.name() + ", " + loss.reduction() + ", " + dtype + ", " + lowering;
    excess(what + ": loss", dtype, core.loss(), graph[0], lossScale);
    excess(what + ": gradient", dtype, core.gradInput(), graph[1], gradScale);
  }

  /** Asserts the large-logit bound (see {@link #largeLogitsStayWithinFloat32sAbsoluteError}) and records it. */
  static void excess(String what, DType dtype, Tensor expected, Tensor actual, double scale) {
    assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
    double unit = 0x1p-24 * scale;
    double worst = 0;
    for (int i = 0; i < expected.numel(); i++) {
      double e = expected.getDouble(i);
      double a = actual.getDouble(i);
      if (HalfIo.ulps(dtype, HalfIo.bits(dtype, e), HalfIo.bits(dtype, a)) <= MAX_ULPS) {
        continue;
      }
      double off = Math.abs(a - e) / unit;
      int ulps = HalfIo.ulps(dtype, HalfIo.bits(dtype, e), HalfIo.bits(dtype, a));
      synchronized (EXCESS) {
        WORST_LARGE.merge(dtype.toString(), ulps, Math::max);
      }
      if (!(off <= LARGE_LOGIT_TERMS)) {
        throw new AssertionError(what + ": element " + i + " is " + a + ", the core's " + e + ": " + off
            + " x 2^-24 x " + scale + " off");
      }
      worst = Math.max(worst, off);
    }
    synchronized (EXCESS) {
      EXCESS.merge(dtype.toString(), worst, Math::max);
    }
  }
}
