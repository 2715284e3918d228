package dev.losskit.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.losskit.cli.VerifyCommandTest.Run;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.security.Permission;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The main job and the examples open no outbound connection, DJL's telemetry included: with a guard that refuses
 * (and records) every connection or host lookup beyond the loopback interface, {@code conform} (libtorch through
 * DJL's PyTorch engine, and ONNX Runtime) and the ONNX and tagging examples still succeed, and nothing was
 * attempted. The guard is a Java SecurityManager, so it sees the JVM's connections; {@code strace} sees native ones
 * too (the README shows how). A control connection proves the guard is live.
 */
class NoNetworkTest {
  @TempDir Path dir;

  /** Refuses and records connections and name lookups that leave the machine; allows everything else. */
  @SuppressWarnings("removal") // the one JDK hook that sees every Java connection; this test runs on 17
  static final class Guard extends SecurityManager {
    final List<String> attempts = new CopyOnWriteArrayList<>();

    @Override
    public void checkPermission(Permission perm) {}

    @Override
    public void checkPermission(Permission perm, Object context) {}

    @Override
    public void checkConnect(String host, int port) {
      if (!isLocal(host)) {
        attempts.add(host + ":" + port + " from " + caller());
        throw new SecurityException("losskit test: no network (" + host + ":" + port + ")");
      }
    }

    @Override
    public void checkConnect(String host, int port, Object context) {
      checkConnect(host, port);
    }

    private static boolean isLocal(String host) {
      return host == null || host.equals("localhost") || host.startsWith("127.") || host.equals("::1")
          || host.equals("0:0:0:0:0:0:0:1") || host.startsWith("/") || host.isEmpty();
    }

    private static String caller() {
      for (StackTraceElement e : new Throwable().getStackTrace()) {
        String c = e.getClassName();
        if (!c.startsWith("java.") && !c.startsWith("sun.") && !c.startsWith("jdk.") && !c.contains("NoNetworkTest")) {
          return c + "." + e.getMethodName();
        }
      }
      return "the JDK";
    }
  }

  /**
   * Native code is beyond the guard: ONNX Runtime 1.29 uploads telemetry from C++ unless ORT_DISABLE_TELEMETRY is
   * set when it loads (found with strace), and DJL reads its switches from the environment. The build must set them.
   */
  @Test
  void theBuildSetsEveryOptOut() {
    assertEquals("1", System.getenv("ORT_DISABLE_TELEMETRY"));
    assertEquals("true", System.getenv("OPT_OUT_TRACKING"));
    assertEquals("true", System.getenv("DJL_OFFLINE"));
    assertEquals("true", System.getProperty("ai.djl.offline"));
  }

  @Test
  @SuppressWarnings("removal")
  void theMainJobAndTheExamplesConnectNowhere() throws Exception {
    SecurityManager before = System.getSecurityManager();
    Guard guard = new Guard();
    System.setSecurityManager(guard);
    try {
      assertThrows(SecurityException.class, () -> new Socket("192.0.2.1", 80).close(), "the guard is live");
      assertThrows(SecurityException.class, () -> InetAddress.getByName("djl.ai"), "lookups are guarded");
      assertEquals(2, guard.attempts.size(), guard.attempts.toString());
      guard.attempts.clear();

      Run conform = VerifyCommandTest.run("conform", "--quick", "--out", dir.toString());
      assertEquals(0, conform.code(), conform.err().toString());
      Run onnx = VerifyCommandTest.run("example", "onnx");
      assertEquals(0, onnx.code(), onnx.err().toString());
      Run tagging = VerifyCommandTest.run("example", "tagging");
      assertEquals(0, tagging.code(), tagging.err().toString());
      assertTrue(guard.attempts.isEmpty(), "outbound connections attempted: " + guard.attempts);
    } finally {
      System.setSecurityManager(before);
    }
  }
}
