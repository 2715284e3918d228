package dev.losskit.conformance;

import dev.losskit.core.LossArgumentException.Cause;
import dev.losskit.core.Reference;
import java.util.Set;

/**
 * An implementation of the losses that the conformance matrix checks against libtorch. Each backend runs every
 * combination; one that cannot express a combination says why in {@link #skipReason}.
 */
public interface Backend {
  /** {@return the backend's name, e.g. {@code core}} */
  String name();

  /** {@return one line on what this backend runs} */
  String description();

  /**
   * Tells why this backend cannot run a loss call; by default it runs every call.
   *
   * @param c a loss call
   * @return why this backend cannot run it, or null when it can
   */
  default String skipReason(LossCase c) {
    return null;
  }

  /**
   * Runs a loss call. Rejected input is an outcome holding the exception ({@link Outcome#threw}), not an
   * exception.
   *
   * @param c the call
   * @return the loss and its gradient, or the rejection
   */
  Outcome run(LossCase c);

  /**
   * The causes of invalid input that this backend's computation rejects by itself when it runs, rather than by
   * losskit's validation: for those, a rejection at {@link Outcome.Stage#GRAPH_RUN} counts as rejecting the input.
   * Every other rejection must be losskit's own {@link dev.losskit.core.LossArgumentException} with the
   * combination's cause.
   *
   * @return the causes; none for a backend without a run-time graph
   */
  default Set<Cause> runTimeCauses() {
    return Set.of();
  }

  /** The core's public API. */
  Backend CORE = new Backend() {
    @Override
    public String name() {
      return "core";
    }

    @Override
    public String description() {
      return "losskit's core through its public API";
    }

    @Override
    public Outcome run(LossCase c) {
      return Outcome.capture(() -> c.buildLoss().forwardBackward(c.input(), c.target(), c.gradOutput()));
    }
  };

  /** The core's reference kernels, called directly. */
  Backend CORE_REFERENCE = new Backend() {
    @Override
    public String name() {
      return "core-reference";
    }

    @Override
    public String description() {
      return "losskit's reference kernels (the executable specification)";
    }

    @Override
    public Outcome run(LossCase c) {
      return Outcome.capture(() -> Reference.forwardBackward(c.buildLoss(), c.input(), c.target(), c.gradOutput()));
    }
  };
}
