package dev.losskit.onnx;

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
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossArgumentException.Cause;
import dev.losskit.core.LossResult;
import dev.losskit.core.Loss;
import dev.losskit.core.NllLoss;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
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
 * Every opset from 11 to the highest: each loss, exported at that opset, run in ONNX Runtime, gives the core's loss
 * and gradient at float32 tolerance, with K-dimensional inputs (N, C, d1, d2), weights, ignore_index, label
 * smoothing, probability targets, pos_weight, BCELoss on probabilities with a broadcast weight, every reduction and
 * both lowerings where the opset has ONNX's loss operators. The operator forms that differ below opset 13 (axes as attributes, LogSoftmax's 2-D coercion) are
 * exercised at 11 and 12; the upper end is pinned to what ONNX Runtime accepts.
 */
class OnnxLossOpsetTest {
  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();
  private static final OrtSession.SessionOptions OPTIONS = new OrtSession.SessionOptions();
  private static final int N = 2;
  private static final int C = 3;
  private static final int D1 = 2;
  private static final int D2 = 3;

  @AfterAll
  static void close() {
    OPTIONS.close();
  }

  /** One exported configuration: the loss, its shape and how it is lowered. */
  private record Case(String name, Loss loss, boolean probabilities, int rank, OnnxLoss.Lowering lowering) {}

  private static List<Case> cases(Reduction r) {
    CrossEntropyLoss smoothed = CrossEntropyLoss.builder().reduction(r).weight(1, 0.5, 2).ignoreIndex(1)
        .labelSmoothing(0.1).build();
    CrossEntropyLoss plain = CrossEntropyLoss.builder().reduction(r).weight(0.5, 2, 1).ignoreIndex(1).build();
    NllLoss nll = NllLoss.builder().reduction(r).weight(2, 1, 0.5).ignoreIndex(2).build();
    BceWithLogitsLoss bce = BceWithLogitsLoss.builder().reduction(r)
        .weight(Tensor.of(new double[] {0.5, 2}, 2, 1)).posWeight(3, 1, 0.5).build();
    List<Case> out = new ArrayList<>();
    out.add(new Case("cross_entropy, smoothing, K-dim", smoothed, false, 2, OnnxLoss.Lowering.AUTO));
    out.add(new Case("cross_entropy, smoothing, (N, C)", smoothed, false, 0, OnnxLoss.Lowering.AUTO));
    out.add(new Case("cross_entropy, K-dim, primitives", plain, false, 2, OnnxLoss.Lowering.PRIMITIVES));
    out.add(new Case("cross_entropy, K-dim, auto", plain, false, 2, OnnxLoss.Lowering.AUTO));
    out.add(new Case("cross_entropy, probabilities, K-dim",
        CrossEntropyLoss.builder().reduction(r).weight(1, 0.5, 2).labelSmoothing(0.2).build(), true, 2,
        OnnxLoss.Lowering.AUTO));
    out.add(new Case("nll_loss, K-dim, primitives", nll, false, 2, OnnxLoss.Lowering.PRIMITIVES));
    out.add(new Case("nll_loss, K-dim, auto", nll, false, 2, OnnxLoss.Lowering.AUTO));
    out.add(new Case("bce_with_logits, K-dim, pos_weight", bce, false, 2, OnnxLoss.Lowering.AUTO));
    out.add(new Case("bce, K-dim, weight", BceLoss.builder().reduction(r).weight(Tensor.of(new double[] {0.5, 2}, 2, 1))
        .build(), false, 2, OnnxLoss.Lowering.AUTO));
    return out;
  }

  @TestFactory
  Stream<DynamicNode> everyOpsetGivesTheCoresLossAndGradient() {
    assertEquals(11, OnnxLoss.MIN_OPSET);
    return IntStream.rangeClosed(OnnxLoss.MIN_OPSET, OnnxLoss.MAX_OPSET).mapToObj(opset -> {
      List<DynamicTest> tests = new ArrayList<>();
      for (Reduction r : Reduction.values()) {
        for (Case c : cases(r)) {
          tests.add(DynamicTest.dynamicTest(c.name() + ", " + r.pytorchName(), () -> check(opset, c)));
        }
      }
      return DynamicContainer.dynamicContainer("opset " + opset, tests);
    });
  }

  private static void check(int opset, Case c) throws OrtException {
    OnnxLoss spec = OnnxLoss.builder(c.loss()).probabilityTargets(c.probabilities()).rank(c.rank()).opset(opset)
        .lowering(c.lowering()).withGradient(true).build();
    boolean bce = c.loss() instanceof BceWithLogitsLoss || c.loss() instanceof BceLoss;
    boolean op = c.lowering() == OnnxLoss.Lowering.AUTO && !c.probabilities() && !bce
        && !(c.loss() instanceof CrossEntropyLoss ce && ce.labelSmoothing() > 0) && opset >= 12;
    assertEquals(op, spec.usesOp(), "ONNX's loss operators from opset 12, where they are exact");
    ModelProto model = spec.export();
    assertEquals(opset, model.getOpsetImport(0).getVersion());
    assertEquals(IR_VERSION_OF_OPSET[opset], model.getIrVersion());
    checkOperatorForms(model.getGraph(), opset, !bce && !c.probabilities());

    int[] inShape = bce ? new int[] {N, D1, D2} : c.rank() == 2 ? new int[] {N, C, D1, D2} : new int[] {N, C};
    int[] positions = bce ? inShape : c.rank() == 2 ? new int[] {N, D1, D2} : new int[] {N};
    Random random = new Random(opset * 31L + c.name().hashCode());
    // BCELoss takes probabilities: every fifth one exactly 0 or 1, where its logs are clamped at -100.
    float[] x = c.loss() instanceof BceLoss ? randoms(random, count(inShape), 0, 1) : randoms(random, count(inShape), -3, 3);
    if (c.loss() instanceof BceLoss) {
      for (int i = 0; i < x.length; i += 5) {
        x[i] = (i / 5) % 2;
      }
    }
    Tensor target;
    OnnxTensor ortTarget;
    Map<String, OnnxTensor> feeds = new HashMap<>();
    try {
      if (bce || c.probabilities()) {
        float[] t = randoms(random, count(inShape), 0, 1);
        target = Tensor.of(t, inShape);
        ortTarget = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(t), longs(inShape));
      } else {
        long[] t = new long[count(positions)];
        for (int i = 0; i < t.length; i++) {
          t[i] = i % 4 == 0 ? 1 : i % 4 == 1 ? 2 : random.nextInt(C);  // every class, and the ignored one
        }
        target = Tensor.of(t, positions);
        ortTarget = OnnxTensor.createTensor(ENV, LongBuffer.wrap(t), longs(positions));
      }
      feeds.put("target", ortTarget);
      feeds.put("input", OnnxTensor.createTensor(ENV, FloatBuffer.wrap(x), longs(inShape)));
      Tensor gradOutput = null;
      if (c.loss().reduction() == Reduction.NONE) {
        float[] g = randoms(random, count(positions), -2, 2);
        gradOutput = Tensor.of(g, positions);
        feeds.put("grad_output", OnnxTensor.createTensor(ENV, FloatBuffer.wrap(g), longs(positions)));
      }
      LossResult expected = c.loss().forwardBackward(Tensor.of(x, inShape), target, gradOutput);
      try (OrtSession s = ENV.createSession(model.toByteArray(), OPTIONS); OrtSession.Result r = s.run(feeds)) {
        close(expected.loss().toDoubleArray(), floats(r, "loss"), "loss");
        close(expected.gradInput().toDoubleArray(), floats(r, "grad_input"), "grad_input");
      }
    } finally {
      feeds.values().forEach(OnnxTensor::close);
    }
  }

  /** Axes are attributes before opset 13 and inputs from 13; ONNX's loss ops exist only from 12. */
  private static void checkOperatorForms(GraphProto graph, int opset, boolean classLoss) {
    int withAxes = 0;
    for (NodeProto n : graph.getNodeList()) {
      String type = n.getOpType();
      boolean axesAttribute = n.getAttributeList().stream().anyMatch(a -> a.getName().equals("axes"));
      if (type.equals("Unsqueeze") || type.equals("Squeeze")) {
        assertEquals(opset < 13, axesAttribute, type + " at opset " + opset);
        assertEquals(opset < 13 ? 1 : 2, n.getInputCount(), type + " at opset " + opset);
        withAxes++;
      }
      if (type.equals("ReduceSum") && opset < 13) {
        assertEquals(1, n.getInputCount(), "ReduceSum at opset " + opset);
      }
      if (type.equals("ReduceSum") && opset >= 13) {
        assertFalse(axesAttribute, "ReduceSum at opset " + opset);
      }
      if (type.equals("SoftmaxCrossEntropyLoss") || type.equals("NegativeLogLikelihoodLoss")) {
        assertTrue(opset >= 12, type + " at opset " + opset);
      }
    }
    assertTrue(withAxes > 0 || !classLoss, "a class loss's graph has an Unsqueeze or Squeeze to check");
  }

  /**
   * ONNX's {@code VERSION_TABLE} ({@code onnx/helper.py}): the IR version of the first release with each opset,
   * 1.6.0 (opset 11, IR 6) to 1.21.0 (opset 26, IR 13).
   */
  private static final int[] IR_VERSION_OF_OPSET = {
      -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 6, 7, 7, 7, 8, 8, 8, 8, 9, 9, 10, 10, 11, 12, 13, 13};

  @Test
  void theIrVersionIsOnnxsForEachOpset() {
    for (int opset = OnnxLoss.MIN_OPSET; opset <= OnnxLoss.MAX_OPSET; opset++) {
      assertEquals(IR_VERSION_OF_OPSET[opset], OnnxLoss.irVersionFor(opset), "opset " + opset);
    }
    assertEquals(Cause.OPTION, assertThrows(LossArgumentException.class, () -> OnnxLoss.irVersionFor(10)).cause());
  }

  /** A one-node model (y = x + x) at an opset, the IR version ONNX gives it. */
  private static ModelProto addModel(int opset, int ir) {
    TypeProto type = TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
        .setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(TensorShapeProto.newBuilder()
            .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(2)))).build();
    GraphProto g = GraphProto.newBuilder().setName("add")
        .addInput(ValueInfoProto.newBuilder().setName("x").setType(type))
        .addNode(NodeProto.newBuilder().setOpType("Add").addInput("x").addInput("x").addOutput("y"))
        .addOutput(ValueInfoProto.newBuilder().setName("y").setType(type)).build();
    return ModelProto.newBuilder().setIrVersion(ir).setGraph(g)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset)).build();
  }

  /**
   * The upper end is ONNX Runtime's: it loads a model at {@link OnnxLoss#MAX_OPSET} and refuses the next opset, so
   * a runtime upgrade that supports more fails here rather than going unnoticed.
   */
  @Test
  void onnxRuntimeRefusesTheOpsetAfterTheHighest() throws OrtException {
    try (OrtSession s = ENV.createSession(addModel(OnnxLoss.MAX_OPSET, IR_VERSION_OF_OPSET[OnnxLoss.MAX_OPSET]).toByteArray(), OPTIONS)) {
      assertEquals(List.of("y"), new ArrayList<>(s.getOutputNames()));
    }
    OrtException e = assertThrows(OrtException.class,
        () -> ENV.createSession(addModel(OnnxLoss.MAX_OPSET + 1, IR_VERSION_OF_OPSET[OnnxLoss.MAX_OPSET]).toByteArray(), OPTIONS).close());
    assertTrue(e.getMessage().contains("Opset " + (OnnxLoss.MAX_OPSET + 1) + " is under development"),
        e.getMessage());
    assertTrue(e.getMessage().contains("is till opset " + OnnxLoss.MAX_OPSET), e.getMessage());
  }

  /** A float (N, 3) logits model at an opset: Identity on the input, as a stand-in for a classifier. */
  private static ModelProto logitsModel(int opset, int ir) {
    ModelProto m = addModel(opset, ir);
    TypeProto logits = TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
        .setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(TensorShapeProto.newBuilder()
            .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("N"))
            .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(C))
            .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(D1)))).build();
    GraphProto g = GraphProto.newBuilder().setName("m")
        .addInput(ValueInfoProto.newBuilder().setName("x").setType(logits))
        .addNode(NodeProto.newBuilder().setOpType("Identity").setName("id").addInput("x").addOutput("logits"))
        .addOutput(ValueInfoProto.newBuilder().setName("logits").setType(logits)).build();
    return m.toBuilder().setGraph(g).build();
  }

  @TestFactory
  Stream<DynamicTest> attachKeepsTheModelsOpsetAndRaisesOnlyALowIrVersion() {
    return IntStream.rangeClosed(OnnxLoss.MIN_OPSET, OnnxLoss.MAX_OPSET).mapToObj(opset ->
        DynamicTest.dynamicTest("opset " + opset, () -> {
          ModelProto original = logitsModel(opset, 3);
          CrossEntropyLoss ce = CrossEntropyLoss.builder().weight(1, 2, 0.5).labelSmoothing(0.1).build();
          OnnxLoss.Attached attached = OnnxLoss.builder(ce).opset(OnnxLoss.DEFAULT_OPSET).withGradient(true).build()
              .attach(original, "logits", "labels");
          ModelProto m = attached.model();
          assertEquals(List.of("raised the IR version from 3 to " + IR_VERSION_OF_OPSET[opset] + ", opset " + opset
              + "'s"), attached.notes());
          assertEquals(original.getOpsetImportList(), m.getOpsetImportList());
          assertEquals(original.getGraph().getNode(0), m.getGraph().getNode(0));
          assertEquals(IR_VERSION_OF_OPSET[opset], m.getIrVersion(), "IR 3 is raised to the opset's");
          assertEquals(14, OnnxLoss.builder(ce).build().attach(logitsModel(opset, 14), "logits", "labels")
              .model().getIrVersion(), "a higher IR version is kept");
          checkOperatorForms(m.getGraph(), opset, true);

          float[] x = randoms(new Random(opset), N * C * D1, -3, 3);
          long[] labels = {0, 2, 1, 1};
          try (OrtSession s = ENV.createSession(m.toByteArray(), OPTIONS);
              OnnxTensor tx = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(x), new long[] {N, C, D1});
              OnnxTensor ty = OnnxTensor.createTensor(ENV, LongBuffer.wrap(labels), new long[] {N, D1});
              OrtSession.Result r = s.run(Map.of("x", tx, "labels", ty))) {
            LossResult expected = ce.forwardBackward(Tensor.of(x, N, C, D1), Tensor.of(labels, N, D1));
            close(expected.loss().toDoubleArray(), floats(r, "loss"), "loss");
            close(expected.gradInput().toDoubleArray(), floats(r, "grad_logits"), "grad_logits");
          }
        }));
  }

  @Test
  void attachRefusesAModelOutsideTheRangeNamingItsOpset() {
    for (int opset : new int[] {10, OnnxLoss.MAX_OPSET + 1}) {
      LossArgumentException e = assertThrows(LossArgumentException.class, () -> OnnxLoss
          .builder(CrossEntropyLoss.create()).build().attach(logitsModel(opset, 8), "logits", "labels"));
      assertEquals(Cause.MODEL, e.cause());
      assertTrue(e.getMessage().contains("opset is " + opset), e.getMessage());
      assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }
  }

  @Test
  void attachAddsADefaultDomainImportOnlyWhereTheModelHasNone() throws OrtException {
    ModelProto noImport = logitsModel(17, 8).toBuilder().clearOpsetImport()
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("ai.onnx.ml").setVersion(3)).build();
    OnnxLoss.Attached a = OnnxLoss.builder(NllLoss.create()).opset(15).build().attach(noImport, "logits", "labels");
    assertEquals(1, a.notes().size(), a.notes().toString());
    assertTrue(a.notes().get(0).contains("opset import at 15"), a.notes().toString());
    assertEquals(List.of("ai.onnx.ml:3", ":15"), a.model().getOpsetImportList().stream()
        .map(o -> o.getDomain() + ":" + o.getVersion()).toList());
  }

  @Test
  void theOpLoweringIsRefusedBelowOpset12AndAutoFallsBack() {
    LossArgumentException e = assertThrows(LossArgumentException.class, () -> OnnxLoss.builder(NllLoss.create())
        .opset(11).lowering(OnnxLoss.Lowering.OP).build());
    assertEquals(Cause.OPTION, e.cause());
    assertTrue(e.getMessage().contains("opset 11"), e.getMessage());
    OnnxLoss auto = OnnxLoss.builder(CrossEntropyLoss.create()).opset(11).build();
    assertFalse(auto.usesOp());
    assertTrue(auto.export().getGraph().getNodeList().stream()
        .noneMatch(n -> n.getOpType().equals("SoftmaxCrossEntropyLoss")));
    assertTrue(OnnxLoss.builder(CrossEntropyLoss.create()).opset(12).build().export().getGraph().getNodeList()
        .stream().anyMatch(n -> n.getOpType().equals("SoftmaxCrossEntropyLoss")));
  }

  private static void close(double[] expected, float[] actual, String what) {
    assertEquals(expected.length, actual.length, what + " size");
    for (int i = 0; i < expected.length; i++) {
      double tolerance = 2e-5 + 2e-5 * Math.abs(expected[i]);
      assertTrue(Math.abs(expected[i] - actual[i]) <= tolerance,
          what + "[" + i + "]: expected " + expected[i] + ", ONNX Runtime gave " + actual[i]);
    }
  }

  private static float[] floats(OrtSession.Result r, String name) {
    FloatBuffer b = ((OnnxTensor) r.get(name).orElseThrow()).getFloatBuffer();
    float[] v = new float[b.remaining()];
    b.get(v);
    return v;
  }

  private static float[] randoms(Random random, int n, double lo, double hi) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (lo + (hi - lo) * random.nextDouble());
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

  private static long[] longs(int[] shape) {
    return IntStream.of(shape).asLongStream().toArray();
  }
}
