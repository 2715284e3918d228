package dev.losskit.conformance;

import dev.losskit.core.LossResult;
import dev.losskit.core.Tensor;

/**
 * What one implementation made of a loss call: a loss and its gradient, or an error.
 *
 * @param loss the loss, or null after an error
 * @param grad the gradient with respect to the input, or null after an error
 * @param error the one-line error message, or null
 */
public record Outcome(Tensor loss, Tensor grad, String error) {

  /**
   * Wraps what a backend computed.
   *
   * @param r the loss and gradient a backend computed
   * @return an outcome holding them
   */
  public static Outcome of(LossResult r) {
    return new Outcome(r.loss(), r.gradInput(), null);
  }

  /**
   * Records that a backend rejected the input.
   *
   * @param message why the backend rejected the input
   * @return an outcome holding the error
   */
  public static Outcome error(String message) {
    return new Outcome(null, null, message == null ? "error" : message);
  }

  /**
   * Runs a call of the core, turning its rejection of bad input into an error outcome.
   *
   * @param call the call
   * @return its result, or the core's message
   */
  public static Outcome capture(java.util.function.Supplier<LossResult> call) {
    try {
      return of(call.get());
    } catch (IllegalArgumentException e) {
      return error(e.getMessage());
    }
  }

  /** {@return true when the call was rejected} */
  public boolean failed() {
    return error != null;
  }
}
