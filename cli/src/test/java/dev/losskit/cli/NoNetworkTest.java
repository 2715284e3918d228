package dev.losskit.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Pattern;
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
    for (String variable : new String[] {"OPT_OUT_TRACKING=true", "DJL_OFFLINE=true", "ORT_DISABLE_TELEMETRY=1"}) {
      assertTrue(Pattern.compile("(?m)^export " + Pattern.quote(variable) + "$").matcher(launcher).find(),
          "the launcher exports " + variable);
    }
    assertTrue(Pattern.compile("(?m)^JAVA_OPTS\\+?=\\(.*-Dai\\.djl\\.offline=true").matcher(launcher).find(),
        "the launcher passes -Dai.djl.offline=true");
    assertTrue(Pattern.compile("(?m)^\\s*JAVA_HOME=\"\\$home\" \\.ci/no-network$")
        .matcher(Files.readString(root.resolve(".ci/run"))).find(), ".ci/run runs .ci/no-network on each JDK");
  }
}
