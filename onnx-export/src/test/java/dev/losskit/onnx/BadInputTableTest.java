package dev.losskit.onnx;

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
import dev.losskit.core.BceLoss;
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.DType;
import dev.losskit.core.NllLoss;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.function.Executable;

/** The exporter's bad inputs as a table: each an IllegalArgumentException with one line naming the value. */
class BadInputTableTest {
  private static ValueInfoProto value(String name, int elem, Object... dims) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    for (Object d : dims) {
      shape.addDim(d instanceof String ? TensorShapeProto.Dimension.newBuilder().setDimParam((String) d)
          : TensorShapeProto.Dimension.newBuilder().setDimValue((Integer) d));
    }
    return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
        TypeProto.Tensor.newBuilder().setElemType(elem).setShape(shape))).build();
  }

  /** x (batch, 3) float to logits (batch, 3), ids (batch) int64 and flat (batch) float. */
  private static ModelProto model() {
    return model(17);
  }

  /** A tensor whose data lives in {@code NAME.bin}, beside the model. */
  private static TensorProto externalTensor(String name) {
    return TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE).addDims(3)
        .setDataLocation(TensorProto.DataLocation.EXTERNAL).addExternalData(
            ai.onnx.proto.OnnxMl.StringStringEntryProto.newBuilder().setKey("location").setValue(name + ".bin"))
        .build();
  }

  private static ModelProto model(long opset) {
    int f = TensorProto.DataType.FLOAT_VALUE;
    GraphProto g = GraphProto.newBuilder().setName("m")
        .addInput(value("x", f, "batch", 3))
        .addNode(NodeProto.newBuilder().setOpType("Identity").addInput("x").addOutput("logits"))
        .addNode(NodeProto.newBuilder().setOpType("ArgMax").addInput("x").addOutput("ids"))
        .addNode(NodeProto.newBuilder().setOpType("ReduceSum").addInput("x").addOutput("flat"))
        .addOutput(value("logits", f, "batch", 3))
        .addOutput(value("ids", TensorProto.DataType.INT64_VALUE, "batch"))
        .addOutput(value("flat", f, "batch"))
        .build();
    return ModelProto.newBuilder().setIrVersion(8).setGraph(g)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(opset)).build();
  }

  /** A tagger: x (batch, time, 3) float to logits (batch, time, 3), class last. */
  static ModelProto tagger() {
    int f = TensorProto.DataType.FLOAT_VALUE;
    GraphProto g = GraphProto.newBuilder().setName("tagger")
        .addInput(value("x", f, "batch", "time", 3))
        .addNode(NodeProto.newBuilder().setOpType("Identity").addInput("x").addOutput("logits"))
        .addOutput(value("logits", f, "batch", "time", 3))
        .build();
    return ModelProto.newBuilder().setIrVersion(8).setGraph(g)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(17)).build();
  }

  private static DynamicTest bad(String name, Executable call, String... mention) {
    return DynamicTest.dynamicTest(name, () -> {
      String m = assertThrows(IllegalArgumentException.class, call).getMessage();
      assertFalse(m.contains("\n"), m);
      for (String s : mention) {
        assertTrue(m.contains(s), "'" + m + "' should mention '" + s + "'");
      }
    });
  }

  @TestFactory
  Stream<DynamicTest> everyBadInputIsOneClearLine() {
    CrossEntropyLoss ce = CrossEntropyLoss.create();
    return Stream.of(
        bad("opset below 11", () -> OnnxLoss.builder(ce).opset(10).build(), "opset 10"),
        bad("opset above 26", () -> OnnxLoss.builder(ce).opset(27).build(), "opset 27"),
        bad("the op lowering below opset 12", () -> OnnxLoss.builder(ce).opset(11).lowering(OnnxLoss.Lowering.OP)
            .build(), "opset 11", "op lowering"),
        bad("negative rank", () -> OnnxLoss.builder(ce).rank(-1).build(), "rank -1"),
        bad("rank too large", () -> OnnxLoss.builder(ce).rank(9).build(), "rank 9"),
        bad("integer dtype", () -> OnnxLoss.builder(ce).dtype(DType.INT64).build(), "int64"),
        bad("probability targets for NLL", () -> OnnxLoss.builder(NllLoss.create()).probabilityTargets(true)
            .build(), "nll_loss"),
        bad("probability targets with ignoreIndex >= 0", () -> OnnxLoss.builder(
            CrossEntropyLoss.builder().ignoreIndex(0).build()).probabilityTargets(true).build(), "ignoreIndex=0"),
        bad("the op lowering for label smoothing", () -> OnnxLoss.builder(
            CrossEntropyLoss.builder().labelSmoothing(0.1).build()).lowering(OnnxLoss.Lowering.OP).build(),
            "op lowering"),
        bad("no loss", () -> OnnxLoss.builder(null).build(), "loss"),
        bad("attach: a missing output", () -> OnnxLoss.builder(ce).build().attach(model(), "scores", "labels"),
            "no output 'scores'", "logits"),
        bad("attach: a labels name in use", () -> OnnxLoss.builder(ce).build().attach(model(), "logits", "x"),
            "'x'"),
        bad("attach: integer logits", () -> OnnxLoss.builder(ce).build().attach(model(), "ids", "labels"),
            "INT64"),
        bad("attach: logits without a class dimension", () -> OnnxLoss.builder(ce).build().attach(model(), "flat",
            "labels"), "rank 1"),
        bad("attach: a class weight of the wrong length", () -> OnnxLoss.builder(
            CrossEntropyLoss.builder().weight(1, 2).build()).build().attach(model(), "logits", "labels"),
            "weight has 2 entries", "3 classes"),
        bad("attach: a pos_weight that does not broadcast", () -> OnnxLoss.builder(
            BceWithLogitsLoss.builder().posWeight(1, 2).build()).build().attach(model(), "logits", "labels"),
            "pos_weight", "[2]"),
        bad("attach: a model below opset 11", () -> OnnxLoss.builder(ce).build().attach(model(10), "logits",
            "labels"), "opset is 10"),
        bad("class axis 0", () -> OnnxLoss.builder(ce).classAxis(0).build(), "class axis 0"),
        bad("class axis 2", () -> OnnxLoss.builder(ce).classAxis(2).build(), "class axis 2"),
        bad("class axis -2", () -> OnnxLoss.builder(NllLoss.create()).classAxis(-2).build(), "class axis -2"),
        bad("class axis -1 for bce_with_logits", () -> OnnxLoss.builder(BceWithLogitsLoss.create()).classAxis(-1)
            .build(), "class axis -1", "bce_with_logits"),
        bad("class axis -1 for bce", () -> OnnxLoss.builder(BceLoss.create()).classAxis(-1).build(),
            "class axis -1", "bce"),
        bad("the op lowering for bce", () -> OnnxLoss.builder(BceLoss.create()).lowering(OnnxLoss.Lowering.OP)
            .build(), "op lowering", "bce"),
        bad("bce: a weight of higher rank than the input", () -> OnnxLoss.builder(BceLoss.builder()
            .weight(dev.losskit.core.Tensor.of(new double[6], 2, 3)).build()).build().export(), "[2, 3]", "[N]"),
        bad("attach: a bce weight that does not broadcast", () -> OnnxLoss.builder(
            BceLoss.builder().weight(1, 2).build()).build().attach(model(), "logits", "labels"), "weight", "[2]",
            "'logits'"),
        bad("attach, class axis -1: a class weight of the wrong length", () -> OnnxLoss.builder(
            CrossEntropyLoss.builder().weight(1, 2).build()).classAxis(-1).build().attach(tagger(), "logits",
            "labels"), "weight has 2 entries", "3 classes", "dimension 2"),
        bad("attach: a model above opset 26", () -> OnnxLoss.builder(ce).build().attach(model(27), "logits",
            "labels"), "opset is 27"),
        bad("attach: a negative opset version", () -> OnnxLoss.builder(ce).build().attach(model(-11), "logits",
            "labels"), "opset is -11"),
        bad("attach: an opset version that wraps to 11 as an int", () -> OnnxLoss.builder(ce).build().attach(
            model((1L << 32) + 11), "logits", "labels"), "opset is " + ((1L << 32) + 11)),
        bad("attach: the op lowering onto an opset-11 model", () -> OnnxLoss.builder(ce)
            .lowering(OnnxLoss.Lowering.OP).build().attach(model(11), "logits", "labels"), "model's opset is 11",
            "op lowering"),
        bad("attach: a sparse initializer in external data", () -> OnnxLoss.builder(ce).build().attach(
            model(17).toBuilder().setGraph(model(17).getGraph().toBuilder().addSparseInitializer(
                ai.onnx.proto.OnnxMl.SparseTensorProto.newBuilder().setValues(externalTensor("w")))).build(),
            "logits", "labels"), "'w'", "external data at 'w.bin'"),
        bad("attach: a function's constant in external data", () -> OnnxLoss.builder(ce).build().attach(
            model(17).toBuilder().addFunctions(ai.onnx.proto.OnnxMl.FunctionProto.newBuilder().setName("f")
                .addNode(NodeProto.newBuilder().setOpType("Constant").addOutput("c").addAttribute(
                    ai.onnx.proto.OnnxMl.AttributeProto.newBuilder().setName("value")
                        .setT(externalTensor("c"))))).build(),
            "logits", "labels"), "'c'", "external data at 'c.bin'"),
        bad("attach with the folder: an absolute external data location", () -> ModelAttachment.attach(
            OnnxLoss.builder(ce).build(), withExternal("/etc/passwd"), Path.of("."), "logits", "labels"),
            "'/etc/passwd'", "absolute path"),
        bad("attach with the folder: a location leaving the folder", () -> ModelAttachment.attach(
            OnnxLoss.builder(ce).build(), withExternal("../../etc/passwd"), Path.of("."), "logits", "labels"),
            "'../../etc/passwd'", "'..'"),
        bad("attach with the folder: a missing data file", () -> ModelAttachment.attach(
            OnnxLoss.builder(ce).build(), withExternal("absent.bin"), Path.of("."), "logits", "labels"),
            "'absent.bin'", "does not exist"),
        bad("attach with the folder: a tensor with no location", () -> ModelAttachment.attach(
            OnnxLoss.builder(ce).build(), withExternal(""), Path.of("."), "logits", "labels"),
            "'w'", "names no location"));
  }

  /** The model with an initializer {@code w} whose external data is at {@code location}. */
  private static ModelProto withExternal(String location) {
    TensorProto w = externalTensor("w").toBuilder().setExternalData(0,
        ai.onnx.proto.OnnxMl.StringStringEntryProto.newBuilder().setKey("location").setValue(location)).build();
    return model(17).toBuilder().setGraph(model(17).getGraph().toBuilder().addInitializer(w)).build();
  }

  @TestFactory
  Stream<DynamicTest> goodNeighboursOfTheBadInputsAreAccepted() {
    return Stream.of(
        DynamicTest.dynamicTest("a weight of the right length", () -> assertTrue(OnnxLoss.builder(
            CrossEntropyLoss.builder().weight(1, 2, 3).build()).build().attach(model(), "logits", "labels")
            .model().getGraph().getOutputList().stream().anyMatch(o -> o.getName().equals("loss")))),
        DynamicTest.dynamicTest("class axis -1 with a weight of the tagger's last dimension", () -> assertTrue(
            OnnxLoss.builder(CrossEntropyLoss.builder().weight(1, 2, 3).build()).classAxis(-1).build()
                .attach(tagger(), "logits", "labels").model().getGraph().getOutputCount() == 2)),
        DynamicTest.dynamicTest("class axis 1 and -1 for nll_loss", () -> assertTrue(OnnxLoss.builder(
            NllLoss.create()).classAxis(1).build().classAxis() == 1 && OnnxLoss.builder(NllLoss.create())
            .classAxis(-1).build().classAxis() == -1)),
        DynamicTest.dynamicTest("a pos_weight of the last dimension", () -> assertTrue(List.of(OnnxLoss.builder(
            BceWithLogitsLoss.builder().posWeight(1, 2, 3).build()).build().attach(model(), "logits", "labels"))
            .size() == 1)),
        DynamicTest.dynamicTest("a bce weight of the last dimension, and a scalar one", () -> assertTrue(
            OnnxLoss.builder(BceLoss.builder().weight(1, 2, 3).build()).build().attach(model(), "logits", "labels")
                .model().getGraph().getOutputCount() == 4 && OnnxLoss.builder(BceLoss.builder()
                .weight(dev.losskit.core.Tensor.of(new double[] {2}, new int[0])).build()).build().export()
                .getGraph().getOutputCount() == 1)),
        DynamicTest.dynamicTest("opset 11, the lowest", () -> assertTrue(OnnxLoss.builder(CrossEntropyLoss.create())
            .opset(11).build().opset() == 11)),
        DynamicTest.dynamicTest("opset 26, the highest", () -> assertTrue(OnnxLoss.builder(CrossEntropyLoss.create())
            .opset(26).build().opset() == 26)),
        DynamicTest.dynamicTest("the op lowering at opset 12", () -> assertTrue(OnnxLoss.builder(
            CrossEntropyLoss.create()).opset(12).lowering(OnnxLoss.Lowering.OP).build().usesOp())),
        DynamicTest.dynamicTest("attach: a model at opset 11", () -> assertTrue(OnnxLoss.builder(
            CrossEntropyLoss.create()).build().attach(model(11), "logits", "labels").model().getOpsetImport(0)
            .getVersion() == 11)),
        DynamicTest.dynamicTest("attach: a model at opset 26", () -> assertTrue(OnnxLoss.builder(
            CrossEntropyLoss.create()).build().attach(model(26), "logits", "labels").model().getOpsetImport(0)
            .getVersion() == 26)));
  }
}
