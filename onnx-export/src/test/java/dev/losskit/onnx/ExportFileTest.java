package dev.losskit.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.losskit.core.CrossEntropyLoss;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The protobuf-free export: bytes and an atomically written file. */
class ExportFileTest {
  @TempDir Path dir;

  private static final OnnxLoss SPEC = OnnxLoss.builder(CrossEntropyLoss.create()).withGradient(true).build();

  private List<String> files() throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void theBytesParseAsTheModelAndRunTheSeedExample() throws Exception {
    byte[] bytes = SPEC.exportBytes();
    assertTrue(bytes.length > 0);
    ModelProto parsed = ModelProto.parseFrom(bytes);
    assertEquals(SPEC.export(), parsed, "the bytes are the ModelProto's encoding");
    assertEquals("cross_entropy", parsed.getGraph().getName());
    // The seed example (fixtures/goldens/seed-examples.json, seed000-ce-mean): torch gives 0.5083571672439575.
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession s = env.createSession(bytes, new OrtSession.SessionOptions());
        OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(new float[] {1.2f, 0.3f, 2.5f, 0.8f, 1.4f, 0.6f}),
            new long[] {2, 3});
        OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(new long[] {2, 1}), new long[] {2});
        OrtSession.Result r = s.run(Map.of("input", x, "target", t))) {
      float loss = ((OnnxTensor) r.get("loss").orElseThrow()).getFloatBuffer().get(0);
      assertEquals(0.5083571672439575, loss, 1e-6);
    }
  }

  @Test
  void exportToAPathWritesTheModelAndLeavesNoTemporaryFile() throws Exception {
    Path file = dir.resolve("loss.onnx");
    SPEC.export(file);
    assertArrayEquals(SPEC.exportBytes(), Files.readAllBytes(file));
    assertEquals(List.of("loss.onnx"), files());
    assertEquals("rw-r--r--", java.nio.file.attribute.PosixFilePermissions.toString(
        Files.getPosixFilePermissions(file)));
    // Replacing an existing file: the new model, still no temporary.
    Files.writeString(file, "an older file");
    SPEC.export(file);
    assertArrayEquals(SPEC.exportBytes(), Files.readAllBytes(file));
    assertEquals(List.of("loss.onnx"), files());
  }

  @Test
  void aFailedExportLeavesNoFile() throws Exception {
    Path missingDir = dir.resolve("no-such-dir").resolve("loss.onnx");
    IOException e = assertThrows(IOException.class, () -> SPEC.export(missingDir));
    assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    assertFalse(Files.exists(missingDir.getParent()));
    Path aDirectory = Files.createDirectory(dir.resolve("sub.onnx"));
    assertThrows(IOException.class, () -> SPEC.export(aDirectory));
    assertTrue(Files.isDirectory(aDirectory));
    assertEquals(List.of("sub.onnx"), files());
  }

  @Test
  void aWriteThatFailsHalfWayKeepsTheOldFileAndLeavesNoTemporary() throws Exception {
    Path target = dir.resolve("keep.onnx");
    Files.writeString(target, "old");
    IOException e = assertThrows(IOException.class, () -> AtomicFiles.write(target, out -> {
      out.write("half of the new cont".getBytes(StandardCharsets.UTF_8));
      throw new IOException("disk full");
    }));
    assertEquals("disk full", e.getMessage());
    assertEquals("old", Files.readString(target));
    assertEquals(List.of("keep.onnx"), files());
  }

  @Test
  void anAttachedModelWritesOverTheModelItWasReadFrom() throws Exception {
    Path file = dir.resolve("classifier.onnx");
    Files.write(file, OnnxLossTest.classifier().toByteArray());
    OnnxLoss.Attached attached = SPEC.attach(ModelProto.parseFrom(Files.readAllBytes(file)), "logits", "labels");
    attached.write(file);
    assertArrayEquals(attached.modelBytes(), Files.readAllBytes(file));
    assertEquals(attached.model(), ModelProto.parseFrom(Files.readAllBytes(file)));
    assertEquals(List.of("classifier.onnx"), files());
  }
}
