package dev.losskit.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.losskit.core.DType;
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
 * <p>The predictions are read in place where DJL allows it ({@code toByteBuffer(true)}). A channels-last input {@code (N, d..., C)} is read as
 * {@code (N·d..., C)}, which is the same memory, so it needs no transpose.
 */
final class CoreBacked {
  private CoreBacked() {}

  /** @return the loss, or null when the input holds a non-finite value and the engine path must take over */
  static NDArray evaluate(TorchLoss loss, NDArray pred, NDArray label) {
    dev.losskit.core.Loss core = loss.core();
    String name = core.name();
    DType pType = TorchLoss.dtype(pred, "predictions", name);
    DType lType = TorchLoss.dtype(label, "labels", name);
    int[] pShape = TorchLoss.shape(pred);
    int[] lShape = TorchLoss.shape(label);
    boolean classes = loss.hasClassAxis();
    boolean channelsLast = classes && loss.classAxis() == -1 && pShape.length > 2;
    boolean probabilities = core instanceof dev.losskit.core.CrossEntropyLoss && Arrays.equals(pShape, lShape);
    boolean wholeFloats = classes && !probabilities && lType.isFloating();
    int[] torchInput = channelsLast ? TorchLoss.torchLayout(pShape) : pShape;
    int[] torchTarget = channelsLast && probabilities ? TorchLoss.torchLayout(lShape) : lShape;
    core.checkShapes(torchInput, pType, torchTarget, wholeFloats ? DType.INT64 : lType);

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
    if (!allFinite(input)) {
      return null;
    }
    Tensor target = wholeFloats ? wholeNumbers(label, targetShape, name)
        : Tensor.view(nativeOrder(label.toByteBuffer(true)), lType, targetShape);
    LossResult r = core.forwardBackward(input, target, null);

    NDManager m = pred.getManager();
    NDArray g = create(m, r.gradInput(), pred.getShape());
    Shape lossShape;
    int classAxis = !classes ? -1 : channelsLast || (pShape.length == 2 && loss.classAxis() == -1)
        ? pShape.length - 1 : pShape.length == 1 ? 0 : 1;
    NDArray product = pred.mul(g);
    NDArray dot;
    if (core.reduction() == Reduction.NONE) {
      dot = classes ? product.sum(new int[] {classAxis}) : product;
      lossShape = dot.getShape();
    } else {
      dot = product.sum();
      lossShape = new Shape();
    }
    NDArray value = create(m, r.loss(), lossShape);
    return value.add(dot.sub(dot.stopGradient()));
  }

  private static ByteBuffer nativeOrder(ByteBuffer b) {
    return b.order(ByteOrder.nativeOrder());
  }

  private static boolean allFinite(Tensor t) {
    for (int i = 0; i < t.numel(); i++) {
      if (!Double.isFinite(t.getDouble(i))) {
        return false;
      }
    }
    return true;
  }

  /** Float labels that hold class indices: each must be a whole number. */
  static Tensor wholeNumbers(NDArray label, int[] shape, String loss) {
    double[] v = label.toType(ai.djl.ndarray.types.DataType.FLOAT64, false).toDoubleArray();
    long[] out = new long[v.length];
    for (int i = 0; i < v.length; i++) {
      if (v[i] != Math.rint(v[i]) || Double.isInfinite(v[i])) {
        throw new IllegalArgumentException(loss + ": label " + v[i] + " at index " + i
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
