package dev.losskit.core;

import dev.losskit.core.LossArgumentException.Cause;

/** Element types a {@link Tensor} view can hold. Losses compute on the floating types; targets may be integral. */
public enum DType {
  /** IEEE 754 single precision, PyTorch's {@code torch.float32}. */
  FLOAT32("float32", true, 4),
  /** IEEE 754 double precision, PyTorch's {@code torch.float64}. */
  FLOAT64("float64", true, 8),
  /** 32-bit signed integers; accepted for class-index targets (DJL's usual label type). */
  INT32("int32", false, 4),
  /** 64-bit signed integers, PyTorch's {@code torch.int64}, the type of class-index targets. */
  INT64("int64", false, 8),
  /** IEEE 754 half precision, PyTorch's {@code torch.float16}: 11 significant bits, the largest value 65504. */
  FLOAT16("float16", true, 2),
  /** bfloat16, PyTorch's {@code torch.bfloat16}: float32's exponent range with 8 significant bits. */
  BFLOAT16("bfloat16", true, 2);

  private final String pytorchName;
  private final boolean floating;
  private final int byteSize;

  DType(String pytorchName, boolean floating, int byteSize) {
    this.pytorchName = pytorchName;
    this.floating = floating;
    this.byteSize = byteSize;
  }

  /** {@return true for the floating types: float32, float64, float16 and bfloat16} */
  public boolean isFloating() {
    return floating;
  }

  /** {@return true for the 16-bit floating types, {@link #FLOAT16} and {@link #BFLOAT16}} */
  public boolean isHalf() {
    return this == FLOAT16 || this == BFLOAT16;
  }

  /** {@return the size of one element in bytes} */
  public int byteSize() {
    return byteSize;
  }

  /** {@return PyTorch's name for this type without the {@code torch.} prefix, e.g. {@code float32}} */
  public String pytorchName() {
    return pytorchName;
  }

  /**
   * Parses PyTorch's name of a type.
   *
   * @param name {@code float32}, {@code float64}, {@code int32}, {@code int64}, {@code float16} or {@code bfloat16}
   * @return the type
   * @throws IllegalArgumentException naming the value when it is none of these
   */
  public static DType fromPytorchName(String name) {
    for (DType t : values()) {
      if (t.pytorchName.equals(name)) {
        return t;
      }
    }
    throw new LossArgumentException(Cause.OPTION,
        "unknown dtype '" + name + "': expected one of float32, float64, int32, int64, float16, bfloat16");
  }

  @Override
  public String toString() {
    return pytorchName;
  }
}
