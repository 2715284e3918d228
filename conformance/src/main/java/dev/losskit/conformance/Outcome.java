package dev.losskit.conformance;

import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossResult;
import dev.losskit.core.Tensor;

/**
 * What one implementation made of a loss call: a loss and its gradient, or a rejection. A rejection keeps the
 * exception and the stage it came from, so the runner can tell losskit's own validation (a
 * {@link LossArgumentException} and its cause) from a crash, an engine's error or an ONNX graph that did not load.
 *
 * @param loss the loss, or null after a rejection
 * @param grad the gradient with respect to the input, or null after a rejection
 * @param error the rejection's one-line message, or null
 * @param exception what was thrown, or null when the call succeeded
 * @param stage where the rejection happened, or null when the call succeeded
 */
public record Outcome(Tensor loss, Tensor grad, String error, Throwable exception, Stage stage) {

  /** Where a call was rejected. */
  public enum Stage {
    /** The call threw: losskit's validation, or anything else (an engine error, a crash). */
    CALL,
    /** ONNX Runtime did not build a session for the exported graph: the graph did not load. */
    SESSION,
    /** An exported graph that loaded failed when run: one of its own checks, or an operator's. */
    GRAPH_RUN
  }

  /**
   * Holds what a call computed.
   *
   * @param loss the loss
   * @param grad the gradient with respect to the input
   * @return an outcome holding them
   */
  public static Outcome values(Tensor loss, Tensor grad) {
    return new Outcome(loss, grad, null, null, null);
  }

  /**
   * Wraps what a backend computed.
   *
   * @param r the loss and gradient a backend computed
   * @return an outcome holding them
   */
  public static Outcome of(LossResult r) {
    return values(r.loss(), r.gradInput());
  }

  /**
   * Records what a call threw, with its own message.
   *
   * @param e what the call threw
   * @return an outcome holding it, with its message
   */
  public static Outcome threw(Throwable e) {
    return threw(e, e.getMessage());
  }

  /**
   * Records what a call threw, with a message of the caller's choosing.
   *
   * @param e what the call threw
   * @param message the one-line message to show, e.g. an engine's error cut to its first line
   * @return an outcome holding it
   */
  public static Outcome threw(Throwable e, String message) {
    return rejected(e, message, Stage.CALL);
  }

  /**
   * Records a rejection and the stage it came from.
   *
   * @param e what was thrown
   * @param message the one-line message to show
   * @param stage where it was thrown
   * @return an outcome holding the rejection
   */
  public static Outcome rejected(Throwable e, String message, Stage stage) {
    if (e == null || stage == null) {
      throw new NullPointerException("a rejection needs its exception and stage");
    }
    String m = message == null || message.isBlank() ? e.getClass().getSimpleName() : message;
    return new Outcome(null, null, m.replaceAll("\\s+", " ").strip(), e, stage);
  }

  /**
   * Runs a call of the core, turning its rejection of bad input into an outcome. Anything other than an
   * {@link IllegalArgumentException} propagates.
   *
   * @param call the call
   * @return its result, or the rejection
   */
  public static Outcome capture(java.util.function.Supplier<LossResult> call) {
    try {
      return of(call.get());
    } catch (IllegalArgumentException e) {
      return threw(e);
    }
  }

  /** {@return true when the call was rejected} */
  public boolean failed() {
    return exception != null;
  }

  /** {@return losskit's own rejection, or null when the call succeeded or something else rejected it} */
  public LossArgumentException losskitRejection() {
    return stage == Stage.CALL && exception instanceof LossArgumentException e ? e : null;
  }

  /**
   * Describes the rejection for a report.
   *
   * @return the rejection in one line, with the exception's class, e.g.
   *     {@code NullPointerException: Cannot read the array length}; null when the call succeeded
   */
  public String describe() {
    if (!failed()) {
      return null;
    }
    LossArgumentException l = losskitRejection();
    String what = l != null ? "LossArgumentException(" + l.cause() + ")" : exception.getClass().getSimpleName();
    String where = stage == Stage.SESSION ? " (building the ONNX Runtime session)"
        : stage == Stage.GRAPH_RUN ? " (running the loaded graph)" : "";
    return what + where + ": " + error;
  }
}
