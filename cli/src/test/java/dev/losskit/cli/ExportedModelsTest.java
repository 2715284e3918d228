package dev.losskit.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.losskit.cli.VerifyCommandTest.Run;
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.Loss;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossResult;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import dev.losskit.onnx.OnnxLoss;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code losskit attach} on the real models torch 2.13's exporters wrote (fixtures/models, manifest.json), each
 * loss case of the manifest attached with its options and run in ONNX Runtime on the manifest's batch (the output
 * in another directory than the model, so that a model with external data must carry its tensors along). Two
 * comparisons per case: the loss subgraph against the core on ONNX Runtime's own logits from the same run (float32
 * tolerance), and end to end against torch's recorded float32 loss and gradient (1e-5 + 1e-5·|value|).
 */
class ExportedModelsTest {
  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();
  /** The core on ORT's logits: both compute in float32 from the same numbers. */
  private static final double CORE_TOL = 2e-6;
  private static final double TORCH_TOL = 1e-5;
  private static final double[] CORE_WORST = new double[2];
  private static final double[] TORCH_WORST = new double[2];

  @TempDir static Path dir;

  private static Path models() {
    return Path.of(System.getProperty("losskit.fixtures"), "models");
  }

  private static JsonObject manifest() throws IOException {
    return JsonParser.parseString(Files.readString(models().resolve("manifest.json"))).getAsJsonObject();
  }

  @TestFactory
  Stream<DynamicNode> everyModelAndLossCaseMatchesTheCoreAndTorch() throws IOException {
    JsonObject manifest = manifest();
    JsonObject architectures = manifest.getAsJsonObject("architectures");
    List<DynamicNode> containers = new ArrayList<>();
    int cases = 0;
    for (JsonElement m : manifest.getAsJsonArray("models")) {
      JsonObject model = m.getAsJsonObject();
      JsonObject arch = architectures.getAsJsonObject(model.get("architecture").getAsString());
      List<DynamicTest> tests = new ArrayList<>();
      for (JsonElement c : arch.getAsJsonArray("cases")) {
        JsonObject lossCase = c.getAsJsonObject();
        tests.add(DynamicTest.dynamicTest(lossCase.get("name").getAsString() + " (" + function(lossCase) + ")",
            () -> check(model, arch, lossCase)));
        cases++;
      }
      containers.add(DynamicContainer.dynamicContainer(model.get("file").getAsString() + ", opset "
          + model.get("opset").getAsInt() + ", class axis " + model.get("class_axis").getAsInt(), tests));
    }
    assertEquals(16, containers.size(), "every model, the one with external data too");
    assertTrue(cases >= 16 * 13, "cases: " + cases);
    return containers.stream();
  }

  /**
   * losskit's loss for a case. torch's {@code nll_loss(log_softmax(logits))} is cross-entropy on the logits: the
   * models output logits and {@code attach} adds no LogSoftmax, so that case is attached as cross_entropy (with the
   * same options) and still compared with torch's recorded nll_loss values.
   */
  private static String function(JsonObject lossCase) {
    String f = lossCase.get("function").getAsString();
    switch (f) {
      case "cross_entropy":
      case "nll_loss_of_log_softmax":
        return CrossEntropyLoss.NAME;
      case "binary_cross_entropy_with_logits":
        return BceWithLogitsLoss.NAME;
      default:
        throw new AssertionError("a loss case losskit does not know: " + f);
    }
  }

  private static void check(JsonObject model, JsonObject arch, JsonObject lossCase) throws Exception {
    String loss = function(lossCase);
    boolean bce = loss.equals(BceWithLogitsLoss.NAME);
    JsonObject options = lossCase.getAsJsonObject("options");
    JsonObject target = lossCase.getAsJsonObject("target");
    boolean probabilities = !bce && target.get("dtype").getAsString().equals("float32");
    int classAxis = lossCase.get("class_axis").getAsInt();
    assertEquals(model.get("class_axis").getAsInt(), classAxis);
    Reduction reduction = Reduction.fromPytorchName(options.get("reduction").getAsString());
    String output = model.getAsJsonObject("output").get("name").getAsString();

    // Attach with the CLI, the case's options spelled as a user would.
    List<String> args = new ArrayList<>(List.of("attach", models().resolve(model.get("file").getAsString())
        .toString(), "--output", output, "--loss", loss, "--reduction", reduction.pytorchName(), "--with-gradient"));
    if (options.has("weight")) {
      args.addAll(List.of("--weight", join(flatten(options.get("weight")))));
    }
    if (options.has("pos_weight")) {
      args.addAll(List.of("--pos-weight", join(flatten(options.get("pos_weight")))));
    }
    if (options.has("ignore_index")) {
      args.addAll(List.of("--ignore-index", options.get("ignore_index").getAsString()));
    }
    if (options.has("label_smoothing")) {
      args.addAll(List.of("--label-smoothing", options.get("label_smoothing").getAsString()));
    }
    if (probabilities) {
      args.addAll(List.of("--target", "probability"));
    }
    if (!bce) {
      args.addAll(List.of("--class-axis", String.valueOf(classAxis)));
    }
    Path out = dir.resolve(model.get("name").getAsString() + "." + lossCase.get("name").getAsString() + ".onnx");
    args.addAll(List.of("-o", out.toString()));
    Run r = VerifyCommandTest.run(args.toArray(String[]::new));
    assertEquals(0, r.code(), r.err().toString());
    ModelProto attached = ModelProto.parseFrom(Files.readAllBytes(out));
    assertFalse(attached.toString().contains("EXTERNAL"), "every tensor inline: the output loads on its own");
    assertEquals(model.get("opset").getAsLong(), attached.getOpsetImportList().stream()
        .filter(o -> o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx")).findFirst().orElseThrow()
        .getVersion(), "the loss is emitted at the model's opset");

    JsonObject input = arch.getAsJsonArray("inputs").get(0).getAsJsonObject();
    long[] inputShape = longs(flatten(input.get("shape")));
    long[] logitsShape = longs(flatten(arch.getAsJsonObject("output").get("shape")));
    long[] targetShape = longs(flatten(target.get("shape")));
    double[] targetValues = flatten(target.get("values"));
    Map<String, OnnxTensor> feeds = new HashMap<>();
    try (OrtSession s = ENV.createSession(attached.toByteArray(), new OrtSession.SessionOptions())) {
      double[] in = flatten(input.get("values"));
      feeds.put(input.get("name").getAsString(), input.get("dtype").getAsString().equals("int64")
          ? OnnxTensor.createTensor(ENV, LongBuffer.wrap(longs(in)), inputShape)
          : OnnxTensor.createTensor(ENV, FloatBuffer.wrap(floats(in)), inputShape));
      feeds.put("labels", target.get("dtype").getAsString().equals("int64")
          ? OnnxTensor.createTensor(ENV, LongBuffer.wrap(longs(targetValues)), targetShape)
          : OnnxTensor.createTensor(ENV, FloatBuffer.wrap(floats(targetValues)), targetShape));
      long[] lossShape = reduction == Reduction.NONE ? lossShape(logitsShape, bce, classAxis) : new long[0];
      float[] ones = new float[(int) count(lossShape)];
      java.util.Arrays.fill(ones, 1f);
      if (reduction == Reduction.NONE) {
        feeds.put("grad_output", OnnxTensor.createTensor(ENV, FloatBuffer.wrap(ones), lossShape));
      }
      try (OrtSession.Result result = s.run(feeds)) {
        float[] logits = values(result, output);
        float[] lossOut = values(result, "loss");
        float[] grad = values(result, "grad_" + output);
        assertArrayEquals(logitsShape, ((OnnxTensor) result.get("grad_" + output).orElseThrow()).getInfo()
            .getShape(), "the gradient has the logits' shape and layout");
        assertArrayEquals(lossShape, ((OnnxTensor) result.get("loss").orElseThrow()).getInfo().getShape());

        // 1. The loss subgraph against the core on ONNX Runtime's own logits.
        Loss core = core(loss, options, reduction);
        int n = (int) logitsShape[0];
        int c = (int) logitsShape[logitsShape.length - 1];
        int inner = (int) (count(logitsShape) / n / c);
        boolean last = classAxis == -1 && logitsShape.length > 2;
        int[] coreShape = ints(logitsShape);
        if (last) {
          coreShape = new int[coreShape.length];
          coreShape[0] = n;
          coreShape[1] = c;
          for (int d = 2; d < coreShape.length; d++) {
            coreShape[d] = (int) logitsShape[d - 1];
          }
        }
        Tensor x = Tensor.of(last ? toClassAt1(logits, n, inner, c) : logits, coreShape);
        Tensor t = !probabilities && !bce ? Tensor.of(longs(targetValues), ints(targetShape))
            : Tensor.of(last ? toClassAt1(floats(targetValues), n, inner, c) : floats(targetValues), coreShape);
        Tensor go = reduction == Reduction.NONE ? Tensor.of(ones, ints(lossShape)) : null;
        LossResult expected = core.forwardBackward(x, t, go);
        float[] coreGrad = expected.gradInput().toFloatArray();
        compare("loss vs the core", toDoubles(expected.loss().toFloatArray()), lossOut, CORE_TOL, CORE_WORST, 0);
        compare("gradient vs the core", toDoubles(last ? toClassLast(coreGrad, n, inner, c) : coreGrad), grad,
            CORE_TOL, CORE_WORST, 1);

        // 2. End to end against torch's recorded float32 loss and gradient.
        JsonObject torch = lossCase.getAsJsonObject("float32");
        compare("loss vs torch", flatten(torch.get("loss")), lossOut, TORCH_TOL, TORCH_WORST, 0);
        compare("gradient vs torch", flatten(torch.get("grad_logits")), grad, TORCH_TOL, TORCH_WORST, 1);
      }
    } finally {
      feeds.values().forEach(OnnxTensor::close);
    }
  }

  /** Fails beyond {@code tol + tol·|expected|}; records the largest absolute difference. */
  private static void compare(String what, double[] expected, float[] actual, double tol, double[] worst, int slot) {
    assertEquals(expected.length, actual.length, what + ": size");
    for (int i = 0; i < expected.length; i++) {
      double diff = Math.abs(expected[i] - actual[i]);
      synchronized (worst) {
        worst[slot] = Math.max(worst[slot], diff);
      }
      assertTrue(diff <= tol + tol * Math.abs(expected[i]),
          what + " [" + i + "]: expected " + expected[i] + ", got " + actual[i] + " (difference " + diff + ")");
    }
  }

  @AfterAll
  static void largestDifferences() {
    System.out.printf("ExportedModelsTest: largest |difference| vs the core: loss %.3g, gradient %.3g;"
        + " vs torch: loss %.3g, gradient %.3g%n", CORE_WORST[0], CORE_WORST[1], TORCH_WORST[0], TORCH_WORST[1]);
  }

  private static Loss core(String loss, JsonObject options, Reduction reduction) {
    if (loss.equals(BceWithLogitsLoss.NAME)) {
      BceWithLogitsLoss.Builder b = BceWithLogitsLoss.builder().reduction(reduction);
      if (options.has("pos_weight")) {
        b.posWeight(flatten(options.get("pos_weight")));
      }
      if (options.has("weight")) {
        b.weight(flatten(options.get("weight")));
      }
      return b.build();
    }
    CrossEntropyLoss.Builder b = CrossEntropyLoss.builder().reduction(reduction);
    if (options.has("weight")) {
      b.weight(flatten(options.get("weight")));
    }
    if (options.has("ignore_index")) {
      b.ignoreIndex(options.get("ignore_index").getAsLong());
    }
    if (options.has("label_smoothing")) {
      b.labelSmoothing(options.get("label_smoothing").getAsDouble());
    }
    return b.build();
  }

  @Test
  void attachReadsExternalDataFromTheModelsFolderWritesItInlineElsewhereAndLeavesTheInputAlone() throws Exception {
    Path work = Files.createDirectory(dir.resolve("external"));
    Path elsewhere = Files.createDirectory(dir.resolve("elsewhere"));
    Path model = work.resolve("classifier.dynamo.op18.external.onnx");
    Path data = work.resolve("classifier.dynamo.op18.external.onnx.data");
    Files.copy(models().resolve(model.getFileName()), model);
    Files.copy(models().resolve(data.getFileName()), data);
    byte[] modelBytes = Files.readAllBytes(model);
    byte[] dataBytes = Files.readAllBytes(data);
    Path out = elsewhere.resolve("with-loss.onnx");
    Run r = VerifyCommandTest.run("attach", model.toString(), "--output", "logits", "--loss", "cross_entropy",
        "--with-gradient", "-o", out.toString());
    assertEquals(0, r.code(), r.out() + " " + r.err());
    ModelProto input = ModelProto.parseFrom(modelBytes);
    long external = input.getGraph().getInitializerList().stream()
        .filter(t -> t.getDataLocation() == ai.onnx.proto.OnnxMl.TensorProto.DataLocation.EXTERNAL).count();
    assertTrue(external >= 2, "the fixture keeps its weights in external data: " + external);
    assertTrue(r.err().stream().anyMatch(l -> l.contains("note: read " + external + " tensors from external data")
        && l.contains("'classifier.dynamo.op18.external.onnx.data'")), r.err().toString());
    assertEquals(List.of("with-loss.onnx"), list(elsewhere), "one file: the data is inline");
    ModelProto written = ModelProto.parseFrom(Files.readAllBytes(out));
    // The weights are the data file's bytes, in the order and ranges the model named.
    for (ai.onnx.proto.OnnxMl.TensorProto t : input.getGraph().getInitializerList()) {
      ai.onnx.proto.OnnxMl.TensorProto w = written.getGraph().getInitializerList().stream()
          .filter(x -> x.getName().equals(t.getName())).findFirst().orElseThrow();
      assertEquals(ai.onnx.proto.OnnxMl.TensorProto.DataLocation.DEFAULT, w.getDataLocation(), t.getName());
      assertEquals(0, w.getExternalDataCount(), t.getName());
      if (t.getDataLocation() == ai.onnx.proto.OnnxMl.TensorProto.DataLocation.EXTERNAL) {
        Map<String, String> e = t.getExternalDataList().stream().collect(Collectors.toMap(
            ai.onnx.proto.OnnxMl.StringStringEntryProto::getKey,
            ai.onnx.proto.OnnxMl.StringStringEntryProto::getValue));
        int offset = Integer.parseInt(e.getOrDefault("offset", "0"));
        int length = Integer.parseInt(e.get("length"));
        assertArrayEquals(java.util.Arrays.copyOfRange(dataBytes, offset, offset + length),
            w.getRawData().toByteArray(), t.getName());
      }
    }
    assertArrayEquals(modelBytes, Files.readAllBytes(model), "the model is unchanged");
    assertArrayEquals(dataBytes, Files.readAllBytes(data), "its data file is unchanged");
    assertEquals(List.of(model.getFileName().toString(), data.getFileName().toString()), list(work));
    // Without its directory, the Java API cannot read the data and says so in one line.
    LossArgumentException e = assertThrows(LossArgumentException.class, () -> OnnxLoss.builder(
        CrossEntropyLoss.create()).build().attach(input, "logits", "labels"));
    assertEquals(LossArgumentException.Cause.MODEL, e.cause());
    assertTrue(e.getMessage().contains("'classifier.dynamo.op18.external.onnx.data'"), e.getMessage());
    assertFalse(e.getMessage().contains("\n"), e.getMessage());
  }

  private static List<String> list(Path d) throws IOException {
    try (Stream<Path> s = Files.list(d)) {
      return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
    }
  }

  private static long[] lossShape(long[] logits, boolean bce, int classAxis) {
    if (bce) {
      return logits;
    }
    List<Long> dims = new ArrayList<>();
    for (long d : logits) {
      dims.add(d);
    }
    dims.remove(classAxis == 1 ? 1 : logits.length - 1);
    return dims.stream().mapToLong(Long::longValue).toArray();
  }

  /** (N, inner, C) to (N, C, inner). */
  private static float[] toClassAt1(float[] v, int n, int inner, int c) {
    float[] out = new float[v.length];
    for (int b = 0; b < n; b++) {
      for (int p = 0; p < inner; p++) {
        for (int k = 0; k < c; k++) {
          out[(b * c + k) * inner + p] = v[(b * inner + p) * c + k];
        }
      }
    }
    return out;
  }

  /** (N, C, inner) to (N, inner, C). */
  private static float[] toClassLast(float[] v, int n, int inner, int c) {
    float[] out = new float[v.length];
    for (int b = 0; b < n; b++) {
      for (int p = 0; p < inner; p++) {
        for (int k = 0; k < c; k++) {
          out[(b * inner + p) * c + k] = v[(b * c + k) * inner + p];
        }
      }
    }
    return out;
  }

  private static double[] flatten(JsonElement e) {
    List<Double> out = new ArrayList<>();
    flatten(e, out);
    return out.stream().mapToDouble(Double::doubleValue).toArray();
  }

  private static void flatten(JsonElement e, List<Double> out) {
    if (e.isJsonArray()) {
      for (JsonElement x : (JsonArray) e) {
        flatten(x, out);
      }
    } else {
      out.add(e.getAsDouble());
    }
  }

  private static String join(double[] v) {
    return java.util.Arrays.stream(v).mapToObj(Double::toString).collect(Collectors.joining(","));
  }

  private static long[] longs(double[] v) {
    return java.util.Arrays.stream(v).mapToLong(d -> (long) d).toArray();
  }

  private static int[] ints(long[] v) {
    return java.util.Arrays.stream(v).mapToInt(d -> (int) d).toArray();
  }

  private static float[] floats(double[] v) {
    float[] out = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      out[i] = (float) v[i];
    }
    return out;
  }

  private static double[] toDoubles(float[] v) {
    double[] out = new double[v.length];
    for (int i = 0; i < v.length; i++) {
      out[i] = v[i];
    }
    return out;
  }

  private static long count(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }

  private static float[] values(OrtSession.Result r, String name) {
    FloatBuffer b = ((OnnxTensor) r.get(name).orElseThrow()).getFloatBuffer();
    float[] v = new float[b.remaining()];
    b.get(v);
    return v;
  }
}
