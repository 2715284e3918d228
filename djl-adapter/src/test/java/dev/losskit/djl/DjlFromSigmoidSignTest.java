package dev.losskit.djl;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.loss.SigmoidBinaryCrossEntropyLoss;
import dev.losskit.core.BceLoss;
import dev.losskit.core.Tensor;
import org.junit.jupiter.api.Test;

/**
 * What DJL's {@code SigmoidBinaryCrossEntropyLoss(fromSigmoid=true)} computes on probabilities, as the README's
 * comparison quotes it: \( \operatorname{mean}(t \log(p + \epsilon) + (1 - t)\log(1 - p + \epsilon)) \), the
 * binary cross-entropy without its minus sign (DJL's {@code evaluate}, {@code epsLog} with \( \epsilon = 10^{-12}
 * \)). On the seed's example it gives the negative of PyTorch's BCELoss. If DJL fixes the sign, this test fails and
 * the README must change.
 */
class DjlFromSigmoidSignTest {
  @Test
  void djlsFromSigmoidLossIsTheNegativeOfBceLoss() {
    float[] p = {0.7f, 0.2f};
    float[] t = {1, 0};
    double torch = BceLoss.create().forward(Tensor.of(p, 2), Tensor.of(t, 2)).getDouble(0);
    try (NDManager m = NDManager.newBaseManager("PyTorch")) {
      NDArray pred = m.create(p);
      NDArray label = m.create(t);
      float djl = new SigmoidBinaryCrossEntropyLoss("bce", 1, true)
          .evaluate(new NDList(label), new NDList(pred)).getFloat();
      // epsLog adds 1e-12 inside each log: a change far below float32's resolution at these values.
      assertEquals(-torch, djl, 1e-6);
      assertEquals(-0.2899, djl, 5e-5);
    }
  }
}
