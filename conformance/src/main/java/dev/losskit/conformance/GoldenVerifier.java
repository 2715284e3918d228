package dev.losskit.conformance;

/**
 * Checks the core against golden cases: runs each case through the public API and compares the loss and the
 * gradient with the expected tensors, at PyTorch's default tolerance for the case's dtype unless overridden.
 * An error case passes when the core rejects the input with an {@link IllegalArgumentException}.
 *
 * <p>For a float32 case that carries PyTorch's float64 result ({@code expected_float64}), an element outside the
 * tolerance still passes when it is at least as close to that float64 result as PyTorch's float32 value is: such
 * a result is more accurate than PyTorch, not wrong. Those elements are counted in
 * {@link Comparison#moreAccurate()}.
 */
public final class GoldenVerifier {
  private final Double rtol;
  private final Double atol;

  /**
   * Creates a verifier whose tolerances, where given, replace PyTorch's defaults.
   *
   * @param rtol a relative tolerance for every case, or null for PyTorch's default per dtype
   * @param atol an absolute tolerance for every case, or null for PyTorch's default per dtype
   */
  public GoldenVerifier(Double rtol, Double atol) {
    this.rtol = rtol;
    this.atol = atol;
  }

  /** {@return a verifier with PyTorch's default tolerances} */
  public static GoldenVerifier withDefaults() {
    return new GoldenVerifier(null, null);
  }

  /**
   * Picks a case's tolerance: PyTorch's default for its dtype, with this verifier's overrides.
   *
   * @param c the case
   * @return its tolerance
   */
  public Tolerance toleranceFor(GoldenCase c) {
    return Tolerance.defaultFor(c.dtype()).with(rtol, atol);
  }

  /**
   * Checks one case.
   *
   * @param c the case
   * @return whether it passed, with its errors
   */
  public CaseOutcome check(GoldenCase c) {
    Outcome mine = Backend.CORE.run(c.call());
    if (mine.failed()) {
      return c.expectsError()
          ? new CaseOutcome(c.id(), true, null, null, mine.error())
          : new CaseOutcome(c.id(), false, null, null, "the core rejected it: " + mine.error());
    }
    if (c.expectsError()) {
      return new CaseOutcome(c.id(), false, null, null,
          "PyTorch rejects this input but the core accepted it");
    }
    Tolerance tol = toleranceFor(c);
    Comparison loss = Comparison.of("loss", mine.loss(), c.expectedLoss(), c.oracleLoss(), tol);
    Comparison grad = Comparison.of("grad_input", mine.grad(), c.expectedGrad(), c.oracleGrad(), tol);
    boolean passed = loss.passed() && grad.passed();
    String message = passed ? null : (!loss.passed() ? loss.detail() : grad.detail());
    return new CaseOutcome(c.id(), passed, loss, grad, message);
  }
}
