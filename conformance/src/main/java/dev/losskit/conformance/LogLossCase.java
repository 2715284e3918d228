package dev.losskit.conformance;

import dev.losskit.core.DType;
import dev.losskit.core.LogLoss;
import dev.losskit.core.Tensor;

/**
 * One call of scikit-learn's {@code log_loss} from a golden file ({@code "loss": "log_loss"}): a metric without a
 * gradient, so it is checked on its value alone.
 *
 * @param dtype the dtype of {@code y_pred} (the case's {@code dtype})
 * @param yPred the probabilities (the case's {@code input})
 * @param yTrue the labels or the indicator matrix (the case's {@code target})
 * @param sampleWeight the sample weights, or null
 * @param normalize the mean (true, scikit-learn's default) or the sum
 * @param labels the labels, or null
 * @param warnsNotSumToOne whether scikit-learn warned that rows of {@code y_pred} do not sum to one, or null when
 *     the file does not say
 */
public record LogLossCase(DType dtype, Tensor yPred, Tensor yTrue, Tensor sampleWeight, boolean normalize,
    long[] labels, Boolean warnsNotSumToOne) {

  /** The case's {@code loss}: {@value dev.losskit.core.LogLoss#NAME}. */
  public static final String NAME = LogLoss.NAME;

  /**
   * The tolerance for float64 cases: scikit-learn computes in float64 with NumPy's pairwise sums, the core with
   * sequential sums and {@link StrictMath#log}; they differ by a few units in the last place (at most 2.9e-16
   * relative on sklearn-1.9.json).
   */
  public static final Tolerance FLOAT64 = new Tolerance(1e-12, 1e-15);

  /**
   * The tolerance for float32 cases. scikit-learn clips, takes the logarithms and sums in float32 (NumPy's float32
   * {@code log} and pairwise sums, each a rounding of relative size up to 2^-24, about 6e-8), while the core clips
   * in float32 as scikit-learn does but takes the logarithms and sums in double. Their difference is therefore
   * scikit-learn's float32 rounding: a few units of 6e-8 per logarithm and per addition, of the order of 1e-7
   * relative on small shapes: at most 1.8e-7 on sklearn-1.9.json, which {@code LogLossGoldenTest} holds under
   * 1e-6. 1e-5 leaves a wide margin for that (and for the longer float32 sums of larger files), yet catches any
   * wrong clipping epsilon: float32's clipped logarithm is 15.94 where float64's is 36.04.
   */
  public static final Tolerance FLOAT32 = new Tolerance(1e-5, 1e-6);

  /** {@return the tolerance of this case's dtype} */
  public Tolerance tolerance() {
    return dtype == DType.FLOAT32 ? FLOAT32 : FLOAT64;
  }

  /**
   * Builds the metric with this case's options and computes it.
   *
   * @return the core's result
   * @throws dev.losskit.core.LossArgumentException when the core rejects the options or the data
   */
  public LogLoss.Result run() {
    LogLoss.Builder b = LogLoss.builder().normalize(normalize);
    if (labels != null) {
      b.labels(labels);
    }
    return b.build().compute(yTrue, yPred, sampleWeight);
  }
}
