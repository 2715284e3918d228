package dev.losskit.conformance;

import dev.losskit.core.DType;
import dev.losskit.core.Tensor;

/**
 * One case of a golden file: a loss call, and what PyTorch computed for it; or a scikit-learn {@code log_loss}
 * call and what scikit-learn computed for it.
 *
 * @param id the case's id, unique in its file
 * @param call the loss call, or null for a {@code log_loss} case
 * @param expectedLoss the expected loss, or null for an error case
 * @param expectedGrad the expected gradient with respect to the input, or null for an error case or a
 *     {@code log_loss} case
 * @param oracleLoss for a float32 case, PyTorch's float64 loss on the same values, or null
 * @param oracleGrad for a float32 case, PyTorch's float64 gradient on the same values, or null
 * @param logLoss the {@code log_loss} call, or null for a PyTorch loss case
 */
public record GoldenCase(
    String id, LossCase call, Tensor expectedLoss, Tensor expectedGrad, Tensor oracleLoss, Tensor oracleGrad,
    LogLossCase logLoss) {

  /**
   * A PyTorch loss case.
   *
   * @param id the case's id, unique in its file
   * @param call the loss call
   * @param expectedLoss the expected loss, or null for an error case
   * @param expectedGrad the expected gradient with respect to the input, or null for an error case
   * @param oracleLoss for a float32 case, PyTorch's float64 loss on the same values, or null
   * @param oracleGrad for a float32 case, PyTorch's float64 gradient on the same values, or null
   */
  public GoldenCase(
      String id, LossCase call, Tensor expectedLoss, Tensor expectedGrad, Tensor oracleLoss, Tensor oracleGrad) {
    this(id, call, expectedLoss, expectedGrad, oracleLoss, oracleGrad, null);
  }

  /**
   * A scikit-learn {@code log_loss} case.
   *
   * @param id the case's id, unique in its file
   * @param logLoss the call
   * @param expectedLoss scikit-learn's value (shape {@code []}), or null when scikit-learn raised
   * @return the case
   */
  public static GoldenCase ofLogLoss(String id, LogLossCase logLoss, Tensor expectedLoss) {
    return new GoldenCase(id, null, expectedLoss, null, null, null, logLoss);
  }

  /** {@return true when PyTorch (or scikit-learn) rejected the input, so the core must reject it too} */
  public boolean expectsError() {
    return expectedLoss == null;
  }

  /** {@return the input's dtype} */
  public DType dtype() {
    return call != null ? call.dtype() : logLoss.dtype();
  }
}
