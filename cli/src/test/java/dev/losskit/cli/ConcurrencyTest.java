package dev.losskit.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.losskit.cli.VerifyCommandTest.Run;
import dev.losskit.conformance.GoldenReader;
import dev.losskit.conformance.GoldenVerifier;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.onnx.OnnxLoss;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CLI's library entry points from 8 threads at once: {@link Main#run} for {@code verify}, {@code export} and
 * {@code attach}, and the golden verifier and ONNX exporter they call. Every result must equal the one the same
 * call gave alone.
 */
class ConcurrencyTest {
  private static final int THREADS = 8;
  private static final int ROUNDS = 40;

  @TempDir Path dir;

  @Test
  void commandsAndLibrariesGiveTheSerialResultsOnEightThreads() throws Exception {
    Path seeds = VerifyCommandTest.GOLDENS.resolve("seed-examples.json");
    Path model = dir.resolve("m.onnx");
    try (var in = getClass().getResourceAsStream("/dev/losskit/examples/classifier.onnx")) {
      Files.copy(in, model);
    }
    String[] export = {"export", "--loss", "cross_entropy", "--weight", "1,2,0.5", "--label-smoothing", "0.1",
        "--with-gradient", "-o"};
    String[] attach = {"attach", model.toString(), "--output", "logits", "--loss", "bce_with_logits",
        "--pos-weight", "1,2,3", "-o"};
    Run verifyAlone = VerifyCommandTest.run("verify", seeds.toString());
    assertEquals(0, verifyAlone.code(), verifyAlone.err().toString());
    Path exportAlone = dir.resolve("export-alone.onnx");
    Path attachAlone = dir.resolve("attach-alone.onnx");
    assertEquals(0, VerifyCommandTest.run(with(export, exportAlone)).code());
    assertEquals(0, VerifyCommandTest.run(with(attach, attachAlone)).code());
    byte[] exported = Files.readAllBytes(exportAlone);
    byte[] attached = Files.readAllBytes(attachAlone);
    GoldenReader.GoldenFile file = GoldenReader.read(seeds);
    GoldenVerifier verifier = new GoldenVerifier(null, null);
    int passedAlone = (int) file.cases().stream().filter(c -> verifier.check(c).passed()).count();
    OnnxLoss exporter = OnnxLoss.builder(CrossEntropyLoss.builder().labelSmoothing(0.2).build())
        .withGradient(true).build();
    byte[] apiExport = exporter.export().toByteArray();

    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    try {
      List<Future<Integer>> done = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        int thread = t;
        done.add(pool.submit(() -> {
          for (int round = 0; round < ROUNDS; round++) {
            Run v = VerifyCommandTest.run("verify", seeds.toString());
            assertEquals(verifyAlone, v);
            Path e = dir.resolve("export-" + thread + "-" + round + ".onnx");
            assertEquals(0, VerifyCommandTest.run(with(export, e)).code());
            assertArrayEquals(exported, Files.readAllBytes(e));
            Path a = dir.resolve("attach-" + thread + "-" + round + ".onnx");
            assertEquals(0, VerifyCommandTest.run(with(attach, a)).code());
            assertArrayEquals(attached, Files.readAllBytes(a));
            assertEquals(passedAlone, (int) file.cases().stream().filter(c -> verifier.check(c).passed()).count());
            assertArrayEquals(apiExport, exporter.export().toByteArray());
          }
          return ROUNDS;
        }));
      }
      int total = 0;
      for (Future<Integer> f : done) {
        total += f.get(5, TimeUnit.MINUTES);
      }
      assertEquals(THREADS * ROUNDS, total);
    } finally {
      pool.shutdownNow();
    }
  }

  private static String[] with(String[] args, Path out) {
    String[] all = java.util.Arrays.copyOf(args, args.length + 1);
    all[args.length] = out.toString();
    return all;
  }
}
