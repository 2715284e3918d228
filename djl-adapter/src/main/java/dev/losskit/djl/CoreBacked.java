package dev.losskit.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.losskit.core.DType;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossArgumentException.Cause;
import dev.losskit.core.LossResult;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

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
    core.checkShapes(layout.torchInput(), pType, layout.torchTarget(), wholeFloats ? DType.INT64 : lType);

    int[] inputShape = pShape;
    int[] targetShape = lShape;
    if (channelsLast) {
      int c = pShape[pShape.length - 1];
      int positions = c == 0 ? 0 : Tensor.checkedSize(pShape) / c;
      inputShape = new int[] {positions, c};
      targetShape = probabilities ? inputShape : new int[] {positions};
    }
    // tryDirect: the engine's own memory when it can, with no copy; the core only reads it, within this call.
    Tensor input = Tensor.view(nativeOrder(pred.toByteBuffer(true)), pType, inputShape);
    Tensor target = wholeFloats ? wholeNumbers(label, targetShape, name)
        : Tensor.view(nativeOrder(label.toByteBuffer(true)), lType, targetShape);
    int size = Tensor.checkedSize(pShape);
    NDManager m = pred.getManager();
    ai.djl.ndarray.types.DataType engineType = pType == DType.FLOAT32 ? ai.djl.ndarray.types.DataType.FLOAT32
        : ai.djl.ndarray.types.DataType.FLOAT64;
    // The core writes the gradient into a direct buffer, which the engine wraps without a copy (PyTorch on the
    // CPU does; an engine that copies it instead is still correct). The buffer is this thread's warm one when it
    // is free: fresh memory costs a page fault per 4 KiB on first touch, which at N·C = 1.3e8 floats can cost more
    // than the whole kernel. It is free once the array that wrapped it last has been closed (as DJL closes a
    // batch's arrays after the step), so two losses alive in one graph never share it; the second gets a fresh one.
    long bytes = (long) size * (pType == DType.FLOAT32 ? 4 : 8);
    if (bytes > Integer.MAX_VALUE) {
      return null; // beyond one NIO buffer: the engine path computes it
    }
    WarmSlot slot = WARM.get();
    ByteBuffer buffer = slot.claim((int) bytes);
    boolean warm = buffer != null;
    if (!warm) {
      buffer = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
    }
    LossResult r = pType == DType.FLOAT32 ? core.forwardBackward(input, target, null, buffer.asFloatBuffer())
        : core.forwardBackward(input, target, null, buffer.asDoubleBuffer());
    NDArray g = m.create(buffer, pred.getShape(), engineType);
    if (warm) {
      slot.owner = g;
    }
    return combine(loss, core, pred, g, r, pShape, classes, channelsLast, m);
  }

  /** The loss value with the straight-through term, or null when the predictions are not finite. */
  private static NDArray combine(TorchLoss loss, dev.losskit.core.Loss core, NDArray pred, NDArray g, LossResult r,
      int[] pShape, boolean classes, boolean channelsLast, NDManager m) {
    Shape lossShape;
    int classAxis = !classes ? -1 : channelsLast || (pShape.length == 2 && loss.classAxis() == -1)
        ? pShape.length - 1 : pShape.length == 1 ? 0 : 1;
    NDArray dot;
    if (core.reduction() == Reduction.NONE) {
      NDArray product = pred.mul(g);
      dot = classes ? product.sum(new int[] {classAxis}) : product;
      lossShape = dot.getShape();
    } else {
      // One inner product: a single read of both arrays, where mul then sum would also write the product.
      dot = pred.flatten().dot(g.flatten());
      lossShape = new Shape();
    }
    // The straight-through term is finite exactly when the predictions are: a NaN or an infinity in p makes its
    // product with G (or with a zero of G) NaN or infinite, and so the sum. Where it is not, x - x is not 0, and the
    // engine path gives PyTorch's values instead. (A finite p whose inner product overflows also goes there: slower,
    // never wrong.) Checking here, on the O(1) or O(N) result, saves a separate pass over N·C inputs.
    boolean finite = dot.getShape().size() == 1
        ? Double.isFinite(dot.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).getDouble())
        : !dot.isNaN().logicalOr(dot.isInfinite()).any().getBoolean();
    if (!finite) {
      dot.close();
      g.close();
      return null;
    }
    NDArray value = create(m, r.loss(), lossShape);
    return value.add(dot.sub(dot.stopGradient()));
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

  /** Float labels that hold class indices: each must be a whole number. */
  static Tensor wholeNumbers(NDArray label, int[] shape, String loss) {
    double[] v = label.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).toDoubleArray();
    long[] out = new long[v.length];
    for (int i = 0; i < v.length; i++) {
      if (v[i] != Math.rint(v[i]) || Double.isInfinite(v[i])) {
        throw new LossArgumentException(Cause.TARGET_NOT_CLASS_INDEX, loss + ": label " + v[i] + " at index " + i
            + " is not a whole number, so it is not a class index (labels of the predictions' shape are"
            + " class probabilities)");
      }
      out[i] = (long) v[i];
    }
    return Tensor.of(out, shape);
  }

  private static NDArray create(NDManager m, Tensor t, Shape shape) {
    if (t.dtype() == DType.FLOAT32) {
      return m.create(t.toFloatArray(), shape);
    }
    return m.create(t.toDoubleArray(), shape);
  }
}
