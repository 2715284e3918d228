package dev.losskit.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.evaluator.Evaluator;
import dev.losskit.core.DType;
import dev.losskit.core.LogLoss;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossArgumentException.Cause;
import dev.losskit.core.Tensor;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * scikit-learn's {@code log_loss} as a DJL {@link Evaluator}: a training or validation metric for DJL's
 * {@code Trainer}, with scikit-learn 1.9.1's semantics (see {@link LogLoss}).
 *
 * <p>It accumulates as scikit-learn would compute it on the concatenated data: the total loss over the number of
 * samples ({@code normalize}, the default) or the total, not a mean of batch means. The classes are fixed up front
 * ({@link Builder#labels} or {@link Builder#classes}), since a validation batch often holds a single class, which
 * scikit-learn rejects without {@code labels}.
 *
 * <p>Labels are {@code NDList} element 0: class labels of shape {@code (N)} (int32, int64, or whole-valued floats, as
 * DJL datasets produce them). Predictions are element 0: probabilities {@code (N, C)}, one column per class in the
 * classes' sorted order, or {@code (N)} for the probability of the greater of two classes; with
 * {@link Builder#fromLogits}, logits, turned into probabilities by the engine first (a softmax over the last axis,
 * or a sigmoid for {@code (N)} and {@code (N, 1)}). Values are read on the host: the arrays are copied off a GPU.
 *
 * <p>{@link #getAccumulator} is NaN before any batch, as DJL's own evaluators give 0/0. A batch that scikit-learn
 * would reject throws a {@link LossArgumentException} naming the bad value and leaves the accumulator unchanged.
 * scikit-learn's warnings (rows that do not sum to 1) are counted: {@link #rowsNotSummingToOne(String)}.
 *
 * <p>Not thread-safe, as DJL uses evaluators: from the training loop's thread.
 */
public final class LogLossEvaluator extends Evaluator {
  private final LogLoss metric;
  private final boolean fromLogits;
  private final Map<String, LogLoss.Accumulator> accumulators = new ConcurrentHashMap<>();

  private LogLossEvaluator(Builder b) {
    super(b.name);
    if (b.labels == null) {
      throw new LossArgumentException(Cause.CLASS_COUNT, LogLoss.NAME
          + ": the evaluator needs its classes up front: labels(...) or classes(n), since a batch may hold one class");
    }
    this.metric = LogLoss.builder().normalize(b.normalize).labels(b.labels).build();
    this.fromLogits = b.fromLogits;
  }

  /** {@return a builder: name {@code LogLoss}, {@code normalize=true}, probabilities; the classes must be set} */
  public static Builder builder() {
    return new Builder();
  }

  /** {@return the metric with its options} */
  public LogLoss metric() {
    return metric;
  }

  /**
   * {@return scikit-learn's {@code log_loss} of this batch alone, a float64 scalar in the predictions' manager}
   *
   * @param labels the labels; element 0 is used
   * @param predictions the predictions; element 0 is used
   */
  @Override
  public NDArray evaluate(NDList labels, NDList predictions) {
    NDArray pred = predictions(predictions);
    try {
      double loss = metric.compute(truth(labels), tensor(pred, "predictions")).loss();
      return predictions.head().getManager().create(loss);
    } finally {
      closeDerived(pred, predictions);
    }
  }

  @Override
  public void addAccumulator(String key) {
    accumulators.put(key, metric.accumulator());
    totalInstances.put(key, 0L);
  }

  @Override
  public void updateAccumulator(String key, NDList labels, NDList predictions) {
    LogLoss.Accumulator a = accumulator(key);
    NDArray p = predictions(predictions);
    try {
      Tensor pred = tensor(p, "predictions");
      a.add(truth(labels), pred);
      totalInstances.compute(key, (k, v) -> (v == null ? 0 : v) + pred.size(0));
    } finally {
      closeDerived(p, predictions);
    }
  }

  /** Closes the probabilities made from logits, once read: the tensor views read their memory until then. */
  private static void closeDerived(NDArray used, NDList predictions) {
    if (used != predictions.head()) {
      used.close();
    }
  }

  @Override
  public void resetAccumulator(String key) {
    accumulator(key).reset();
    totalInstances.put(key, 0L);
  }

  /**
   * {@return the log loss of every batch added under {@code key} since the last reset, or NaN before the first}
   *
   * @throws LossArgumentException when scikit-learn would reject the concatenation
   */
  @Override
  public float getAccumulator(String key) {
    LogLoss.Accumulator a = accumulator(key);
    return a.samples() == 0 ? Float.NaN : (float) a.result().loss();
  }

  /**
   * {@return how many rows added under {@code key} do not sum to 1 by scikit-learn's test (it warns, and uses them)}
   *
   * @param key the accumulator's key
   */
  public long rowsNotSummingToOne(String key) {
    LogLoss.Accumulator a = accumulator(key);
    return a.samples() == 0 ? 0 : a.result().rowsNotSummingToOne();
  }

  private LogLoss.Accumulator accumulator(String key) {
    LogLoss.Accumulator a = accumulators.get(key);
    if (a == null) {
      throw new LossArgumentException(Cause.OPTION, LogLoss.NAME + ": no accumulator '" + key
          + "' (addAccumulator first)");
    }
    return a;
  }

  private NDArray predictions(NDList predictions) {
    if (predictions == null || predictions.isEmpty()) {
      throw new LossArgumentException(Cause.NULL_ARGUMENT, LogLoss.NAME + ": predictions must hold an array");
    }
    NDArray p = predictions.head();
    // Before any DJL operation: softmax and sigmoid pass the array's dtype to DJL's native code, which ends the JVM
    // for a bfloat16 (UNKNOWN) array. scikit-learn has no half precision, so neither has this metric.
    DType dtype = TorchLoss.dtype(p, "predictions", LogLoss.NAME);
    if (dtype.isHalf()) {
      throw new LossArgumentException(Cause.DTYPE, LogLoss.NAME + ": y_pred of dtype " + dtype
          + " is not supported: give float32 or float64 (scikit-learn has no bfloat16)");
    }
    if (!fromLogits) {
      return p;
    }
    // One probability per sample, (N) or (N, 1) (DJL's usual binary output): a sigmoid; else a softmax over classes.
    long[] shape = p.getShape().getShape();
    boolean binary = shape.length == 1 || shape.length == 2 && shape[1] == 1;
    return binary ? ai.djl.nn.Activation.sigmoid(p) : p.softmax(-1);
  }

  private static Tensor truth(NDList labels) {
    if (labels == null || labels.isEmpty()) {
      throw new LossArgumentException(Cause.NULL_ARGUMENT, LogLoss.NAME + ": labels must hold an array");
    }
    return tensor(labels.head(), "labels");
  }

  /** The array's values on the host, as a tensor of its dtype (no copy where DJL allows it). */
  private static Tensor tensor(NDArray a, String what) {
    DType dtype = TorchLoss.dtype(a, what, LogLoss.NAME);
    return TorchLoss.hostView(a, dtype, TorchLoss.shape(a));
  }

  /** Builds a {@link LogLossEvaluator}. */
  public static final class Builder {
    private String name = "LogLoss";
    private long[] labels;
    private boolean normalize = true;
    private boolean fromLogits;

    private Builder() {}

    /**
     * Sets the evaluator's name.
     *
     * @param name the name DJL's metrics show; default {@code LogLoss}
     * @return this builder
     */
    public Builder name(String name) {
      this.name = name;
      return this;
    }

    /**
     * Sets the classes, scikit-learn's {@code labels}: the predictions' columns follow their sorted order.
     *
     * @param labels at least two distinct labels
     * @return this builder
     */
    public Builder labels(long... labels) {
      this.labels = labels == null ? null : labels.clone();
      return this;
    }

    /**
     * Sets the classes to {@code 0 .. n-1}, the usual class indices.
     *
     * @param n the number of classes, at least 2
     * @return this builder
     */
    public Builder classes(int n) {
      if (n < 2) {
        throw new LossArgumentException(Cause.CLASS_COUNT, LogLoss.NAME + ": classes must be at least 2, got " + n);
      }
      long[] l = new long[n];
      for (int i = 0; i < n; i++) {
        l[i] = i;
      }
      this.labels = l;
      return this;
    }

    /**
     * Sets scikit-learn's {@code normalize}.
     *
     * @param normalize true (the default) for the mean over the samples, false for the sum
     * @return this builder
     */
    public Builder normalize(boolean normalize) {
      this.normalize = normalize;
      return this;
    }

    /**
     * Takes logits instead of probabilities.
     *
     * @param fromLogits true to turn the predictions into probabilities first: a softmax over the last axis, or a
     *     sigmoid for {@code (N)} and {@code (N, 1)}; default false
     * @return this builder
     */
    public Builder fromLogits(boolean fromLogits) {
      this.fromLogits = fromLogits;
      return this;
    }

    /** {@return the evaluator} */
    public LogLossEvaluator build() {
      return new LogLossEvaluator(this);
    }
  }
}
