package example;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.Kernels;
import dev.losskit.core.LossResult;
import dev.losskit.core.Tensor;
import dev.losskit.djl.Execution;
import dev.losskit.onnx.OnnxLoss;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;

/**
 * losskit from a user's build, through the README's public API only (no protobuf class): the core's
 * CrossEntropyLoss, the DJL CrossEntropyLoss inside a GradientCollector, and an ONNX export run in ONNX Runtime.
 *
 * <p>The input is the seed example, logits [[1.2, 0.3, 2.5], [0.8, 1.4, 0.6]] and targets [2, 1] with PyTorch's
 * defaults. torch gives loss 0.5083571672439575 for it (fixtures/goldens/seed-examples.json, case seed000-ce-mean);
 * verify.groovy compares what this prints with that file.
 */
public final class UseLosskit {
  private static final float[] LOGITS = {1.2f, 0.3f, 2.5f, 0.8f, 1.4f, 0.6f};
  private static final long[] TARGETS = {2, 1};

  private UseLosskit() {}

  private static String f5(double v) {
    return String.format(Locale.ROOT, "%.5f", v);
  }

  private static String f5(float[] v) {
    String[] s = new String[v.length];
    for (int i = 0; i < v.length; i++) {
      s[i] = f5(v[i]);
    }
    return "[" + String.join(", ", s) + "]";
  }

  public static void main(String[] args) throws Exception {
    Path onnxFile = Path.of(args[0]);
    System.out.println("kernels: " + Kernels.describe());

    // The core.
    CrossEntropyLoss core = CrossEntropyLoss.create();
    LossResult r = core.forwardBackward(Tensor.of(LOGITS, 2, 3), Tensor.of(TARGETS, 2));
    System.out.println("core loss: " + f5(r.loss().getDouble(0)));
    System.out.println("core gradient: " + f5(r.gradInput().toFloatArray()));

    // DJL, on both execution paths: the default (CORE on the CPU) and the engine's own NDArray operations.
    for (Execution execution : new Execution[] {Execution.AUTO, Execution.ENGINE}) {
      dev.losskit.djl.CrossEntropyLoss loss = dev.losskit.djl.CrossEntropyLoss.builder().execution(execution).build();
      try (NDManager m = NDManager.newBaseManager()) {
        NDArray logits = m.create(LOGITS, new Shape(2, 3));
        logits.setRequiresGradient(true);
        NDArray value;
        try (GradientCollector c = Engine.getInstance().newGradientCollector()) {
          value = loss.evaluate(new NDList(m.create(TARGETS)), new NDList(logits));
          c.backward(value);
        }
        String tag = execution == Execution.AUTO ? "djl" : "djl " + execution.name().toLowerCase(Locale.ROOT);
        System.out.println(tag + " loss: " + f5(value.getFloat()));
        System.out.println(tag + " gradient: " + f5(logits.getGradient().toFloatArray()));
      }
    }
    System.out.println("djl engine: " + Engine.getInstance().getEngineName() + " " + Engine.getInstance().getVersion());

    // ONNX: the bytes and an atomically written file, without a protobuf class in sight.
    OnnxLoss exporter = OnnxLoss.builder(core).build();
    byte[] model = exporter.exportBytes();
    exporter.export(onnxFile);
    byte[] written = Files.readAllBytes(onnxFile);
    if (model.length == 0 || !Arrays.equals(model, written)) {
      throw new AssertionError("export(Path) wrote " + written.length + " bytes, exportBytes() gave " + model.length);
    }
    System.out.println("onnx model: " + model.length + " bytes, written to " + onnxFile.getFileName());
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    env.setTelemetry(false);
    try (OrtSession s = env.createSession(written, new OrtSession.SessionOptions());
        OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(LOGITS), new long[] {2, 3});
        OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(TARGETS), new long[] {2});
        OrtSession.Result out = s.run(Map.of("input", x, "target", t))) {
      float loss = ((OnnxTensor) out.get("loss").orElseThrow()).getFloatBuffer().get(0);
      System.out.println("onnx runtime loss: " + f5(loss));
    }
  }
}
