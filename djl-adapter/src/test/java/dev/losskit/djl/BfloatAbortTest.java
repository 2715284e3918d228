package dev.losskit.djl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The measurement behind returning a bfloat16 prediction's loss as float32: in DJL 0.35.1, a bfloat16 array (which DJL
 * reports as UNKNOWN) cannot be the argument of {@code GradientCollector.backward}: {@code PtGradientCollector} makes
 * the seed with {@code manager.ones(shape, UNKNOWN)}, and the native {@code GetScalarTypeFromDType}
 * (djl_pytorch_utils.h) knows DJL's dtypes 0..8 only and does a bare {@code throw;} for any other, which ends the JVM
 * with std::terminate (exit 134), no Java exception. {@code toType(BFLOAT16)} does the same. Each probe runs in a JVM
 * of its own; {@code float32} is the control, the same step with a float32 loss.
 */
class BfloatAbortTest {

  @ParameterizedTest(name = "{0}: exit {1}")
  @CsvSource({"backward, 134", "toType, 134", "float32, 0"})
  void probe(String mode, int exit) throws IOException, InterruptedException {
    String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
    Path err = Files.createTempFile("losskit-bf16-probe", ".err");
    Process p = new ProcessBuilder(List.of(java, "-Dai.djl.offline=true", "-cp",
        System.getProperty("java.class.path"), Probe.class.getName(), mode))
        .redirectError(err.toFile()).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the probe JVM did not finish");
    String stderr = Files.readString(err, StandardCharsets.UTF_8);
    Files.delete(err);
    assertEquals(exit, p.exitValue(), mode + ": " + stderr);
    if (exit == 134) {
      assertTrue(stderr.contains("terminate called without an active exception"), stderr);
    }
  }

  /** The probe: a bfloat16 loss made by TorchScript, then the DJL call named by the argument. */
  public static final class Probe {
    @SuppressWarnings("try")
    public static void main(String[] args) throws IOException {
      try (HalfOracle oracle = HalfOracle.open(); NDManager m = NDManager.newBaseManager("PyTorch")) {
        NDArray x = m.create(new float[] {1.5f, -2.25f}, new Shape(2));
        if (args[0].equals("toType")) {
          x.toType(DataType.BFLOAT16, false);
          return;
        }
        x.setRequiresGradient(true);
        try (GradientCollector c = Engine.getEngine("PyTorch").newGradientCollector()) {
          NDArray b = oracle.toBfloat16(x);
          NDArray loss = b.sum(); // bfloat16, 0-dim
          c.backward(args[0].equals("float32") ? HalfPrecision.widen(loss, DataType.FLOAT32) : loss);
        }
        if (x.getGradient().toFloatArray()[0] != 1f) {
          throw new AssertionError("gradient " + x.getGradient());
        }
      }
    }
  }
}
