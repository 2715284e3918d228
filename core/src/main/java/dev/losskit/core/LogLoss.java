package dev.losskit.core;

import dev.losskit.core.LossArgumentException.Cause;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.TreeSet;

/**
 * scikit-learn's {@code sklearn.metrics.log_loss}, with the semantics of scikit-learn 1.9.1: the negative
 * log-likelihood of the true labels under predicted probabilities, averaged (or summed) over the samples.
 *
 * <p>It is a metric, not a training loss: it has no gradient, so it is not a {@link Loss}. With
 * \( Y \) the one-hot (or indicator) encoding of {@code y_true} over the classes, \( P \) the predicted
 * probabilities, \( \varepsilon \) the machine epsilon of {@code y_pred}'s dtype and \( w \) the sample weights
 * (ones when absent):
 * \[ \ell_i = -\sum_{c} Y_{ic} \log \operatorname{clip}(P_{ic}, \varepsilon, 1-\varepsilon), \qquad
 *    \text{log\_loss} = \frac{\sum_i w_i \ell_i}{\sum_i w_i} \ \text{(normalize)} \quad\text{or}\quad
 *    \sum_i w_i \ell_i . \]
 *
 * <p>The arguments, as scikit-learn reads them:
 * <ul>
 *   <li>{@code y_true}: labels of shape {@code (N)} or {@code (N, 1)} (int32, int64, or floating with whole
 *       values; or a {@code String[]}), or an indicator matrix of shape {@code (N, C)} with {@code C >= 2}. The
 *       classes are the sorted distinct labels of {@code y_true}, or the sorted {@code labels} when given (numbers
 *       in numeric order, strings in code-point order, as NumPy sorts them). An indicator matrix is scikit-learn's
 *       "multilabel-indicator": at most two distinct whole values, used as given (a row may hold several ones or
 *       none, and values such as 2 or -1 weigh the row's logarithms), with classes {@code 0 .. C-1}; it cannot be
 *       combined with {@code labels}.</li>
 *   <li>{@code y_pred}: probabilities of shape {@code (N, C)}, column {@code c} for the {@code c}-th class, or of
 *       shape {@code (N)} or {@code (N, 1)}: the probability \( p \) of the second (greater) class, read as the two
 *       columns \( [1-p, p] \) with \( 1-p \) rounded to the dtype. float32 and float64 keep their dtype; int32 and
 *       int64 are read as float64, as scikit-learn's {@code check_array} converts them.</li>
 *   <li>{@code sample_weight}: optional, shape {@code (N)}, any dtype; negative weights are allowed.</li>
 * </ul>
 *
 * <p>The checks, in scikit-learn's order, each a {@link LossArgumentException} with a one-line message naming the
 * value: {@code y_pred} must be 1-D or 2-D ({@link Cause#INPUT_SHAPE}), finite ({@link Cause#PROBABILITY_RANGE}),
 * non-empty with at least one column ({@code INPUT_SHAPE}) and within {@code [0, 1]} ({@code PROBABILITY_RANGE});
 * {@code y_pred}, {@code y_true} and {@code sample_weight} must have the same number of samples
 * ({@link Cause#SHAPE_MISMATCH}); the sample weights must be 1-D ({@link Cause#WEIGHT_SHAPE}), finite and not all
 * zero ({@link Cause#SAMPLE_WEIGHT}); {@code labels} must hold at least two distinct values
 * ({@link Cause#CLASS_COUNT}, {@link Cause#OPTION} for a repeated one) and every label of {@code y_true} must be
 * among them ({@link Cause#TARGET_OUT_OF_RANGE}); floating labels must be whole numbers
 * ({@link Cause#TARGET_NOT_CLASS_INDEX}); an indicator {@code y_true} must not come with {@code labels} nor hold
 * more than two distinct values ({@link Cause#TARGET_TYPE}); without {@code labels}, {@code y_true} must hold at
 * least two classes, and {@code y_pred} must have one column per class ({@code CLASS_COUNT}); a normalized loss
 * needs weights whose sum is not zero ({@code SAMPLE_WEIGHT}, scikit-learn's {@code ZeroDivisionError}).
 *
 * <p>scikit-learn only warns, and uses {@code y_pred} as given, when a row does not sum to 1: when
 * \( |s - 1| > \sqrt{\varepsilon} + 10^{-8} \) for the row sum \( s \), computed as NumPy computes it (pairwise,
 * in {@code y_pred}'s dtype, after the {@code [1-p, p]} expansion). This class does the same and reports the
 * number of such rows in {@link Result#rowsNotSummingToOne()} and scikit-learn's warning in
 * {@link Result#warnings()}; it also reports scikit-learn's warning about {@code labels} that are not sorted. It
 * never prints.
 *
 * <p>Precision: the clipping to \( [\varepsilon, 1-\varepsilon] \), with \( \varepsilon = 2^{-23} \) for float32
 * and \( 2^{-52} \) for float64, and the expansion \( 1-p \) are done in {@code y_pred}'s dtype, exactly as
 * scikit-learn does them. The logarithms ({@link StrictMath#log}) and the sums are then computed in double
 * precision and the result is a double. scikit-learn computes the logarithms and sums of a float32 input in
 * float32, so on float32 input this class is more accurate than scikit-learn and differs from it by
 * scikit-learn's float32 rounding (a few units in the 7th significant digit); on float64 input the two differ
 * only by the order of the additions (NumPy's are pairwise) and the last bit of a logarithm. The sums run row by
 * row in sample order, so an {@link Accumulator} fed the same rows in batches gives the single call's result bit
 * for bit. Only the test of the row sums copies NumPy's summation order, since it decides a yes or no.
 *
 * <p>Instances are immutable and thread-safe; an {@link Accumulator} is not.
 */
public final class LogLoss {
  /** scikit-learn's function name, {@code log_loss}. */
  public static final String NAME = "log_loss";

  /** The warning scikit-learn gives when a row of {@code y_pred} does not sum to 1, word for word. */
  public static final String ROWS_NOT_SUMMING_TO_ONE =
      "The y_prob values do not sum to one. Make sure to pass probabilities.";

  private static final double EPS64 = 0x1p-52;
  private static final float EPS32 = 0x1p-23f;
  /** NumPy's {@code isclose} bound for a float64 row sum: {@code atol + rtol} with rtol = sqrt(eps) = 2^-26. */
  private static final double SUM_TOLERANCE64 = 1e-8 + Math.sqrt(EPS64);
  /** The float32 bound, computed as NumPy does: both terms rounded to float32, added in float32. */
  private static final float SUM_TOLERANCE32 = 1e-8f + (float) Math.sqrt(EPS32);

  /** Strings in NumPy's order: by Unicode code point (Java's compareTo orders UTF-16 units instead). */
  private static final Comparator<String> CODE_POINT_ORDER = (a, b) -> {
    int i = 0;
    int j = 0;
    while (i < a.length() && j < b.length()) {
      int ca = a.codePointAt(i);
      int cb = b.codePointAt(j);
      if (ca != cb) {
        return Integer.compare(ca, cb);
      }
      i += Character.charCount(ca);
      j += Character.charCount(cb);
    }
    return Boolean.compare(i < a.length(), j < b.length());
  };

  private final boolean normalize;
  private final long[] numericLabels;
  private final String[] stringLabels;
  private final String labelsOrderWarning;

  private LogLoss(Builder b) {
    this.normalize = b.normalize;
    this.numericLabels = b.numericLabels;
    this.stringLabels = b.stringLabels;
    this.labelsOrderWarning = b.labelsOrderWarning;
  }

  /** {@return the metric with scikit-learn's defaults: {@code normalize=True}, no {@code labels}} */
  public static LogLoss create() {
    return builder().build();
  }

  /** {@return a builder starting from scikit-learn's defaults} */
  public static Builder builder() {
    return new Builder();
  }

  /** {@return true for the (weighted) mean over the samples, false for the (weighted) sum} */
  public boolean normalize() {
    return normalize;
  }

  /** {@return the numeric labels, sorted, or null when there are none (or they are strings)} */
  public long[] labels() {
    return numericLabels == null ? null : numericLabels.clone();
  }

  /** {@return the string labels in code-point order, or null when there are none (or they are numbers)} */
  public String[] stringLabels() {
    return stringLabels == null ? null : stringLabels.clone();
  }

  /**
   * Computes the log loss of labels or an indicator matrix, without sample weights.
   *
   * @param yTrue labels {@code (N)} or {@code (N, 1)}, or an indicator matrix {@code (N, C)}
   * @param yPred probabilities {@code (N, C)}, or of the second class {@code (N)} or {@code (N, 1)}
   * @return the loss, the classes used and scikit-learn's warnings
   * @throws LossArgumentException naming the bad value, wherever scikit-learn 1.9.1 raises
   */
  public Result compute(Tensor yTrue, Tensor yPred) {
    return compute(yTrue, yPred, null);
  }

  /**
   * Computes the log loss of labels or an indicator matrix.
   *
   * @param yTrue labels {@code (N)} or {@code (N, 1)}, or an indicator matrix {@code (N, C)}
   * @param yPred probabilities {@code (N, C)}, or of the second class {@code (N)} or {@code (N, 1)}
   * @param sampleWeight the sample weights {@code (N)}, or null for none
   * @return the loss, the classes used and scikit-learn's warnings
   * @throws LossArgumentException naming the bad value, wherever scikit-learn 1.9.1 raises
   */
  public Result compute(Tensor yTrue, Tensor yPred, Tensor sampleWeight) {
    if (yTrue == null) {
      throw new LossArgumentException(Cause.NULL_ARGUMENT, NAME + ": y_true must not be null");
    }
    return computeOnce(new Truth(yTrue, null), yPred, sampleWeight);
  }

  /**
   * Computes the log loss of string labels.
   *
   * @param yTrue the labels, one per sample; no element may be null
   * @param yPred probabilities {@code (N, C)}, or of the second class {@code (N)} or {@code (N, 1)}
   * @param sampleWeight the sample weights {@code (N)}, or null for none
   * @return the loss, the classes used and scikit-learn's warnings
   * @throws LossArgumentException naming the bad value, wherever scikit-learn 1.9.1 raises
   */
  public Result compute(String[] yTrue, Tensor yPred, Tensor sampleWeight) {
    if (yTrue == null) {
      throw new LossArgumentException(Cause.NULL_ARGUMENT, NAME + ": y_true must not be null");
    }
    return computeOnce(new Truth(null, yTrue.clone()), yPred, sampleWeight);
  }

  /**
   * Starts an accumulation over batches, e.g. for an evaluator that sees a dataset batch by batch.
   *
   * @return an empty accumulator using this metric's options
   */
  public Accumulator accumulator() {
    return new Accumulator(this);
  }

  private Result computeOnce(Truth truth, Tensor yPred, Tensor sampleWeight) {
    Accumulator once = new Accumulator(this);
    once.add(truth, yPred, sampleWeight, true);
    return once.result();
  }

  @Override
  public String toString() {
    String labels = numericLabels != null ? Arrays.toString(numericLabels)
        : stringLabels != null ? Arrays.toString(stringLabels) : "none";
    return "LogLoss(normalize=" + normalize + ", labels=" + labels + ")";
  }

  // ---- the result ------------------------------------------------------------------------------------------------

  /**
   * What {@code log_loss} returned, with what scikit-learn would have warned about.
   *
   * @param loss the log loss: the weighted mean over the samples ({@code normalize}) or the weighted sum
   * @param samples the number of samples
   * @param rowsNotSummingToOne how many rows of {@code y_pred} (after the {@code [1-p, p]} expansion) do not sum to
   *     1 by scikit-learn's test; scikit-learn warns once when there is any, and uses the rows as given
   * @param classes the classes, in the order of {@code y_pred}'s columns: {@link Long} for numeric labels and for
   *     the columns {@code 0 .. C-1} of an indicator matrix, {@link String} for string labels
   * @param warnings scikit-learn's warnings for this call, in its order (empty when it would warn about nothing)
   */
  public record Result(double loss, long samples, long rowsNotSummingToOne, List<Object> classes,
      List<String> warnings) {
    /**
     * Makes a result; the lists are copied.
     *
     * @param loss the log loss
     * @param samples the number of samples
     * @param rowsNotSummingToOne how many rows of {@code y_pred} do not sum to 1
     * @param classes the classes, in the order of {@code y_pred}'s columns
     * @param warnings scikit-learn's warnings
     */
    public Result {
      classes = List.copyOf(classes);
      warnings = List.copyOf(warnings);
    }
  }

  // ---- the accumulator -------------------------------------------------------------------------------------------

  /**
   * Accumulates {@code log_loss} over batches: {@link #result()} is what scikit-learn gives for the concatenation
   * of every batch added so far, the total weighted loss over the total weight ({@code normalize}) or the total.
   *
   * <p>The classes are fixed up front: label targets need the metric's {@code labels}; an indicator matrix fixes
   * its number of columns with the first batch (and a metric with {@code labels} takes no indicator matrix, as in
   * scikit-learn). Every batch must have the first batch's {@code y_pred} dtype (a concatenation would otherwise be
   * promoted to float64, which changes the clipping epsilon). A batch without sample weights counts as weights of
   * 1. The checks that scikit-learn makes on the whole data (at least one sample, weights not all zero, a weight
   * sum that is not zero for the mean, at most two distinct values in an indicator matrix) are made across the
   * batches: the last one by {@link #add}, the others by {@link #result()}.
   *
   * <p>A rejected batch leaves the accumulator as it was. Not thread-safe: use one per thread, or lock around it.
   */
  public static final class Accumulator {
    private final LogLoss metric;
    private DType dtype;
    private List<Object> classes;
    private double[] indicatorValues = new double[0];
    private double weightedLoss;
    private double weightSum;
    private long samples;
    private long rowsNotSummingToOne;
    private boolean weightsGiven;
    private boolean nonZeroWeight;

    private Accumulator(LogLoss metric) {
      this.metric = metric;
    }

    /**
     * Adds a batch without sample weights (each sample weighs 1).
     *
     * @param yTrue labels {@code (N)} or {@code (N, 1)} (the metric must have {@code labels}), or an indicator
     *     matrix {@code (N, C)}; N may be 0
     * @param yPred probabilities {@code (N, C)}, or of the second class {@code (N)} or {@code (N, 1)}
     * @throws LossArgumentException naming the bad value; the accumulator is then unchanged
     */
    public void add(Tensor yTrue, Tensor yPred) {
      add(yTrue, yPred, null);
    }

    /**
     * Adds a batch.
     *
     * @param yTrue labels {@code (N)} or {@code (N, 1)} (the metric must have {@code labels}), or an indicator
     *     matrix {@code (N, C)}; N may be 0
     * @param yPred probabilities {@code (N, C)}, or of the second class {@code (N)} or {@code (N, 1)}
     * @param sampleWeight the batch's sample weights {@code (N)}, or null for weights of 1
     * @throws LossArgumentException naming the bad value; the accumulator is then unchanged
     */
    public void add(Tensor yTrue, Tensor yPred, Tensor sampleWeight) {
      if (yTrue == null) {
        throw new LossArgumentException(Cause.NULL_ARGUMENT, NAME + ": y_true must not be null");
      }
      add(new Truth(yTrue, null), yPred, sampleWeight, false);
    }

    /**
     * Adds a batch of string labels (the metric must have string {@code labels}).
     *
     * @param yTrue the labels, one per sample; no element may be null
     * @param yPred probabilities {@code (N, C)}, or of the second class {@code (N)} or {@code (N, 1)}
     * @param sampleWeight the batch's sample weights {@code (N)}, or null for weights of 1
     * @throws LossArgumentException naming the bad value; the accumulator is then unchanged
     */
    public void add(String[] yTrue, Tensor yPred, Tensor sampleWeight) {
      if (yTrue == null) {
        throw new LossArgumentException(Cause.NULL_ARGUMENT, NAME + ": y_true must not be null");
      }
      add(new Truth(null, yTrue.clone()), yPred, sampleWeight, false);
    }

    /** {@return the number of samples added so far} */
    public long samples() {
      return samples;
    }

    /** Forgets every batch: the accumulator is as new (the dtype and the indicator columns are free again). */
    public void reset() {
      dtype = null;
      classes = null;
      indicatorValues = new double[0];
      weightedLoss = 0;
      weightSum = 0;
      samples = 0;
      rowsNotSummingToOne = 0;
      weightsGiven = false;
      nonZeroWeight = false;
    }

    /**
     * Gives scikit-learn's {@code log_loss} of everything added so far.
     *
     * @return the loss over the concatenated batches
     * @throws LossArgumentException when scikit-learn would reject the concatenation: no samples
     *     ({@link Cause#INPUT_SHAPE}), sample weights all zero, or weights summing to zero for the mean
     *     ({@link Cause#SAMPLE_WEIGHT})
     */
    public Result result() {
      if (samples == 0) {
        throw new LossArgumentException(Cause.INPUT_SHAPE,
            NAME + ": no samples: y_pred needs at least 1 (scikit-learn: found array with 0 sample(s))");
      }
      if (weightsGiven && !nonZeroWeight) {
        throw new LossArgumentException(Cause.SAMPLE_WEIGHT,
            NAME + ": every sample weight is 0: sample weights must contain at least one non-zero number");
      }
      double loss;
      if (metric.normalize) {
        if (weightSum == 0) {
          throw new LossArgumentException(Cause.SAMPLE_WEIGHT, NAME + ": the sample weights sum to zero, so"
              + " their weighted mean cannot be normalized (scikit-learn raises ZeroDivisionError)");
        }
        loss = weightedLoss / weightSum;
      } else {
        loss = weightedLoss;
      }
      List<String> warnings = new ArrayList<>(2);
      if (metric.labelsOrderWarning != null) {
        warnings.add(metric.labelsOrderWarning);
      }
      if (rowsNotSummingToOne > 0) {
        warnings.add(ROWS_NOT_SUMMING_TO_ONE);
      }
      return new Result(loss, samples, rowsNotSummingToOne, classes == null ? List.of() : classes, warnings);
    }

    private static boolean allZero(double[] w) {
      for (double v : w) {
        if (v != 0) {
          return false;
        }
      }
      return true;
    }

    /**
     * Checks a batch completely, then adds it. {@code once} is a single {@code log_loss} call: the batch is the
     * whole data, so it must not be empty, and label targets may define the classes.
     */
    private void add(Truth truth, Tensor yPred, Tensor sampleWeight, boolean once) {
      Probabilities p = Probabilities.of(yPred, once);
      int n = p.rows;
      int trueRows = truth.rows();
      int weightRows = sampleWeight == null ? n : sampleWeightRows(sampleWeight);
      if (trueRows != n || weightRows != n) {
        throw new LossArgumentException(Cause.SHAPE_MISMATCH, NAME + ": inconsistent numbers of samples: y_pred "
            + n + ", y_true " + trueRows + (sampleWeight == null ? "" : ", sample_weight " + weightRows));
      }
      double[] w = sampleWeight == null ? null : sampleWeights(sampleWeight);
      if (once && w != null && allZero(w)) {
        // scikit-learn's _check_sample_weight, before y_true is encoded: a single call checks it here, so that a
        // call with every weight 0 and a single class gets scikit-learn's error; batches check it in result().
        throw new LossArgumentException(Cause.SAMPLE_WEIGHT,
            NAME + ": every sample weight is 0: sample weights must contain at least one non-zero number");
      }
      if (dtype != null && p.dtype != dtype) {
        throw new LossArgumentException(Cause.DTYPE, NAME + ": y_pred is " + p.dtype + " but earlier batches were "
            + dtype + ": every batch must have the same dtype");
      }
      Targets t = metric.encode(truth, once, classes, indicatorValues);
      checkColumns(t, p);

      // Everything is checked: the batch is added.
      for (int i = 0; i < n; i++) {
        double wi = w == null ? 1 : w[i];
        weightedLoss += wi * rowLoss(t, p, i);
        weightSum += wi;
        nonZeroWeight |= wi != 0;
        if (!rowSumsToOne(p, i)) {
          rowsNotSummingToOne++;
        }
      }
      weightsGiven |= w != null;
      samples += n;
      dtype = p.dtype;
      classes = t.classes;
      indicatorValues = t.indicatorValues;
    }

    private void checkColumns(Targets t, Probabilities p) {
      int k = t.classes.size();
      if (k == p.columns) {
        return;
      }
      String columns = p.columns + " columns" + (p.expanded ? " (a 1-D y_pred of p reads as [1-p, p])" : "");
      if (t.fromLabels) {
        throw new LossArgumentException(Cause.CLASS_COUNT, NAME + ": the number of classes in labels (" + k + ": "
            + t.classes + ") differs from y_pred's " + columns);
      }
      throw new LossArgumentException(Cause.CLASS_COUNT, NAME + ": y_true and y_pred contain different numbers of"
          + " classes: " + k + " vs " + p.columns + "; pass every class through labels (classes found in y_true: "
          + t.classes + "; y_pred has " + columns + ")");
    }
  }

  // ---- y_pred ----------------------------------------------------------------------------------------------------

  /**
   * {@code y_pred} after scikit-learn's checks and its {@code [1-p, p]} expansion: row-major values, each exactly
   * representable in {@code dtype}.
   */
  private static final class Probabilities {
    final DType dtype;
    final int rows;
    final int columns;
    final boolean expanded;
    final double[] values;

    private Probabilities(DType dtype, int rows, int columns, boolean expanded, double[] values) {
      this.dtype = dtype;
      this.rows = rows;
      this.columns = columns;
      this.expanded = expanded;
      this.values = values;
    }

    double at(int row, int column) {
      return values[row * columns + column];
    }

    static Probabilities of(Tensor yPred, boolean needRows) {
      if (yPred == null) {
        throw new LossArgumentException(Cause.NULL_ARGUMENT, NAME + ": y_pred must not be null");
      }
      int[] shape = yPred.shape();
      if (shape.length == 0 || shape.length > 2) {
        throw new LossArgumentException(Cause.INPUT_SHAPE, NAME + ": y_pred must be 1-D (N) or 2-D (N, C), got "
            + (shape.length == 0 ? "a scalar" : "shape " + Arrays.toString(shape)));
      }
      if (yPred.dtype().isHalf()) {
        throw new LossArgumentException(Cause.DTYPE, NAME + ": y_pred of dtype " + yPred.dtype()
            + " is not supported: give float32 or float64 (scikit-learn has no bfloat16)");
      }
      DType dtype = yPred.dtype() == DType.FLOAT32 ? DType.FLOAT32 : DType.FLOAT64;
      double[] v = yPred.toDoubleArray();
      int bad = firstNonFinite(v, true);
      if (bad < 0) {
        bad = firstNonFinite(v, false);
      }
      if (bad >= 0) {
        throw new LossArgumentException(Cause.PROBABILITY_RANGE, NAME + ": y_pred contains "
            + (Double.isNaN(v[bad]) ? "NaN" : "infinity (" + v[bad] + ")") + " at " + index(shape, bad));
      }
      int rows = shape[0];
      int columns = shape.length == 1 ? 1 : shape[1];
      if (rows == 0 && needRows) {
        throw new LossArgumentException(Cause.INPUT_SHAPE, NAME + ": y_pred has 0 samples (shape "
            + Arrays.toString(shape) + "): at least 1 is required");
      }
      if (columns == 0) {
        throw new LossArgumentException(Cause.INPUT_SHAPE, NAME + ": y_pred has 0 columns (shape "
            + Arrays.toString(shape) + "): at least 1 is required");
      }
      if (v.length > 0) {
        int max = 0;
        int min = 0;
        for (int i = 1; i < v.length; i++) {
          max = v[i] > v[max] ? i : max;
          min = v[i] < v[min] ? i : min;
        }
        if (v[max] > 1) {
          throw new LossArgumentException(Cause.PROBABILITY_RANGE, NAME + ": y_pred contains values greater than 1:"
              + " the largest is " + format(dtype, v[max]) + " at " + index(shape, max));
        }
        if (v[min] < 0) {
          throw new LossArgumentException(Cause.PROBABILITY_RANGE, NAME + ": y_pred contains values lower than 0:"
              + " the smallest is " + format(dtype, v[min]) + " at " + index(shape, min));
        }
      }
      if (columns > 1) {
        return new Probabilities(dtype, rows, columns, false, v);
      }
      // The probability p of the second class becomes the row [1 - p, p], with 1 - p in the dtype.
      double[] two = new double[2 * rows];
      for (int i = 0; i < rows; i++) {
        two[2 * i] = dtype == DType.FLOAT32 ? 1f - (float) v[i] : 1 - v[i];
        two[2 * i + 1] = v[i];
      }
      return new Probabilities(dtype, rows, 2, true, two);
    }

    private static int firstNonFinite(double[] v, boolean nan) {
      for (int i = 0; i < v.length; i++) {
        if (nan ? Double.isNaN(v[i]) : Double.isInfinite(v[i])) {
          return i;
        }
      }
      return -1;
    }
  }

  /** {@return the loss of one row: minus the sum of its target-weighted logs of clipped probabilities} */
  private static double rowLoss(Targets t, Probabilities p, int row) {
    if (t.classIndex != null) {
      return -StrictMath.log(clip(p.dtype, p.at(row, t.classIndex[row])));
    }
    double sum = 0;
    for (int c = 0; c < p.columns; c++) {
      double y = t.indicator[row * p.columns + c];
      if (y != 0) {
        // scikit-learn casts the indicator to y_pred's dtype before multiplying.
        double yInDtype = p.dtype == DType.FLOAT32 ? (float) y : y;
        sum += yInDtype * StrictMath.log(clip(p.dtype, p.at(row, c)));
      }
    }
    return -sum;
  }

  /** {@return p clipped to [eps, 1 - eps] with the dtype's machine epsilon; both bounds are exact in the dtype} */
  private static double clip(DType dtype, double p) {
    double eps = dtype == DType.FLOAT32 ? EPS32 : EPS64;
    return Math.min(Math.max(p, eps), 1 - eps);
  }

  /**
   * scikit-learn's test of a row: {@code numpy.isclose(row.sum(), 1, rtol=sqrt(eps))}, i.e.
   * {@code |s - 1| <= 1e-8 + sqrt(eps)}, with the sum, the difference and the bound in the dtype.
   */
  private static boolean rowSumsToOne(Probabilities p, int row) {
    int from = row * p.columns;
    if (p.dtype == DType.FLOAT32) {
      float s = pairwiseSum32(p.values, from, p.columns);
      return Math.abs(s - 1f) <= SUM_TOLERANCE32;
    }
    double s = pairwiseSum64(p.values, from, p.columns);
    return Math.abs(s - 1) <= SUM_TOLERANCE64;
  }

  /**
   * NumPy's pairwise summation ({@code pairwise_sum} in {@code numpy/_core/src/umath/loops_utils.h.src}), which
   * {@code numpy.sum} uses along a contiguous axis: sequential below 8 terms, eight interleaved partial sums up
   * to 128, halves (at a multiple of 8) above.
   */
  static double pairwiseSum64(double[] a, int from, int n) {
    if (n < 8) {
      double res = 0;
      for (int i = 0; i < n; i++) {
        res += a[from + i];
      }
      return res;
    } else if (n <= 128) {
      double[] r = Arrays.copyOfRange(a, from, from + 8);
      int i = 8;
      for (; i < n - (n % 8); i += 8) {
        for (int j = 0; j < 8; j++) {
          r[j] += a[from + i + j];
        }
      }
      double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      for (; i < n; i++) {
        res += a[from + i];
      }
      return res;
    }
    int n2 = n / 2;
    n2 -= n2 % 8;
    return pairwiseSum64(a, from, n2) + pairwiseSum64(a, from + n2, n - n2);
  }

  /** {@link #pairwiseSum64} in float32 arithmetic, for float32 values held as doubles. */
  static float pairwiseSum32(double[] a, int from, int n) {
    if (n < 8) {
      float res = 0;
      for (int i = 0; i < n; i++) {
        res += (float) a[from + i];
      }
      return res;
    } else if (n <= 128) {
      float[] r = new float[8];
      for (int j = 0; j < 8; j++) {
        r[j] = (float) a[from + j];
      }
      int i = 8;
      for (; i < n - (n % 8); i += 8) {
        for (int j = 0; j < 8; j++) {
          r[j] += (float) a[from + i + j];
        }
      }
      float res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      for (; i < n; i++) {
        res += (float) a[from + i];
      }
      return res;
    }
    int n2 = n / 2;
    n2 -= n2 % 8;
    return pairwiseSum32(a, from, n2) + pairwiseSum32(a, from + n2, n - n2);
  }

  // ---- sample weights --------------------------------------------------------------------------------------------

  private static int sampleWeightRows(Tensor w) {
    if (w.dim() == 0) {
      throw new LossArgumentException(Cause.WEIGHT_SHAPE,
          NAME + ": sample_weight must be 1-D (N), got a scalar");
    }
    return w.size(0);
  }

  private static double[] sampleWeights(Tensor w) {
    if (w.dim() != 1) {
      throw new LossArgumentException(Cause.WEIGHT_SHAPE, NAME + ": sample_weight must be 1-D (N), got shape "
          + Arrays.toString(w.shape()));
    }
    double[] v = w.toDoubleArray();
    for (int i = 0; i < v.length; i++) {
      if (!Double.isFinite(v[i])) {
        throw new LossArgumentException(Cause.SAMPLE_WEIGHT, NAME + ": sample_weight contains "
            + (Double.isNaN(v[i]) ? "NaN" : "infinity (" + v[i] + ")") + " at [" + i + "]");
      }
    }
    return v;
  }

  // ---- y_true ----------------------------------------------------------------------------------------------------

  /** {@code y_true} as given: a tensor, or string labels. */
  private record Truth(Tensor tensor, String[] strings) {
    int rows() {
      if (strings != null) {
        return strings.length;
      }
      if (tensor.dim() == 0) {
        throw new LossArgumentException(Cause.TARGET_TYPE,
            NAME + ": y_true must be labels (N) or an indicator matrix (N, C), got a scalar");
      }
      return tensor.size(0);
    }

    boolean isIndicator() {
      return tensor != null && tensor.dim() == 2 && tensor.size(1) != 1;
    }
  }

  /**
   * {@code y_true} encoded over the classes: a class index per row (labels), or the indicator matrix as given.
   *
   * @param classes the classes in column order
   * @param fromLabels whether the classes are the metric's {@code labels}
   * @param classIndex the class of each row, or null for an indicator matrix
   * @param indicator the indicator matrix, row-major, or null for labels
   * @param indicatorValues the distinct values seen in indicator matrices so far (at most two)
   */
  private record Targets(List<Object> classes, boolean fromLabels, int[] classIndex, double[] indicator,
      double[] indicatorValues) {}

  /**
   * Encodes {@code y_true} as scikit-learn's {@code LabelBinarizer} does. {@code once}: a single call, where labels
   * without {@code labels} define the classes. {@code fixed}: the classes of earlier batches, or null.
   */
  private Targets encode(Truth truth, boolean once, List<Object> fixed, double[] seenIndicatorValues) {
    if (truth.tensor != null && truth.tensor.dim() > 2) {
      throw new LossArgumentException(Cause.TARGET_TYPE, NAME + ": y_true must be labels (N) or an indicator"
          + " matrix (N, C), got shape " + Arrays.toString(truth.tensor.shape()));
    }
    if (truth.isIndicator()) {
      return encodeIndicator(truth.tensor, fixed, seenIndicatorValues);
    }
    boolean haveLabels = numericLabels != null || stringLabels != null;
    if (!haveLabels && !once) {
      throw new LossArgumentException(Cause.OPTION, NAME + ": an accumulator needs the classes up front: build the"
          + " LogLoss with labels(...) to accumulate label targets (a batch may lack a class)");
    }
    if (truth.strings != null) {
      return encodeStrings(truth.strings);
    }
    long[] y = numericLabels(truth.tensor);
    if (stringLabels != null) {
      throw new LossArgumentException(Cause.TARGET_OUT_OF_RANGE, NAME + ": y_true holds numbers but the labels are"
          + " strings " + Arrays.toString(stringLabels) + ": y_true contains values not belonging to the labels");
    }
    long[] classes = numericLabels;
    if (classes == null) {
      classes = Arrays.stream(y).distinct().sorted().toArray();
      if (classes.length < 2) {
        throw new LossArgumentException(Cause.CLASS_COUNT, NAME + ": y_true contains only one label ("
            + classes[0] + "): pass every expected class through labels");
      }
    }
    int[] index = new int[y.length];
    TreeSet<Long> undeclared = new TreeSet<>();
    int first = -1;
    for (int i = 0; i < y.length; i++) {
      index[i] = Arrays.binarySearch(classes, y[i]);
      if (index[i] < 0) {
        undeclared.add(y[i]);
        first = first < 0 ? i : first;
      }
    }
    if (!undeclared.isEmpty()) {
      throw new LossArgumentException(Cause.TARGET_OUT_OF_RANGE, NAME + ": y_true contains values "
          + shortList(undeclared) + " not belonging to the passed labels " + Arrays.toString(classes)
          + " (the first at [" + first + "])");
    }
    List<Object> names = new ArrayList<>(classes.length);
    for (long c : classes) {
      names.add(c);
    }
    return new Targets(Collections.unmodifiableList(names), numericLabels != null, index, null, new double[0]);
  }

  private Targets encodeStrings(String[] y) {
    for (int i = 0; i < y.length; i++) {
      if (y[i] == null) {
        throw new LossArgumentException(Cause.NULL_ARGUMENT, NAME + ": y_true[" + i + "] is null");
      }
    }
    if (numericLabels != null) {
      throw new LossArgumentException(Cause.TARGET_OUT_OF_RANGE, NAME + ": y_true holds strings but the labels are"
          + " numbers " + Arrays.toString(numericLabels) + ": y_true contains values not belonging to the labels");
    }
    String[] classes = stringLabels;
    if (classes == null) {
      classes = Arrays.stream(y).distinct().sorted(CODE_POINT_ORDER).toArray(String[]::new);
      if (classes.length < 2) {
        throw new LossArgumentException(Cause.CLASS_COUNT, NAME + ": y_true contains only one label ('"
            + classes[0] + "'): pass every expected class through labels");
      }
    }
    int[] index = new int[y.length];
    TreeSet<String> undeclared = new TreeSet<>(CODE_POINT_ORDER);
    int first = -1;
    for (int i = 0; i < y.length; i++) {
      index[i] = Arrays.binarySearch(classes, y[i], CODE_POINT_ORDER);
      if (index[i] < 0) {
        undeclared.add(y[i]);
        first = first < 0 ? i : first;
      }
    }
    if (!undeclared.isEmpty()) {
      throw new LossArgumentException(Cause.TARGET_OUT_OF_RANGE, NAME + ": y_true contains values "
          + shortList(undeclared) + " not belonging to the passed labels " + Arrays.toString(classes)
          + " (the first at [" + first + "])");
    }
    return new Targets(List.of((Object[]) classes), stringLabels != null, index, null, new double[0]);
  }

  /** Reads labels (N) or (N, 1): integers as they are, floating values only when they are whole numbers. */
  private static long[] numericLabels(Tensor t) {
    long[] y = new long[t.numel()];
    boolean floating = t.dtype().isFloating();
    for (int i = 0; i < y.length; i++) {
      if (!floating) {
        y[i] = t.getLong(i);
        continue;
      }
      double v = t.getDouble(i);
      if (!isWholeInt64(v)) {
        throw new LossArgumentException(Cause.TARGET_NOT_CLASS_INDEX, NAME + ": y_true value "
            + format(t.dtype(), v) + " at " + index(t.shape(), i) + " is not a class label: floating labels must"
            + " be whole numbers (scikit-learn reads other values as a continuous target)");
      }
      y[i] = (long) v;
    }
    return y;
  }

  /** An indicator matrix: at most two distinct whole values over every batch; the classes are its columns. */
  private Targets encodeIndicator(Tensor t, List<Object> fixed, double[] seen) {
    int columns = t.size(1);
    if (numericLabels != null || stringLabels != null) {
      throw new LossArgumentException(Cause.TARGET_TYPE, NAME + ": y_true is an indicator matrix of shape "
          + Arrays.toString(t.shape()) + ", which scikit-learn does not take together with labels");
    }
    if (columns == 0) {
      throw new LossArgumentException(Cause.TARGET_TYPE, NAME + ": y_true has 0 columns (shape "
          + Arrays.toString(t.shape()) + "): expected labels (N) or an indicator matrix (N, C)");
    }
    if (fixed != null && fixed.size() != columns) {
      throw new LossArgumentException(Cause.SHAPE_MISMATCH, NAME + ": y_true has " + columns + " columns but"
          + " earlier batches had " + fixed.size());
    }
    double[] y = t.toDoubleArray();
    TreeSet<Double> values = new TreeSet<>();
    for (double v : seen) {
      values.add(v);
    }
    for (int i = 0; i < y.length; i++) {
      if (!isWholeInt64(y[i])) {
        throw new LossArgumentException(Cause.TARGET_NOT_CLASS_INDEX, NAME + ": y_true value "
            + format(t.dtype(), y[i]) + " at " + index(t.shape(), i) + " is not a whole number: an indicator"
            + " matrix holds at most two distinct whole values");
      }
      values.add(y[i] == 0 ? 0.0 : y[i]);
      if (values.size() > 2) {
        throw new LossArgumentException(Cause.TARGET_TYPE, NAME + ": y_true of shape "
            + Arrays.toString(t.shape()) + " holds more than two distinct values " + wholeNumbers(values)
            + (seen.length > 0 ? " (with earlier batches)" : "") + ": scikit-learn reads it as a multioutput"
            + " target, which it does not support; an indicator matrix holds at most two distinct values");
      }
    }
    List<Object> names = new ArrayList<>(columns);
    for (long c = 0; c < columns; c++) {
      names.add(c);
    }
    double[] now = values.stream().mapToDouble(Double::doubleValue).toArray();
    return new Targets(Collections.unmodifiableList(names), false, null, y, now);
  }

  /** NumPy's test of a whole number: finite, and unchanged by a round trip through int64. */
  private static boolean isWholeInt64(double v) {
    return v >= -0x1p63 && v < 0x1p63 && v == Math.rint(v);
  }

  private static String wholeNumbers(TreeSet<Double> values) {
    List<Long> longs = new ArrayList<>();
    for (double v : values) {
      longs.add((long) v);
    }
    return longs.toString();
  }

  private static String shortList(TreeSet<?> values) {
    List<Object> some = new ArrayList<>();
    for (Object v : values) {
      if (some.size() == 10) {
        return some.toString().replace("]", ", ... (" + values.size() + " in all)]");
      }
      some.add(v);
    }
    return some.toString();
  }

  private static String index(int[] shape, int flat) {
    return shape.length == 2 ? "[" + flat / shape[1] + ", " + flat % shape[1] + "]" : "[" + flat + "]";
  }

  private static String format(DType dtype, double v) {
    return dtype == DType.FLOAT32 ? Float.toString((float) v) : Double.toString(v);
  }

  // ---- the builder -----------------------------------------------------------------------------------------------

  /** Builds a {@link LogLoss}; starts from scikit-learn's defaults. Not thread-safe; the metric it builds is. */
  public static final class Builder {
    private boolean normalize = true;
    private long[] numericLabels;
    private String[] stringLabels;
    private String labelsOrderWarning;

    private Builder() {}

    /**
     * Chooses the mean or the sum.
     *
     * @param normalize true for the (weighted) mean over the samples, false for the (weighted) sum; default true
     * @return this builder
     */
    public Builder normalize(boolean normalize) {
      this.normalize = normalize;
      return this;
    }

    /**
     * Sets numeric labels: the classes, for when {@code y_true} may lack some. As scikit-learn's
     * {@code LabelBinarizer} does, the columns of {@code y_pred} follow the labels sorted, whatever their order here;
     * labels out of order give scikit-learn's warning in {@link Result#warnings()}.
     *
     * @param labels at least two distinct labels (copied), or null for none (the default: the classes of
     *     {@code y_true})
     * @return this builder
     * @throws LossArgumentException for fewer than two labels ({@link Cause#CLASS_COUNT}) or a repeated one
     *     ({@link Cause#OPTION}), where scikit-learn raises
     */
    public Builder labels(long... labels) {
      stringLabels = null;
      numericLabels = null;
      labelsOrderWarning = null;
      if (labels == null) {
        return this;
      }
      long[] sorted = labels.clone();
      Arrays.sort(sorted);
      checkLabels(Arrays.toString(labels), sorted.length, i -> sorted[i] == sorted[i - 1],
          i -> Long.toString(sorted[i]));
      numericLabels = sorted;
      labelsOrderWarning = orderWarning(Arrays.toString(labels), Arrays.toString(sorted),
          !Arrays.equals(labels, sorted));
      return this;
    }

    /**
     * Sets string labels, as {@link #labels(long...)} does for numbers; they sort by code point, as NumPy sorts
     * strings.
     *
     * @param labels at least two distinct labels (copied), none of them null, or null for none
     * @return this builder
     * @throws LossArgumentException for fewer than two labels ({@link Cause#CLASS_COUNT}), a repeated one
     *     ({@link Cause#OPTION}) or a null one ({@link Cause#NULL_ARGUMENT})
     */
    public Builder labels(String... labels) {
      stringLabels = null;
      numericLabels = null;
      labelsOrderWarning = null;
      if (labels == null) {
        return this;
      }
      for (int i = 0; i < labels.length; i++) {
        if (labels[i] == null) {
          throw new LossArgumentException(Cause.NULL_ARGUMENT, NAME + ": labels[" + i + "] is null");
        }
      }
      String[] sorted = labels.clone();
      Arrays.sort(sorted, CODE_POINT_ORDER);
      checkLabels(Arrays.toString(labels), sorted.length, i -> sorted[i].equals(sorted[i - 1]),
          i -> "'" + sorted[i] + "'");
      stringLabels = sorted;
      labelsOrderWarning = orderWarning(Arrays.toString(labels), Arrays.toString(sorted),
          !Arrays.equals(labels, sorted));
      return this;
    }

    private static void checkLabels(String given, int n, java.util.function.IntPredicate repeatAt,
        java.util.function.IntFunction<String> at) {
      for (int i = 1; i < n; i++) {
        if (repeatAt.test(i)) {
          throw new LossArgumentException(Cause.OPTION, NAME + ": labels " + given + " repeat " + at.apply(i)
              + ": each label must appear once (scikit-learn fails comparing them with its sorted classes)");
        }
      }
      if (n < 2) {
        throw new LossArgumentException(Cause.CLASS_COUNT, NAME + ": labels must hold at least two labels, got "
            + given);
      }
    }

    private static String orderWarning(String given, String sorted, boolean unsorted) {
      return !unsorted ? null : "Labels passed were " + given + ". But this function assumes labels are ordered"
          + " lexicographically. Pass the ordered labels=" + sorted + " and ensure that the columns of y_prob"
          + " correspond to this ordering.";
    }

    /** {@return the metric} */
    public LogLoss build() {
      return new LogLoss(this);
    }
  }
}
