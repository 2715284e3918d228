package dev.losskit.conformance;

import dev.losskit.core.DType;
import java.util.Map;

/**
 * One backend's result on one combination.
 *
 * @param combination the combination's stable id
 * @param axes the combination's axis values
 * @param loss the loss's name
 * @param backend the backend's name
 * @param dtype the dtype
 * @param status {@code pass}, {@code fail} or {@code skip}
 * @param valid whether libtorch accepted the input (false: both must reject it)
 * @param maxAbsError the loss's largest absolute error against libtorch at the same dtype, or null
 * @param maxRelError the loss's largest relative error, or null
 * @param gradMaxAbsError the gradient's largest absolute error, or null
 * @param gradMaxRelError the gradient's largest relative error, or null
 * @param errorVsFloat64 for float32, float16 and bfloat16: the backend's largest absolute error (loss and gradient)
 *     against libtorch in float64 on the same values, or null
 * @param libtorchErrorVsFloat64 for float32, float16 and bfloat16: libtorch's own error at that dtype against
 *     float64, or null (NaN where libtorch has no kernel for the half dtype)
 * @param reason why it failed or was skipped, or a remark on a pass; null otherwise
 */
public record CaseResult(
    String combination,
    Map<String, String> axes,
    String loss,
    String backend,
    DType dtype,
    String status,
    boolean valid,
    Double maxAbsError,
    Double maxRelError,
    Double gradMaxAbsError,
    Double gradMaxRelError,
    Double errorVsFloat64,
    Double libtorchErrorVsFloat64,
    String reason) {

  /** {@return true unless the backend failed} */
  public boolean ok() {
    return !status.equals("fail");
  }
}
