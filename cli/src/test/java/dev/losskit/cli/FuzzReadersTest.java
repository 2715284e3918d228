package dev.losskit.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import dev.losskit.cli.VerifyCommandTest.Run;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Random and mutated bytes into the two file readers, through the CLI as a user meets them: {@code verify} (golden
 * files) and {@code attach} (ONNX models). Whatever the bytes, the command must end cleanly: exit 0, 1 (a failed
 * check) or 2 (bad input, with exactly one line on standard error), never 3 (an internal error), never a stack
 * trace, never a hang. The number of tries is {@code jqwik.tries.default} (1000 in {@code ./mvnw verify}, 50000
 * with {@code -Pfuzz}).
 */
class FuzzReadersTest {
  private static Path dir;
  private static byte[] golden;
  private static byte[] model;

  @BeforeContainer
  static void setUp() throws IOException {
    dir = Files.createTempDirectory("losskit-fuzz");
    golden = Files.readAllBytes(VerifyCommandTest.GOLDENS.resolve("seed-examples.json"));
    try (var in = FuzzReadersTest.class.getResourceAsStream("/dev/losskit/examples/classifier.onnx")) {
      model = in.readAllBytes();
    }
  }

  @AfterContainer
  static void tearDown() throws IOException {
    try (var s = Files.walk(dir)) {
      s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  private static Path write(String name, byte[] bytes) {
    try {
      Path p = dir.resolve(name);
      Files.write(p, bytes);
      return p;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Random edits: truncation, deleted, replaced and inserted bytes, biased towards the format's own symbols. */
  private static byte[] mutate(byte[] original, long seed, byte[] symbols) {
    Random r = new Random(seed);
    byte[] b = original.clone();
    int edits = 1 + r.nextInt(4);
    for (int e = 0; e < edits && b.length > 0; e++) {
      int at = r.nextInt(b.length);
      switch (r.nextInt(4)) {
        case 0:
          b = java.util.Arrays.copyOf(b, at);
          break;
        case 1:
          byte[] shorter = new byte[b.length - 1];
          System.arraycopy(b, 0, shorter, 0, at);
          System.arraycopy(b, at + 1, shorter, at, b.length - at - 1);
          b = shorter;
          break;
        case 2:
          b[at] = r.nextBoolean() ? symbols[r.nextInt(symbols.length)] : (byte) r.nextInt(256);
          break;
        default:
          byte[] longer = new byte[b.length + 1];
          System.arraycopy(b, 0, longer, 0, at);
          longer[at] = symbols[r.nextInt(symbols.length)];
          System.arraycopy(b, at, longer, at + 1, b.length - at);
          b = longer;
      }
    }
    return b;
  }

  private static void endsCleanly(Run r, String what) {
    assertTrue(r.code() == 0 || r.code() == 1 || r.code() == 2, what + ": exit " + r.code() + " " + r.err());
    for (String line : r.err()) {
      assertFalse(line.contains("\tat ") || line.contains("internal error"), what + ": " + line);
    }
    if (r.code() == 2) {
      assertEquals(1, r.err().size(), what + ": one line on stderr: " + r.err());
    }
  }

  @Property
  void randomBytesIntoTheGoldenReader(@ForAll @Size(max = 2048) byte[] bytes) {
    Path p = write("random.json", bytes);
    Run r = VerifyCommandTest.run("verify", p.toString());
    endsCleanly(r, "random bytes");
    assertEquals(2, r.code(), "random bytes are not a golden file: " + r.out());
  }

  @Property
  void mutatedGoldenFilesEndCleanly(@ForAll long seed) {
    byte[] symbols = "{}[]:,\"0123456789.-eE nulltruefalseNaNInfinity".getBytes(StandardCharsets.US_ASCII);
    Path p = write("mutated.json", mutate(golden, seed, symbols));
    endsCleanly(VerifyCommandTest.run("verify", p.toString()), "golden mutation " + seed);
  }

  @Property
  void randomBytesIntoTheOnnxReader(@ForAll @Size(max = 2048) byte[] bytes) {
    Path p = write("random.onnx", bytes);
    Path out = dir.resolve("random-out.onnx");
    Run r = VerifyCommandTest.run("attach", p.toString(), "--output", "logits", "--loss", "cross_entropy", "-o",
        out.toString());
    endsCleanly(r, "random bytes");
    assertEquals(2, r.code(), "random bytes are not a model with a 'logits' output: " + r.err());
    assertFalse(Files.exists(out));
  }

  @Property
  void mutatedModelsEndCleanly(@ForAll long seed) throws IOException {
    byte[] symbols = {0, 1, 8, 10, 18, 26, 34, 42, (byte) 0x80, (byte) 0xff, 'l', 'o', 'g', 'i', 't', 's'};
    Path p = write("mutated.onnx", mutate(model, seed, symbols));
    Path out = dir.resolve("mutated-out.onnx");
    Files.deleteIfExists(out);
    Run r = VerifyCommandTest.run("attach", p.toString(), "--output", "logits", "--loss", "cross_entropy",
        "--with-gradient", "-o", out.toString());
    endsCleanly(r, "model mutation " + seed);
    if (r.code() == 0) {
      List<String> outputs = ModelProto.parseFrom(Files.readAllBytes(out)).getGraph().getOutputList().stream()
          .map(o -> o.getName()).collect(java.util.stream.Collectors.toList());
      assertTrue(outputs.contains("loss") && outputs.contains("grad_logits"), outputs.toString());
    } else {
      assertFalse(Files.exists(out), "no output after a failure");
    }
  }
}
