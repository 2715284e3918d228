package dev.losskit.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtSession;
import dev.losskit.core.BceLoss;
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.DType;
import dev.losskit.core.HalfFloats;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossArgumentException.Cause;
import dev.losskit.core.LossResult;
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
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * What a half-precision graph is made of (half inputs and outputs, float32 between Casts, weights rounded to the
 * half dtype), what is refused, and a loss attached to a model whose output is float16 or bfloat16.
 */
class HalfGraphStructureTest {
  private static final int[] HALF_TYPES = {Graph.FLOAT16, Graph.BFLOAT16};

  private static DType dtype(int elem) {
    return elem == Graph.FLOAT16 ? DType.FLOAT16 : DType.BFLOAT16;
  }

  private static int elem(ValueInfoProto v) {
    return v.getType().getTensorType().getElemType();
  }

  private static Map<String, NodeProto> producers(GraphProto g) {
    Map<String, NodeProto> p = new HashMap<>();
    for (NodeProto n : g.getNodeList()) {
      n.getOutputList().forEach(o -> p.put(o, n));
    }
    return p;
  }

  private static long castTo(NodeProto n) {
    assertEquals("Cast", n.getOpType(), n.toString());
    return n.getAttributeList().stream().filter(a -> a.getName().equals("to")).mapToLong(AttributeProto::getI)
        .findFirst().orElseThrow();
  }

  @Test
  void halfInputsAndOutputsAreCastToAndFromFloat32() {
    for (int type : HALF_TYPES) {
      OnnxLoss spec = OnnxLoss.builder(CrossEntropyLoss.builder().reduction(Reduction.NONE).weight(0.3, 1.7, 2.2)
          .build()).probabilityTargets(true).dtype(dtype(type)).rank(1).withGradient(true).build();
      GraphProto g = spec.export().getGraph();
      assertEquals(List.of("input", "target", "grad_output"),
          g.getInputList().stream().map(ValueInfoProto::getName).collect(Collectors.toList()));
      assertEquals(List.of("loss", "grad_input"),
          g.getOutputList().stream().map(ValueInfoProto::getName).collect(Collectors.toList()));
      for (ValueInfoProto v : g.getInputList()) {
        assertEquals(type, elem(v), v.getName());
        List<NodeProto> readers = g.getNodeList().stream().filter(n -> n.getInputList().contains(v.getName()))
            .collect(Collectors.toList());
        assertEquals(1, readers.size(), v.getName() + " is read once, by its Cast");
        assertEquals(Graph.FLOAT, castTo(readers.get(0)), v.getName());
      }
      Map<String, NodeProto> producers = producers(g);
      for (ValueInfoProto v : g.getOutputList()) {
        assertEquals(type, elem(v), v.getName());
        NodeProto identity = producers.get(v.getName());
        assertEquals("Identity", identity.getOpType());
        assertEquals(type, castTo(producers.get(identity.getInput(0))), v.getName() + " is the Cast to half");
      }
      long casts = g.getNodeList().stream().filter(n -> n.getOpType().equals("Cast"))
          .filter(n -> castTo(n) == type).count();
      assertEquals(2, casts, "only the two outputs are cast to the half type");
      assertTrue(g.getInitializerList().stream().noneMatch(t -> t.getDataType() == type),
          "constants are float32");
    }
  }

  @Test
  void anIndexTargetStaysInt64() {
    GraphProto g = OnnxLoss.builder(NllLoss.create()).dtype(DType.FLOAT16).build().export().getGraph();
    assertEquals(Graph.FLOAT16, elem(g.getInput(0)));
    assertEquals(Graph.INT64, elem(g.getInput(1)));
  }

  /** The float32 values of every FLOAT initializer with {@code n} elements. */
  private static List<float[]> floatConstants(GraphProto g, int n) {
    List<float[]> out = new ArrayList<>();
    for (TensorProto t : g.getInitializerList()) {
      if (t.getDataType() == Graph.FLOAT && t.getFloatDataCount() == n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
          v[i] = t.getFloatData(i);
        }
        out.add(v);
      }
    }
    return out;
  }

  private static float round(DType dtype, double v) {
    return dtype == DType.FLOAT16 ? HalfFloats.float16ToFloat(HalfFloats.doubleToFloat16(v))
        : HalfFloats.bfloat16ToFloat(HalfFloats.doubleToBfloat16(v));
  }

  @Test
  void weightsAndPosWeightAreTheHalfRoundedValues() {
    double[] w = {0.3, 1.7, 2.2, 1e-3, 70000};
    double[] p = {2.6, 0.7, 1.3, 0.1, 3.3};
    for (int type : HALF_TYPES) {
      DType dtype = dtype(type);
      float[] wantW = new float[w.length];
      float[] wantP = new float[p.length];
      for (int i = 0; i < w.length; i++) {
        wantW[i] = round(dtype, w[i]);
        wantP[i] = round(dtype, p[i]);
        assertTrue(wantW[i] != (float) w[i] && wantP[i] != (float) p[i],
            "the weights are not half values, so rounding shows: " + w[i] + ", " + p[i]);
      }
      List<GraphProto> graphs = List.of(
          OnnxLoss.builder(CrossEntropyLoss.builder().weight(w).labelSmoothing(0.1).build()).dtype(dtype)
              .withGradient(true).build().export().getGraph(),
          OnnxLoss.builder(NllLoss.builder().weight(w).build()).dtype(dtype).lowering(OnnxLoss.Lowering.OP)
              .build().export().getGraph(),
          OnnxLoss.builder(CrossEntropyLoss.builder().weight(w).build()).probabilityTargets(true).dtype(dtype)
              .build().export().getGraph());
      for (GraphProto g : graphs) {
        List<float[]> found = floatConstants(g, w.length);
        assertFalse(found.isEmpty(), "a weight initializer");
        for (float[] v : found) {
          assertTrue(java.util.Arrays.equals(wantW, v), dtype + ": " + java.util.Arrays.toString(v));
        }
      }
      GraphProto bce = OnnxLoss.builder(BceWithLogitsLoss.builder().weight(w).posWeight(p).build()).dtype(dtype)
          .rank(1).build().export().getGraph();
      List<float[]> found = floatConstants(bce, w.length);
      assertEquals(2, found.size());
      assertTrue(found.stream().anyMatch(v -> java.util.Arrays.equals(v, wantW)), dtype + " weight");
      assertTrue(found.stream().anyMatch(v -> java.util.Arrays.equals(v, wantP)), dtype + " pos_weight");
      GraphProto bceProbabilities = OnnxLoss.builder(BceLoss.builder().weight(w).build()).dtype(dtype).rank(1)
          .build().export().getGraph();
      assertTrue(floatConstants(bceProbabilities, w.length).stream().allMatch(v -> java.util.Arrays.equals(v, wantW)));
    }
  }

  /** libtorch's {@code scalar_t(EPSILON)}: the clamp of BCELoss's gradient denominator, rounded to the dtype. */
  @Test
  void bceGradientClampIsEpsilonInTheHalfDtype() {
    for (int type : HALF_TYPES) {
      DType dtype = dtype(type);
      GraphProto g = OnnxLoss.builder(BceLoss.create()).dtype(dtype).withGradient(true).build().export().getGraph();
      Map<String, TensorProto> constants = g.getInitializerList().stream()
          .collect(Collectors.toMap(TensorProto::getName, t -> t));
      List<Float> clamps = g.getNodeList().stream().filter(n -> n.getOpType().equals("Max"))
          .map(n -> constants.get(n.getInput(1))).filter(t -> t != null && t.getFloatDataCount() == 1)
          .map(t -> t.getFloatData(0)).filter(v -> v != -100f).collect(Collectors.toList());
      float want = round(dtype, BceLoss.EPSILON);
      assertEquals(List.of(want), clamps, dtype.toString());
      assertEquals(dtype == DType.FLOAT16, want == 0f, "0 in float16, not in bfloat16");
    }
  }

  @Test
  void theOpLoweringReadsTheFloat32Cast() {
    for (int type : HALF_TYPES) {
      for (dev.losskit.core.Loss loss : List.of(CrossEntropyLoss.builder().weight(0.3, 1.7).build(),
          NllLoss.create())) {
        OnnxLoss spec = OnnxLoss.builder(loss).dtype(dtype(type)).build();
        assertTrue(spec.usesOp(), "auto takes the op for half too");
        GraphProto g = spec.export().getGraph();
        String op = loss instanceof NllLoss ? "NegativeLogLikelihoodLoss" : "SoftmaxCrossEntropyLoss";
        NodeProto node = g.getNodeList().stream().filter(n -> n.getOpType().equals(op)).findFirst().orElseThrow();
        assertEquals(Graph.FLOAT, castTo(producers(g).get(node.getInput(0))), op + " reads float32");
      }
    }
  }

  private static void refused(Cause cause, org.junit.jupiter.api.function.Executable call, String... mention) {
    LossArgumentException e = assertThrows(LossArgumentException.class, call);
    assertEquals(cause, e.cause(), e.getMessage());
    assertFalse(e.getMessage().contains("\n"), e.getMessage());
    for (String s : mention) {
      assertTrue(e.getMessage().contains(s), "'" + e.getMessage() + "' should mention '" + s + "'");
    }
  }

  @Test
  void refusals() {
    CrossEntropyLoss ce = CrossEntropyLoss.create();
    for (int opset : new int[] {11, 12}) {
      refused(Cause.DTYPE, () -> OnnxLoss.builder(ce).dtype(DType.BFLOAT16).opset(opset).build(), "bfloat16",
          "opset " + opset, "opset 13");
      assertEquals(opset, OnnxLoss.builder(ce).dtype(DType.FLOAT16).opset(opset).build().opset(),
          "float16 at opset " + opset);
    }
    assertEquals(13, OnnxLoss.builder(ce).dtype(DType.BFLOAT16).opset(13).build().opset());
    refused(Cause.DTYPE, () -> OnnxLoss.builder(ce).dtype(DType.INT32).build(), "int32", "float16", "bfloat16");
    refused(Cause.DTYPE, () -> OnnxLoss.builder(ce).dtype(null).build(), "null");
    refused(Cause.MODEL, () -> OnnxLoss.builder(ce).build().attach(halfModel(Graph.BFLOAT16, 12), "logits",
        "labels"), "'logits' is bfloat16", "opset is 12", "opset 13");
    refused(Cause.DTYPE, () -> OnnxLoss.builder(ce).build().attach(halfModel(TensorProto.DataType.INT8_VALUE, 17),
        "logits", "labels"), "INT8", "float16", "bfloat16");
  }

  private static ValueInfoProto value(String name, int elem, Object... dims) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    for (Object d : dims) {
      shape.addDim(d instanceof String ? TensorShapeProto.Dimension.newBuilder().setDimParam((String) d)
          : TensorShapeProto.Dimension.newBuilder().setDimValue((Integer) d));
    }
    return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
        TypeProto.Tensor.newBuilder().setElemType(elem).setShape(shape))).build();
  }

  static final float[] W = {0.5f, -1f, 0.25f, 2f, -0.75f, 1.5f, 1f, 0.5f, -2f, 0.125f, -0.5f, 1.25f};
  static final float[] B = {0.1f, -0.2f, 0.3f};

  /**
   * A linear classifier whose output is half, as a model converted to float16 (or bfloat16) output is: features
   * (batch, 4) float32, {@code MatMul} and {@code Add} in float32, then {@code Cast} to the half type as
   * {@code logits} (batch, 3). ONNX Runtime's CPU provider runs all of it for both half types.
   */
  static ModelProto halfModel(int elem, long opset) {
    TensorProto w = TensorProto.newBuilder().setName("W").setDataType(Graph.FLOAT).addDims(4).addDims(3).build();
    TensorProto.Builder wb = w.toBuilder();
    for (float v : W) {
      wb.addFloatData(v);
    }
    TensorProto.Builder bb = TensorProto.newBuilder().setName("B").setDataType(Graph.FLOAT).addDims(3);
    for (float v : B) {
      bb.addFloatData(v);
    }
    GraphProto g = GraphProto.newBuilder().setName("half_classifier")
        .addInput(value("features", Graph.FLOAT, "batch", 4))
        .addInitializer(wb).addInitializer(bb)
        .addNode(NodeProto.newBuilder().setOpType("MatMul").setName("matmul").addInput("features").addInput("W")
            .addOutput("xw"))
        .addNode(NodeProto.newBuilder().setOpType("Add").setName("add").addInput("xw").addInput("B")
            .addOutput("scores"))
        .addNode(NodeProto.newBuilder().setOpType("Cast").setName("to_half").addInput("scores").addOutput("logits")
            .addAttribute(AttributeProto.newBuilder().setName("to").setType(AttributeProto.AttributeType.INT)
                .setI(elem)))
        .addOutput(value("logits", elem, "batch", 3))
        .build();
    return ModelProto.newBuilder().setIrVersion(OnnxLoss.irVersionFor((int) Math.max(opset, 11))).setGraph(g)
        .setProducerName("HalfGraphStructureTest")
        .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(opset)).build();
  }

  /**
   * A half-output model gets a half loss: cross-entropy with class indices (every option) and BCE with logits on
   * the same output, run in ONNX Runtime, against the core on the model's own half logits.
   */
  @Test
  void attachedToAHalfOutputModelItGivesTheCoresHalfLossAndGradient() throws Exception {
    int rows = 6;
    float[] features = new float[rows * 4];
    Random random = new Random(3);
    for (int i = 0; i < features.length; i++) {
      features[i] = (float) (2 * random.nextGaussian());
    }
    long[] labels = {2, 0, 1, 1, 2, 0};
    for (int type : HALF_TYPES) {
      DType dtype = dtype(type);
      for (int opset : type == Graph.FLOAT16 ? new int[] {11, 17} : new int[] {13, 26}) {
        ModelProto model = halfModel(type, opset);
        CrossEntropyLoss ce = CrossEntropyLoss.builder().weight(0.3, 1.7, 2.2).ignoreIndex(1).labelSmoothing(0.1)
            .build();
        BceWithLogitsLoss bce = BceWithLogitsLoss.builder().reduction(Reduction.SUM).weight(0.3, 1.7, 2.2)
            .posWeight(2.6, 0.7, 1.3).build();
        // The exporter's own dtype (float32 here) does not matter: the model's output decides.
        for (dev.losskit.core.Loss loss : List.<dev.losskit.core.Loss>of(ce, bce)) {
          OnnxLoss.Attached attached = OnnxLoss.builder(loss).withGradient(true).build()
              .attach(model, "logits", "labels");
          GraphProto g = attached.model().getGraph();
          assertEquals(opset, attached.model().getOpsetImport(0).getVersion(), "the model's opset is kept");
          ValueInfoProto labelsInput = g.getInputList().stream().filter(v -> v.getName().equals("labels"))
              .findFirst().orElseThrow();
          assertEquals(loss == ce ? Graph.INT64 : type, elem(labelsInput));
          for (ValueInfoProto out : g.getOutputList()) {
            assertEquals(type, elem(out), out.getName());
          }
          Map<String, OnnxTensor> feeds = new HashMap<>();
          Tensor target = loss == ce ? Tensor.of(labels, rows)
              : Tensor.rounded(new double[] {1, 0, 0.25, 0, 1, 1, 0.5, 0.75, 0, 1, 0, 0.125, 1, 1, 0, 0, 0.5, 1},
                  dtype, rows, 3);
          try (OrtSession s = OnnxHalfTest.ENV.createSession(attached.modelBytes(), OnnxHalfTest.OPTIONS)) {
            feeds.put("features", OnnxTensor.createTensor(OnnxHalfTest.ENV, FloatBuffer.wrap(features),
                new long[] {rows, 4}));
            feeds.put("labels", loss == ce
                ? OnnxTensor.createTensor(OnnxHalfTest.ENV, LongBuffer.wrap(labels), new long[] {rows})
                : HalfIo.tensor(OnnxHalfTest.ENV, target));
            try (OrtSession.Result r = s.run(feeds)) {
              Tensor logits = HalfIo.read((OnnxTensor) r.get("logits").orElseThrow(), dtype);
              LossResult core = loss.forwardBackward(logits, target);
              String what = loss.name() + " on a " + dtype + " model at opset " + opset;
              OnnxHalfTest.assertClose(what + ": loss", dtype, core.loss(),
                  HalfIo.read((OnnxTensor) r.get("loss").orElseThrow(), dtype));
              OnnxHalfTest.assertClose(what + ": gradient", dtype, core.gradInput(),
                  HalfIo.read((OnnxTensor) r.get("grad_logits").orElseThrow(), dtype));
            }
          } finally {
            feeds.values().forEach(OnnxTensor::close);
          }
        }
      }
    }
  }
}
