package dev.losskit.conformance;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtSession;

/**
 * ONNX Runtime as losskit uses it: quiet and with its telemetry off.
 *
 * <p>ONNX Runtime 1.29 on Linux uploads telemetry to Microsoft (a DNS lookup of {@code mobile.events.data
 * .microsoft.com}, seen with {@code strace} during {@code losskit conform}) unless the environment variable
 * {@code ORT_DISABLE_TELEMETRY=1} is set before the library loads; the launcher and the build set it. Java cannot set
 * an environment variable, so this class also turns telemetry events off through the API once the environment
 * exists, and logs only fatal errors: the loss graphs' run-time checks fail on purpose for inputs PyTorch rejects, and
 * those failures are reported as results, not as log lines.
 */
public final class Ort {
  private Ort() {}

  /** {@return the process's ONNX Runtime environment, with telemetry events disabled} */
  public static OrtEnvironment environment() {
    OrtEnvironment env = OrtEnvironment.getEnvironment(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL, "losskit");
    try {
      env.setTelemetry(false);
    } catch (OrtException e) {
      // A build without telemetry has nothing to turn off.
    }
    return env;
  }

  /** {@return session options that log only fatal errors} */
  public static OrtSession.SessionOptions sessionOptions() {
    OrtSession.SessionOptions o = new OrtSession.SessionOptions();
    try {
      o.setSessionLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL);
    } catch (OrtException e) {
      throw new IllegalStateException("ONNX Runtime refused a log level: " + e.getMessage(), e);
    }
    return o;
  }
}
