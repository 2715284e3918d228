package dev.losskit.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.losskit.core.DType;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossArgumentException.Cause;
import dev.losskit.core.LossResult;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The core-backed path: the core computes the loss \( L \) and its gradient \( G \) on the CPU, and DJL receives
 * \( L + (\sum p\,G - \mathrm{stop}(\sum p\,G)) \): its value is exactly \( L \), since \( x - x = 0 \) exactly, and
 * its gradient with respect to the predictions \( p \) is exactly \( G \). For {@code none} the sum runs over the
 * class axis only: each position's loss depends on its own row alone.
 *
 * <p>The predictions are read in place where DJL allows it ({@code toByteBuffer(true)}), and the gradient is written
 * into a direct buffer that the engine wraps without a copy. A channels-last input {@code (N, d..., C)} is read as
 * {@code (N·d..., C)}, which is the same memory, so it needs no transpose.
 */
final class CoreBacked {
  private CoreBacked() {}

  /**
   * Up to this many predictions, finiteness is checked in Java over the predictions the core has just read (about
   * 0.2 ns an element, so at most a few microseconds); above it, on the straight-through inner product, which costs
   * one read back from the engine (a few microseconds) however large the input.
   */
  static final int JAVA_FINITE_CHECK_MAX = 1 << 14;

  /** {@return the loss, or null when the predictions hold a non-finite value and the engine path must take over} */
  static NDArray evaluate(TorchLoss loss, NDArray pred, NDArray label) {
    dev.losskit.core.Loss core = loss.core();
    String name = core.name();
    TorchLoss.Layout layout = TorchLoss.Layout.of(loss, pred, label);
    DType pType = layout.pType();
    DType lType = layout.lType();
    int[] pShape = layout.pShape();
    int[] lShape = layout.lShape();
    boolean classes = loss.hasClassAxis();
    boolean channelsLast = layout.channelsLast();
    boolean probabilities = layout.probabilities();
    boolean wholeFloats = classes && !probabilities && lType.isFloating();
    if (channelsLast || wholeFloats) {
      // The core checks the shapes it is given; these two hand it other ones (channels-last read as (N·d..., C),
      // float labels as int64), so the shapes are checked here first, in PyTorch's layout and the labels' own terms.
      core.checkShapes(layout.torchInput(), pType, layout.torchTarget(), wholeFloats ? DType.INT64 : lType);
    }

    int[] inputShape = pShape;
    int[] targetShape = lShape;
    if (channelsLast) {
      int c = pShape[pShape.length - 1];
      int positions = c == 0 ? 0 : Tensor.checkedSize(pShape) / c;
      inputShape = new int[] {positions, c};
      targetShape = probabilities ? inputShape : new int[] {positions};
    }
    // tryDirect: the engine's own memory when it can, with no copy; the core only reads it, within this call.
    Tensor input = TorchLoss.hostView(pred, pType, inputShape);
    ByteBuffer labelBytes = nativeOrder(label.toByteBuffer(true));
    Tensor target = wholeFloats ? wholeNumbers(labelBytes, lType, targetShape, name)
        : Tensor.view(labelBytes, lType, targetShape);
    boolean half = pType.isHalf();
    if (half && lType.isFloating() && lType != pType && !wholeFloats) {
      // Probabilities for half predictions: PyTorch takes the target in the input's dtype, so it is rounded to it as
      // libtorch's target.to(dtype) rounds, through float32 (as the engine path does, so both paths agree).
      double[] v = target.toDoubleArray();
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) v[i];
      }
      target = Tensor.rounded(v, pType, targetShape);
    }
    NDManager m = pred.getManager();
    // Half predictions: the gradient travels in float64, unrounded, so that autograd's product with the upstream
    // gradient is rounded to the half dtype once (a half G times the upstream would round twice); the loss travels
    // as float64 holding the half value exactly.
    DataType engineType = pType == DType.FLOAT32 ? DataType.FLOAT32 : DataType.FLOAT64;
    if (!Autograd.recording(pred)) {
      // No backward can reach this call (DJL's evaluator after the step, validation): the loss alone, with no
      // gradient and no straight-through term. The core's forward is libtorch's for non-finite inputs too.
      Tensor value = core.forward(input, target);
      NDArray out = create(m, value, lossShape(core, pShape, classes, channelsLast, loss.classAxis()));
      if (pType == DType.FLOAT16) {
        // Exact: the value is a float16 one. No autograd is recording, so toType's cut of the graph costs nothing.
        NDArray narrowed = out.toType(DataType.FLOAT16, false);
        out.close();
        return narrowed;
      }
      return out; // bfloat16: float32 holding the bfloat16 value exactly (see HalfPrecision#loss)
    }
    int size = Tensor.checkedSize(pShape);
    boolean javaFinite = size <= JAVA_FINITE_CHECK_MAX;
    if (javaFinite && !input.allFinite()) {
      return null;
    }
    if (pType == DType.FLOAT16 && core instanceof dev.losskit.core.BceLoss && saturated(input)) {
      // float16's clamp ε is 0: at p = 0 or 1 the gradient is infinite or NaN, as libtorch's, and a straight-through
      // term p·G would make the loss NaN too; the engine path gives both.
      return null;
    }
    int width = engineType == DataType.FLOAT32 ? 4 : 8;
    int lossCount = core.reduction() == Reduction.NONE ? (classes ? positions(pShape, channelsLast) : size) : 1;
    // The core writes the gradient into a direct buffer, which the engine wraps without a copy (PyTorch on the
    // CPU does; an engine that copies it instead is still correct). The buffer is this thread's warm one when it
    // is free: fresh memory costs a page fault per 4 KiB on first touch, which at N·C = 1.3e8 floats can cost more
    // than the whole kernel. It is free once the array that wrapped it last has been closed (as DJL closes a
    // batch's arrays after the step), so two losses alive in one graph never share it; the second gets a fresh one.
    // The loss value goes in the same buffer, after the gradient: one allocation, not two.
    long gradBytes = (long) size * width;
    long bytes = gradBytes + (long) lossCount * width;
    if (bytes > Integer.MAX_VALUE) {
      return null; // beyond one NIO buffer: the engine path computes it
    }
    WarmSlot slot = WARM.get();
    ByteBuffer buffer = slot.claim((int) bytes);
    boolean warm = buffer != null;
    if (!warm) {
      buffer = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
    }
    ByteBuffer gradient = slice(buffer, 0, (int) gradBytes);
    LossResult r;
    if (half) {
      // The same problem in float64: the half values widened exactly, the weights rounded to the half dtype as
      // PyTorch holds them. Its gradient is the half problem's before rounding; its loss, rounded once, the half loss.
      Tensor wideTarget = target.dtype().isHalf() ? Tensor.of(target.toDoubleArray(), targetShape) : target;
      LossResult wide = HalfPrecision.widened(core, pType).forwardBackward(Tensor.of(input.toDoubleArray(),
          inputShape), wideTarget, null, gradient.asDoubleBuffer());
      if (core instanceof dev.losskit.core.BceLoss) {
        restateClamp(input, gradient.asDoubleBuffer(), pType);
      }
      r = new LossResult(Tensor.rounded(wide.loss().toDoubleArray(), pType, wide.loss().shape()), null);
    } else {
      r = pType == DType.FLOAT32 ? core.forwardBackward(input, target, null, gradient.asFloatBuffer())
          : core.forwardBackward(input, target, null, gradient.asDoubleBuffer());
    }
    boolean reduced = core.reduction() != Reduction.NONE;
    // Reduced, the gradient is made 1-D at once, for the inner product with the flattened predictions.
    NDArray g = m.create(gradient, reduced && !half ? new Shape(size) : pred.getShape(), engineType);
    if (warm) {
      slot.owner = g;
    }
    NDArray dot;
    NDArray step; // the intermediate the term is formed from (a flattened view or the product), or null
    if (reduced && half) {
      // Half predictions times float64 G promote to float64, whose sum cannot overflow where a float16 sum would
      // (past 65504); libtorch's dot wants one dtype. The product's backward multiplies the upstream gradient by G in
      // float64 and rounds to the predictions' dtype once: for an upstream of 1, the core's half gradient.
      step = pred.mul(g);
      dot = step.sum();
    } else if (reduced) {
      // One inner product: a single read of both arrays, where mul then sum would also write the product.
      step = pShape.length == 1 ? null : pred.flatten();
      dot = (step == null ? pred : step).dot(g);
    } else {
      NDArray product = pred.mul(g);
      step = classes ? product : null;
      dot = classes ? product.sum(new int[] {classAxis(pShape, channelsLast, loss.classAxis())}) : product;
    }
    // Above the Java check's size, finiteness is read from the straight-through term itself: it is finite exactly
    // when the predictions are, since a NaN or an infinity in p makes its product with G (or with a zero of G) NaN
    // or infinite, and so the sum. Where it is not, x - x is not 0, and the engine path gives PyTorch's values
    // instead. (A finite p whose inner product overflows also goes there: slower, never wrong.)
    if (!javaFinite && !finite(dot, engineType, lossCount)) {
      // The engine path takes over: nothing of this term is kept, so its graph nodes over g's memory go with it.
      dot.close();
      if (step != null) {
        step.close();
      }
      g.close();
      return null;
    }
    // The value L in the buffer's tail: read only by this addition's forward (an addition's backward saves neither
    // operand), so its array is closed at once and the buffer's tail is free again with the gradient.
    writeLoss(buffer, (int) gradBytes, r.loss(), engineType);
    NDArray value = m.create(slice(buffer, (int) gradBytes, lossCount * width),
        lossShape(core, pShape, classes, channelsLast, loss.classAxis()), engineType);
    NDArray result = value.add(dot.sub(dot.stopGradient()));
    value.close();
    if (half) {
      // Into the half dtype in place, which autograd records: the value L + 0 is a half one, so it stays exactly L
      // (bfloat16: widened to float32 after, see HalfPrecision#loss).
      return HalfPrecision.loss(pred, pType, result);
    }
    return result;
  }

  /** {@return whether some probability is exactly 0 or 1} */
  private static boolean saturated(Tensor input) {
    for (int i = 0; i < input.numel(); i++) {
      double x = input.getDouble(i);
      if (x == 0 || x == 1) {
        return true;
      }
    }
    return false;
  }

  /**
   * BCELoss's float64 gradient with the half dtype's clamp: libtorch divides by \( \max((1-x)\,x, \varepsilon) \), and
   * \( \varepsilon \) is {@code 1e-12f} in float64 but that rounded further in a half dtype, so each element where the
   * two maxima differ is scaled by their ratio.
   */
  private static void restateClamp(Tensor input, java.nio.DoubleBuffer g, DType pType) {
    double eps = dev.losskit.core.BceLoss.epsilon(pType);
    for (int i = 0; i < input.numel(); i++) {
      double x = input.getDouble(i);
      double q = (1 - x) * x;
      double mine = Math.max(q, eps);
      double f64 = Math.max(q, dev.losskit.core.BceLoss.EPSILON);
      if (mine != f64) {
        g.put(i, g.get(i) * f64 / mine);
      }
    }
  }

  /** {@return whether every element of the straight-through term is finite, read back from the engine once} */
  private static boolean finite(NDArray dot, DataType type, int count) {
    ByteBuffer b = nativeOrder(dot.toByteBuffer(true));
    for (int i = 0; i < count; i++) {
      double v = type == DataType.FLOAT32 ? b.getFloat(4 * i) : b.getDouble(8 * i);
      if (!Double.isFinite(v)) {
        return false;
      }
    }
    return true;
  }

  private static void writeLoss(ByteBuffer buffer, int at, Tensor loss, DataType type) {
    int n = loss.numel();
    for (int i = 0; i < n; i++) {
      if (type == DataType.FLOAT32) {
        buffer.putFloat(at + 4 * i, (float) loss.getDouble(i));
      } else {
        buffer.putDouble(at + 8 * i, loss.getDouble(i));
      }
    }
  }

  /** {@return bytes {@code [from, from + length)} of {@code b} as a buffer of their own, in native order} */
  private static ByteBuffer slice(ByteBuffer b, int from, int length) {
    ByteBuffer d = b.duplicate();
    d.limit(from + length).position(from);
    return d.slice().order(ByteOrder.nativeOrder());
  }

  /** {@return the number of loss positions of an unreduced class loss: all elements but the class axis} */
  private static int positions(int[] pShape, boolean channelsLast) {
    int size = Tensor.checkedSize(pShape);
    if (pShape.length == 1) {
      return 1;
    }
    int c = channelsLast ? pShape[pShape.length - 1] : pShape[1];
    return c == 0 ? 0 : size / c;
  }

  /** {@return the axis of the predictions, as given, that holds the classes} */
  private static int classAxis(int[] pShape, boolean channelsLast, int classAxis) {
    return channelsLast || (pShape.length == 2 && classAxis == -1) ? pShape.length - 1 : pShape.length == 1 ? 0 : 1;
  }

  /** {@return the loss's shape: {@code []} reduced, else the predictions' shape without the class axis} */
  private static Shape lossShape(dev.losskit.core.Loss core, int[] pShape, boolean classes, boolean channelsLast,
      int classAxis) {
    if (core.reduction() != Reduction.NONE) {
      return new Shape();
    }
    long[] s = Arrays.stream(pShape).asLongStream().toArray();
    if (!classes) {
      return new Shape(s);
    }
    int axis = classAxis(pShape, channelsLast, classAxis);
    long[] out = new long[s.length - 1];
    for (int i = 0, j = 0; i < s.length; i++) {
      if (i != axis) {
        out[j++] = s[i];
      }
    }
    return new Shape(out);
  }

  private static ByteBuffer nativeOrder(ByteBuffer b) {
    return b.order(ByteOrder.nativeOrder());
  }

  /** A direct buffer per thread for the gradient, kept softly, with the array that wraps it while it is in use. */
  private static final ThreadLocal<WarmSlot> WARM = ThreadLocal.withInitial(WarmSlot::new);

  private static final class WarmSlot {
    private java.lang.ref.SoftReference<ByteBuffer> ref = new java.lang.ref.SoftReference<>(null);
    NDArray owner;

    /** {@return the buffer, cleared, when no open array uses it (a new one if the size changed); else null} */
    ByteBuffer claim(int bytes) {
      if (owner != null && !owner.isReleased()) {
        return null;
      }
      owner = null;
      ByteBuffer b = ref.get();
      if (b == null || b.capacity() != bytes) {
        b = ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder());
        ref = new java.lang.ref.SoftReference<>(b);
      }
      return b.duplicate().clear().order(ByteOrder.nativeOrder());
    }
  }

  /**
   * Float labels that hold class indices, read in place (float32, float64, float16 or bfloat16, native order): each
   * must be a whole number.
   */
  static Tensor wholeNumbers(ByteBuffer bytes, DType dtype, int[] shape, String loss) {
    int n = Tensor.checkedSize(shape);
    long[] out = new long[n];
    Tensor half = dtype.isHalf() ? Tensor.view(bytes, dtype, shape) : null;
    for (int i = 0; i < n; i++) {
      double v = half != null ? half.getDouble(i) : dtype == DType.FLOAT32 ? bytes.getFloat(4 * i)
          : bytes.getDouble(8 * i);
      if (v != Math.rint(v) || Double.isInfinite(v)) {
        throw new LossArgumentException(Cause.TARGET_NOT_CLASS_INDEX, loss + ": label " + v + " at index " + i
            + " is not a whole number, so it is not a class index (labels of the predictions' shape are"
            + " class probabilities)");
      }
      out[i] = (long) v;
    }
    return Tensor.of(out, shape);
  }

  /** As {@link #wholeNumbers(ByteBuffer, DType, int[], String)}, for labels in any engine's memory. */
  static Tensor wholeNumbers(NDArray label, int[] shape, String loss) {
    DType dtype = label.getDataType() == DataType.FLOAT32 ? DType.FLOAT32 : DType.FLOAT64;
    NDArray read = dtype == DType.FLOAT32 ? label : label.toType(DataType.FLOAT64, false);
    return wholeNumbers(nativeOrder(read.toByteBuffer(true)), dtype, shape, loss);
  }

  private static NDArray create(NDManager m, Tensor t, Shape shape) {
    if (t.dtype() == DType.FLOAT32 || t.dtype().isHalf()) { // a half value is exact in float32
      return m.create(t.toFloatArray(), shape);
    }
    return m.create(t.toDoubleArray(), shape);
  }
}
