package dev.losskit.conformance;

import dev.losskit.core.DType;
import dev.losskit.core.LogLoss;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.Tensor;

/**
 * Checks the core against golden cases: runs each case through the public API and compares the loss and the
 * gradient with the expected tensors, at PyTorch's default tolerance for the case's dtype unless overridden.
 * An error case passes when the core rejects the input with an {@link IllegalArgumentException}.
 *
 * <p>A scikit-learn {@code log_loss} case is checked on its value alone, at {@link LogLossCase#tolerance()}, and
 * on whether the core counts rows of {@code y_pred} not summing to one exactly when scikit-learn warned about
 * them; its error case passes when {@link LogLoss} rejects the input with a {@link LossArgumentException}.
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
    Tolerance base = c.logLoss() != null ? c.logLoss().tolerance() : Tolerance.defaultFor(c.dtype());
    return base.with(rtol, atol);
  }

  /**
   * Checks one case.
   *
   * @param c the case
   * @return whether it passed, with its errors
   */
  public CaseOutcome check(GoldenCase c) {
    if (c.logLoss() != null) {
      return checkLogLoss(c);
    }
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
    Tensor oracleGrad = c.oracleGrad();
    if (oracleGrad != null && c.call().loss().equals(dev.losskit.core.BceLoss.NAME) && c.dtype() != DType.FLOAT64) {
      oracleGrad = ConformanceRunner.atDtypeEpsilon(c.call().input(), oracleGrad); // libtorch's ε in c's dtype
    }
    Comparison grad = Comparison.of("grad_input", mine.grad(), c.expectedGrad(), oracleGrad, tol);
    boolean passed = loss.passed() && grad.passed();
    String message = passed ? null : (!loss.passed() ? loss.detail() : grad.detail());
    return new CaseOutcome(c.id(), passed, loss, grad, message);
  }

  // ---- scikit-learn's log_loss: the value alone (a metric has no gradient), and the row-sum warning ---------------

  private CaseOutcome checkLogLoss(GoldenCase c) {
    LogLoss.Result mine;
    try {
      mine = c.logLoss().run();
    } catch (LossArgumentException e) {
      return c.expectsError()
          ? new CaseOutcome(c.id(), true, null, null, e.getMessage())
          : new CaseOutcome(c.id(), false, null, null, "the core rejected it: " + e.getMessage());
    } catch (RuntimeException e) {
      return new CaseOutcome(c.id(), false, null, null, "the core failed with " + e.getClass().getSimpleName()
          + " instead of a LossArgumentException: " + e.getMessage());
    }
    if (c.expectsError()) {
      return new CaseOutcome(c.id(), false, null, null,
          "scikit-learn rejects this input but the core accepted it (loss " + mine.loss() + ")");
    }
    Comparison loss = Comparison.of("loss", Tensor.scalar(mine.loss()), c.expectedLoss(), toleranceFor(c));
    if (!loss.passed()) {
      return new CaseOutcome(c.id(), false, loss, null, loss.detail());
    }
    Boolean warns = c.logLoss().warnsNotSumToOne();
    if (warns != null && warns != (mine.rowsNotSummingToOne() > 0)) {
      return new CaseOutcome(c.id(), false, loss, null, "scikit-learn " + (warns ? "warned" : "did not warn")
          + " that rows of y_pred do not sum to one, but the core counted " + mine.rowsNotSummingToOne()
          + " such rows");
    }
    return new CaseOutcome(c.id(), true, loss, null, null);
  }
}
