package dev.losskit.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The opt-outs that keep DJL and ONNX Runtime off the network are set wherever losskit runs its code. Whether
 * anything still connects is checked from outside the JVM, where native code is seen too: {@code .ci/no-network}
 * runs the main job and the examples under {@code strace} and fails on any connection beyond the loopback
 * interface, and {@code .ci/run} calls it on every JDK it tests. (ONNX Runtime 1.29 uploaded telemetry from C++
 * until ORT_DISABLE_TELEMETRY was set: only a check that sees native code can catch that.)
 */
class NoNetworkTest {
  /** DJL reads its switches from the environment and system properties, ONNX Runtime from the environment. */
  @Test
  void theBuildSetsEveryOptOut() {
    assertEquals("1", System.getenv("ORT_DISABLE_TELEMETRY"));
    assertEquals("true", System.getenv("OPT_OUT_TRACKING"));
    assertEquals("true", System.getenv("DJL_OFFLINE"));
    assertEquals("true", System.getProperty("ai.djl.offline"));
  }

  /** The launcher sets the same opt-outs before it starts the JVM, and CI runs the strace check. */
  @Test
  void theLauncherSetsThemAndCiChecksWithStrace() throws IOException {
    Path root = Path.of(System.getProperty("losskit.fixtures")).getParent();
    String launcher = Files.readString(root.resolve("losskit"));
    for (String optOut : new String[] {"OPT_OUT_TRACKING=true", "DJL_OFFLINE=true", "ORT_DISABLE_TELEMETRY=1",
        "-Dai.djl.offline=true"}) {
      assertTrue(launcher.contains(optOut), "the launcher sets " + optOut);
    }
    assertTrue(Files.readString(root.resolve(".ci/run")).contains(".ci/no-network"), ".ci/run runs the check");
  }
}
