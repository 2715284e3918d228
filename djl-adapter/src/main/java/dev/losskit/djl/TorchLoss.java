package dev.losskit.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.loss.Loss;
import dev.losskit.core.DType;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossArgumentException.Cause;
import dev.losskit.core.Tensor;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The common part of losskit's DJL losses: PyTorch's loss, with its options, as a DJL {@link Loss}.
 *
 * <p>Predictions are {@code NDList} element 0, with the class axis at 1 (PyTorch's layout) or, with
 * {@code classAxis(-1)}, last (DJL's channels-last layout). Labels are {@code NDList} element 0: class indices as
 * int32, int64 or whole-valued floats (DJL datasets often produce float labels), or, for cross-entropy, class
 * probabilities of the predictions' shape.
 *
 * <p>Predictions may be float32, float64, float16 or bfloat16. Float16 ({@code DataType.FLOAT16}) gives a float16
 * loss and gradient. Bfloat16 reaches DJL 0.35.1 only from TorchScript, as {@code DataType.UNKNOWN}; it is recognised
 * by libtorch's type promotion, and its loss is returned as float32 holding the bfloat16 value exactly (DJL's
 * {@code GradientCollector.backward} of a bfloat16 array ends the JVM), with its gradient in bfloat16. Class weights,
 * {@code pos_weight} and float targets are rounded to the predictions' half dtype, as PyTorch holds them.
 *
 * <p>{@link #evaluate} has no side effects, so DJL may call it more than once per batch (it does, for the loss
 * and for its accumulators). Labels are constants: no gradient flows to them.
 */
public abstract sealed class TorchLoss extends Loss permits CrossEntropyLoss, NllLoss, BceWithLogitsLoss, BceLoss {
  private final dev.losskit.core.Loss core;
  private final int classAxis;
  private final Execution execution;

  TorchLoss(String name, dev.losskit.core.Loss core, int classAxis, Execution execution) {
    super(name);
    if (classAxis != 1 && classAxis != -1) {
      throw new LossArgumentException(Cause.OPTION, "classAxis must be 1 (PyTorch's layout) or -1 (channels-last), got "
          + classAxis);
    }
    if (execution == null) {
      throw new LossArgumentException(Cause.NULL_ARGUMENT, "execution must not be null");
    }
    this.core = core;
    this.classAxis = classAxis;
    this.execution = execution;
  }

  /** {@return the core loss holding the options} */
  public dev.losskit.core.Loss core() {
    return core;
  }

  /** {@return 1 for PyTorch's layout, -1 for channels-last} */
  public int classAxis() {
    return classAxis;
  }

  /** {@return how this loss computes} */
  public Execution execution() {
    return execution;
  }

  /**
   * Computes the loss of {@code predictions.head()} against {@code labels.head()}, recording its gradient with DJL's
   * autograd.
   *
   * @param labels the labels; element 0 is used
   * @param predictions the predictions; element 0 is used
   * @return the loss: a scalar for {@code mean} and {@code sum}, per position for {@code none}
   * @throws IllegalArgumentException with a message naming the bad value when the input is invalid
   */
  @Override
  public NDArray evaluate(NDList labels, NDList predictions) {
    if (labels == null || labels.isEmpty() || predictions == null || predictions.isEmpty()) {
      throw new LossArgumentException(Cause.NULL_ARGUMENT,
          core.name() + ": labels and predictions must each hold an array");
    }
    NDArray pred = predictions.head();
    NDArray label = labels.head();
    Execution path = execution;
    if (path == Execution.AUTO) {
      path = auto(pred);
    }
    if (path == Execution.CORE) {
      NDArray result = CoreBacked.evaluate(this, pred, label);
      if (result != null) {
        return result;
      }
    }
    return engine(pred, label);
  }

  /**
   * Short rows on the CPU: below this many classes the core has no row kernel for class indices; it transposes
   * blocks of rows to its {@code (N, C, d...)} kernel, which vectorises across positions (about 2.5 to 4.5 ns an
   * element, with libtorch 2.7.1 well under 1 ns once its log-softmax vectorises along rows of 16 or more).
   */
  static final int SHORT_ROWS = 64;
  /** Fewer classes than this, on the last axis, and libtorch's log-softmax does not vectorise either. */
  static final int ENGINE_VECTOR_ROWS = 16;
  /** Below this many elements the engine path's fixed cost (about 60 µs more than the core's) dominates. */
  static final long ENGINE_MIN_ELEMENTS = 8192;

  /** {@return the path {@link Execution#AUTO} takes for these predictions} */
  private Execution auto(NDArray pred) {
    if (!ai.djl.Device.Type.CPU.equals(pred.getDevice().getDeviceType())) {
      return Execution.ENGINE;
    }
    if (halfOnEngine(pred.getDataType(), pred.size())) {
      return Execution.ENGINE;
    }
    if (!hasClassAxis()) {
      return Execution.CORE;
    }
    long[] shape = pred.getShape().getShape();
    boolean channelsLast = classAxis == -1 && shape.length > 2;
    long classes = shape.length == 1 ? shape[0] : channelsLast || classAxis == -1 ? shape[shape.length - 1] : shape[1];
    boolean kDim = !channelsLast && classAxis == 1 && shape.length > 2;
    return !kDim && engineOnCpu(classes, pred.size(), channelsLast) ? Execution.ENGINE : Execution.CORE;
  }

  /**
   * {@return whether {@link Execution#AUTO} takes the engine path on the CPU} Measured on two cores, libtorch 2.7.1
   * (see the README): the engine wins where the core's rows are short (fewer than {@link #SHORT_ROWS} classes) and
   * libtorch's are not (at least {@link #ENGINE_VECTOR_ROWS} classes, or channels-last, which the engine path
   * transposes so that the log-softmax runs along a long axis), once there are enough elements to pay its fixed
   * cost. Everywhere else the core-backed path is faster, including PyTorch's {@code (N, C, d...)} layout, which the
   * core vectorises across positions (segmentation, {@code (4, 21, 512, 512)}: 33 ms in the core against 104 ms
   * for libtorch's kernels), so {@link #auto} never asks this for that layout.
   *
   * @param classes the class count
   * @param size the predictions' element count
   * @param channelsLast whether the classes are on the last axis of a tensor of rank 3 or more
   */
  static boolean engineOnCpu(long classes, long size, boolean channelsLast) {
    return classes < SHORT_ROWS && (classes >= ENGINE_VECTOR_ROWS || channelsLast) && size >= ENGINE_MIN_ELEMENTS;
  }

  /**
   * {@return whether {@link Execution#AUTO} takes the engine path on the CPU for predictions of DJL dtype {@code t}
   * and {@code size} elements} Half predictions (float16, or UNKNOWN, which {@link #dtype} then recognises as bfloat16
   * or refuses) of {@link #ENGINE_MIN_ELEMENTS} or more do: the core path computes a half call's float64 form on widened
   * copies (16 more bytes per element), so that the upstream gradient is applied before the one rounding; when it
   * ran the core's half reference kernels it was measured 4 to 11 times slower than the engine path for float16
   * cross-entropy (see the README), and it has not been measured since.
   */
  static boolean halfOnEngine(DataType t, long size) {
    return size >= ENGINE_MIN_ELEMENTS && (t == DataType.FLOAT16 || t == DataType.UNKNOWN);
  }

  /** The engine-native computation of this loss. */
  abstract NDArray engine(NDArray pred, NDArray label);

  /** Whether the predictions hold a class axis (false for BCE). */
  abstract boolean hasClassAxis();

  /**
   * {@return the array's dtype in losskit's terms} Float16 is DJL's {@link DataType#FLOAT16}. Bfloat16 reaches DJL
   * 0.35.1 only from TorchScript, as {@link DataType#UNKNOWN} (which int16 is too): it is recognised by libtorch's type
   * promotion ({@link HalfPrecision#isBfloat16}). Any other dtype is refused with a one-line message, before any DJL
   * call could pass it to native code.
   */
  static DType dtype(NDArray a, String what, String loss) {
    DataType t = a.getDataType();
    switch (t) {
      case FLOAT32:
        return DType.FLOAT32;
      case FLOAT64:
        return DType.FLOAT64;
      case FLOAT16:
        return DType.FLOAT16;
      case INT32:
        return DType.INT32;
      case INT64:
        return DType.INT64;
      case UNKNOWN:
        if (HalfPrecision.isBfloat16(a)) {
          return DType.BFLOAT16;
        }
        throw new LossArgumentException(Cause.DTYPE, loss + ": " + what + " must be " + DTYPES
            + ", got a dtype DJL does not name (UNKNOWN, and not bfloat16: int16, for example) (shape "
            + a.getShape() + ")");
      default:
        throw new LossArgumentException(Cause.DTYPE, loss + ": " + what + " must be " + DTYPES + ", got "
            + t + " (shape " + a.getShape() + ")");
    }
  }

  /** The dtypes the adapter reads. */
  private static final String DTYPES = "float32, float64, float16, bfloat16, int32 or int64";

  /**
   * {@return the array's values as a tensor of {@code dtype} and {@code shape}, over the array's memory on the host:
   * read in place where DJL allows it ({@code toByteBuffer(true)}), in native byte order}
   */
  static Tensor hostView(NDArray a, DType dtype, int[] shape) {
    return Tensor.view(a.toByteBuffer(true).order(ByteOrder.nativeOrder()), dtype, shape);
  }

  static int[] shape(NDArray a) {
    return Arrays.stream(a.getShape().getShape()).mapToInt(Math::toIntExact).toArray();
  }

  /**
   * How one call's arrays map onto PyTorch's layout; both execution paths read it, so they can never disagree.
   *
   * @param pType the predictions' dtype
   * @param lType the labels' dtype
   * @param pShape the predictions' shape as given
   * @param lShape the labels' shape as given
   * @param channelsLast whether the classes are on the last axis of a tensor of rank 3 or more
   * @param probabilities whether the labels are class probabilities (cross-entropy, labels of the predictions' shape)
   * @param torchInput the predictions' shape in PyTorch's layout
   * @param torchTarget the labels' shape in PyTorch's layout
   */
  record Layout(DType pType, DType lType, int[] pShape, int[] lShape, boolean channelsLast, boolean probabilities,
      int[] torchInput, int[] torchTarget) {
    static Layout of(TorchLoss loss, NDArray pred, NDArray label) {
      String name = loss.core().name();
      DType pType = dtype(pred, "predictions", name);
      DType lType = dtype(label, "labels", name);
      int[] pShape = shape(pred);
      int[] lShape = shape(label);
      boolean channelsLast = loss.hasClassAxis() && loss.classAxis() == -1 && pShape.length > 2;
      boolean probabilities = loss.core() instanceof dev.losskit.core.CrossEntropyLoss
          && Arrays.equals(pShape, lShape);
      return new Layout(pType, lType, pShape, lShape, channelsLast, probabilities,
          channelsLast ? torchLayout(pShape) : pShape,
          channelsLast && probabilities ? torchLayout(lShape) : lShape);
    }
  }

  /** A channels-last shape (N, d..., C) in PyTorch's layout (N, C, d...). */
  static int[] torchLayout(int[] shape) {
    if (shape.length <= 2) {
      return shape.clone();
    }
    int[] out = new int[shape.length];
    out[0] = shape[0];
    out[1] = shape[shape.length - 1];
    System.arraycopy(shape, 1, out, 2, shape.length - 2);
    return out;
  }
}
