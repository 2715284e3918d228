package dev.losskit.conformance;

/** A golden file that cannot be read: unreadable, not JSON, or not in the golden format. The message is one line. */
public final class GoldenFormatException extends Exception {
  private static final long serialVersionUID = 1L;

  /**
   * Reports a golden file that cannot be read.
   *
   * @param message one line naming the file, and the case where there is one
   */
  public GoldenFormatException(String message) {
    super(message);
  }
}
