package dev.losskit.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.losskit.core.DType;
import dev.losskit.core.LossResult;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.io.IOException;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.BiFunction;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Float16 and bfloat16 predictions on both paths (issue #15). Float16 predictions are DJL FLOAT16 arrays; bfloat16
 * ones come out of a TorchScript cast (DJL 0.35.1 cannot make them otherwise), as {@link DataType#UNKNOWN}.
 *
 * <ul>
 *   <li>{@code CORE}: the loss and the gradient that reaches the predictions equal the core's half result bit for bit.
 *   <li>Both (so {@code ENGINE}, which computes in float64 and rounds once): element by element, the float64 result
 *       rounded once, at least as close to it as libtorch's own half result ({@code half_oracle.pt}), and within
 *       torch.testing's tolerance of libtorch's half result wherever libtorch's is close to float64 (see
 *       {@link #compare}).
 *   <li>Both: the loss keeps float16; for bfloat16 it is float32 holding the bfloat16 value exactly (a bfloat16 loss
 *       would abort the JVM in DJL's {@code GradientCollector.backward}; see {@link BfloatAbortTest}), and the
 *       gradient reaches the predictions in their dtype.
 * </ul>
 */
class HalfPrecisionTest {
  private static HalfOracle oracle;
  private NDManager m;
  /** Worst ratios seen, printed for the README: |engine - f64| / |libtorch half - f64| is bounded by 1 by the test. */
  private static final List<String> FIGURES = new ArrayList<>();

  @BeforeAll
  static void load() throws IOException {
    oracle = HalfOracle.open();
  }

  @AfterAll
  static void unload() {
    oracle.close();
    FIGURES.forEach(System.out::println);
  }

  @BeforeEach
  void manager() {
    m = NDManager.newBaseManager("PyTorch");
  }

  @AfterEach
  void close() {
    m.close();
  }

  /** One loss configuration: how to build it (weights passed through {@code w}), its data and its oracle call. */
  record Case(String name, BiFunction<UnaryOperator<double[]>, Execution, TorchLoss> make, int[] shape,
      Kind kind, long[] indices) {
    @Override
    public String toString() {
      return name;
    }
  }

  enum Kind { LOGITS_INDEX, LOGITS_PROB, LOGP_INDEX, LOGITS_BINARY, PROB_BINARY }

  static Stream<Case> cases() {
    long[] idx = {0, 4, 2, 1, 3, 4};
    long[] idxIgnored = {0, -100, 2, 1, 3, 4};
    double[] w5 = {0.5, 2, 1.25, 3, 0.1};
    double[] w3 = {0.75, 2.5, 0.1};
    return Stream.of(
        new Case("ce mean", (w, e) -> CrossEntropyLoss.builder().execution(e).build(), new int[] {6, 5},
            Kind.LOGITS_INDEX, idx),
        new Case("ce weight ignore smoothing sum", (w, e) -> CrossEntropyLoss.builder().weight(w.apply(w5))
            .labelSmoothing(0.1).reduction(Reduction.SUM).execution(e).build(), new int[] {6, 5},
            Kind.LOGITS_INDEX, idxIgnored),
        new Case("ce none", (w, e) -> CrossEntropyLoss.builder().reduction(Reduction.NONE).execution(e).build(),
            new int[] {6, 5}, Kind.LOGITS_INDEX, idx),
        new Case("ce probabilities weight mean", (w, e) -> CrossEntropyLoss.builder().weight(w.apply(w5))
            .execution(e).build(), new int[] {6, 5}, Kind.LOGITS_PROB, null),
        new Case("nll weight mean", (w, e) -> NllLoss.builder().weight(w.apply(w5)).execution(e).build(),
            new int[] {6, 5}, Kind.LOGP_INDEX, idx),
        new Case("bce with logits weight pos_weight mean", (w, e) -> BceWithLogitsLoss.builder()
            .weight(w.apply(w3)).posWeight(w.apply(new double[] {3, 0.5, 1.1})).execution(e).build(),
            new int[] {4, 3}, Kind.LOGITS_BINARY, null),
        new Case("bce with logits none", (w, e) -> BceWithLogitsLoss.builder().reduction(Reduction.NONE)
            .execution(e).build(), new int[] {4, 3}, Kind.LOGITS_BINARY, null),
        new Case("bce weight sum", (w, e) -> BceLoss.builder().weight(w.apply(w3)).reduction(Reduction.SUM)
            .execution(e).build(), new int[] {4, 3}, Kind.PROB_BINARY, null));
  }

  static Stream<Arguments> matrix() {
    return cases().flatMap(c -> Stream.of(DType.FLOAT16, DType.BFLOAT16)
        .flatMap(d -> Stream.of(Execution.CORE, Execution.ENGINE).map(e -> Arguments.of(c, d, e))));
  }

  /** The predictions' values (before rounding to the half dtype) and the labels, seeded per case. */
  private static float[] values(Case c) {
    Random r = new Random(c.name().hashCode());
    int n = Arrays.stream(c.shape()).reduce(1, (a, b) -> a * b);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = c.kind() == Kind.PROB_BINARY ? 0.02f + 0.96f * r.nextFloat() : (float) (3 * r.nextGaussian());
    }
    if (c.kind() == Kind.LOGP_INDEX) { // log-probabilities per row
      int cls = c.shape()[1];
      for (int row = 0; row < c.shape()[0]; row++) {
        double s = 0;
        for (int j = 0; j < cls; j++) {
          s += Math.exp(v[row * cls + j]);
        }
        for (int j = 0; j < cls; j++) {
          v[row * cls + j] = (float) (v[row * cls + j] - Math.log(s));
        }
      }
    }
    return v;
  }

  private static float[] floatLabels(Case c) {
    Random r = new Random(~c.name().hashCode());
    int n = Arrays.stream(c.shape()).reduce(1, (a, b) -> a * b);
    float[] y = new float[n];
    for (int i = 0; i < n; i++) {
      y[i] = r.nextFloat();
    }
    if (c.kind() == Kind.LOGITS_PROB) { // rows summing to 1 in float32
      int cls = c.shape()[1];
      for (int row = 0; row < c.shape()[0]; row++) {
        float s = 0;
        for (int j = 0; j < cls; j++) {
          s += y[row * cls + j];
        }
        for (int j = 0; j < cls; j++) {
          y[row * cls + j] /= s;
        }
      }
    }
    return y;
  }

  private NDArray label(Case c) {
    Shape s = new Shape(Arrays.stream(c.shape()).asLongStream().toArray());
    return c.indices() != null ? m.create(c.indices()) : m.create(floatLabels(c), s);
  }

  /** The adapter's loss and the gradient that reached the predictions, as doubles, with the dtypes seen. */
  record Run(double[] loss, double[] grad, DataType lossType, DataType gradType, double[] input) {}

  /** A training step: predictions of {@code dtype} from {@code v}, the adapter's loss, DJL's backward. */
  @SuppressWarnings("try")
  private Run step(TorchLoss loss, DType dtype, float[] v, int[] shape, NDArray label) {
    Shape s = new Shape(Arrays.stream(shape).asLongStream().toArray());
    NDArray x = m.create(v, s);
    NDArray leaf;
    NDArray value;
    try (GradientCollector c = Engine.getEngine("PyTorch").newGradientCollector()) {
      NDArray pred;
      if (dtype == DType.FLOAT16) {
        leaf = x.toType(DataType.FLOAT16, false);
        leaf.setRequiresGradient(true);
        pred = leaf;
      } else {
        leaf = x;
        leaf.setRequiresGradient(true);
        pred = oracle.toBfloat16(x);
        assertEquals(DataType.UNKNOWN, pred.getDataType());
      }
      value = loss.evaluate(new NDList(label), new NDList(pred));
      c.backward(value);
    }
    NDArray g = leaf.getGradient();
    double[] input = half(leaf.stopGradient(), dtype, shape);
    return new Run(read(value), read(g), value.getDataType(), g.getDataType(), input);
  }

  /** The values of a float16 or float32 array, exactly, as doubles. */
  private static double[] read(NDArray a) {
    if (a.getDataType() == DataType.FLOAT16) {
      return Tensor.view(a.toByteBuffer().order(ByteOrder.nativeOrder()), DType.FLOAT16,
          TorchLoss.shape(a)).toDoubleArray();
    }
    float[] f = a.toFloatArray();
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) {
      d[i] = f[i];
    }
    return d;
  }

  /** The prediction values in {@code dtype}, exactly, as doubles (float32 leaf values rounded as libtorch's cast). */
  private static double[] half(NDArray leaf, DType dtype, int[] shape) {
    if (dtype == DType.FLOAT16) {
      return read(leaf);
    }
    double[] v = read(leaf);
    return Tensor.rounded(v, DType.BFLOAT16, shape).toDoubleArray(); // float32 -> bfloat16: one rounding, as libtorch
  }

  /** The core's target for the call: class indices, or float labels rounded to {@code dtype} (through float32). */
  private static Tensor coreTarget(Case c, DType dtype) {
    if (c.indices() != null) {
      return Tensor.of(c.indices(), c.indices().length);
    }
    float[] y = floatLabels(c);
    double[] d = new double[y.length];
    for (int i = 0; i < y.length; i++) {
      d[i] = y[i];
    }
    return Tensor.rounded(d, dtype, c.shape());
  }

  private static double[] asDoubles(float[] f) {
    double[] d = new double[f.length];
    for (int i = 0; i < f.length; i++) {
      d[i] = f[i];
    }
    return d;
  }

  @ParameterizedTest(name = "{0} {1} {2}")
  @MethodSource("matrix")
  void halfPredictionsKeepTheirDtypeAndMatchTheReferences(Case c, DType dtype, Execution path) {
    TorchLoss loss = c.make().apply(UnaryOperator.identity(), path);
    Run run = step(loss, dtype, values(c), c.shape(), label(c));

    // Dtypes: float16 stays float16; a bfloat16 loss is returned as float32 holding a bfloat16 value.
    assertEquals(dtype == DType.FLOAT16 ? DataType.FLOAT16 : DataType.FLOAT32, run.lossType(), "loss dtype");
    assertEquals(dtype == DType.FLOAT16 ? DataType.FLOAT16 : DataType.FLOAT32, run.gradType(),
        "gradient dtype (bfloat16: the float32 leaf before the cast, holding the bfloat16 gradient)");
    for (double l : run.loss()) {
      assertEquals(l, Tensor.rounded(new double[] {l}, dtype, 1).getDouble(0), "loss " + l + " is not a " + dtype);
    }

    // The core's half result: computed in double, rounded once; weights rounded to the dtype by the core.
    Tensor input = Tensor.rounded(run.input(), dtype, c.shape());
    Tensor target = coreTarget(c, dtype);
    LossResult core = loss.core().forwardBackward(input, target, null);
    if (path == Execution.CORE) {
      assertArrayEquals(core.loss().toDoubleArray(), run.loss(), "loss, bit for bit");
      assertArrayEquals(core.gradInput().toDoubleArray(), run.grad(), "gradient, bit for bit");
    }

    // libtorch's own half loss and gradient, and the float64 result of the same problem (inputs, target and weights
    // as the half dtype holds them).
    float[][] torch = oracle.run(m, method(c), oracleArgs(c, dtype, loss, run.input()));
    TorchLoss ref64 = c.make().apply(w -> Tensor.rounded(w, dtype, w.length).toDoubleArray(), Execution.CORE);
    LossResult exact = ref64.core().forwardBackward(Tensor.of(run.input(), c.shape()), f64(target), null);
    double rtol = dtype == DType.FLOAT16 ? 1e-3 : 1.6e-2; // torch.testing's defaults
    double atol = 1e-5;
    compare("loss", run.loss(), asDoubles(torch[0]), exact.loss().toDoubleArray(), rtol, atol, c, dtype, path);
    compare("gradient", run.grad(), asDoubles(torch[1]), exact.gradInput().toDoubleArray(), rtol, atol, c, dtype,
        path);
  }

  private static Tensor f64(Tensor t) {
    return t.dtype().isFloating() ? Tensor.of(t.toDoubleArray(), t.shape()) : t;
  }

  /**
   * Per element: ours is the float64 value rounded once (within half an ulp of the dtype, the bound of one rounding,
   * plus 1e-12 relative for float64's own error); ours is at least as close to float64 as libtorch's half result; and
   * ours is within torch.testing's tolerance of libtorch's half result, except where libtorch's result is itself off
   * float64 by more than half that tolerance (measured: libtorch's half kernels round intermediates and miss float64
   * by up to several ulps). The exceptions are counted in the figures.
   */
  private static void compare(String what, double[] ours, double[] torch, double[] exact, double rtol, double atol,
      Case c, DType dtype, Execution path) {
    assertEquals(torch.length, ours.length, what + " length");
    double halfUlp = dtype == DType.FLOAT16 ? 0x1p-11 : 0x1p-8; // relative, for normal numbers
    double subnormalHalfStep = dtype == DType.FLOAT16 ? 0x1p-25 : 0x1p-134;
    double worstOurs = 0;
    double worstTorch = 0;
    int torchOff = 0;
    for (int i = 0; i < ours.length; i++) {
      String at = what + "[" + i + "] " + path + " " + ours[i] + ", libtorch's " + dtype + " " + torch[i]
          + ", float64 " + exact[i];
      double eo = Math.abs(ours[i] - exact[i]);
      double et = Math.abs(torch[i] - exact[i]);
      double a = Math.abs(exact[i]);
      assertTrue(eo <= Math.max(halfUlp * a, subnormalHalfStep) + 1e-12 * a, at + ": ours not float64 rounded once");
      assertTrue(eo <= et, at + ": ours farther from float64 than libtorch's");
      if (Math.abs(ours[i] - torch[i]) > atol + rtol * Math.abs(torch[i])) {
        assertTrue(et > (atol + rtol * a) / 2, at + ": ours off libtorch's, which is close to float64");
        torchOff++;
      }
      worstOurs = Math.max(worstOurs, eo / Math.max(a, 1e-30));
      worstTorch = Math.max(worstTorch, et / Math.max(a, 1e-30));
    }
    FIGURES.add(String.format("half-figures | %s | %s | %s | %s | %.3g | %.3g | %d of %d |", c, dtype, path, what,
        worstOurs, worstTorch, torchOff, ours.length));
  }

  private static String method(Case c) {
    switch (c.kind()) {
      case LOGITS_INDEX:
      case LOGITS_PROB:
        return "cross_entropy";
      case LOGP_INDEX:
        return "nll_loss";
      case LOGITS_BINARY:
        return "bce_with_logits";
      default:
        return "bce";
    }
  }

  private NDList oracleArgs(Case c, DType dtype, TorchLoss loss, double[] input) {
    Shape s = new Shape(Arrays.stream(c.shape()).asLongStream().toArray());
    float[] in = new float[input.length];
    for (int i = 0; i < in.length; i++) {
      in[i] = (float) input[i];
    }
    NDList a = new NDList(m.create(in, s), label(c));
    double red = loss.core().reduction() == Reduction.NONE ? 0 : loss.core().reduction() == Reduction.MEAN ? 1 : 2;
    dev.losskit.core.Loss core = loss.core();
    if (core instanceof dev.losskit.core.CrossEntropyLoss) {
      dev.losskit.core.CrossEntropyLoss ce = (dev.losskit.core.CrossEntropyLoss) core;
      a.add(weights(ce.weight(), c.shape()[1]));
      a.add(m.create(new double[] {ce.weight() == null ? 0 : 1, ce.ignoreIndex(), red, ce.labelSmoothing()}));
    } else if (core instanceof dev.losskit.core.NllLoss) {
      dev.losskit.core.NllLoss nll = (dev.losskit.core.NllLoss) core;
      a.add(weights(nll.weight(), c.shape()[1]));
      a.add(m.create(new double[] {nll.weight() == null ? 0 : 1, nll.ignoreIndex(), red}));
    } else if (core instanceof dev.losskit.core.BceWithLogitsLoss) {
      dev.losskit.core.BceWithLogitsLoss b = (dev.losskit.core.BceWithLogitsLoss) core;
      a.add(weights(b.weight() == null ? null : b.weight().toDoubleArray(), 1));
      a.add(weights(b.posWeight() == null ? null : b.posWeight().toDoubleArray(), 1));
      a.add(m.create(new double[] {b.weight() == null ? 0 : 1, b.posWeight() == null ? 0 : 1, red}));
    } else {
      dev.losskit.core.BceLoss b = (dev.losskit.core.BceLoss) core;
      a.add(weights(b.weight() == null ? null : b.weight().toDoubleArray(), 1));
      a.add(m.create(new double[] {b.weight() == null ? 0 : 1, red}));
    }
    a.add(m.create(new float[] {dtype == DType.FLOAT16 ? 0 : 1}));
    return a;
  }

  /** Weights as float32 (the module rounds them to the half dtype, as the core does). */
  private NDArray weights(double[] w, int n) {
    float[] f = new float[w == null ? n : w.length];
    Arrays.fill(f, 1);
    for (int i = 0; w != null && i < w.length; i++) {
      f[i] = (float) w[i];
    }
    return m.create(f);
  }

  /**
   * The core-backed path's straight-through term p·G is formed and summed in float32: in float16 its products would
   * overflow past 65504 here (logits near 30000, class weight 4, so |p·G| near 120000, while the loss itself is
   * small, the logits being shifted), and its x - x would be NaN, not 0.
   */
  @Test
  void theStraightThroughTermDoesNotOverflowFloat16() {
    int n = 8;
    int cls = 4;
    float[] v = new float[n * cls];
    long[] t = new long[n];
    for (int i = 0; i < n; i++) {
      for (int j = 0; j < cls; j++) {
        v[i * cls + j] = 30000f + 16 * j; // float16 values (spacing 16 here)
      }
      t[i] = i % cls;
    }
    CrossEntropyLoss loss = CrossEntropyLoss.builder().weight(4, 4, 4, 4).reduction(Reduction.SUM)
        .execution(Execution.CORE).build();
    Run run = step(loss, DType.FLOAT16, v, new int[] {n, cls}, m.create(t));
    double largest = 0;
    for (int i = 0; i < v.length; i++) {
      largest = Math.max(largest, Math.abs(run.input()[i] * run.grad()[i]));
    }
    assertTrue(largest > 65504, "a product must exceed float16's range for this test to mean anything: " + largest);
    LossResult core = loss.core().forwardBackward(Tensor.rounded(run.input(), DType.FLOAT16, n, cls),
        Tensor.of(t, n), null);
    assertTrue(Double.isFinite(run.loss()[0]), "loss " + run.loss()[0]);
    assertArrayEquals(core.loss().toDoubleArray(), run.loss());
    assertArrayEquals(core.gradInput().toDoubleArray(), run.grad());
  }

  /** int16, which DJL also reports as UNKNOWN, is told from bfloat16 and refused in one line, on both paths. */
  @Test
  void int16IsNotTakenForBfloat16() {
    NDArray i16 = oracle.toInt16(m.create(new float[] {1, 2, 3, 4, 5, 6}, new Shape(2, 3)));
    assertEquals(DataType.UNKNOWN, i16.getDataType());
    for (Execution e : Execution.values()) {
      CrossEntropyLoss loss = CrossEntropyLoss.builder().execution(e).build();
      IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
          () -> loss.evaluate(new NDList(m.create(new long[] {0, 1})), new NDList(i16)));
      assertEquals("cross_entropy: predictions must be float32, float64, float16, bfloat16, int32 or int64, got a"
          + " dtype DJL does not name (UNKNOWN, and not bfloat16: int16, for example) (shape (2, 3))", ex.getMessage());
      assertFalse(ex.getMessage().contains("\n"));
    }
  }

  /** Detection works on an empty bfloat16 array too (the promotion test needs no element). */
  @Test
  void anEmptyBfloat16ArrayIsRecognised() {
    NDArray b = oracle.toBfloat16(m.create(new float[0], new Shape(0, 3)));
    assertEquals(DataType.UNKNOWN, b.getDataType());
    assertEquals(DType.BFLOAT16, TorchLoss.dtype(b, "predictions", "x"));
  }

  /**
   * Float targets for half predictions: PyTorch wants them in the input's dtype, so the adapter takes them in that
   * dtype or as float32/float64, and rounds the latter as libtorch's {@code target.to(dtype)} does. A float64 target is
   * converted through float32 there (c10's Half and BFloat16 are made from a float), which is a double rounding:
   * 0.5 + 2^-12 + 2^-45 is 0.5 + 2^-11 rounded once to float16 but 0.5 through float32 (a tie, to even). Both paths
   * round as libtorch does, and agree bit for bit with each other and with float16 labels of the rounded values.
   */
  @Test
  void floatTargetsAreRoundedToTheHalfDtypeAsLibtorchDoes() {
    double tricky = 0.5 + 0x1p-12 + 0x1p-45;
    double viaFloat = Tensor.rounded(new double[] {(float) tricky}, DType.FLOAT16, 1).getDouble(0);
    double once = Tensor.rounded(new double[] {tricky}, DType.FLOAT16, 1).getDouble(0);
    assertEquals(0.5, viaFloat);
    assertEquals(0.5 + 0x1p-11, once); // the two roundings differ here, so the test can tell them apart
    NDArray libtorch = m.create(new double[] {tricky}).toType(DataType.FLOAT16, false);
    assertEquals(viaFloat, read(libtorch)[0], "libtorch converts float64 to float16 through float32");

    float[] v = {0.75f, -1.5f, 2.25f};
    double[] y64 = {tricky, 0.25, 1.0 / 3};
    float[] y32 = {(float) y64[0], (float) y64[1], (float) y64[2]};
    List<double[]> results = new ArrayList<>();
    for (Execution e : new Execution[] {Execution.CORE, Execution.ENGINE}) {
      BceWithLogitsLoss loss = BceWithLogitsLoss.builder().reduction(Reduction.NONE).execution(e).build();
      for (NDArray label : new NDArray[] {m.create(y64), m.create(y32),
          m.create(y32).toType(DataType.FLOAT16, false)}) {
        Run run = step(loss, DType.FLOAT16, v, new int[] {3}, label);
        results.add(run.loss());
        results.add(run.grad());
      }
    }
    BceWithLogitsLoss loss = BceWithLogitsLoss.builder().reduction(Reduction.NONE).build();
    double[] yRounded = new double[3];
    for (int i = 0; i < 3; i++) {
      yRounded[i] = Tensor.rounded(new double[] {y32[i]}, DType.FLOAT16, 1).getDouble(0);
    }
    LossResult core = loss.core().forwardBackward(Tensor.rounded(asDoubles(v), DType.FLOAT16, 3),
        Tensor.rounded(yRounded, DType.FLOAT16, 3), null);
    for (int i = 0; i < results.size(); i += 2) {
      assertArrayEquals(core.loss().toDoubleArray(), results.get(i), "loss of run " + i / 2);
      assertArrayEquals(core.gradInput().toDoubleArray(), results.get(i + 1), "gradient of run " + i / 2);
    }
  }

  /** bfloat16 labels (from TorchScript too) are recognised as such for bfloat16 predictions, on both paths. */
  @Test
  void bfloat16LabelsForBfloat16Predictions() {
    float[] v = {0.75f, -1.5f, 2.25f, 0.1f};
    float[] y = {0.25f, 0.5f, 1f, 0.3f};
    for (Execution e : new Execution[] {Execution.CORE, Execution.ENGINE}) {
      BceWithLogitsLoss loss = BceWithLogitsLoss.builder().execution(e).build();
      Run viaFloat = step(loss, DType.BFLOAT16, v, new int[] {4}, m.create(y));
      NDArray bf = oracle.toBfloat16(m.create(y));
      assertEquals(DataType.UNKNOWN, bf.getDataType());
      Run viaBf16 = step(loss, DType.BFLOAT16, v, new int[] {4}, bf);
      assertArrayEquals(viaFloat.loss(), viaBf16.loss(), e + " loss");
      assertArrayEquals(viaFloat.grad(), viaBf16.grad(), e + " gradient");
    }
  }

  /**
   * Channels-last half predictions give, on each path, the values of the same predictions in PyTorch's layout; and a
   * 0-dim prediction (BCE with logits) keeps its shape through the widening and rounding.
   */
  @Test
  void channelsLastAndZeroDimHalfPredictions() {
    int n = 2;
    int d = 3;
    int cls = 5;
    float[] last = values(cases().findFirst().orElseThrow());
    float[] torchLayout = new float[n * d * cls];
    for (int i = 0; i < n; i++) {
      for (int p = 0; p < d; p++) {
        for (int j = 0; j < cls; j++) {
          torchLayout[(i * cls + j) * d + p] = last[(i * d + p) * cls + j];
        }
      }
    }
    long[] t = {0, 4, 2, 1, 3, 4};
    for (DType dtype : new DType[] {DType.FLOAT16, DType.BFLOAT16}) {
      for (Execution e : new Execution[] {Execution.CORE, Execution.ENGINE}) {
        CrossEntropyLoss cl = CrossEntropyLoss.builder().classAxis(-1).reduction(Reduction.NONE).execution(e).build();
        CrossEntropyLoss pl = CrossEntropyLoss.builder().reduction(Reduction.NONE).execution(e).build();
        Run a = step(cl, dtype, last, new int[] {n, d, cls}, m.create(t, new Shape(n, d)));
        Run b = step(pl, dtype, torchLayout, new int[] {n, cls, d}, m.create(t, new Shape(n, d)));
        assertArrayEquals(b.loss(), a.loss(), dtype + " " + e + " loss");
        double[] back = new double[a.grad().length];
        for (int i = 0; i < n; i++) {
          for (int p = 0; p < d; p++) {
            for (int j = 0; j < cls; j++) {
              back[(i * d + p) * cls + j] = b.grad()[(i * cls + j) * d + p];
            }
          }
        }
        assertArrayEquals(back, a.grad(), dtype + " " + e + " gradient");

        BceWithLogitsLoss scalar = BceWithLogitsLoss.builder().execution(e).build();
        NDArray y = m.create(0.25f);
        Run r = step(scalar, dtype, new float[] {-1.75f}, new int[0], y);
        LossResult core = scalar.core().forwardBackward(Tensor.rounded(new double[] {-1.75}, dtype),
            Tensor.rounded(new double[] {0.25}, dtype), null);
        assertArrayEquals(core.loss().toDoubleArray(), r.loss(), dtype + " " + e + " 0-dim loss");
        assertArrayEquals(core.gradInput().toDoubleArray(), r.grad(), dtype + " " + e + " 0-dim gradient");
      }
    }
  }

  /** DJL's loss accumulators (which {@code EasyTrain} updates) read a half prediction's loss as DJL reads any loss. */
  @Test
  void djlAccumulatorsTakeHalfLosses() {
    Case c = cases().findFirst().orElseThrow();
    for (DType dtype : new DType[] {DType.FLOAT16, DType.BFLOAT16}) {
      for (Execution e : new Execution[] {Execution.CORE, Execution.ENGINE}) {
        TorchLoss loss = c.make().apply(UnaryOperator.identity(), e);
        Run run = step(loss, dtype, values(c), c.shape(), label(c));
        NDArray x = m.create(values(c), new Shape(6, 5));
        NDArray pred = dtype == DType.FLOAT16 ? x.toType(DataType.FLOAT16, false) : oracle.toBfloat16(x);
        loss.addAccumulator("train");
        loss.updateAccumulators(new String[] {"train"}, new NDList(label(c)), new NDList(pred));
        assertEquals((float) run.loss()[0], loss.getAccumulator("train"), dtype + " " + e);
      }
    }
  }

  /**
   * scikit-learn's log_loss has no half precision: the evaluator refuses half predictions in one line, before its
   * softmax, which would pass the UNKNOWN dtype of a bfloat16 array to DJL's native code and end the JVM.
   */
  @Test
  void logLossEvaluatorRefusesHalfPredictionsWithoutAborting() {
    NDArray x = m.create(new float[] {0.5f, -1f, 2f, 0.25f, 1f, -0.5f}, new Shape(2, 3));
    NDList labels = new NDList(m.create(new long[] {0, 2}));
    for (boolean logits : new boolean[] {true, false}) {
      LogLossEvaluator ev = LogLossEvaluator.builder().classes(3).fromLogits(logits).build();
      for (NDArray pred : new NDArray[] {x.toType(DataType.FLOAT16, false), oracle.toBfloat16(x)}) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> ev.evaluate(labels, new NDList(pred)));
        String dtype = pred.getDataType() == DataType.FLOAT16 ? "float16" : "bfloat16";
        assertEquals("log_loss: y_pred of dtype " + dtype
            + " is not supported: give float32 or float64 (scikit-learn has no bfloat16)", e.getMessage());
      }
    }
  }

  /** AUTO sends half predictions of 8192 elements or more to the engine path (the core's half kernels are slow). */
  @Test
  void autoTakesTheEnginePathForLargeHalfPredictions() {
    assertTrue(TorchLoss.halfOnEngine(DataType.FLOAT16, TorchLoss.ENGINE_MIN_ELEMENTS));
    assertTrue(TorchLoss.halfOnEngine(DataType.UNKNOWN, TorchLoss.ENGINE_MIN_ELEMENTS));
    assertFalse(TorchLoss.halfOnEngine(DataType.FLOAT16, TorchLoss.ENGINE_MIN_ELEMENTS - 1));
    assertFalse(TorchLoss.halfOnEngine(DataType.FLOAT32, 1L << 20));
  }

  /**
   * Class indices as half floats (whole-valued) act as int64 indices on both paths; a fractional one is refused in
   * one line naming it. Non-finite half predictions move the core-backed path to the engine's, which gives
   * libtorch's non-finite values: the same as the engine path's own.
   */
  @Test
  void halfFloatLabelsAndNonFinitePredictions() {
    Case c = cases().findFirst().orElseThrow();
    float[] v = values(c);
    float[] whole = new float[c.indices().length];
    for (int i = 0; i < whole.length; i++) {
      whole[i] = c.indices()[i];
    }
    for (DType dtype : new DType[] {DType.FLOAT16, DType.BFLOAT16}) {
      for (Execution e : new Execution[] {Execution.CORE, Execution.ENGINE}) {
        TorchLoss loss = c.make().apply(UnaryOperator.identity(), e);
        Run byIndex = step(loss, dtype, v, c.shape(), label(c));
        NDArray halfLabels = dtype == DType.FLOAT16 ? m.create(whole).toType(DataType.FLOAT16, false)
            : oracle.toBfloat16(m.create(whole));
        Run byFloat = step(loss, dtype, v, c.shape(), halfLabels);
        assertArrayEquals(byIndex.loss(), byFloat.loss(), dtype + " " + e);
        assertArrayEquals(byIndex.grad(), byFloat.grad(), dtype + " " + e);

        float[] frac = whole.clone();
        frac[2] = 1.5f;
        NDArray bad = dtype == DType.FLOAT16 ? m.create(frac).toType(DataType.FLOAT16, false)
            : oracle.toBfloat16(m.create(frac));
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
            () -> step(loss, dtype, v, c.shape(), bad));
        assertTrue(ex.getMessage().startsWith("cross_entropy: label 1.5 at index 2 is not a whole number"),
            ex.getMessage());
      }
      float[] inf = v.clone();
      inf[3] = Float.POSITIVE_INFINITY;
      inf[7] = Float.NaN;
      Run core = step(c.make().apply(UnaryOperator.identity(), Execution.CORE), dtype, inf, c.shape(), label(c));
      Run engine = step(c.make().apply(UnaryOperator.identity(), Execution.ENGINE), dtype, inf, c.shape(), label(c));
      assertTrue(Double.isNaN(core.loss()[0]), "loss " + core.loss()[0]);
      assertArrayEquals(engine.loss(), core.loss(), dtype + " non-finite loss");
      assertArrayEquals(engine.grad(), core.grad(), dtype + " non-finite gradient");
    }
  }
}
