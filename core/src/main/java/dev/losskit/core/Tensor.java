package dev.losskit.core;

import dev.losskit.core.LossArgumentException.Cause;
import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.ShortBuffer;
import java.util.Arrays;

/**
 * A minimal read-only view of a dense row-major tensor: a shape, a {@link DType} and a backing store with an offset.
 *
 * <p>The store is a Java array ({@code float[]}, {@code double[]}, {@code int[]}, {@code long[]}) or an NIO buffer
 * (heap or direct), so buffers from DJL or ONNX Runtime pass in without a copy. A view never copies and never writes
 * its store; whoever owns the store must not change it while a loss reads it. This is not a tensor library: it has
 * no arithmetic, no strides and no broadcasting.
 *
 * <p>Shapes follow PyTorch: a scalar has shape {@code []} and one element. A tensor may hold at most
 * {@code 2^31-1} elements; a larger shape is rejected with an {@link IllegalArgumentException}.
 */
public final class Tensor {
  /** The largest element count a tensor may have: Java arrays and buffers are indexed by {@code int}. */
  public static final long MAX_ELEMENTS = Integer.MAX_VALUE;

  private final DType dtype;
  private final int[] shape;
  private final int size;
  private final Object store;
  private final int offset;

  private Tensor(DType dtype, int[] shape, Object store, int offset, int capacity) {
    this.dtype = dtype;
    this.shape = shape.clone();
    this.size = checkedSize(this.shape);
    if (offset < 0) {
      throw new LossArgumentException(Cause.TENSOR_SHAPE, "offset " + offset + " is negative");
    }
    if ((long) offset + size > capacity) {
      throw new LossArgumentException(Cause.TENSOR_SHAPE,
          "shape " + Arrays.toString(this.shape) + " needs " + size + " elements from offset " + offset
              + " but the " + dtype + " store holds " + capacity);
    }
    this.store = store;
    this.offset = offset;
  }

  /**
   * Returns the number of elements of a shape, checking that every extent is non-negative and that the count fits.
   *
   * @param shape the extents
   * @return their product
   * @throws IllegalArgumentException naming the shape when an extent is negative or the count exceeds 2^31-1
   */
  public static int checkedSize(int... shape) {
    long n = 1;
    boolean overflow = false;
    for (int d : shape) {
      if (d < 0) {
        throw new LossArgumentException(Cause.TENSOR_SHAPE,
            "shape " + Arrays.toString(shape) + " has a negative extent " + d);
      }
      if (!overflow) {
        n *= d;
        overflow = n > MAX_ELEMENTS;
      }
    }
    if (overflow && Arrays.stream(shape).noneMatch(d -> d == 0)) {
      java.math.BigInteger total = java.math.BigInteger.ONE;
      for (int d : shape) {
        total = total.multiply(java.math.BigInteger.valueOf(d));
      }
      throw new LossArgumentException(Cause.TENSOR_SHAPE, "shape " + Arrays.toString(shape) + " has " + total
          + " elements, more than the limit of 2^31-1 (" + MAX_ELEMENTS + ")");
    }
    return overflow ? 0 : (int) n;
  }

  // ---- factories over arrays -------------------------------------------------------------------------------------

  /**
   * A float32 view of a whole array; the shape's element count must equal the array's length.
   *
   * @param data the values, row-major; shared, not copied
   * @param shape the shape
   * @return the view
   */
  public static Tensor of(float[] data, int... shape) {
    return exact(new Tensor(DType.FLOAT32, shape, data, 0, data.length), data.length);
  }

  /**
   * A float64 view of a whole array; the shape's element count must equal the array's length.
   *
   * @param data the values, row-major; shared, not copied
   * @param shape the shape
   * @return the view
   */
  public static Tensor of(double[] data, int... shape) {
    return exact(new Tensor(DType.FLOAT64, shape, data, 0, data.length), data.length);
  }

  /**
   * An int64 view of a whole array, e.g. class-index targets.
   *
   * @param data the values, row-major; shared, not copied
   * @param shape the shape
   * @return the view
   */
  public static Tensor of(long[] data, int... shape) {
    return exact(new Tensor(DType.INT64, shape, data, 0, data.length), data.length);
  }

  /**
   * An int32 view of a whole array, e.g. class-index targets from DJL.
   *
   * @param data the values, row-major; shared, not copied
   * @param shape the shape
   * @return the view
   */
  public static Tensor of(int[] data, int... shape) {
    return exact(new Tensor(DType.INT32, shape, data, 0, data.length), data.length);
  }

  /**
   * A float32 view of part of an array, starting at {@code offset}.
   *
   * @param data the array; shared, not copied
   * @param offset the index of element 0
   * @param shape the shape
   * @return the view
   */
  public static Tensor view(float[] data, int offset, int... shape) {
    return new Tensor(DType.FLOAT32, shape, data, offset, data.length);
  }

  /**
   * A float64 view of part of an array, starting at {@code offset}.
   *
   * @param data the array; shared, not copied
   * @param offset the index of element 0
   * @param shape the shape
   * @return the view
   */
  public static Tensor view(double[] data, int offset, int... shape) {
    return new Tensor(DType.FLOAT64, shape, data, offset, data.length);
  }

  /**
   * An int64 view of part of an array, starting at {@code offset}.
   *
   * @param data the array; shared, not copied
   * @param offset the index of element 0
   * @param shape the shape
   * @return the view
   */
  public static Tensor view(long[] data, int offset, int... shape) {
    return new Tensor(DType.INT64, shape, data, offset, data.length);
  }

  /**
   * An int32 view of part of an array, starting at {@code offset}.
   *
   * @param data the array; shared, not copied
   * @param offset the index of element 0
   * @param shape the shape
   * @return the view
   */
  public static Tensor view(int[] data, int offset, int... shape) {
    return new Tensor(DType.INT32, shape, data, offset, data.length);
  }

  /**
   * A half-precision tensor over a whole array of 16-bit patterns. A {@code short[]} cannot tell float16 from
   * bfloat16, so the view names its dtype.
   *
   * @param data the bit patterns, row-major; shared, not copied
   * @param dtype {@link DType#FLOAT16} or {@link DType#BFLOAT16}
   * @param shape the shape; its element count must equal {@code data.length}
   * @return the view
   */
  public static Tensor of(short[] data, DType dtype, int... shape) {
    return exact(new Tensor(half(dtype), shape, data, 0, data.length), data.length);
  }

  /**
   * A half-precision view of part of an array of 16-bit patterns, starting at {@code offset}.
   *
   * @param data the bit patterns; shared, not copied
   * @param offset the index of element 0
   * @param dtype {@link DType#FLOAT16} or {@link DType#BFLOAT16}
   * @param shape the shape
   * @return the view
   */
  public static Tensor view(short[] data, int offset, DType dtype, int... shape) {
    return new Tensor(half(dtype), shape, data, offset, data.length);
  }

  /**
   * A half-precision view of a buffer of 16-bit patterns, from its absolute index {@code offset}, like the float32
   * buffer view.
   *
   * @param data the buffer, heap or direct; shared, not copied
   * @param offset the absolute index of element 0
   * @param dtype {@link DType#FLOAT16} or {@link DType#BFLOAT16}
   * @param shape the shape
   * @return the view
   */
  public static Tensor view(ShortBuffer data, int offset, DType dtype, int... shape) {
    return new Tensor(half(dtype), shape, data.duplicate().clear(), offset, data.capacity());
  }

  /**
   * A new tensor of a floating dtype from doubles, each rounded once to the dtype (to nearest, ties to even): the
   * way to make float16 and bfloat16 data from numbers.
   *
   * @param values the values, row-major; copied
   * @param dtype a floating dtype
   * @param shape the shape; its element count must equal {@code values.length}
   * @return the new tensor
   */
  public static Tensor rounded(double[] values, DType dtype, int... shape) {
    if (dtype == null || !dtype.isFloating()) {
      throw new LossArgumentException(Cause.DTYPE, "rounded values need a floating dtype, got " + dtype);
    }
    // fromDoubles takes a float64 array over; the other dtypes copy into their own.
    return exact(fromDoubles(dtype, dtype == DType.FLOAT64 ? values.clone() : values, shape), values.length);
  }

  private static DType half(DType dtype) {
    if (dtype == null || !dtype.isHalf()) {
      throw new LossArgumentException(Cause.DTYPE, "16-bit data needs dtype float16 or bfloat16, got " + dtype);
    }
    return dtype;
  }

  /**
   * A float32 scalar (shape {@code []}).
   *
   * @param value the value
   * @return the scalar
   */
  public static Tensor scalar(float value) {
    return of(new float[] {value});
  }

  /**
   * A float64 scalar (shape {@code []}).
   *
   * @param value the value
   * @return the scalar
   */
  public static Tensor scalar(double value) {
    return of(new double[] {value});
  }

  // ---- factories over buffers ------------------------------------------------------------------------------------

  /**
   * A float32 view of a buffer, from its absolute index {@code offset}; the buffer's position and limit are not used
   * (the view reads up to its capacity) and later changes to them do not affect the view.
   *
   * @param data the buffer, heap or direct; shared, not copied
   * @param offset the absolute index of element 0
   * @param shape the shape
   * @return the view
   */
  public static Tensor view(FloatBuffer data, int offset, int... shape) {
    return new Tensor(DType.FLOAT32, shape, data.duplicate().clear(), offset, data.capacity());
  }

  /**
   * A float64 view of a buffer, from its absolute index {@code offset}, like the float32 one.
   *
   * @param data the buffer, heap or direct; shared, not copied
   * @param offset the absolute index of element 0
   * @param shape the shape
   * @return the view
   */
  public static Tensor view(DoubleBuffer data, int offset, int... shape) {
    return new Tensor(DType.FLOAT64, shape, data.duplicate().clear(), offset, data.capacity());
  }

  /**
   * An int64 view of a buffer, from its absolute index {@code offset}, like the float32 one.
   *
   * @param data the buffer, heap or direct; shared, not copied
   * @param offset the absolute index of element 0
   * @param shape the shape
   * @return the view
   */
  public static Tensor view(LongBuffer data, int offset, int... shape) {
    return new Tensor(DType.INT64, shape, data.duplicate().clear(), offset, data.capacity());
  }

  /**
   * An int32 view of a buffer, from its absolute index {@code offset}, like the float32 one.
   *
   * @param data the buffer, heap or direct; shared, not copied
   * @param offset the absolute index of element 0
   * @param shape the shape
   * @return the view
   */
  public static Tensor view(IntBuffer data, int offset, int... shape) {
    return new Tensor(DType.INT32, shape, data.duplicate().clear(), offset, data.capacity());
  }

  /**
   * A view of raw bytes, such as a direct buffer from DJL's {@code NDArray.toByteBuffer()} or ONNX Runtime, read in
   * the buffer's own byte order from byte index 0 (set the order before calling; native engines use
   * {@link java.nio.ByteOrder#nativeOrder()}).
   *
   * @param bytes the bytes; {@code bytes.capacity()} must be a multiple of the element size
   * @param dtype how to read them
   * @param shape the shape
   * @return a view that shares the bytes
   */
  public static Tensor view(ByteBuffer bytes, DType dtype, int... shape) {
    ByteBuffer b = bytes.duplicate().order(bytes.order());
    b.clear();
    switch (dtype) {
      case FLOAT32:
        return view(b.asFloatBuffer(), 0, shape);
      case FLOAT64:
        return view(b.asDoubleBuffer(), 0, shape);
      case INT32:
        return view(b.asIntBuffer(), 0, shape);
      case INT64:
        return view(b.asLongBuffer(), 0, shape);
      case FLOAT16:
      case BFLOAT16:
        return view(b.asShortBuffer(), 0, dtype, shape);
      default:
        throw new AssertionError(dtype);
    }
  }

  private static Tensor exact(Tensor t, int length) {
    if (t.size != length) {
      throw new LossArgumentException(Cause.TENSOR_SHAPE, "shape " + Arrays.toString(t.shape) + " needs " + t.size
          + " elements but the " + t.dtype + " array has " + length);
    }
    return t;
  }

  // ---- accessors -------------------------------------------------------------------------------------------------

  /** {@return the element type} */
  public DType dtype() {
    return dtype;
  }

  /** {@return a copy of the shape} */
  public int[] shape() {
    return shape.clone();
  }

  /** {@return the number of dimensions; 0 for a scalar} */
  public int dim() {
    return shape.length;
  }

  /**
   * Gives the extent of one dimension.
   *
   * @param d a dimension, negative counting from the end as in PyTorch
   * @return its extent
   */
  public int size(int d) {
    return shape[d < 0 ? d + shape.length : d];
  }

  /** {@return the number of elements} */
  public int numel() {
    return size;
  }

  /**
   * Compares this tensor's shape with another's.
   *
   * @param other another tensor
   * @return true when this and {@code other} have equal shapes
   */
  public boolean sameShape(Tensor other) {
    return Arrays.equals(shape, other.shape);
  }

  /**
   * Reads one element as a double, exactly (every float32, int32 and int64 in the range of class indices is a
   * double exactly).
   *
   * @param i the row-major index, from 0 to {@code numel()-1}
   * @return the element
   */
  public double getDouble(int i) {
    int j = offset + checkIndex(i);
    switch (dtype) {
      case FLOAT32:
        return store instanceof float[] ? ((float[]) store)[j] : ((FloatBuffer) store).get(j);
      case FLOAT64:
        return store instanceof double[] ? ((double[]) store)[j] : ((DoubleBuffer) store).get(j);
      case INT32:
        return store instanceof int[] ? ((int[]) store)[j] : ((IntBuffer) store).get(j);
      case INT64:
        return store instanceof long[] ? ((long[]) store)[j] : ((LongBuffer) store).get(j);
      case FLOAT16:
        return HalfFloats.float16ToFloat(store instanceof short[] ? ((short[]) store)[j] : ((ShortBuffer) store).get(j));
      case BFLOAT16:
        return HalfFloats.bfloat16ToFloat(store instanceof short[] ? ((short[]) store)[j]
            : ((ShortBuffer) store).get(j));
      default:
        throw new AssertionError(dtype);
    }
  }

  /**
   * Reads one element of an integral tensor as a long.
   *
   * @param i the row-major index
   * @return the element
   * @throws IllegalStateException for a floating tensor
   */
  public long getLong(int i) {
    int j = offset + checkIndex(i);
    switch (dtype) {
      case INT32:
        return store instanceof int[] ? ((int[]) store)[j] : ((IntBuffer) store).get(j);
      case INT64:
        return store instanceof long[] ? ((long[]) store)[j] : ((LongBuffer) store).get(j);
      default:
        throw new IllegalStateException("getLong on a " + dtype + " tensor");
    }
  }

  private int checkIndex(int i) {
    if (i < 0 || i >= size) {
      throw new IndexOutOfBoundsException("index " + i + " out of range for shape " + Arrays.toString(shape));
    }
    return i;
  }

  /** {@return a new array holding every element as a double} */
  public double[] toDoubleArray() {
    double[] out = new double[size];
    for (int i = 0; i < size; i++) {
      out[i] = getDouble(i);
    }
    return out;
  }

  /** {@return a new array holding every element rounded to float} */
  public float[] toFloatArray() {
    float[] out = new float[size];
    for (int i = 0; i < size; i++) {
      out[i] = (float) getDouble(i);
    }
    return out;
  }

  /** {@return the backing float array of an array-backed float32 tensor, or null; element i is at offset() + i} */
  float[] floatArray() {
    return store instanceof float[] ? (float[]) store : null;
  }

  /** {@return the backing float array when this view covers all of it from index 0, or null} */
  float[] floatArrayOrNull() {
    return store instanceof float[] && offset == 0 && ((float[]) store).length == size ? (float[]) store : null;
  }

  /** {@return the backing double array when this view covers all of it from index 0, or null} */
  double[] doubleArrayOrNull() {
    return store instanceof double[] && offset == 0 && ((double[]) store).length == size ? (double[]) store : null;
  }

  /** {@return where element 0 sits in the store} */
  int offset() {
    return offset;
  }

  /** Copies {@code len} float32 elements from index {@code from} into {@code dst}: the fast kernels' row reads. */
  void readFloats(int from, float[] dst, int len) {
    if (store instanceof float[]) {
      System.arraycopy((float[]) store, offset + from, dst, 0, len);
    } else if (store instanceof FloatBuffer) {
      ((FloatBuffer) store).get(offset + from, dst, 0, len);
    } else if (store instanceof short[]) {
      HalfFloats.widen(dtype, (short[]) store, offset + from, dst, 0, len);
    } else {
      ShortBuffer b = (ShortBuffer) store;
      short[] chunk = new short[Math.min(len, 4096)];
      for (int i = 0; i < len; i += chunk.length) {
        int l = Math.min(chunk.length, len - i);
        b.get(offset + from + i, chunk, 0, l);
        HalfFloats.widen(dtype, chunk, 0, dst, i, l);
      }
    }
  }

  /** {@return a float32 copy of a half tensor, every value widened exactly, of the same shape} */
  Tensor widenedToFloat32() {
    float[] f = new float[size];
    readFloats(0, f, size);
    return of(f, shape);
  }

  /** {@return the backing short array of an array-backed half tensor, or null; element i is at offset() + i} */
  short[] shortArray() {
    return store instanceof short[] ? (short[]) store : null;
  }

  /** Copies {@code len} elements from index {@code from} into {@code dst} as doubles. */
  void readDoubles(int from, double[] dst, int len) {
    if (store instanceof double[]) {
      System.arraycopy((double[]) store, offset + from, dst, 0, len);
    } else if (store instanceof DoubleBuffer) {
      ((DoubleBuffer) store).get(offset + from, dst, 0, len);
    } else {
      for (int i = 0; i < len; i++) {
        dst[i] = getDouble(from + i);
      }
    }
  }

  /**
   * {@return true when no element is NaN or infinite (integral tensors always are)} Reads the store in bulk, so it
   * costs one pass over the data.
   */
  public boolean allFinite() {
    if (!dtype.isFloating()) {
      return true;
    }
    if (dtype == DType.FLOAT32) {
      float[] chunk = store instanceof float[] ? (float[]) store : new float[Math.min(size, 1 << 14)];
      for (int from = 0; from < size; from += chunk.length) {
        int len = store instanceof float[] ? size : Math.min(chunk.length, size - from);
        int base = store instanceof float[] ? offset : 0;
        if (!(store instanceof float[])) {
          readFloats(from, chunk, len);
        }
        boolean finite = true;
        for (int i = base; i < base + len; i++) {
          finite &= (Float.floatToRawIntBits(chunk[i]) & 0x7f800000) != 0x7f800000;
        }
        if (!finite) {
          return false;
        }
        if (store instanceof float[]) {
          break;
        }
      }
      return true;
    }
    double[] chunk = new double[Math.min(size, 1 << 13)];
    for (int from = 0; from < size; from += chunk.length) {
      int len = Math.min(chunk.length, size - from);
      readDoubles(from, chunk, len);
      for (int i = 0; i < len; i++) {
        if (!Double.isFinite(chunk[i])) {
          return false;
        }
      }
    }
    return true;
  }

  /** {@return true when the store is a direct NIO buffer} */
  public boolean isDirect() {
    return store instanceof Buffer && ((Buffer) store).isDirect();
  }

  /**
   * Makes a tensor of the given floating type from doubles, each rounded once to the type (to nearest, ties to even).
   *
   * @param dtype a floating type
   * @param values the values, row-major; the array is taken over for float64
   * @param shape the shape
   * @return the new tensor
   */
  static Tensor fromDoubles(DType dtype, double[] values, int[] shape) {
    if (dtype == DType.FLOAT64) {
      return of(values, shape);
    }
    if (dtype.isHalf()) {
      short[] h = new short[values.length];
      for (int i = 0; i < h.length; i++) {
        h[i] = dtype == DType.FLOAT16 ? HalfFloats.doubleToFloat16(values[i]) : HalfFloats.doubleToBfloat16(values[i]);
      }
      return of(h, dtype, shape);
    }
    float[] f = new float[values.length];
    for (int i = 0; i < f.length; i++) {
      f[i] = (float) values[i];
    }
    return of(f, shape);
  }

  @Override
  public String toString() {
    return "Tensor(" + dtype + ", shape=" + Arrays.toString(shape) + ")";
  }
}
