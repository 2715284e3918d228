package dev.losskit.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
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
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/** Exported graphs load in ONNX Runtime at every opset, and a loss attached to a torch-exported classifier is exact. */
class OnnxLossTest {
  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

  private static List<Loss> losses() {
    List<Loss> out = new ArrayList<>();
    for (Reduction r : Reduction.values()) {
      out.add(CrossEntropyLoss.builder().reduction(r).build());
      out.add(CrossEntropyLoss.builder().reduction(r).weight(1, 0, 2).ignoreIndex(1).labelSmoothing(0.1).build());
      out.add(NllLoss.builder().reduction(r).weight(1, 2, 3).ignoreIndex(-1).build());
      out.add(BceWithLogitsLoss.builder().reduction(r).weight(0.5, 2, 1).posWeight(3, 1, 1).build());
      out.add(BceLoss.builder().reduction(r).weight(0.5, 2, 1).build());
    }
    return out;
  }

  /** ONNX Runtime's model loading runs the ONNX checker and shape inference. */
  @TestFactory
  Stream<DynamicTest> everyExportedGraphLoadsInOnnxRuntime() {
    List<DynamicTest> tests = new ArrayList<>();
    for (int opset = OnnxLoss.MIN_OPSET; opset <= OnnxLoss.MAX_OPSET; opset++) {
      for (Loss loss : losses()) {
        for (OnnxLoss.Lowering lowering : OnnxLoss.Lowering.values()) {
          for (boolean probabilities : new boolean[] {false, true}) {
            boolean ce = loss instanceof CrossEntropyLoss;
            if (probabilities && (!ce || ((CrossEntropyLoss) loss).ignoreIndex() >= 0)) {
              continue;
            }
            OnnxLoss.Builder b = OnnxLoss.builder(loss).probabilityTargets(probabilities).lowering(lowering)
                .opset(opset).rank(opset % 3).dtype(opset % 2 == 0 ? DType.FLOAT64 : DType.FLOAT32)
                .withGradient(opset % 4 != 0);
            if (lowering == OnnxLoss.Lowering.OP && (opset < OnnxLoss.MIN_OP_LOWERING_OPSET
                || !b.lowering(OnnxLoss.Lowering.PRIMITIVES).build().opIsExact())) {
              continue;
            }
            b.lowering(lowering);
            OnnxLoss spec = b.build();
            String name = loss + ", " + lowering + (probabilities ? ", probabilities" : "") + ", opset " + opset;
            tests.add(DynamicTest.dynamicTest(name, () -> {
              ModelProto model = spec.export();
              assertEquals(spec.opset(), model.getOpsetImport(0).getVersion());
              try (OrtSession s = ENV.createSession(model.toByteArray(), new OrtSession.SessionOptions())) {
                assertTrue(s.getOutputNames().contains("loss"));
              }
            }));
          }
        }
      }
    }
    assertTrue(tests.size() > 200, "graphs: " + tests.size());
    return tests.stream();
  }

  @Test
  void theOpIsUsedOnlyWhereItIsExact() {
    assertTrue(OnnxLoss.builder(CrossEntropyLoss.create()).build().usesOp());
    assertTrue(!OnnxLoss.builder(CrossEntropyLoss.builder().labelSmoothing(0.1).build()).build().usesOp());
    assertTrue(!OnnxLoss.builder(BceWithLogitsLoss.create()).build().usesOp());
    assertTrue(!OnnxLoss.builder(BceLoss.create()).build().usesOp());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> OnnxLoss
        .builder(CrossEntropyLoss.create()).probabilityTargets(true).lowering(OnnxLoss.Lowering.OP).build());
    assertTrue(e.getMessage().contains("probability targets"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> OnnxLoss.builder(NllLoss.create()).opset(27).build());
  }

  static ModelProto classifier() throws Exception {
    return ModelProto.parseFrom(Files.readAllBytes(Path.of(System.getProperty("losskit.classifier"))));
  }

  @Test
  void attachedToATorchClassifierItGivesTheCoresLossAndGradient() throws Exception {
    ModelProto original = classifier();
    CrossEntropyLoss ce = CrossEntropyLoss.builder().weight(1, 2.5, 0.5).labelSmoothing(0.1).build();
    OnnxLoss.Attached attached = OnnxLoss.builder(ce).withGradient(true).build().attach(original, "logits", "labels");
    ModelProto model = attached.model();
    assertEquals(List.of(), attached.notes());
    assertEquals(original.getOpsetImportList(), model.getOpsetImportList(), "the model's opset is kept");
    assertEquals(original.getGraph().getNodeList(), model.getGraph().getNodeList()
        .subList(0, original.getGraph().getNodeCount()), "the model's nodes are kept");
    List<String> outputs = model.getGraph().getOutputList().stream().map(ValueInfoProto::getName)
        .collect(Collectors.toList());
    assertEquals(List.of("logits", "loss", "grad_logits"), outputs);
    assertEquals(original.getGraph().getInitializerCount(), model.getGraph().getInitializerList().stream()
        .filter(t -> !t.getName().startsWith("losskit/")).count());
    assertEquals(original.getProducerName(), model.getProducerName());

    float[] features = {0.5f, -1f, 2f, 0.1f, -0.3f, 0.8f, -1.5f, 1.2f, 2f, 0f, -0.7f, 0.4f};
    long[] labels = {2, 0, 1};
    try (OrtSession s = ENV.createSession(model.toByteArray(), new OrtSession.SessionOptions());
        OnnxTensor x = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(features), new long[] {3, 4});
        OnnxTensor y = OnnxTensor.createTensor(ENV, LongBuffer.wrap(labels), new long[] {3});
        OrtSession.Result r = s.run(Map.of("features", x, "labels", y))) {
      float[] logits = floats(r, "logits");
      LossResult core = ce.forwardBackward(Tensor.of(logits, 3, 3), Tensor.of(labels, 3));
      assertEquals(core.loss().getDouble(0), floats(r, "loss")[0], 2e-6);
      assertArrayEquals(core.gradInput().toFloatArray(), floats(r, "grad_logits"), 2e-6f);
    }
  }

  private static float[] floats(OrtSession.Result r, String name) {
    FloatBuffer b = ((OnnxTensor) r.get(name).orElseThrow()).getFloatBuffer();
    float[] v = new float[b.remaining()];
    b.get(v);
    return v;
  }

  @Test
  void attachRejectsAMissingOutputAndTakenNamesByName() throws Exception {
    ModelProto model = classifier();
    OnnxLoss spec = OnnxLoss.builder(CrossEntropyLoss.create()).build();
    IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
        () -> spec.attach(model, "scores", "labels"));
    assertEquals("the model has no output 'scores'; its outputs: logits", missing.getMessage());
    IllegalArgumentException taken = assertThrows(IllegalArgumentException.class,
        () -> spec.attach(model, "logits", "features"));
    assertTrue(taken.getMessage().contains("'features' is already used"), taken.getMessage());
  }
}
