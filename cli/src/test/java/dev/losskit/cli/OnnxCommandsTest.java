package dev.losskit.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.losskit.cli.VerifyCommandTest.Run;
import dev.losskit.onnx.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code losskit export} and {@code attach}: outputs, one-line errors, no partial files, input never damaged. */
class OnnxCommandsTest {
  @TempDir Path dir;

  private Path classifier() throws IOException {
    Path p = dir.resolve("classifier.onnx");
    try (var in = getClass().getResourceAsStream("/dev/losskit/examples/classifier.onnx")) {
      Files.copy(in, p);
    }
    return p;
  }

  private static void oneLine(Run r, String... mustMention) {
    assertEquals(2, r.code(), r.err().toString());
    assertEquals(1, r.err().size(), r.err().toString());
    for (String s : mustMention) {
      assertTrue(r.err().get(0).contains(s), "'" + r.err().get(0) + "' should mention '" + s + "'");
    }
  }

  private List<String> files() throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
    }
  }

  @Test
  void exportWritesAModelWithTheLossAndGradient() throws Exception {
    Path out = dir.resolve("ce.onnx");
    Run r = VerifyCommandTest.run("export", "--loss", "cross_entropy", "--weight", "1,2,3", "--label-smoothing",
        "0.1", "--rank", "2", "--dtype", "float64", "--with-gradient", "-o", out.toString());
    assertEquals(0, r.code(), r.err().toString());
    ModelProto m = ModelProto.parseFrom(Files.readAllBytes(out));
    assertEquals(List.of("input", "target"), names(m.getGraph().getInputList()));
    assertEquals(List.of("loss", "grad_input"), names(m.getGraph().getOutputList()));
    assertEquals(TensorProto.DataType.DOUBLE_VALUE, m.getGraph().getInput(0).getType().getTensorType().getElemType());
    assertEquals(4, m.getGraph().getInput(0).getType().getTensorType().getShape().getDimCount());
  }

  @Test
  void exportWithClassAxisMinusOneTakesTheClassesLast() throws Exception {
    Path out = dir.resolve("tagger.onnx");
    Run r = VerifyCommandTest.run("export", "--loss", "cross_entropy", "--weight", "1,2,3", "--rank", "1",
        "--class-axis", "-1", "--with-gradient", "-o", out.toString());
    assertEquals(0, r.code(), r.err().toString());
    ModelProto m = ModelProto.parseFrom(Files.readAllBytes(out));
    assertEquals(List.of("N", "d1", "3"), dims(m.getGraph().getInput(0)), "input (N, d1, C)");
    assertEquals(List.of("N", "d1"), dims(m.getGraph().getInput(1)), "target (N, d1)");
    assertEquals(List.of("N", "d1", "3"), dims(m.getGraph().getOutput(1)), "grad_input keeps (N, d1, C)");
  }

  private static List<String> dims(ValueInfoProto v) {
    return v.getType().getTensorType().getShape().getDimList().stream()
        .map(d -> d.hasDimValue() ? String.valueOf(d.getDimValue()) : d.getDimParam()).collect(Collectors.toList());
  }

  private static List<String> names(List<ValueInfoProto> v) {
    return v.stream().map(ValueInfoProto::getName).collect(Collectors.toList());
  }

  @Test
  void exportTakesTheLowestAndHighestOpset() throws Exception {
    for (String opset : new String[] {"11", "26"}) {
      Path out = dir.resolve("nll" + opset + ".onnx");
      Run r = VerifyCommandTest.run("export", "--loss", "nll_loss", "--rank", "1", "--with-gradient", "--opset",
          opset, "-o", out.toString());
      assertEquals(0, r.code(), r.err().toString());
      assertTrue(r.out().get(0).endsWith("opset " + opset + ")"), r.out().toString());
      ModelProto m = ModelProto.parseFrom(Files.readAllBytes(out));
      assertEquals(Long.parseLong(opset), m.getOpsetImport(0).getVersion());
      assertEquals(opset.equals("11") ? 6 : 13, m.getIrVersion(), "ONNX's IR version for the opset");
    }
  }

  @Test
  void badExportOptionsAreOneLineAndWriteNothing() throws Exception {
    String out = dir.resolve("x.onnx").toString();
    oneLine(VerifyCommandTest.run("export", "--loss", "hinge", "-o", out), "hinge");
    oneLine(VerifyCommandTest.run("export", "--loss", "nll_loss", "--label-smoothing", "0.1", "-o", out),
        "--label-smoothing", "nll_loss");
    oneLine(VerifyCommandTest.run("export", "--loss", "cross_entropy", "--pos-weight", "2", "-o", out), "--pos-weight");
    oneLine(VerifyCommandTest.run("export", "--loss", "bce_with_logits", "--ignore-index", "3", "-o", out),
        "--ignore-index");
    oneLine(VerifyCommandTest.run("export", "--loss", "nll_loss", "--opset", "10", "-o", out), "opset 10");
    oneLine(VerifyCommandTest.run("export", "--loss", "nll_loss", "--opset", "27", "-o", out), "opset 27");
    oneLine(VerifyCommandTest.run("export", "--loss", "cross_entropy", "--label-smoothing", "2", "-o", out), "2.0");
    oneLine(VerifyCommandTest.run("export", "--loss", "cross_entropy", "--lowering", "fast", "-o", out), "fast");
    oneLine(VerifyCommandTest.run("export", "--loss", "cross_entropy", "--dtype", "float8", "-o", out), "float8");
    oneLine(VerifyCommandTest.run("export", "--loss", "cross_entropy", "--dtype", "bfloat16", "--opset", "11", "-o",
        out), "bfloat16", "opset 11");
    oneLine(VerifyCommandTest.run("export", "--loss", "bce_with_logits", "--target", "probability", "-o", out),
        "--target");
    oneLine(VerifyCommandTest.run("export", "--loss", "cross_entropy", "--frobnicate", "-o", out), "--frobnicate");
    oneLine(VerifyCommandTest.run("export", "--loss", "cross_entropy", "-o",
        dir.resolve("missing-dir").resolve("x.onnx").toString()), "cannot write");
    assertEquals(List.of(), files());
  }

  @Test
  void attachAddsTheLossAndCanWriteOverItsInput() throws Exception {
    Path model = classifier();
    Run r = VerifyCommandTest.run("attach", model.toString(), "--output", "logits", "--loss", "cross_entropy",
        "--weight", "1,2,0.5", "--label-smoothing", "0.1", "--with-gradient", "-o", model.toString());
    assertEquals(0, r.code(), r.err().toString());
    assertEquals(List.of(), r.err(), "no note: the model's opset is not changed");
    ModelProto m = ModelProto.parseFrom(Files.readAllBytes(model));
    assertEquals(1, m.getOpsetImportCount());
    assertEquals(11, m.getOpsetImport(0).getVersion(), "the torch-exported classifier stays at opset 11");
    assertEquals(List.of("logits", "loss", "grad_logits"), names(m.getGraph().getOutputList()));
    assertEquals(List.of("features", "labels"), names(m.getGraph().getInputList()));
    assertEquals(List.of("classifier.onnx"), files(), "no temporary file left behind");
  }

  @Test
  void badModelsAndNamesAreOneLineAndLeaveTheInputIntact() throws Exception {
    Path model = classifier();
    byte[] before = Files.readAllBytes(model);
    String out = dir.resolve("out.onnx").toString();
    oneLine(VerifyCommandTest.run("attach", model.toString(), "--output", "scores", "--loss", "cross_entropy",
        "-o", model.toString()), "no output 'scores'", "logits");
    oneLine(VerifyCommandTest.run("attach", model.toString(), "--output", "logits", "--labels-name", "features",
        "--loss", "cross_entropy", "-o", out), "'features' is already used");
    oneLine(VerifyCommandTest.run("attach", model.toString(), "--output", "logits", "--loss", "nll_loss",
        "--opset", "9", "-o", out), "opset 9", "model's own opset");
    oneLine(VerifyCommandTest.run("attach", dir.resolve("absent.onnx").toString(), "--output", "logits", "--loss",
        "cross_entropy", "-o", out), "no such file");
    Path random = dir.resolve("random.onnx");
    byte[] noise = new byte[4096];
    new Random(1).nextBytes(noise);
    Files.write(random, noise);
    oneLine(VerifyCommandTest.run("attach", random.toString(), "--output", "logits", "--loss", "cross_entropy",
        "-o", out), "not an ONNX model");
    Path tensor = dir.resolve("tensor.onnx");
    Files.write(tensor, TensorProto.newBuilder().setName("w").addDims(2).addFloatData(1).addFloatData(2).build()
        .toByteArray());
    oneLine(VerifyCommandTest.run("attach", tensor.toString(), "--output", "logits", "--loss", "cross_entropy",
        "-o", out), "not an ONNX model");
    assertArrayEquals(before, Files.readAllBytes(model), "the input is unchanged");
    assertFalse(Files.exists(Path.of(out)));
  }

  @Test
  void aWriteThatFailsHalfWayKeepsTheInput() throws Exception {
    Path model = classifier();
    byte[] before = Files.readAllBytes(model);
    assertTrue(org.junit.jupiter.api.Assertions.assertThrows(IOException.class, () -> AtomicFiles.write(model, os -> {
      os.write(before, 0, before.length / 2);
      throw new IOException("injected failure half-way");
    })).getMessage().contains("half-way"));
    assertArrayEquals(before, Files.readAllBytes(model));
    assertEquals(List.of("classifier.onnx"), files());
  }
}
