package dev.losskit.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.losskit.cli.VerifyCommandTest.Run;
import dev.losskit.core.BceLoss;
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.DType;
import dev.losskit.core.HalfFloats;
import dev.losskit.core.Loss;
import dev.losskit.core.LossResult;
import dev.losskit.core.NllLoss;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.ShortBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code losskit export --dtype float16|bfloat16} and {@code attach} on a half-output model: the files written,
 * run in ONNX Runtime against the core's half results (at most one ulp of the dtype apart, see the onnx-export
 * module's OnnxHalfTest), and the refusals, one line each, exit 2, nothing written.
 */
class HalfCommandsTest {
  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();
  @TempDir Path dir;

  private static short bits(DType dtype, double v) {
    return dtype == DType.FLOAT16 ? HalfFloats.floatToFloat16((float) v) : HalfFloats.floatToBfloat16((float) v);
  }

  private static double value(DType dtype, short h) {
    return dtype == DType.FLOAT16 ? HalfFloats.float16ToFloat(h) : HalfFloats.bfloat16ToFloat(h);
  }

  private static int ordinal(short h) {
    return (h & 0x8000) != 0 ? -(h & 0x7fff) : h & 0x7fff;
  }

  /** Asserts every element within one ulp of the dtype (NaN only against NaN). */
  private static void withinOneUlp(String what, DType dtype, Tensor core, short[] graph) {
    assertEquals(core.numel(), graph.length, what + ": size");
    boolean nonzero = false;
    for (int i = 0; i < graph.length; i++) {
      double e = core.getDouble(i);
      nonzero |= e != 0;
      double a = value(dtype, graph[i]);
      if (Double.isNaN(e) || Double.isNaN(a)) {
        assertTrue(Double.isNaN(e) && Double.isNaN(a), what + ": element " + i + ": " + a + " vs the core's " + e);
        continue;
      }
      int d = Math.abs(ordinal(bits(dtype, e)) - ordinal(graph[i]));
      assertTrue(d <= 1, what + ": element " + i + " is " + a + ", the core's " + e + ", " + d + " ulps apart");
    }
    assertTrue(nonzero, what + ": the core's result is all zeros");
  }

  private static OnnxTensor half(Tensor t) throws OrtException {
    short[] b = new short[t.numel()];
    for (int i = 0; i < b.length; i++) {
      b[i] = bits(t.dtype(), t.getDouble(i));
    }
    return OnnxTensor.createTensor(ENV, ShortBuffer.wrap(b), Arrays.stream(t.shape()).asLongStream().toArray(),
        t.dtype() == DType.FLOAT16 ? OnnxJavaType.FLOAT16 : OnnxJavaType.BFLOAT16);
  }

  private static short[] halfOut(OrtSession.Result r, String name, DType dtype) {
    OnnxTensor t = (OnnxTensor) r.get(name).orElseThrow();
    assertEquals(dtype == DType.FLOAT16 ? OnnxJavaType.FLOAT16 : OnnxJavaType.BFLOAT16, t.getInfo().type, name);
    ShortBuffer b = t.getShortBuffer();
    short[] v = new short[b.remaining()];
    b.get(v);
    return v;
  }

  private static int elem(ValueInfoProto v) {
    return v.getType().getTensorType().getElemType();
  }

  private static int halfType(DType dtype) {
    return dtype == DType.FLOAT16 ? TensorProto.DataType.FLOAT16_VALUE : TensorProto.DataType.BFLOAT16_VALUE;
  }

  /** One exported loss: its command-line options, the core loss they mean, and its input shape. */
  record Export(String name, List<String> args, Loss loss, int[] shape) {}

  private static List<Export> exports() {
    return List.of(
        new Export("cross_entropy index", List.of("--loss", "cross_entropy", "--weight", "0.3,1.7,2.2",
            "--ignore-index", "1", "--label-smoothing", "0.1", "--rank", "1"), CrossEntropyLoss.builder()
            .weight(0.3, 1.7, 2.2).ignoreIndex(1).labelSmoothing(0.1).build(), new int[] {4, 3, 2}),
        new Export("cross_entropy probability", List.of("--loss", "cross_entropy", "--target", "probability",
            "--weight", "0.3,1.7,2.2", "--label-smoothing", "0.2", "--reduction", "sum"), CrossEntropyLoss
            .builder().weight(0.3, 1.7, 2.2).labelSmoothing(0.2).reduction(Reduction.SUM).build(),
            new int[] {4, 3}),
        new Export("nll_loss, op", List.of("--loss", "nll_loss", "--weight", "0.3,1.7,2.2", "--ignore-index", "0",
            "--lowering", "op"), NllLoss.builder().weight(0.3, 1.7, 2.2).ignoreIndex(0).build(), new int[] {4, 3}),
        new Export("bce_with_logits", List.of("--loss", "bce_with_logits", "--weight", "0.3,1.7,2.2",
            "--pos-weight", "2.6,0.7,1.3", "--rank", "1", "--reduction", "none"), BceWithLogitsLoss.builder()
            .weight(0.3, 1.7, 2.2).posWeight(2.6, 0.7, 1.3).reduction(Reduction.NONE).build(), new int[] {4, 3}),
        new Export("bce", List.of("--loss", "bce", "--weight", "0.3,1.7,2.2", "--rank", "1"), BceLoss.builder()
            .weight(0.3, 1.7, 2.2).build(), new int[] {4, 3}));
  }

  @TestFactory
  Stream<DynamicTest> exportWritesHalfGraphsThatMatchTheCore() {
    List<DynamicTest> tests = new ArrayList<>();
    for (DType dtype : new DType[] {DType.FLOAT16, DType.BFLOAT16}) {
      for (Export e : exports()) {
        tests.add(DynamicTest.dynamicTest(e.name() + ", " + dtype, () -> export(e, dtype)));
      }
    }
    return tests.stream();
  }

  private void export(Export e, DType dtype) throws Exception {
    Path out = dir.resolve(e.name().replace(' ', '_').replace(",", "") + "." + dtype + ".onnx");
    List<String> args = new ArrayList<>(List.of("export"));
    args.addAll(e.args());
    args.addAll(List.of("--dtype", dtype.pytorchName(), "--with-gradient", "-o", out.toString()));
    Run run = VerifyCommandTest.run(args.toArray(String[]::new));
    assertEquals(0, run.code(), run.err().toString());
    assertTrue(run.lastOut().contains("(" + dtype.pytorchName() + ", "), run.out().toString());
    ModelProto m = ModelProto.parseFrom(Files.readAllBytes(out));
    assertEquals(halfType(dtype), elem(m.getGraph().getInput(0)), "input");
    for (ValueInfoProto o : m.getGraph().getOutputList()) {
      assertEquals(halfType(dtype), elem(o), o.getName());
    }

    Loss loss = e.loss();
    boolean indices = (loss instanceof CrossEntropyLoss || loss instanceof NllLoss) && !e.name().contains("prob");
    Random random = new Random(e.name().hashCode() + dtype.ordinal());
    int n = Arrays.stream(e.shape()).reduce(1, (a, b) -> a * b);
    double[] x = new double[n];
    for (int i = 0; i < n; i++) {
      x[i] = loss instanceof BceLoss ? random.nextDouble() : loss instanceof NllLoss ? -3 * random.nextDouble()
          : 8 * random.nextDouble() - 4;
    }
    Tensor input = Tensor.rounded(x, dtype, e.shape());
    Tensor target;
    int[] lossShape;
    if (indices) {
      lossShape = new int[e.shape().length - 1];
      lossShape[0] = e.shape()[0];
      System.arraycopy(e.shape(), 2, lossShape, 1, lossShape.length - 1);
      long[] t = new long[Arrays.stream(lossShape).reduce(1, (a, b) -> a * b)];
      for (int i = 0; i < t.length; i++) {
        t[i] = random.nextInt(3);
      }
      target = Tensor.of(t, lossShape);
    } else {
      lossShape = e.shape();
      double[] y = new double[n];
      for (int i = 0; i < n; i++) {
        y[i] = random.nextDouble() / (loss instanceof CrossEntropyLoss ? 3 : 1);
      }
      target = Tensor.rounded(y, dtype, e.shape());
    }
    Tensor gradOutput = null;
    if (loss.reduction() == Reduction.NONE) {
      double[] g = new double[Arrays.stream(lossShape).reduce(1, (a, b) -> a * b)];
      for (int i = 0; i < g.length; i++) {
        g[i] = 2 * random.nextDouble() - 1;
      }
      gradOutput = Tensor.rounded(g, dtype, lossShape);
    }
    LossResult core = loss.forwardBackward(input, target, gradOutput);
    Map<String, OnnxTensor> feeds = new HashMap<>();
    try (OrtSession s = ENV.createSession(out.toString(), new OrtSession.SessionOptions())) {
      feeds.put("input", half(input));
      if (indices) {
        long[] t = new long[target.numel()];
        for (int i = 0; i < t.length; i++) {
          t[i] = target.getLong(i);
        }
        feeds.put("target", OnnxTensor.createTensor(ENV, LongBuffer.wrap(t),
            Arrays.stream(lossShape).asLongStream().toArray()));
      } else {
        feeds.put("target", half(target));
      }
      if (gradOutput != null) {
        feeds.put("grad_output", half(gradOutput));
      }
      try (OrtSession.Result r = s.run(feeds)) {
        withinOneUlp(e.name() + ", " + dtype + ": loss", dtype, core.loss(), halfOut(r, "loss", dtype));
        withinOneUlp(e.name() + ", " + dtype + ": gradient", dtype, core.gradInput(),
            halfOut(r, "grad_input", dtype));
      }
    } finally {
      feeds.values().forEach(OnnxTensor::close);
    }
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

  /** features (batch, 4) float32, MatMul and Add in float32, Cast to the half type as logits (batch, 3). */
  private Path halfModel(DType dtype, long opset) throws Exception {
    TensorProto.Builder w = TensorProto.newBuilder().setName("W").setDataType(TensorProto.DataType.FLOAT_VALUE)
        .addDims(4).addDims(3);
    for (int i = 0; i < 12; i++) {
      w.addFloatData((i % 5 - 2) * 0.5f);
    }
    int f = TensorProto.DataType.FLOAT_VALUE;
    GraphProto g = GraphProto.newBuilder().setName("half_classifier")
        .addInput(value("features", f, "batch", 4)).addInitializer(w)
        .addNode(NodeProto.newBuilder().setOpType("MatMul").addInput("features").addInput("W").addOutput("scores"))
        .addNode(NodeProto.newBuilder().setOpType("Cast").addInput("scores").addOutput("logits")
            .addAttribute(AttributeProto.newBuilder().setName("to").setType(AttributeProto.AttributeType.INT)
                .setI(halfType(dtype))))
        .addOutput(value("logits", halfType(dtype), "batch", 3)).build();
    Path p = dir.resolve("model." + dtype + ".op" + opset + ".onnx");
    Files.write(p, ModelProto.newBuilder().setIrVersion(8).setGraph(g)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(opset)).build().toByteArray());
    return p;
  }

  @Test
  void attachGivesAHalfOutputModelAHalfLoss() throws Exception {
    for (DType dtype : new DType[] {DType.FLOAT16, DType.BFLOAT16}) {
      Path model = halfModel(dtype, 17);
      Path out = dir.resolve("attached." + dtype + ".onnx");
      Run run = VerifyCommandTest.run("attach", model.toString(), "--output", "logits", "--loss", "cross_entropy",
          "--weight", "0.3,1.7,2.2", "--label-smoothing", "0.1", "--with-gradient", "-o", out.toString());
      assertEquals(0, run.code(), run.err().toString());
      assertEquals(List.of(), run.err());
      ModelProto m = ModelProto.parseFrom(Files.readAllBytes(out));
      assertEquals(List.of("logits", "loss", "grad_logits"), m.getGraph().getOutputList().stream()
          .map(ValueInfoProto::getName).collect(Collectors.toList()));
      for (ValueInfoProto o : m.getGraph().getOutputList()) {
        assertEquals(halfType(dtype), elem(o), o.getName());
      }
      float[] features = {0.5f, -1f, 2f, 0.1f, -0.3f, 0.8f, -1.5f, 1.2f, 2f, 0f, -0.7f, 0.4f};
      long[] labels = {2, 0, 1};
      try (OrtSession s = ENV.createSession(out.toString(), new OrtSession.SessionOptions());
          OnnxTensor xs = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(features), new long[] {3, 4});
          OnnxTensor ys = OnnxTensor.createTensor(ENV, LongBuffer.wrap(labels), new long[] {3});
          OrtSession.Result r = s.run(Map.of("features", xs, "labels", ys))) {
        Tensor logits = Tensor.of(halfOut(r, "logits", dtype), dtype, 3, 3);
        LossResult core = CrossEntropyLoss.builder().weight(0.3, 1.7, 2.2).labelSmoothing(0.1).build()
            .forwardBackward(logits, Tensor.of(labels, 3));
        withinOneUlp("attach " + dtype + ": loss", dtype, core.loss(), halfOut(r, "loss", dtype));
        withinOneUlp("attach " + dtype + ": gradient", dtype, core.gradInput(), halfOut(r, "grad_logits", dtype));
      }
    }
  }

  /**
   * The torch-exported half-output classifiers of fixtures/models (fixtures/make_half_models.py: Gemm in float32,
   * Cast to float16 or bfloat16): cross-entropy with every class option, and BCE with logits, attached by the
   * command and run end to end.
   */
  @Test
  void attachToTorchExportedHalfOutputModels() throws Exception {
    float[] features = {0.5f, -1f, 2f, 0.1f, -0.3f, 0.8f, -1.5f, 1.2f, 2f, 0f, -0.7f, 0.4f, 1f, 1f, -1f, 0.25f};
    long[] labels = {2, 1, 0, 2};
    for (DType dtype : new DType[] {DType.FLOAT16, DType.BFLOAT16}) {
      Path model = Path.of(System.getProperty("losskit.fixtures"), "models",
          "half_classifier." + dtype.pytorchName() + ".op17.onnx");
      for (String kind : new String[] {"cross_entropy", "bce_with_logits"}) {
        boolean ce = kind.equals("cross_entropy");
        Path out = dir.resolve("torch." + dtype + "." + kind + ".onnx");
        Run run = ce
            ? VerifyCommandTest.run("attach", model.toString(), "--output", "logits", "--loss", kind, "--weight",
                "0.3,1.7,2.2", "--ignore-index", "1", "--label-smoothing", "0.1", "--with-gradient", "-o",
                out.toString())
            : VerifyCommandTest.run("attach", model.toString(), "--output", "logits", "--loss", kind,
                "--pos-weight", "2.6,0.7,1.3", "--with-gradient", "-o", out.toString());
        assertEquals(0, run.code(), run.err().toString());
        Loss loss = ce ? CrossEntropyLoss.builder().weight(0.3, 1.7, 2.2).ignoreIndex(1).labelSmoothing(0.1).build()
            : BceWithLogitsLoss.builder().posWeight(2.6, 0.7, 1.3).build();
        Tensor target = ce ? Tensor.of(labels, 4)
            : Tensor.rounded(new double[] {1, 0, 0.5, 0, 0, 1, 0.25, 1, 1, 0, 0.75, 0}, dtype, 4, 3);
        try (OrtSession s = ENV.createSession(out.toString(), new OrtSession.SessionOptions());
            OnnxTensor xs = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(features), new long[] {4, 4});
            OnnxTensor ys = ce ? OnnxTensor.createTensor(ENV, LongBuffer.wrap(labels), new long[] {4}) : half(target);
            OrtSession.Result r = s.run(Map.of("features", xs, "labels", ys))) {
          Tensor logits = Tensor.of(halfOut(r, "logits", dtype), dtype, 4, 3);
          LossResult core = loss.forwardBackward(logits, target);
          withinOneUlp(model.getFileName() + ", " + kind + ": loss", dtype, core.loss(), halfOut(r, "loss", dtype));
          withinOneUlp(model.getFileName() + ", " + kind + ": gradient", dtype, core.gradInput(),
              halfOut(r, "grad_logits", dtype));
        }
      }
    }
  }

  private List<String> files() throws Exception {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
    }
  }

  private static void oneLine(Run r, String... mustMention) {
    assertEquals(2, r.code(), r.err().toString());
    assertEquals(1, r.err().size(), r.err().toString());
    for (String s : mustMention) {
      assertTrue(r.err().get(0).contains(s), "'" + r.err().get(0) + "' should mention '" + s + "'");
    }
  }

  @Test
  void badHalfRequestsAreOneLineAndWriteNothing() throws Exception {
    Path model = halfModel(DType.BFLOAT16, 12);
    byte[] before = Files.readAllBytes(model);
    List<String> present = files();
    String out = dir.resolve("out.onnx").toString();
    oneLine(VerifyCommandTest.run("export", "--loss", "cross_entropy", "--dtype", "bfloat16", "--opset", "12",
        "-o", out), "bfloat16", "opset 12", "opset 13");
    oneLine(VerifyCommandTest.run("export", "--loss", "cross_entropy", "--dtype", "half", "-o", out), "'half'",
        "float16", "bfloat16");
    oneLine(VerifyCommandTest.run("export", "--loss", "cross_entropy", "--dtype", "Float16", "-o", out),
        "'Float16'");
    oneLine(VerifyCommandTest.run("attach", model.toString(), "--output", "logits", "--loss", "cross_entropy",
        "-o", out), model.toString(), "'logits' is bfloat16", "opset is 12");
    assertEquals(present, files(), "nothing written");
    assertArrayEquals(before, Files.readAllBytes(model));
    assertFalse(Files.exists(Path.of(out)));
  }
}
