package dev.losskit.conformance;

import dev.losskit.core.DType;
import dev.losskit.core.Tensor;

/**
 * One case of a golden file: a loss call, and what PyTorch computed for it.
 *
 * @param id the case's id, unique in its file
 * @param call the loss call
 * @param expectedLoss the expected loss, or null for an error case
 * @param expectedGrad the expected gradient with respect to the input, or null for an error case
 * @param oracleLoss for a float32 case, PyTorch's float64 loss on the same values, or null
 * @param oracleGrad for a float32 case, PyTorch's float64 gradient on the same values, or null
 */
public record GoldenCase(
    String id, LossCase call, Tensor expectedLoss, Tensor expectedGrad, Tensor oracleLoss, Tensor oracleGrad) {

  /** {@return true when PyTorch rejected the input, so the core must reject it too} */
  public boolean expectsError() {
    return expectedLoss == null;
  }

  /** {@return the input's dtype} */
  public DType dtype() {
    return call.dtype();
  }
}
