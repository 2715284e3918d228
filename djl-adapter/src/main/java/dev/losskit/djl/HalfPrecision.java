package dev.losskit.djl;

import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.losskit.core.DType;
import dev.losskit.core.Tensor;

/**
 * Float16 and bfloat16 predictions in DJL, with autograd intact and without ever naming bfloat16 to DJL's native
 * code.
 *
 * <p>Why the detours. DJL 0.35.1's {@code toType} runs under libtorch's {@code NoGradGuard}, so it cuts autograd; and
 * its native {@code GetScalarTypeFromDType} knows DJL's dtypes 0..8 only and ends the JVM ({@code throw;} with no
 * active exception, exit 134) for any other, so every call that passes {@link DataType#BFLOAT16} or
 * {@link DataType#UNKNOWN} to native code ({@code toType}, {@code create}, {@code zeros}, {@code onesLike},
 * {@code mul(Number)} on such an array, a {@code GradientCollector.backward} of such a loss, which makes its seed
 * with {@code manager.ones(shape, dtype)}) aborts. A bfloat16 tensor made by TorchScript reaches Java as
 * {@link DataType#UNKNOWN}. So this class changes dtypes with libtorch's type promotion and in-place casts only, which
 * autograd records and which pass no dtype to DJL:
 *
 * <ul>
 *   <li>widen: {@code a * one}, with {@code one} a float32 or float64 array of rank 1 (rank 0 for a 0-dim
 *       {@code a}), promotes to the wider type; its backward casts the gradient back to {@code a}'s dtype;
 *   <li>round: {@code zeros.addi(v)}, with {@code zeros} of the half dtype, computes in the common dtype and writes
 *       into the half dtype: one rounding, recorded by autograd;
 *   <li>half zeros of any shape from the predictions alone: an empty slice of them, summed (0, whatever their values,
 *       infinities and NaN included), broadcast and copied.
 * </ul>
 */
final class HalfPrecision {
  private HalfPrecision() {}

  /**
   * {@return whether an array that DJL reports as {@link DataType#UNKNOWN} is bfloat16} libtorch's type promotion
   * tells: bfloat16 + float16 is float32, and by PyTorch's promotion rules bfloat16 is the only dtype DJL 0.35.1
   * reports as UNKNOWN for which it is (an integral type gives float16, as measured for int16, a complex type a complex
   * type; a type libtorch cannot add throws, and is not bfloat16 either). The sum runs on an empty slice, so it costs
   * no arithmetic and works for empty arrays too.
   */
  static boolean isBfloat16(NDArray a) {
    NDManager m = a.getManager();
    try (NDManager scope = m.newSubManager()) {
      NDArray empty = emptySlice(a);
      empty.attach(scope);
      NDArray h = scope.ones(new Shape(1), DataType.FLOAT16);
      NDArray s = empty.add(h);
      s.attach(scope);
      return s.getDataType() == DataType.FLOAT32;
    } catch (EngineException e) { // a dtype libtorch cannot add to float16: not bfloat16
      return false;
    }
  }

  /** {@return an empty 1-D slice of {@code a}, of its dtype and device, outside the graph} */
  private static NDArray emptySlice(NDArray a) {
    NDArray detached = a.stopGradient();
    NDArray flat = detached.reshape(-1);
    NDArray empty = flat.get("0:0");
    flat.close();
    detached.close();
    return empty;
  }

  /** {@return zeros of {@code like}'s dtype (float16 or bfloat16 alike) and device, of {@code shape}} */
  static NDArray zeros(NDArray like, Shape shape) {
    NDArray empty = emptySlice(like);
    NDArray zero = empty.sum(); // 0-dim 0 of like's dtype
    empty.close();
    NDArray expanded = zero.broadcast(shape);
    NDArray out = expanded.duplicate();
    expanded.close();
    zero.close();
    return out;
  }

  /**
   * {@return {@code a} promoted to {@code to} (float32 or float64): exact, and recorded by autograd, whose backward
   * rounds the gradient to {@code a}'s dtype}
   */
  static NDArray widen(NDArray a, DataType to) {
    NDManager m = a.getManager();
    Shape shape = a.getShape().dimension() == 0 ? new Shape() : new Shape(1);
    NDArray one;
    try (NDArray javaBacked = to == DataType.FLOAT32 ? m.create(new float[] {1f}, shape)
        : m.create(new double[] {1d}, shape)) {
      one = javaBacked.duplicate(); // in libtorch's memory: the product keeps it for the backward
    }
    return a.mul(one);
  }

  /**
   * {@return {@code v} (float32 or float64) rounded once to {@code like}'s half dtype, recorded by autograd} A float64
   * value is converted as libtorch converts it, through float32: a double rounding, which can differ from one rounding
   * only where the value lies within a float32 ulp of a half tie.
   */
  static NDArray round(NDArray like, NDArray v) {
    return zeros(like, v.getShape()).addi(v);
  }

  /**
   * {@return the loss {@code v} (float32 or float64) as the adapter returns it for predictions of {@code pType}}:
   * float16, rounded once; bfloat16, rounded once and widened to float32, which holds it exactly. A bfloat16 loss
   * cannot be returned: DJL's {@code GradientCollector.backward} makes its seed with
   * {@code manager.ones(shape, UNKNOWN)}, which aborts the JVM. Its gradient still reaches the predictions in bfloat16.
   */
  static NDArray loss(NDArray pred, DType pType, NDArray v) {
    NDArray rounded = round(pred, v);
    return pType == DType.BFLOAT16 ? widen(rounded, DataType.FLOAT32) : rounded;
  }

  /**
   * {@return the core loss for the float64 form of a half call: the same options, with the weights rounded to the
   * half dtype as PyTorch holds them for a loss in that dtype}
   */
  static dev.losskit.core.Loss widened(dev.losskit.core.Loss core, DType dtype) {
    if (core instanceof dev.losskit.core.CrossEntropyLoss ce) {
      return ce.weight() == null ? ce : ce.toBuilder().weight(rounded(ce.weight(), dtype)).build();
    }
    if (core instanceof dev.losskit.core.NllLoss nll) {
      return nll.weight() == null ? nll : nll.toBuilder().weight(rounded(nll.weight(), dtype)).build();
    }
    if (core instanceof dev.losskit.core.BceWithLogitsLoss b) {
      return b.weight() == null && b.posWeight() == null ? b
          : b.toBuilder().weight(rounded(b.weight(), dtype)).posWeight(rounded(b.posWeight(), dtype)).build();
    }
    dev.losskit.core.BceLoss b = (dev.losskit.core.BceLoss) core;
    return b.weight() == null ? b : b.toBuilder().weight(rounded(b.weight(), dtype)).build();
  }

  /** {@return a weight rounded to {@code dtype}, as PyTorch holds it for a loss in that dtype, or null} */
  static Tensor rounded(Tensor t, DType dtype) {
    return t == null ? null : Tensor.rounded(t.toDoubleArray(), dtype, t.shape());
  }

  /** {@return class weights rounded to {@code dtype}, or null} */
  static double[] rounded(double[] w, DType dtype) {
    return w == null ? null : Tensor.rounded(w, dtype, w.length).toDoubleArray();
  }
}
