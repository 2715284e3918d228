package dev.losskit.conformance;

import dev.losskit.core.DType;

/**
 * An {@code assert_close} tolerance: {@code |actual - expected| <= atol + rtol·|expected|}, with NaN equal to NaN and
 * infinities equal only to themselves.
 *
 * @param rtol the relative tolerance
 * @param atol the absolute tolerance
 */
public record Tolerance(double rtol, double atol) {
  /** PyTorch's {@code torch.testing.assert_close} default for float32. */
  public static final Tolerance FLOAT32 = new Tolerance(1.3e-6, 1e-5);
  /** PyTorch's {@code torch.testing.assert_close} default for float64. */
  public static final Tolerance FLOAT64 = new Tolerance(1e-7, 1e-7);
  /** {@code torch.testing.assert_close}'s default for float16: rtol 1e-3, atol 1e-5. */
  public static final Tolerance FLOAT16 = new Tolerance(1e-3, 1e-5);
  /** {@code torch.testing.assert_close}'s default for bfloat16: rtol 1.6e-2, atol 1e-5. */
  public static final Tolerance BFLOAT16 = new Tolerance(1.6e-2, 1e-5);

  /**
   * Looks up PyTorch's default tolerance for a dtype.
   *
   * @param dtype a floating dtype
   * @return PyTorch's default tolerance for it
   */
  public static Tolerance defaultFor(DType dtype) {
    switch (dtype) {
      case FLOAT32:
        return FLOAT32;
      case FLOAT16:
        return FLOAT16;
      case BFLOAT16:
        return BFLOAT16;
      default:
        return FLOAT64;
    }
  }

  /**
   * Replaces parts of this tolerance.
   *
   * @param rtol a relative tolerance, or null to keep this one's
   * @param atol an absolute tolerance, or null to keep this one's
   * @return this tolerance with the given parts replaced
   */
  public Tolerance with(Double rtol, Double atol) {
    return new Tolerance(rtol == null ? this.rtol : rtol, atol == null ? this.atol : atol);
  }
}
