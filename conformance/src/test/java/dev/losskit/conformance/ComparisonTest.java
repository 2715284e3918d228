package dev.losskit.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.losskit.core.Tensor;
import org.junit.jupiter.api.Test;

/** assert_close semantics: |a - e| <= atol + rtol·|e|, NaN equals NaN, infinities must match in sign. */
class ComparisonTest {
  private static Comparison cmp(double a, double e) {
    return Comparison.of("x", Tensor.of(new double[] {a}, 1), Tensor.of(new double[] {e}, 1), Tolerance.FLOAT32);
  }

  @Test
  void toleranceIsAtolPlusRtolTimesExpected() {
    assertTrue(cmp(1.0 + 1e-5 + 1.3e-6 * 0.999, 1.0).passed());
    assertFalse(cmp(1.0 + 1.2e-5, 1.0).passed());
    assertTrue(cmp(1e6 + 1.2, 1e6).passed());
  }

  @Test
  void nanEqualsNanAndInfinitiesMatchBySign() {
    assertTrue(cmp(Double.NaN, Double.NaN).passed());
    assertFalse(cmp(Double.NaN, 0).passed());
    assertFalse(cmp(0, Double.NaN).passed());
    assertTrue(cmp(Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY).passed());
    assertFalse(cmp(Double.NEGATIVE_INFINITY, Double.POSITIVE_INFINITY).passed());
    assertFalse(cmp(Double.MAX_VALUE, Double.POSITIVE_INFINITY).passed());
    assertEquals(0.0, cmp(Double.NaN, Double.NaN).maxAbsError());
  }

  @Test
  void shapesMustMatch() {
    Comparison c = Comparison.of("loss", Tensor.of(new double[] {1}, 1), Tensor.scalar(1.0), Tolerance.FLOAT64);
    assertFalse(c.passed());
    assertTrue(c.detail().contains("shape [1] but expected []"), c.detail());
  }
}
