package dev.losskit.conformance;

/**
 * The result of checking one golden case.
 *
 * @param id the case's id
 * @param passed whether it passed
 * @param loss the comparison of the loss, or null for an error case or a failed call
 * @param grad the comparison of the gradient, or null likewise
 * @param message one line saying why it failed, or what the core said for an expected error; null otherwise
 */
public record CaseOutcome(String id, boolean passed, Comparison loss, Comparison grad, String message) {

  /** {@return {@code pass} or {@code fail}} */
  public String status() {
    return passed ? "pass" : "fail";
  }
}
