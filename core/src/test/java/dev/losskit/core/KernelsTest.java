package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The public kernel query. Surefire runs the core's tests with the Vector API module, again with
 * {@code -Dlosskit.vector=false}, and runs this class once more without the module, so each answer is checked
 * against what the JVM actually has.
 */
class KernelsTest {
  private static boolean moduleInBootLayer() {
    return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
  }

  private static boolean switchedOff() {
    return "false".equalsIgnoreCase(System.getProperty("losskit.vector"));
  }

  @Test
  void vectorisedExactlyWhenTheModuleIsInTheBootLayerAndNotSwitchedOff() {
    assertEquals(moduleInBootLayer() && !switchedOff(), Kernels.vectorized());
  }

  /** Each surefire run is the JVM it claims to be, so the three runs between them cover all three answers. */
  @Test
  void eachRunHasTheJvmItIsFor() {
    boolean withoutModuleRun = "without-module".equals(System.getProperty("losskit.kernels.test"));
    assertEquals(!withoutModuleRun, moduleInBootLayer(), "the module's presence in this run");
  }

  @Test
  void describeSaysWhichKernelsRunAndHowToGetTheFastOnes() {
    String d = Kernels.describe();
    if (Kernels.vectorized()) {
      java.util.regex.Matcher m = java.util.regex.Pattern.compile("Vector API \\(jdk\\.incubator\\.vector\\), (\\d+)-bit")
          .matcher(d);
      assertTrue(m.matches(), d);
      int bits = Integer.parseInt(m.group(1));
      assertTrue(bits >= 64 && Integer.bitCount(bits) == 1, d);
    } else if (moduleInBootLayer()) {
      assertEquals("scalar (the Vector API is switched off by -Dlosskit.vector=false)", d);
    } else {
      assertEquals("scalar (run with --add-modules jdk.incubator.vector for the vectorised kernels)", d);
    }
  }
}
