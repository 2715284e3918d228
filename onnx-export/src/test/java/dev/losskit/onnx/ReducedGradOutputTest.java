package dev.losskit.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.losskit.core.BceLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.DType;
import dev.losskit.core.Loss;
import dev.losskit.core.LossResult;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link OnnxLoss.Builder#reducedGradOutput}: a reduced loss's graph takes a scalar upstream gradient and gives the
 * gradient of {@code grad_output · loss}, computed inside the graph, as the core's backward with that upstream.
 */
class ReducedGradOutputTest {
  private static final double UPSTREAM = 0.3701171875; // a float16 value, so every dtype holds it exactly

  private static Tensor values(DType dtype, int[] shape, Random r, boolean unit) {
    double[] v = new double[Tensor.checkedSize(shape)];
    for (int i = 0; i < v.length; i++) {
      v[i] = unit ? 0.05 + 0.9 * r.nextDouble() : 2 * r.nextGaussian();
    }
    return Tensor.rounded(v, dtype, shape);
  }

  @Test
  void theGraphsGradientIsTheCoresForTheUpstreamGiven() throws Exception {
    Random r = new Random(7);
    int[] shape = {6, 5};
    for (DType dtype : List.of(DType.FLOAT16, DType.BFLOAT16)) {
      for (Reduction reduction : List.of(Reduction.MEAN, Reduction.SUM)) {
        Loss ce = CrossEntropyLoss.builder().reduction(reduction).weight(0.5, 1, 1.5, 2, 0.75).labelSmoothing(0.1)
            .build();
        Tensor x = values(dtype, shape, r, false);
        Tensor t = Tensor.of(new long[] {0, 4, 2, 1, 3, 0}, 6);
        check(ce, x, t, dtype, reduction, false);
        Loss bce = BceLoss.builder().reduction(reduction).build();
        check(bce, values(dtype, shape, r, true), values(dtype, shape, r, true), dtype, reduction, true);
      }
    }
  }

  private static void check(Loss loss, Tensor x, Tensor t, DType dtype, Reduction reduction, boolean elementwise)
      throws Exception {
    OnnxLoss spec = OnnxLoss.builder(loss).dtype(dtype).rank(elementwise ? 1 : 0).lowering(OnnxLoss.Lowering.PRIMITIVES)
        .withGradient(true).reducedGradOutput(true).build();
    Map<String, Tensor> in = new LinkedHashMap<>();
    in.put("input", x);
    in.put("target", t);
    in.put("grad_output", Tensor.rounded(new double[] {UPSTREAM}, dtype));
    Tensor[] got = OnnxHalfTest.runGraph(spec.export(), in, dtype, "grad_input");
    LossResult want = loss.forwardBackward(x, t, Tensor.rounded(new double[] {UPSTREAM}, dtype));
    String what = loss.name() + " " + reduction + " " + dtype;
    assertEquals(want.loss().getDouble(0), got[0].getDouble(0), Math.abs(want.loss().getDouble(0)) * 1e-2,
        what + ": the loss is the loss itself, whatever the upstream");
    // float32 inside the graph, double in the core: the same rounding to the half dtype of nearly the same value,
    // within one half ulp.
    double rel = dtype == DType.FLOAT16 ? 0x1p-10 : 0x1p-7;
    double largest = 0;
    for (int i = 0; i < want.gradInput().numel(); i++) {
      double e = want.gradInput().getDouble(i);
      largest = Math.max(largest, Math.abs(e));
      assertEquals(e, got[1].getDouble(i), Math.abs(e) * rel + 1e-7, what + " grad element " + i);
    }
    assertTrue(largest > 0, what + ": a gradient to compare");
    // Without the option the graph has no grad_output for a reduced loss: its gradient is the loss's own.
    OnnxLoss plain = OnnxLoss.builder(loss).dtype(dtype).rank(elementwise ? 1 : 0).lowering(OnnxLoss.Lowering.PRIMITIVES)
        .withGradient(true).build();
    assertTrue(plain.export().getGraph().getInputList().stream().noneMatch(v -> v.getName().equals("grad_output")),
        what);
  }
}
