package dev.losskit.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.Loss;
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
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * {@code classAxis(-1)}: the graph reads {@code (N, d..., C)} and gives the gradient in that layout. Expected values
 * are the core's on the same numbers moved to {@code (N, C, d...)} (a transpose written here as loops), the gradient
 * moved back.
 */
class ClassAxisTest {
  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();
  private static final int N = 2;
  private static final int C = 4;

  private static List<Loss> losses() {
    List<Loss> out = new ArrayList<>();
    for (Reduction r : Reduction.values()) {
      out.add(CrossEntropyLoss.builder().reduction(r).build());
      out.add(CrossEntropyLoss.builder().reduction(r).weight(1, 0.5, 2, 1.5).ignoreIndex(1).labelSmoothing(0.1)
          .build());
      out.add(NllLoss.builder().reduction(r).weight(1, 2, 3, 0.5).ignoreIndex(2).build());
    }
    return out;
  }

  @TestFactory
  Stream<DynamicTest> classLastGivesTheCoresLossAndGradientInTheInputsLayout() {
    List<DynamicTest> tests = new ArrayList<>();
    for (int opset : new int[] {11, 12, 13, 17, 26}) {
      for (int rank : new int[] {1, 2}) {
        for (Loss loss : losses()) {
          for (boolean probabilities : new boolean[] {false, true}) {
            if (probabilities && (!(loss instanceof CrossEntropyLoss) || ((CrossEntropyLoss) loss).ignoreIndex() >= 0
                || loss.reduction() == Reduction.NONE && opset % 2 == 0)) {
              continue;
            }
            for (OnnxLoss.Lowering lowering : new OnnxLoss.Lowering[] {OnnxLoss.Lowering.AUTO,
                OnnxLoss.Lowering.PRIMITIVES}) {
              OnnxLoss spec = OnnxLoss.builder(loss).classAxis(-1).rank(rank).opset(opset).lowering(lowering)
                  .probabilityTargets(probabilities).withGradient(true).build();
              tests.add(DynamicTest.dynamicTest(loss + (probabilities ? ", probabilities" : "") + ", rank " + rank
                  + ", " + lowering + ", opset " + opset, () -> check(spec)));
            }
          }
        }
      }
    }
    return tests.stream();
  }

  /** Spatial sizes of rank k: 3, then 2. */
  private static int[] spatial(int rank) {
    return rank == 1 ? new int[] {3} : new int[] {3, 2};
  }

  private static void check(OnnxLoss spec) throws Exception {
    int[] d = spatial(spec.rank());
    int positions = N;
    for (int s : d) {
      positions *= s;
    }
    int inner = positions / N;
    Random random = new Random(spec.opset() * 31L + spec.rank());
    float[] last = new float[positions * C];
    for (int i = 0; i < last.length; i++) {
      last[i] = (float) random.nextGaussian() * 2;
    }
    // Class indices: every class, including the ignored index, appears.
    long[] labels = new long[positions];
    for (int i = 0; i < positions; i++) {
      labels[i] = (i * 3 + 1) % C;
    }
    float[] probsLast = new float[positions * C];
    for (int p = 0; p < positions; p++) {
      float sum = 0;
      for (int c = 0; c < C; c++) {
        probsLast[p * C + c] = random.nextFloat() + 0.05f;
        sum += probsLast[p * C + c];
      }
      for (int c = 0; c < C; c++) {
        probsLast[p * C + c] /= sum;
      }
    }
    float[] gradOut = new float[positions];
    for (int i = 0; i < positions; i++) {
      gradOut[i] = 0.5f + i % 3;
    }
    long[] lastShape = shape(N, d, C, true);
    long[] targetShape = spec.probabilities() ? lastShape : shape(N, d, 0, false);
    long[] lossShape = shape(N, d, 0, false);

    ModelProto model = spec.export();
    List<Long> declared = model.getGraph().getInputList().stream().filter(v -> v.getName().equals("input"))
        .findFirst().orElseThrow().getType().getTensorType().getShape().getDimList().stream()
        .map(x -> x.hasDimValue() ? x.getDimValue() : -1L).collect(Collectors.toList());
    assertEquals(spec.rank() + 2, declared.size());
    if (spec.loss() instanceof CrossEntropyLoss ce && ce.weight() != null) {
      assertEquals((long) C, declared.get(declared.size() - 1), "the class dimension is last");
    }

    Map<String, OnnxTensor> feeds = new HashMap<>();
    try (OrtSession s = ENV.createSession(model.toByteArray(), new OrtSession.SessionOptions())) {
      feeds.put("input", OnnxTensor.createTensor(ENV, FloatBuffer.wrap(last), lastShape));
      feeds.put("target", spec.probabilities()
          ? OnnxTensor.createTensor(ENV, FloatBuffer.wrap(probsLast), targetShape)
          : OnnxTensor.createTensor(ENV, LongBuffer.wrap(labels), targetShape));
      boolean none = spec.loss().reduction() == Reduction.NONE;
      if (none) {
        feeds.put("grad_output", OnnxTensor.createTensor(ENV, FloatBuffer.wrap(gradOut), lossShape));
      }
      try (OrtSession.Result r = s.run(feeds)) {
        int[] firstShape = new int[spec.rank() + 2];
        firstShape[0] = N;
        firstShape[1] = C;
        System.arraycopy(d, 0, firstShape, 2, d.length);
        Tensor x = Tensor.of(toClassAt1(last, N, inner, C), firstShape);
        Tensor t = spec.probabilities() ? Tensor.of(toClassAt1(probsLast, N, inner, C), firstShape)
            : Tensor.of(labels, intShape(lossShape));
        Tensor go = none ? Tensor.of(gradOut, intShape(lossShape)) : null;
        LossResult core = spec.loss().forwardBackward(x, t, go);
        float[] loss = floats(r, "loss");
        float[] expectedLoss = core.loss().toFloatArray();
        assertEquals(expectedLoss.length, loss.length);
        for (int i = 0; i < loss.length; i++) {
          assertEquals(expectedLoss[i], loss[i], 2e-6 + 2e-6 * Math.abs(expectedLoss[i]), "loss " + i);
        }
        OnnxTensor grad = (OnnxTensor) r.get("grad_input").orElseThrow();
        assertEquals(List.of(lastShape[0], lastShape[1], lastShape[lastShape.length - 1]), List.of(
            grad.getInfo().getShape()[0], grad.getInfo().getShape()[1],
            grad.getInfo().getShape()[lastShape.length - 1]), "the gradient keeps (N, d..., C)");
        float[] expected = toClassLast(core.gradInput().toFloatArray(), N, inner, C);
        float[] actual = floats(r, "grad_input");
        for (int i = 0; i < actual.length; i++) {
          assertEquals(expected[i], actual[i], 2e-6 + 2e-6 * Math.abs(expected[i]), "grad_input " + i);
        }
      }
    } finally {
      feeds.values().forEach(OnnxTensor::close);
    }
  }

  @Test
  void rankZeroIsTheSameGraphEitherWay() {
    CrossEntropyLoss ce = CrossEntropyLoss.builder().labelSmoothing(0.1).build();
    ModelProto one = OnnxLoss.builder(ce).withGradient(true).build().export();
    ModelProto last = OnnxLoss.builder(ce).withGradient(true).classAxis(-1).build().export();
    assertEquals(one, last);
  }

  @Test
  void attachOntoATaggerTakesLabelsWithoutTheClassDimension() {
    ModelProto tagger = BadInputTableTest.tagger();
    OnnxLoss.Attached a = OnnxLoss.builder(CrossEntropyLoss.builder().weight(1, 2, 3).build()).classAxis(-1)
        .withGradient(true).build().attach(tagger, "logits", "labels");
    Map<String, List<String>> shapes = new HashMap<>();
    for (ValueInfoProto v : a.model().getGraph().getInputList()) {
      shapes.put(v.getName(), dims(v));
    }
    for (ValueInfoProto v : a.model().getGraph().getOutputList()) {
      shapes.put(v.getName(), dims(v));
    }
    assertEquals(List.of("batch", "time"), shapes.get("labels"));
    assertEquals(List.of("batch", "time", "3"), shapes.get("grad_logits"));
    assertTrue(a.model().getGraph().getNodeList().stream().anyMatch(n -> n.getOpType().equals("Transpose")));
  }

  private static List<String> dims(ValueInfoProto v) {
    return v.getType().getTensorType().getShape().getDimList().stream()
        .map(x -> x.hasDimValue() ? String.valueOf(x.getDimValue()) : x.getDimParam()).collect(Collectors.toList());
  }

  private static long[] shape(int n, int[] d, int c, boolean withClasses) {
    long[] s = new long[d.length + (withClasses ? 2 : 1)];
    s[0] = n;
    for (int i = 0; i < d.length; i++) {
      s[i + 1] = d[i];
    }
    if (withClasses) {
      s[s.length - 1] = c;
    }
    return s;
  }

  private static int[] intShape(long[] s) {
    int[] out = new int[s.length];
    for (int i = 0; i < s.length; i++) {
      out[i] = (int) s[i];
    }
    return out;
  }

  /** (N, inner, C) to (N, C, inner). */
  static float[] toClassAt1(float[] v, int n, int inner, int c) {
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
  static float[] toClassLast(float[] v, int n, int inner, int c) {
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

  private static float[] floats(OrtSession.Result r, String name) {
    FloatBuffer b = ((OnnxTensor) r.get(name).orElseThrow()).getFloatBuffer();
    float[] v = new float[b.remaining()];
    b.get(v);
    return v;
  }
}
