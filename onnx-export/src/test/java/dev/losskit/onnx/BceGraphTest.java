package dev.losskit.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.losskit.core.BceLoss;
import dev.losskit.core.DType;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossArgumentException.Cause;
import dev.losskit.core.LossResult;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * BCELoss on probabilities as an ONNX graph, run in ONNX Runtime against the core's {@link BceLoss}, forward and
 * gradient, at PyTorch's default tolerances ({@code torch.testing.assert_close}: float32 rtol 1.3e-6, atol 1e-5;
 * float64 rtol 1e-7, atol 1e-7): every reduction × weight {none, per element, along the last dimension, scalar} ×
 * dtype × a few opsets (the lowest, the forms that change at 13, the default and the highest), on probabilities
 * that include exact 0 and 1, tiny and subnormal values and the largest value below 1, with hard and soft targets.
 */
class BceGraphTest {
  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();
  private static final OrtSession.SessionOptions OPTIONS = new OrtSession.SessionOptions();
  private static final int[] SHAPE = {3, 4, 5};
  private static final int[] OPSETS = {11, 12, 13, 17, 21, 26};

  @AfterAll
  static void close() {
    OPTIONS.close();
  }

  /** PyTorch's default float32 tolerance. */
  private static final double[] FLOAT32 = {1.3e-6, 1e-5};
  /** PyTorch's default float64 tolerance. */
  private static final double[] FLOAT64 = {1e-7, 1e-7};

  private static double[] tolerance(DType dtype) {
    return dtype == DType.FLOAT32 ? FLOAT32 : FLOAT64;
  }

  /** The weights: none, per element, along the last dimension, a scalar. */
  private enum WeightKind { NONE, PER_ELEMENT, LAST_DIM, SCALAR }

  private static Tensor weight(WeightKind kind, Random random) {
    switch (kind) {
      case PER_ELEMENT: {
        double[] w = new double[count(SHAPE)];
        for (int i = 0; i < w.length; i++) {
          w[i] = i % 7 == 0 ? 0 : 0.1 + 2.9 * random.nextDouble();
        }
        return Tensor.of(w, SHAPE);
      }
      case LAST_DIM:
        return Tensor.of(new double[] {0.3, 1, 2.5, 0, 0.7}, SHAPE[2]);
      case SCALAR:
        return Tensor.of(new double[] {0.3}, new int[0]);
      default:
        return null;
    }
  }

  /**
   * Probabilities with the extremes placed among uniform ones: exact 0 and 1, 1e-8, 1e-30, the smallest subnormal
   * of the dtype, the largest value below 1, 1 - 1e-7, and 0.5.
   */
  static double[] probabilities(DType dtype, int n, Random random) {
    double below1 = dtype == DType.FLOAT32 ? 1 - 0x1p-24 : 1 - 0x1p-53;
    double subnormal = dtype == DType.FLOAT32 ? Float.MIN_VALUE : Double.MIN_VALUE;
    double[] extremes = {0, 1, 1e-8, 1e-30, subnormal, below1, 1 - 1e-7, 0.5, 1e-3};
    double[] p = new double[n];
    for (int i = 0; i < n; i++) {
      p[i] = i % 2 == 0 ? extremes[(i / 2) % extremes.length] : random.nextDouble();
    }
    return p;
  }

  /** Targets: hard 0/1 on two thirds of the elements (so that each extreme meets both), soft elsewhere. */
  static double[] targets(int n, Random random) {
    double[] y = new double[n];
    for (int i = 0; i < n; i++) {
      y[i] = i % 3 == 0 ? random.nextDouble() : (i / 3) % 2;
    }
    return y;
  }

  static Tensor tensor(DType dtype, double[] v, int... shape) {
    if (dtype == DType.FLOAT64) {
      return Tensor.of(v.clone(), shape);
    }
    float[] f = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      f[i] = (float) v[i];
    }
    return Tensor.of(f, shape);
  }

  @TestFactory
  Stream<DynamicNode> everyReductionWeightAndDtypeGivesTheCoresLossAndGradient() {
    return IntStream.of(OPSETS).mapToObj(opset -> {
      List<DynamicTest> tests = new ArrayList<>();
      for (DType dtype : new DType[] {DType.FLOAT32, DType.FLOAT64}) {
        for (Reduction r : Reduction.values()) {
          for (WeightKind kind : WeightKind.values()) {
            String name = dtype.pytorchName() + ", " + r.pytorchName() + ", weight " + kind;
            tests.add(DynamicTest.dynamicTest(name, () -> {
              Random random = new Random(opset * 1000L + name.hashCode());
              BceLoss loss = BceLoss.builder().reduction(r).weight(weight(kind, random)).build();
              int n = count(SHAPE);
              Tensor x = tensor(dtype, probabilities(dtype, n, random), SHAPE);
              Tensor y = tensor(dtype, targets(n, random), SHAPE);
              Tensor g = r == Reduction.NONE ? tensor(dtype, uniform(random, n, -2, 2), SHAPE) : null;
              OnnxLoss spec = OnnxLoss.builder(loss).dtype(dtype).rank(SHAPE.length - 1).opset(opset)
                  .withGradient(true).build();
              checkAgainstCore(spec, x, y, g);
            }));
          }
        }
      }
      return DynamicContainer.dynamicContainer("opset " + opset, tests);
    });
  }

  /** Runs the exported graph and compares its outputs with the core's at PyTorch's default tolerance. */
  static void checkAgainstCore(OnnxLoss spec, Tensor x, Tensor y, Tensor g) throws OrtException {
    LossResult expected = spec.loss().forwardBackward(x, y, g);
    Map<String, Tensor> out = run(spec.export(), feeds(x, y, g));
    double[] tol = tolerance(x.dtype());
    close(expected.loss(), out.get("loss"), tol, "loss");
    close(expected.gradInput(), out.get("grad_input"), tol, "grad_input");
  }

  private static Map<String, Tensor> feeds(Tensor x, Tensor y, Tensor g) {
    Map<String, Tensor> feeds = new HashMap<>();
    feeds.put("input", x);
    feeds.put("target", y);
    if (g != null) {
      feeds.put("grad_output", g);
    }
    return feeds;
  }

  /** Runs a model in ONNX Runtime on the given float or double inputs; returns every output. */
  static Map<String, Tensor> run(ModelProto model, Map<String, Tensor> inputs) throws OrtException {
    Map<String, OnnxTensor> feeds = new HashMap<>();
    try {
      for (Map.Entry<String, Tensor> e : inputs.entrySet()) {
        feeds.put(e.getKey(), ort(e.getValue()));
      }
      try (OrtSession s = ENV.createSession(model.toByteArray(), OPTIONS); OrtSession.Result r = s.run(feeds)) {
        Map<String, Tensor> out = new HashMap<>();
        r.forEach(e -> out.put(e.getKey(), read((OnnxTensor) e.getValue())));
        return out;
      }
    } finally {
      feeds.values().forEach(OnnxTensor::close);
    }
  }

  private static OnnxTensor ort(Tensor t) throws OrtException {
    long[] shape = IntStream.of(t.shape()).asLongStream().toArray();
    return t.dtype() == DType.FLOAT32 ? OnnxTensor.createTensor(ENV, FloatBuffer.wrap(t.toFloatArray()), shape)
        : OnnxTensor.createTensor(ENV, DoubleBuffer.wrap(t.toDoubleArray()), shape);
  }

  private static Tensor read(OnnxTensor t) {
    int[] shape = java.util.Arrays.stream(t.getInfo().getShape()).mapToInt(Math::toIntExact).toArray();
    if (t.getInfo().type == ai.onnxruntime.OnnxJavaType.FLOAT) {
      FloatBuffer b = t.getFloatBuffer();
      float[] v = new float[b.remaining()];
      b.get(v);
      return Tensor.of(v, shape);
    }
    DoubleBuffer b = t.getDoubleBuffer();
    double[] v = new double[b.remaining()];
    b.get(v);
    return Tensor.of(v, shape);
  }

  /** {@code torch.testing.assert_close}: |a - e| <= atol + rtol·|e|, NaN equal to NaN; shape and dtype equal. */
  static void close(Tensor expected, Tensor actual, double[] tol, String what) {
    assertArrayEquals(expected.shape(), actual.shape(), what + " shape");
    assertEquals(expected.dtype(), actual.dtype(), what + " dtype");
    for (int i = 0; i < expected.numel(); i++) {
      double e = expected.getDouble(i);
      double a = actual.getDouble(i);
      boolean ok = Double.isNaN(e) ? Double.isNaN(a)
          : Double.isInfinite(e) ? e == a
          : Math.abs(a - e) <= tol[1] + tol[0] * Math.abs(e);
      assertTrue(ok, what + "[" + i + "]: the core gives " + e + ", ONNX Runtime " + a);
    }
  }

  /**
   * The lowering of log1p(-x): with y = 0 a loss element is exactly -max(log1p(-x), -100), so the graph's elements
   * are its log1p, to be compared element by element with the core's (float64 log1p, rounded once). Over
   * probabilities spread log-uniformly from 1e-38 to 1 and from 1 - 1e-7 (float32; 1e-300 and 1 - 1e-16 in float64)
   * to 1, the compensated form stays within 4 ulps of the core's value in both dtypes, where {@code Log(1 - x)} is
   * off by up to 100% of the value for small x (in float32, 1 - 1e-7 rounds to 1 - 1.19e-7; every x below 2^-25
   * gives 0).
   */
  @Test
  void theLog1pLoweringIsWithinFourUlpsOfTheCoreAtTheExtremes() throws OrtException {
    for (DType dtype : new DType[] {DType.FLOAT32, DType.FLOAT64}) {
      Random random = new Random(11);
      int n = 20000;
      double[] p = new double[n];
      double smallest = dtype == DType.FLOAT32 ? -38 : -300;
      double nearOne = dtype == DType.FLOAT32 ? -7 : -16;
      for (int i = 0; i < n; i++) {
        p[i] = i % 2 == 0 ? Math.pow(10, smallest * random.nextDouble())
            : 1 - Math.pow(10, nearOne * random.nextDouble());
      }
      Tensor x = tensor(dtype, p, n);
      Tensor y = tensor(dtype, new double[n], n);
      BceLoss loss = BceLoss.builder().reduction(Reduction.NONE).build();
      OnnxLoss spec = OnnxLoss.builder(loss).dtype(dtype).build();
      Tensor expected = loss.forward(x, y);
      Tensor actual = run(spec.export(), Map.of("input", x, "target", y)).get("loss");
      double worst = 0;
      for (int i = 0; i < n; i++) {
        double e = expected.getDouble(i);
        double ulp = dtype == DType.FLOAT32 ? Math.ulp((float) e) : Math.ulp(e);
        worst = Math.max(worst, Math.abs(actual.getDouble(i) - e) / ulp);
      }
      assertTrue(worst <= 4, dtype + ": the graph's -log1p(-x) is " + worst + " ulps from the core's");
    }
  }

  /**
   * Where the lowering matters at PyTorch's tolerance: the sum over 4096 small probabilities with y = 0. Each
   * element is about x, and {@code Log(1 - x)} would be off by up to half a float32 ulp of 1 (3e-8) per element, so
   * about 1e-4 in a sum of 4e-4, far outside rtol 1.3e-6 + atol 1e-5.
   */
  @Test
  void aSumOfManySmallProbabilitiesKeepsItsAccuracy() throws OrtException {
    int n = 4096;
    Random random = new Random(5);
    double[] p = new double[n];
    for (int i = 0; i < n; i++) {
      p[i] = 1e-7 * (0.5 + random.nextDouble());
    }
    for (Reduction r : new Reduction[] {Reduction.SUM, Reduction.MEAN}) {
      OnnxLoss spec = OnnxLoss.builder(BceLoss.builder().reduction(r).build()).withGradient(true).build();
      checkAgainstCore(spec, tensor(DType.FLOAT32, p, n), tensor(DType.FLOAT32, new double[n], n), null);
    }
  }

  @Test
  void anEmptyInputGivesNanForMeanAndZeroForSum() throws OrtException {
    for (DType dtype : new DType[] {DType.FLOAT32, DType.FLOAT64}) {
      for (Reduction r : Reduction.values()) {
        BceLoss loss = BceLoss.builder().reduction(r).weight(0.5, 2, 1).build();
        Tensor x = tensor(dtype, new double[0], 0, 3);
        Tensor g = r == Reduction.NONE ? tensor(dtype, new double[0], 0, 3) : null;
        OnnxLoss spec = OnnxLoss.builder(loss).dtype(dtype).rank(1).withGradient(true).build();
        checkAgainstCore(spec, x, tensor(dtype, new double[0], 0, 3), g);
        Tensor l = run(spec.export(), feeds(x, tensor(dtype, new double[0], 0, 3), g)).get("loss");
        if (r == Reduction.MEAN) {
          assertTrue(Double.isNaN(l.getDouble(0)), "mean of nothing: NaN, as libtorch");
        } else if (r == Reduction.SUM) {
          assertEquals(0.0, l.getDouble(0), "sum of nothing: 0");
        }
      }
    }
  }

  /**
   * The saturated cases, derived from the formulas: x = 0 with y = 1 and x = 1 with y = 0 cost exactly 100 (the
   * clamped log), the gradient there is ∓1/ε with ε = (float) 1e-12; x = y in {0, 1} costs 0 with gradient 0.
   */
  @Test
  void theClampsGiveLibtorchsValuesAtExactZeroAndOne() throws OrtException {
    float[] x = {0, 1, 0, 1};
    float[] y = {1, 0, 0, 1};
    OnnxLoss spec = OnnxLoss.builder(BceLoss.builder().reduction(Reduction.NONE).build()).withGradient(true).build();
    Map<String, Tensor> out = run(spec.export(), Map.of("input", Tensor.of(x, 4), "target", Tensor.of(y, 4),
        "grad_output", Tensor.of(new float[] {1, 1, 1, 1}, 4)));
    float eps = (float) 1e-12;
    float[] loss = {100, 100, 0, 0};
    float[] grad = {-1 / eps, 1 / eps, 0, 0};
    for (int i = 0; i < 4; i++) {
      // a delta of 0 compares values, so that -0 (which libtorch's formula also gives for x = y = 1) equals 0
      assertEquals(loss[i], out.get("loss").toFloatArray()[i], 0f, "loss[" + i + "]");
      assertEquals(grad[i], out.get("grad_input").toFloatArray()[i], 0f, "grad_input[" + i + "]");
    }
  }

  /**
   * ONNX has no assert, so the graph cannot reject probabilities outside [0, 1] as the core does: it runs, gives
   * tensors of the right shapes, and the elements that are in range are still the core's (the loss is elementwise).
   * What it gives for the others is whatever the formulas give (NaN where a log's argument is negative); that is
   * documented, not asserted.
   */
  @Test
  void outsideZeroOneTheGraphComputesNumbersWhereTheCoreRejects() throws OrtException {
    float[] x = {-0.5f, 1.5f, Float.NaN, 0.25f, 0.75f, 0.5f, Float.POSITIVE_INFINITY, 0.1f};
    float[] y = {0, 1, 0, 2, -1, Float.NaN, 1, 0.3f};
    BceLoss none = BceLoss.builder().reduction(Reduction.NONE).build();
    Tensor input = Tensor.of(x, 8);
    Tensor target = Tensor.of(y, 8);
    assertEquals(Cause.PROBABILITY_RANGE, assertThrows(LossArgumentException.class,
        () -> none.forward(input, target)).cause());
    float[] ones = new float[8];
    java.util.Arrays.fill(ones, 1);
    for (Reduction r : Reduction.values()) {
      OnnxLoss spec = OnnxLoss.builder(BceLoss.builder().reduction(r).build()).withGradient(true).build();
      Map<String, Tensor> feeds = new HashMap<>(Map.of("input", input, "target", target));
      if (r == Reduction.NONE) {
        feeds.put("grad_output", Tensor.of(ones, 8));
      }
      Map<String, Tensor> out = run(spec.export(), feeds);
      assertArrayEquals(r == Reduction.NONE ? new int[] {8} : new int[0], out.get("loss").shape());
      assertArrayEquals(new int[] {8}, out.get("grad_input").shape());
      if (r == Reduction.NONE) {
        LossResult inRange = none.forwardBackward(Tensor.of(new float[] {x[7]}, 1), Tensor.of(new float[] {y[7]}, 1),
            Tensor.of(new float[] {1}, 1));
        assertEquals(inRange.loss().getDouble(0), out.get("loss").getDouble(7), 1e-5);
        assertEquals(inRange.gradInput().getDouble(0), out.get("grad_input").getDouble(7), 1e-5);
      }
    }
  }

  /** A model whose output holds probabilities: features (N, 3) through {@code Sigmoid} to {@code probs}. */
  static ModelProto sigmoidModel(int opset) {
    TypeProto type = TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
        .setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(TensorShapeProto.newBuilder()
            .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("batch"))
            .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(3)))).build();
    GraphProto g = GraphProto.newBuilder().setName("multilabel")
        .addInput(ValueInfoProto.newBuilder().setName("features").setType(type))
        .addNode(NodeProto.newBuilder().setOpType("Sigmoid").setName("sigmoid").addInput("features")
            .addOutput("probs"))
        .addOutput(ValueInfoProto.newBuilder().setName("probs").setType(type)).build();
    return ModelProto.newBuilder().setIrVersion(OnnxLoss.irVersionFor(opset)).setGraph(g)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset)).build();
  }

  /**
   * Attached after a Sigmoid, at the lowest and highest opsets: the loss and {@code grad_probs} are the core's on the
   * probabilities ONNX Runtime computed, including logits large enough that float32's sigmoid is exactly 0 or 1.
   */
  @TestFactory
  Stream<DynamicTest> attachedAfterASigmoidItGivesTheCoresLossAndGradient() {
    return IntStream.of(11, 17, 26).boxed().flatMap(opset -> Stream.of(Reduction.values()).map(r ->
        DynamicTest.dynamicTest("opset " + opset + ", " + r.pytorchName(), () -> {
          BceLoss loss = BceLoss.builder().reduction(r).weight(0.5, 2, 1.25).build();
          ModelProto model = sigmoidModel(opset);
          OnnxLoss.Attached attached = OnnxLoss.builder(loss).withGradient(true).build()
              .attach(model, "probs", "labels");
          ModelProto m = attached.model();
          assertEquals(List.of(), attached.notes());
          assertEquals(model.getOpsetImportList(), m.getOpsetImportList(), "the model's opset is kept");
          assertEquals(model.getGraph().getNode(0), m.getGraph().getNode(0), "the model's node is kept");
          List<String> inputs = m.getGraph().getInputList().stream().map(ValueInfoProto::getName).toList();
          List<String> outputs = m.getGraph().getOutputList().stream().map(ValueInfoProto::getName).toList();
          assertEquals(r == Reduction.NONE ? List.of("features", "labels", "grad_output")
              : List.of("features", "labels"), inputs);
          assertEquals(List.of("probs", "loss", "grad_probs"), outputs);

          float[] features = {-120, 0.5f, 3, 40, -2, 0, -17, 1e-3f, 95};
          float[] labels = {0, 1, 1, 1, 0.25f, 0.5f, 1, 0, 0};
          float[] g = {1, -0.5f, 2, 0.25f, 1, 1, 3, -1, 0.5f};
          Map<String, Tensor> feeds = new HashMap<>(Map.of("features", Tensor.of(features, 3, 3),
              "labels", Tensor.of(labels, 3, 3)));
          if (r == Reduction.NONE) {
            feeds.put("grad_output", Tensor.of(g, 3, 3));
          }
          Map<String, Tensor> out = run(m, feeds);
          Tensor probs = out.get("probs");
          assertEquals(0.0, probs.getDouble(0), "sigmoid(-120) is exactly 0 in float32");
          assertEquals(1.0, probs.getDouble(8), "sigmoid(95) is exactly 1 in float32");
          LossResult expected = loss.forwardBackward(probs, Tensor.of(labels, 3, 3),
              r == Reduction.NONE ? Tensor.of(g, 3, 3) : null);
          close(expected.loss(), out.get("loss"), FLOAT32, "loss");
          close(expected.gradInput(), out.get("grad_probs"), FLOAT32, "grad_probs");
        })));
  }

  @Test
  void attachChecksTheWeightAgainstTheOutputsDeclaredShape() {
    LossArgumentException e = assertThrows(LossArgumentException.class, () -> OnnxLoss.builder(
        BceLoss.builder().weight(1, 2).build()).build().attach(sigmoidModel(17), "probs", "labels"));
    assertEquals(Cause.WEIGHT_SHAPE, e.cause());
    assertTrue(e.getMessage().contains("[2]") && e.getMessage().contains("'probs'"), e.getMessage());
  }

  /**
   * A weight with more dimensions than the standalone graph's input would make ONNX's Mul broadcast the loss to a
   * larger shape, where the core rejects it: the exporter refuses it, naming the shapes.
   */
  @Test
  void exportRefusesAWeightOfHigherRankThanTheInput() {
    BceLoss loss = BceLoss.builder().weight(Tensor.of(new double[12], 2, 2, 3)).build();
    assertEquals(Cause.WEIGHT_SHAPE, assertThrows(LossArgumentException.class,
        () -> loss.forward(Tensor.of(new float[6], 2, 3), Tensor.of(new float[6], 2, 3))).cause());
    LossArgumentException e = assertThrows(LossArgumentException.class,
        () -> OnnxLoss.builder(loss).rank(1).build().export());
    assertEquals(Cause.WEIGHT_SHAPE, e.cause());
    assertTrue(e.getMessage().contains("[2, 2, 3]") && e.getMessage().contains("[N, d1]"), e.getMessage());
    assertFalse(e.getMessage().contains("\n"));
    assertEquals(3, OnnxLoss.builder(loss).rank(2).build().export().getGraph().getInput(0).getType()
        .getTensorType().getShape().getDimCount(), "the same weight with an input of rank 3 is exported");
  }

  @Test
  void theGraphHasTheElementwiseInterfaceAndNoLossOperator() {
    OnnxLoss spec = OnnxLoss.builder(BceLoss.builder().reduction(Reduction.NONE).build()).rank(2)
        .dtype(DType.FLOAT64).withGradient(true).build();
    assertFalse(spec.usesOp());
    assertEquals("bce (ONNX has no such operator)", spec.whyNotOp());
    ModelProto m = spec.export();
    GraphProto g = m.getGraph();
    assertEquals(List.of("input", "target", "grad_output"), g.getInputList().stream().map(ValueInfoProto::getName)
        .toList());
    for (ValueInfoProto v : g.getInputList()) {
      assertEquals(TensorProto.DataType.DOUBLE_VALUE, v.getType().getTensorType().getElemType());
      assertEquals(List.of("N", "d1", "d2"), v.getType().getTensorType().getShape().getDimList().stream()
          .map(TensorShapeProto.Dimension::getDimParam).toList());
    }
    assertTrue(g.getNodeList().stream().anyMatch(n -> n.getOpType().equals("Max")), "the clamps are Max nodes");
    assertTrue(g.getNodeList().stream().noneMatch(n -> n.getOpType().contains("Loss")));
  }

  private static double[] uniform(Random random, int n, double lo, double hi) {
    double[] v = new double[n];
    for (int i = 0; i < n; i++) {
      v[i] = lo + (hi - lo) * random.nextDouble();
    }
    return v;
  }

  private static int count(int[] shape) {
    int n = 1;
    for (int d : shape) {
      n *= d;
    }
    return n;
  }
}
