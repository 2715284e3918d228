package dev.losskit.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import dev.losskit.cli.VerifyCommandTest.Run;
import dev.losskit.core.BceLoss;
import dev.losskit.core.DType;
import dev.losskit.core.LossResult;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.io.IOException;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code losskit export --loss bce} and {@code attach --loss bce} (BCELoss on probabilities): the written graphs run
 * in ONNX Runtime with the core's loss and gradient at PyTorch's default tolerances (float32 rtol 1.3e-6, atol 1e-5;
 * float64 rtol 1e-7, atol 1e-7), and the options BCELoss does not take are refused in one line, writing nothing.
 */
class BceCommandsTest {
  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

  @TempDir Path dir;

  /** Probabilities with exact 0 and 1 and a tiny one, and hard and soft targets, for a (2, 3) batch. */
  private static final double[] X = {0, 0.25, 1, 1e-30, 0.999, 0.5};
  private static final double[] Y = {1, 0.3, 0, 0, 1, 0.5};
  private static final double[] G = {1, -2, 0.5, 3, 1, -1};

  private static Tensor tensor(DType dtype, double[] v, int... shape) {
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
  Stream<DynamicTest> exportWritesTheCoresLossAndGradient() {
    List<DynamicTest> tests = new ArrayList<>();
    for (DType dtype : new DType[] {DType.FLOAT32, DType.FLOAT64}) {
      for (Reduction r : Reduction.values()) {
        tests.add(DynamicTest.dynamicTest(dtype.pytorchName() + ", " + r.pytorchName(), () -> {
          Path out = dir.resolve("bce-" + dtype.pytorchName() + "-" + r.pytorchName() + ".onnx");
          Run run = VerifyCommandTest.run("export", "--loss", "bce", "--weight", "0.5,2,1", "--rank", "1",
              "--reduction", r.pytorchName(), "--dtype", dtype.pytorchName(), "--with-gradient", "-o",
              out.toString());
          assertEquals(0, run.code(), run.err().toString());
          assertEquals(List.of("wrote " + out + ": bce (" + dtype.pytorchName() + ", rank 1, opset 17)"), run.out());
          ModelProto m = ModelProto.parseFrom(Files.readAllBytes(out));
          assertEquals(r == Reduction.NONE ? List.of("input", "target", "grad_output") : List.of("input", "target"),
              names(m.getGraph().getInputList()));
          assertEquals(List.of("loss", "grad_input"), names(m.getGraph().getOutputList()));
          assertEquals(List.of("N", "d1"), dims(m.getGraph().getInput(1)), "targets: probabilities, the input's shape");
          assertEquals(dtype == DType.FLOAT32 ? TensorProto.DataType.FLOAT_VALUE : TensorProto.DataType.DOUBLE_VALUE,
              m.getGraph().getInput(1).getType().getTensorType().getElemType());

          BceLoss loss = BceLoss.builder().reduction(r).weight(0.5, 2, 1).build();
          Tensor x = tensor(dtype, X, 2, 3);
          Tensor y = tensor(dtype, Y, 2, 3);
          Tensor g = r == Reduction.NONE ? tensor(dtype, G, 2, 3) : null;
          Map<String, Tensor> feeds = new HashMap<>(Map.of("input", x, "target", y));
          if (g != null) {
            feeds.put("grad_output", g);
          }
          Map<String, Tensor> got = run(m, feeds);
          LossResult expected = loss.forwardBackward(x, y, g);
          close(expected.loss(), got.get("loss"), "loss");
          close(expected.gradInput(), got.get("grad_input"), "grad_input");
        }));
      }
    }
    return tests.stream();
  }

  /** A model whose output holds probabilities: {@code features} (batch, 3) through {@code Sigmoid} to {@code probs}. */
  private Path sigmoidModel(int opset) throws IOException {
    TypeProto type = TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
        .setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(TensorShapeProto.newBuilder()
            .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("batch"))
            .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(3)))).build();
    GraphProto g = GraphProto.newBuilder().setName("multilabel")
        .addInput(ValueInfoProto.newBuilder().setName("features").setType(type))
        .addNode(NodeProto.newBuilder().setOpType("Sigmoid").setName("sigmoid").addInput("features")
            .addOutput("probs"))
        .addOutput(ValueInfoProto.newBuilder().setName("probs").setType(type)).build();
    ModelProto m = ModelProto.newBuilder().setIrVersion(8).setProducerName("test").setGraph(g)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset)).build();
    Path p = dir.resolve("multilabel" + opset + ".onnx");
    Files.write(p, m.toByteArray());
    return p;
  }

  @Test
  void attachWiresTheLossOntoASigmoidsOutputInPlace() throws Exception {
    Path model = sigmoidModel(13);
    Run run = VerifyCommandTest.run("attach", model.toString(), "--output", "probs", "--loss", "bce", "--weight",
        "1,2,0.5", "--with-gradient", "-o", model.toString());
    assertEquals(0, run.code(), run.err().toString());
    assertEquals(List.of(), run.err(), "no note: the model's opset and IR version are kept");
    assertEquals(List.of("multilabel13.onnx"), files(), "written in place, no temporary file left behind");
    ModelProto m = ModelProto.parseFrom(Files.readAllBytes(model));
    assertEquals(13, m.getOpsetImport(0).getVersion());
    assertEquals(List.of("features", "labels"), names(m.getGraph().getInputList()));
    assertEquals(List.of("probs", "loss", "grad_probs"), names(m.getGraph().getOutputList()));
    assertEquals(List.of("batch", "3"), dims(m.getGraph().getInput(1)), "labels take the output's declared shape");

    // Logits of ±120 make float32's sigmoid exactly 0 and 1: the loss's clamps at -100 are exercised end to end.
    float[] features = {-120, 0.3f, 2, 120, -1, 0};
    float[] labels = {1, 0, 1, 0, 0.25f, 0.5f};
    Map<String, Tensor> got = run(m, Map.of("features", Tensor.of(features, 2, 3), "labels",
        Tensor.of(labels, 2, 3)));
    Tensor probs = got.get("probs");
    assertEquals(0.0, probs.getDouble(0));
    assertEquals(1.0, probs.getDouble(3));
    LossResult expected = BceLoss.builder().weight(1, 2, 0.5).build().forwardBackward(probs, Tensor.of(labels, 2, 3),
        null);
    close(expected.loss(), got.get("loss"), "loss");
    close(expected.gradInput(), got.get("grad_probs"), "grad_probs");
  }

  @Test
  void optionsBceDoesNotTakeAreOneLineAndWriteNothing() throws Exception {
    Path model = sigmoidModel(17);
    byte[] before = Files.readAllBytes(model);
    String out = dir.resolve("x.onnx").toString();
    oneLine(VerifyCommandTest.run("export", "--loss", "bce", "--pos-weight", "2", "-o", out), "--pos-weight",
        "bce", "bce_with_logits");
    oneLine(VerifyCommandTest.run("export", "--loss", "bce", "--class-axis", "-1", "--rank", "1", "-o", out),
        "--class-axis -1", "bce");
    oneLine(VerifyCommandTest.run("export", "--loss", "bce", "--ignore-index", "0", "-o", out), "--ignore-index",
        "bce");
    oneLine(VerifyCommandTest.run("export", "--loss", "bce", "--label-smoothing", "0.1", "-o", out),
        "--label-smoothing", "bce");
    oneLine(VerifyCommandTest.run("export", "--loss", "bce", "--target", "probability", "-o", out),
        "--target probability", "bce");
    oneLine(VerifyCommandTest.run("export", "--loss", "bce", "--lowering", "op", "-o", out), "op lowering", "bce");
    oneLine(VerifyCommandTest.run("attach", model.toString(), "--output", "probs", "--loss", "bce", "--pos-weight",
        "1,2,3", "-o", out), "--pos-weight", "bce");
    oneLine(VerifyCommandTest.run("attach", model.toString(), "--output", "probs", "--loss", "bce", "--class-axis",
        "-1", "-o", out), "--class-axis -1", "bce");
    oneLine(VerifyCommandTest.run("attach", model.toString(), "--output", "probs", "--loss", "bce", "--weight",
        "1,2", "-o", model.toString()), "weight of shape [2]", "'probs'");
    assertArrayEquals(before, Files.readAllBytes(model), "the model is unchanged");
    assertEquals(List.of("multilabel17.onnx"), files(), "no output written");
    // --class-axis 1, the default, is accepted as for bce_with_logits: it names no other axis.
    Run ok = VerifyCommandTest.run("export", "--loss", "bce", "--class-axis", "1", "-o", out);
    assertEquals(0, ok.code(), ok.err().toString());
  }

  private static void oneLine(Run r, String... mustMention) {
    assertEquals(2, r.code(), r.err().toString());
    assertEquals(1, r.err().size(), r.err().toString());
    String line = r.err().get(0);
    assertFalse(line.contains("Exception"), line);
    for (String s : mustMention) {
      assertTrue(line.contains(s), "'" + line + "' should mention '" + s + "'");
    }
  }

  private List<String> files() throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
    }
  }

  private static List<String> names(List<ValueInfoProto> v) {
    return v.stream().map(ValueInfoProto::getName).collect(Collectors.toList());
  }

  private static List<String> dims(ValueInfoProto v) {
    return v.getType().getTensorType().getShape().getDimList().stream()
        .map(d -> d.hasDimValue() ? String.valueOf(d.getDimValue()) : d.getDimParam()).collect(Collectors.toList());
  }

  private static Map<String, Tensor> run(ModelProto model, Map<String, Tensor> inputs) throws OrtException {
    Map<String, OnnxTensor> feeds = new HashMap<>();
    try {
      for (Map.Entry<String, Tensor> e : inputs.entrySet()) {
        Tensor t = e.getValue();
        long[] shape = IntStream.of(t.shape()).asLongStream().toArray();
        feeds.put(e.getKey(), t.dtype() == DType.FLOAT32
            ? OnnxTensor.createTensor(ENV, FloatBuffer.wrap(t.toFloatArray()), shape)
            : OnnxTensor.createTensor(ENV, DoubleBuffer.wrap(t.toDoubleArray()), shape));
      }
      try (OrtSession.SessionOptions o = new OrtSession.SessionOptions();
          OrtSession s = ENV.createSession(model.toByteArray(), o); OrtSession.Result r = s.run(feeds)) {
        Map<String, Tensor> out = new HashMap<>();
        for (Map.Entry<String, ai.onnxruntime.OnnxValue> e : r) {
          OnnxTensor t = (OnnxTensor) e.getValue();
          int[] shape = java.util.Arrays.stream(t.getInfo().getShape()).mapToInt(Math::toIntExact).toArray();
          if (t.getInfo().type == ai.onnxruntime.OnnxJavaType.FLOAT) {
            FloatBuffer b = t.getFloatBuffer();
            float[] v = new float[b.remaining()];
            b.get(v);
            out.put(e.getKey(), Tensor.of(v, shape));
          } else {
            DoubleBuffer b = t.getDoubleBuffer();
            double[] v = new double[b.remaining()];
            b.get(v);
            out.put(e.getKey(), Tensor.of(v, shape));
          }
        }
        return out;
      }
    } finally {
      feeds.values().forEach(OnnxTensor::close);
    }
  }

  /** {@code torch.testing.assert_close} at PyTorch's default tolerance for the dtype. */
  private static void close(Tensor expected, Tensor actual, String what) {
    assertArrayEquals(expected.shape(), actual.shape(), what + " shape");
    assertEquals(expected.dtype(), actual.dtype(), what + " dtype");
    double rtol = expected.dtype() == DType.FLOAT32 ? 1.3e-6 : 1e-7;
    double atol = expected.dtype() == DType.FLOAT32 ? 1e-5 : 1e-7;
    for (int i = 0; i < expected.numel(); i++) {
      double e = expected.getDouble(i);
      double a = actual.getDouble(i);
      assertTrue(Math.abs(a - e) <= atol + rtol * Math.abs(e), what + "[" + i + "]: the core gives " + e
          + ", ONNX Runtime " + a);
    }
  }
}
