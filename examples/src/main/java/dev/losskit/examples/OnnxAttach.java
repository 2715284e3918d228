package dev.losskit.examples;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.LossResult;
import dev.losskit.core.Tensor;
import dev.losskit.onnx.OnnxLoss;
import java.io.InputStream;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * A loss attached to an ONNX model: a label-smoothed, class-weighted cross-entropy wired onto the {@code logits}
 * output of a classifier exported by {@code torch.onnx.export}, run in ONNX Runtime on a batch, and compared with
 * the core's value on the same logits. ONNX has no operator for label smoothing; the attached graph builds it from
 * basic operators, and outputs the gradient with respect to the logits too. The loss is emitted at the model's own
 * opset (11 here), and none of the model's nodes change.
 *
 * <p>Run it with {@code ./losskit example onnx}.
 */
public final class OnnxAttach {
  private OnnxAttach() {}

  /**
   * What the example measured.
   *
   * @param onnxLoss the loss ONNX Runtime computed
   * @param coreLoss the core's loss on the logits ONNX Runtime computed
   * @param gradientError the largest difference between ONNX Runtime's and the core's gradient
   * @param notes what attaching changed besides adding the loss (nothing, for this model)
   * @param opset the default-domain opset of the model with the loss: the classifier's own
   */
  public record Result(float onnxLoss, double coreLoss, double gradientError, java.util.List<String> notes,
      long opset) {}

  /**
   * Attaches the loss to the classifier, runs both in ONNX Runtime on a random batch, and compares the loss and
   * gradient with the core's.
   *
   * @param batch the batch size
   * @param seed the seed for the batch
   * @return the measurements
   * @throws Exception when the engine fails to load or to run
   */
  public static Result run(int batch, int seed) throws Exception {
    ModelProto classifier;
    try (InputStream in = OnnxAttach.class.getResourceAsStream("/dev/losskit/examples/classifier.onnx")) {
      classifier = ModelProto.parseFrom(in);
    }
    CrossEntropyLoss loss = CrossEntropyLoss.builder().weight(1.0, 2.5, 0.5).labelSmoothing(0.1).build();
    OnnxLoss.Attached attached = OnnxLoss.builder(loss).withGradient(true).build()
        .attach(classifier, "logits", "labels");

    Random r = new Random(seed);
    float[] features = new float[batch * 4];
    for (int i = 0; i < features.length; i++) {
      features[i] = (float) r.nextGaussian();
    }
    long[] labels = new long[batch];
    for (int i = 0; i < batch; i++) {
      labels[i] = r.nextInt(3);
    }
    // No network: ONNX Runtime 1.29 uploads telemetry on Linux unless ORT_DISABLE_TELEMETRY=1 is set before it
    // loads (the launcher sets it); turn its events off here too, for runs outside the launcher.
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try {
      env.setTelemetry(false);
    } catch (ai.onnxruntime.OrtException e) {
      // a build without telemetry
    }
    if (System.getenv("ORT_DISABLE_TELEMETRY") == null) {
      System.err.println("note: set ORT_DISABLE_TELEMETRY=1 to keep ONNX Runtime from contacting Microsoft at start-up");
    }
    try (OrtSession session = env.createSession(attached.model().toByteArray(), new OrtSession.SessionOptions());
        OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(features), new long[] {batch, 4});
        OnnxTensor y = OnnxTensor.createTensor(env, LongBuffer.wrap(labels), new long[] {batch});
        OrtSession.Result out = session.run(Map.of("features", x, "labels", y))) {
      float[] logits = floats(out, "logits");
      LossResult core = loss.forwardBackward(Tensor.of(logits, batch, 3), Tensor.of(labels, batch));
      float[] grad = floats(out, "grad_logits");
      double worst = 0;
      for (int i = 0; i < grad.length; i++) {
        worst = Math.max(worst, Math.abs(grad[i] - core.gradInput().getDouble(i)));
      }
      return new Result(floats(out, "loss")[0], core.loss().getDouble(0), worst, attached.notes(),
          attached.model().getOpsetImportList().stream()
              .filter(o -> o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx"))
              .mapToLong(o -> o.getVersion()).findFirst().orElseThrow());
    }
  }

  private static float[] floats(OrtSession.Result r, String name) {
    FloatBuffer b = ((OnnxTensor) r.get(name).orElseThrow()).getFloatBuffer();
    float[] v = new float[b.remaining()];
    b.get(v);
    return v;
  }

  /**
   * Prints the comparison.
   *
   * @param args unused
   * @throws Exception when the engine fails to load or to run
   */
  public static void main(String[] args) throws Exception {
    Result r = run(64, 3);
    System.out.println("classifier.onnx (torch.onnx.export, opset 11) + CrossEntropyLoss(weight=[1, 2.5, 0.5],"
        + " label_smoothing=0.1)");
    r.notes().forEach(n -> System.out.println("note: " + n));
    System.out.println("the loss is emitted at the model's own opset, " + r.opset() + "; no existing node changes");
    System.out.printf(Locale.ROOT, "loss in ONNX Runtime:         %.7f%n", r.onnxLoss());
    System.out.printf(Locale.ROOT, "loss in losskit's core:       %.7f%n", r.coreLoss());
    System.out.printf(Locale.ROOT, "largest gradient difference:  %.2e%n", r.gradientError());
  }
}
