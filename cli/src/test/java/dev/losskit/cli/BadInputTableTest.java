package dev.losskit.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.losskit.cli.VerifyCommandTest.Run;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every bad input to every command, as a table: each row must give its exit code and exactly one line on standard
 * error that mentions what the row names, with no stack trace; no row may create a file or change one. {@code @}
 * in an argument stands for the row's scratch directory, which holds a model, golden files and other inputs.
 */
class BadInputTableTest {
  @TempDir Path root;

  record Row(String name, int exit, List<String> mention, String[] args) {}

  private static Row row(String name, int exit, List<String> mention, String... args) {
    return new Row(name, exit, mention, args);
  }

  private static final String CASE = VerifyCommandTest.CASE;

  private static String golden(String... cases) {
    return "{\"format\": \"losskit-goldens\", \"version\": 1, \"cases\": [" + String.join(",", cases) + "]}";
  }

  static List<Row> rows() {
    String model = "@/m.onnx";
    List<Row> r = new ArrayList<>();
    // verify: golden files
    r.add(row("verify: a missing file", 2, List.of("no such file"), "verify", "@/absent.json"));
    r.add(row("verify: an empty file", 2, List.of("empty"), "verify", "@/empty.json"));
    r.add(row("verify: truncated JSON", 2, List.of("truncated.json", "not valid JSON"), "verify",
        "@/truncated.json"));
    r.add(row("verify: random bytes", 2, List.of("not valid JSON"), "verify", "@/random.bin"));
    r.add(row("verify: JSON that is not an object", 2, List.of("JSON object"), "verify", "@/array.json"));
    r.add(row("verify: another format", 2, List.of("format", "other"), "verify", "@/format.json"));
    r.add(row("verify: an unsupported version", 2, List.of("version 7"), "verify", "@/version.json"));
    r.add(row("verify: a repeated case id", 2, List.of("'c1'", "earlier case"), "verify", "@/duplicate.json"));
    r.add(row("verify: label smoothing given to nll_loss", 2, List.of("label_smoothing", "nll_loss"), "verify",
        "@/contradictory.json"));
    r.add(row("verify: a gradient of the wrong size", 2, List.of("grad_input", "needs 2"), "verify",
        "@/gradshape.json"));
    r.add(row("verify: a fractional class index", 2, List.of("whole number", "1.5"), "verify", "@/fraction.json"));
    r.add(row("verify: a misspelt NaN", 2, List.of("\"nan\""), "verify", "@/nan.json"));
    r.add(row("verify: an unknown loss", 2, List.of("hinge"), "verify", "@/hinge.json"));
    r.add(row("verify: a directory", 2, List.of("cannot read"), "verify", "@"));
    r.add(row("verify: a negative tolerance", 2, List.of("--rtol", "-1"), "verify", "--rtol", "-1", "@/ok.json"));
    r.add(row("verify: a tolerance that is not a number", 2, List.of("abc"), "verify", "--atol", "abc",
        "@/ok.json"));
    r.add(row("verify: an unwritable report", 2, List.of("cannot write", "not a directory"), "verify",
        "--report", "@/plain.txt/r.json", "@/ok.json"));
    r.add(row("verify: no file", 2, List.of("FILE"), "verify"));
    // export: loss options
    r.add(row("export: an unknown loss", 2, List.of("hinge", "bce_with_logits, bce"), "export", "--loss", "hinge",
        "-o", "@/x.onnx"));
    r.add(row("export: label smoothing above 1", 2, List.of("1.5"), "export", "--loss", "cross_entropy",
        "--label-smoothing", "1.5", "-o", "@/x.onnx"));
    r.add(row("export: negative label smoothing", 2, List.of("-0.1"), "export", "--loss", "cross_entropy",
        "--label-smoothing", "-0.1", "-o", "@/x.onnx"));
    r.add(row("export: NaN label smoothing", 2, List.of("NaN"), "export", "--loss", "cross_entropy",
        "--label-smoothing", "NaN", "-o", "@/x.onnx"));
    r.add(row("export: probability targets with an ignore index", 2, List.of("ignoreIndex=0", "probability"),
        "export", "--loss", "cross_entropy", "--target", "probability", "--ignore-index", "0", "-o", "@/x.onnx"));
    r.add(row("export: label smoothing for nll_loss", 2, List.of("--label-smoothing", "nll_loss"), "export",
        "--loss", "nll_loss", "--label-smoothing", "0.1", "-o", "@/x.onnx"));
    r.add(row("export: pos_weight for cross_entropy", 2, List.of("--pos-weight"), "export", "--loss",
        "cross_entropy", "--pos-weight", "2", "-o", "@/x.onnx"));
    r.add(row("export: a weight that is not a number", 2, List.of("'x'"), "export", "--loss", "cross_entropy",
        "--weight", "1,x", "-o", "@/x.onnx"));
    r.add(row("export: an unknown reduction", 2, List.of("avg"), "export", "--loss", "cross_entropy",
        "--reduction", "avg", "-o", "@/x.onnx"));
    r.add(row("export: a negative rank", 2, List.of("rank -1"), "export", "--loss", "cross_entropy", "--rank", "-1",
        "-o", "@/x.onnx"));
    r.add(row("export: an opset out of range", 2, List.of("opset 99"), "export", "--loss", "cross_entropy",
        "--opset", "99", "-o", "@/x.onnx"));
    r.add(row("export: opset 10, below the lowest", 2, List.of("opset 10", "11 to 26"), "export", "--loss",
        "cross_entropy", "--opset", "10", "-o", "@/x.onnx"));
    r.add(row("export: opset 27, above the highest", 2, List.of("opset 27", "11 to 26"), "export", "--loss",
        "cross_entropy", "--opset", "27", "-o", "@/x.onnx"));
    r.add(row("export: the op lowering at opset 11", 2, List.of("opset 11", "op lowering"), "export", "--loss",
        "nll_loss", "--lowering", "op", "--opset", "11", "-o", "@/x.onnx"));
    r.add(row("export: class axis 0", 2, List.of("class axis 0"), "export", "--loss", "cross_entropy",
        "--class-axis", "0", "-o", "@/x.onnx"));
    r.add(row("export: class axis 2", 2, List.of("class axis 2"), "export", "--loss", "nll_loss",
        "--class-axis", "2", "--rank", "2", "-o", "@/x.onnx"));
    r.add(row("export: class axis -2", 2, List.of("class axis -2"), "export", "--loss", "cross_entropy",
        "--class-axis", "-2", "--rank", "1", "-o", "@/x.onnx"));
    r.add(row("export: class axis -1 for bce_with_logits", 2, List.of("class axis -1", "bce_with_logits"),
        "export", "--loss", "bce_with_logits", "--class-axis", "-1", "--rank", "1", "-o", "@/x.onnx"));
    r.add(row("export: pos_weight for bce", 2, List.of("--pos-weight", "bce", "bce_with_logits"), "export",
        "--loss", "bce", "--pos-weight", "2", "-o", "@/x.onnx"));
    r.add(row("export: class axis -1 for bce", 2, List.of("--class-axis -1", "bce"), "export", "--loss", "bce",
        "--class-axis", "-1", "--rank", "1", "-o", "@/x.onnx"));
    r.add(row("export: ignore_index for bce", 2, List.of("--ignore-index", "bce"), "export", "--loss", "bce",
        "--ignore-index", "0", "-o", "@/x.onnx"));
    r.add(row("export: label smoothing for bce", 2, List.of("--label-smoothing", "bce"), "export", "--loss", "bce",
        "--label-smoothing", "0.1", "-o", "@/x.onnx"));
    r.add(row("export: probability targets for bce", 2, List.of("--target probability", "bce"), "export", "--loss",
        "bce", "--target", "probability", "-o", "@/x.onnx"));
    r.add(row("export: the op lowering for bce", 2, List.of("op lowering", "bce"), "export", "--loss", "bce",
        "--lowering", "op", "-o", "@/x.onnx"));
    r.add(row("export: a class axis that is not a number", 2, List.of("last"), "export", "--loss",
        "cross_entropy", "--class-axis", "last", "-o", "@/x.onnx"));
    r.add(row("export: an unknown dtype", 2, List.of("float8"), "export", "--loss", "cross_entropy", "--dtype",
        "float8", "-o", "@/x.onnx"));
    r.add(row("export: an integer dtype", 2, List.of("int64"), "export", "--loss", "cross_entropy", "--dtype",
        "int64", "-o", "@/x.onnx"));
    r.add(row("export: bfloat16 below opset 13", 2, List.of("bfloat16", "opset 12"), "export", "--loss",
        "cross_entropy", "--dtype", "bfloat16", "--opset", "12", "-o", "@/x.onnx"));
    r.add(row("export: an unknown lowering", 2, List.of("fast"), "export", "--loss", "cross_entropy",
        "--lowering", "fast", "-o", "@/x.onnx"));
    r.add(row("export: an unknown option", 2, List.of("--frobnicate"), "export", "--loss", "cross_entropy",
        "--frobnicate", "-o", "@/x.onnx"));
    r.add(row("export: no output file", 2, List.of("--output-file"), "export", "--loss", "cross_entropy"));
    r.add(row("export: an output in a missing directory", 2, List.of("cannot write", "does not exist"), "export",
        "--loss", "cross_entropy", "-o", "@/missing/x.onnx"));
    r.add(row("export: an output under a file", 2, List.of("cannot write", "not a directory"), "export", "--loss",
        "cross_entropy", "-o", "@/plain.txt/x.onnx"));
    r.add(row("export: an output that is a directory", 2, List.of("is a directory"), "export", "--loss",
        "cross_entropy", "-o", "@"));
    // attach: models and names
    r.add(row("attach: a missing model", 2, List.of("no such file"), "attach", "@/absent.onnx", "--output",
        "logits", "--loss", "cross_entropy", "-o", "@/x.onnx"));
    r.add(row("attach: random bytes", 2, List.of("not an ONNX model"), "attach", "@/random.bin", "--output",
        "logits", "--loss", "cross_entropy", "-o", "@/x.onnx"));
    r.add(row("attach: an empty file", 2, List.of("not an ONNX model"), "attach", "@/empty.json", "--output",
        "logits", "--loss", "cross_entropy", "-o", "@/x.onnx"));
    r.add(row("attach: a protobuf that is not a model", 2, List.of("not an ONNX model"), "attach", "@/tensor.pb",
        "--output", "logits", "--loss", "cross_entropy", "-o", "@/x.onnx"));
    r.add(row("attach: a directory", 2, List.of("cannot read"), "attach", "@", "--output", "logits", "--loss",
        "cross_entropy", "-o", "@/x.onnx"));
    r.add(row("attach: a missing output name", 2, List.of("no output 'scores'", "logits"), "attach", model,
        "--output", "scores", "--loss", "cross_entropy", "-o", "@/x.onnx"));
    r.add(row("attach: a labels name already in use", 2, List.of("'features'"), "attach", model, "--output",
        "logits", "--labels-name", "features", "--loss", "cross_entropy", "-o", "@/x.onnx"));
    r.add(row("attach: a class weight of the wrong length", 2, List.of("weight has 2 entries", "3 classes"),
        "attach", model, "--output", "logits", "--loss", "cross_entropy", "--weight", "1,2", "-o", "@/x.onnx"));
    r.add(row("attach: a pos_weight that does not broadcast", 2, List.of("pos_weight", "[2]", "broadcast"),
        "attach", model, "--output", "logits", "--loss", "bce_with_logits", "--pos-weight", "1,2", "-o",
        "@/x.onnx"));
    r.add(row("attach: an unwritable output, over the input's name", 2, List.of("cannot write"), "attach", model,
        "--output", "logits", "--loss", "cross_entropy", "-o", "@/plain.txt/m.onnx"));
    r.add(row("attach: a model at opset 10", 2, List.of("opset is 10", "11 to 26"), "attach", "@/opset10.onnx",
        "--output", "logits", "--loss", "cross_entropy", "-o", "@/x.onnx"));
    r.add(row("attach: --opset, which is the model's", 2, List.of("--opset 17", "model's own opset"), "attach",
        model, "--output", "logits", "--loss", "cross_entropy", "--opset", "17", "-o", "@/x.onnx"));
    r.add(row("attach: class axis 2", 2, List.of("class axis 2"), "attach", model, "--output", "logits",
        "--loss", "cross_entropy", "--class-axis", "2", "-o", "@/x.onnx"));
    r.add(row("attach: class axis -1 for bce_with_logits", 2, List.of("class axis -1", "bce_with_logits"),
        "attach", model, "--output", "logits", "--loss", "bce_with_logits", "--class-axis", "-1", "-o",
        "@/x.onnx"));
    r.add(row("attach: pos_weight for bce", 2, List.of("--pos-weight", "bce"), "attach", model, "--output",
        "logits", "--loss", "bce", "--pos-weight", "1,2,3", "-o", "@/x.onnx"));
    r.add(row("attach: class axis -1 for bce", 2, List.of("--class-axis -1", "bce"), "attach", model, "--output",
        "logits", "--loss", "bce", "--class-axis", "-1", "-o", "@/x.onnx"));
    r.add(row("attach: a bce weight that does not broadcast", 2, List.of("weight of shape [2]", "'logits'"),
        "attach", model, "--output", "logits", "--loss", "bce", "--weight", "1,2", "-o", "@/x.onnx"));
    r.add(row("attach: no --output", 2, List.of("--output"), "attach", model, "--loss", "cross_entropy", "-o",
        "@/x.onnx"));
    // attach: external data that points elsewhere (the model in @/ext, its data beside it, a secret in @/outside)
    String[] rest = {"--output", "logits", "--loss", "cross_entropy", "-o", "@/x.onnx"};
    r.add(row("attach: an absolute external data location", 2, List.of("secret.data'", "absolute path"),
        cat(new String[] {"attach", "@/ext/absolute.onnx"}, rest)));
    r.add(row("attach: an external data location leaving the folder", 2, List.of("'../../etc/passwd'", "'..'"),
        cat(new String[] {"attach", "@/ext/escape.onnx"}, rest)));
    r.add(row("attach: a symbolic link in the folder leading outside", 2, List.of("'link.data'", "symbolic link"),
        cat(new String[] {"attach", "@/ext/link.onnx"}, rest)));
    r.add(row("attach: a missing external data file", 2, List.of("'absent.data'", "does not exist"),
        cat(new String[] {"attach", "@/ext/missing.onnx"}, rest)));
    r.add(row("attach: an external data range beyond the file", 2, List.of("offset 800 and length 100",
        "832 bytes"), cat(new String[] {"attach", "@/ext/range.onnx"}, rest)));
    r.add(row("attach: external data, -o over the model", 2, List.of("'../../etc/passwd'"),
        "attach", "@/ext/escape.onnx", "--output", "logits", "--loss", "cross_entropy", "-o", "@/ext/escape.onnx"));
    // the other commands
    r.add(row("conform: an unknown loss", 2, List.of("hinge", "cross_entropy"), "conform", "--losses", "hinge"));
    r.add(row("conform: an unknown backend", 2, List.of("gpu", "core"), "conform", "--backends", "gpu"));
    r.add(row("bench: an unknown option", 2, List.of("--fast"), "bench", "--fast"));
    r.add(row("bench: an unknown case", 2, List.of("imagenet", "llm-vocab"), "bench", "--case", "imagenet"));
    r.add(row("example: an unknown example", 2, List.of("frobnicate", "imbalanced"), "example", "frobnicate"));
    r.add(row("no command", 2, List.of("a command is required")));
    r.add(row("an unknown command", 2, List.of("conjure"), "conjure"));
    return r;
  }

  private static String[] cat(String[] a, String[] b) {
    return Stream.concat(Stream.of(a), Stream.of(b)).toArray(String[]::new);
  }

  /** The fixture with external data, its first external tensor's location (and range) changed. */
  private static void externalVariant(Path ext, String file, String location, String offset, String length)
      throws IOException {
    ModelProto m = ModelProto.parseFrom(Files.readAllBytes(ext.resolve("classifier.onnx")));
    var g = m.getGraph().toBuilder();
    for (int i = 0; i < g.getInitializerCount(); i++) {
      TensorProto t = g.getInitializer(i);
      if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
        TensorProto.Builder b = t.toBuilder().clearExternalData();
        for (var e : t.getExternalDataList()) {
          String v = switch (e.getKey()) {
            case "location" -> location;
            case "offset" -> offset == null ? e.getValue() : offset;
            case "length" -> length == null ? e.getValue() : length;
            default -> e.getValue();
          };
          b.addExternalData(e.toBuilder().setValue(v));
        }
        if (offset != null && t.getExternalDataList().stream().noneMatch(e -> e.getKey().equals("offset"))) {
          b.addExternalData(ai.onnx.proto.OnnxMl.StringStringEntryProto.newBuilder().setKey("offset")
              .setValue(offset));
        }
        g.setInitializer(i, b);
        break;
      }
    }
    Files.write(ext.resolve(file), m.toBuilder().setGraph(g).build().toByteArray());
  }

  private void setUp(Path dir) throws IOException {
    Path models = Path.of(System.getProperty("losskit.fixtures"), "models");
    Path ext = Files.createDirectory(dir.resolve("ext"));
    Path outside = Files.createDirectory(dir.resolve("outside"));
    Files.copy(models.resolve("classifier.dynamo.op18.external.onnx"), ext.resolve("classifier.onnx"));
    Files.copy(models.resolve("classifier.dynamo.op18.external.onnx.data"),
        ext.resolve("classifier.dynamo.op18.external.onnx.data"));
    Files.copy(models.resolve("classifier.dynamo.op18.external.onnx.data"), outside.resolve("secret.data"));
    Files.createSymbolicLink(ext.resolve("link.data"), Path.of("..", "outside", "secret.data"));
    externalVariant(ext, "absolute.onnx", outside.resolve("secret.data").toString(), null, null);
    externalVariant(ext, "escape.onnx", "../../etc/passwd", null, null);
    externalVariant(ext, "link.onnx", "link.data", null, null);
    externalVariant(ext, "missing.onnx", "absent.data", null, null);
    externalVariant(ext, "range.onnx", "classifier.dynamo.op18.external.onnx.data", "800", "100");
    try (var in = getClass().getResourceAsStream("/dev/losskit/examples/classifier.onnx")) {
      Files.copy(in, dir.resolve("m.onnx"));
    }
    ModelProto classifier = ModelProto.parseFrom(Files.readAllBytes(dir.resolve("m.onnx")));
    Files.write(dir.resolve("opset10.onnx"), classifier.toBuilder().setOpsetImport(0,
        classifier.getOpsetImport(0).toBuilder().setVersion(10)).build().toByteArray());
    byte[] noise = new byte[4096];
    new Random(7).nextBytes(noise);
    Files.write(dir.resolve("random.bin"), noise);
    Files.write(dir.resolve("tensor.pb"), TensorProto.newBuilder().setName("w").addDims(2).addFloatData(1)
        .addFloatData(2).build().toByteArray());
    Files.writeString(dir.resolve("plain.txt"), "a file, not a directory\n");
    Files.writeString(dir.resolve("empty.json"), "");
    Files.writeString(dir.resolve("ok.json"), golden(CASE));
    Files.writeString(dir.resolve("truncated.json"), golden(CASE).substring(0, 150));
    Files.writeString(dir.resolve("array.json"), "[1, 2]");
    Files.writeString(dir.resolve("format.json"), "{\"format\": \"other\", \"version\": 1, \"cases\": []}");
    Files.writeString(dir.resolve("version.json"), "{\"format\": \"losskit-goldens\", \"version\": 7, \"cases\": []}");
    Files.writeString(dir.resolve("duplicate.json"), golden(CASE, CASE));
    Files.writeString(dir.resolve("contradictory.json"),
        golden(CASE.replace("\"ignore_index\": -100,", "\"ignore_index\": -100, \"label_smoothing\": 0.1,")));
    Files.writeString(dir.resolve("gradshape.json"), golden(CASE.replace("[0.0, -1.0]", "[0.0]")));
    Files.writeString(dir.resolve("fraction.json"), golden(CASE.replace("\"data\": [1]", "\"data\": [1.5]")));
    Files.writeString(dir.resolve("nan.json"), golden(CASE.replace("-0.25", "\"nan\"")));
    Files.writeString(dir.resolve("hinge.json"), golden(CASE.replace("nll_loss", "hinge")));
  }

  private static Map<String, byte[]> snapshot(Path dir) throws IOException {
    Map<String, byte[]> files = new TreeMap<>();
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        if (Files.isRegularFile(p)) {
          files.put(dir.relativize(p).toString(), Files.readAllBytes(p));
        }
      }
    }
    return files;
  }

  @TestFactory
  Stream<DynamicTest> everyBadInputIsOneLineAndTouchesNoFile() {
    List<Row> rows = rows();
    return rows.stream().map(row -> DynamicTest.dynamicTest(row.name(), () -> {
      Path dir = Files.createDirectory(root.resolve("row" + rows.indexOf(row)));
      setUp(dir);
      Map<String, byte[]> before = snapshot(dir);
      String[] args = Stream.of(row.args()).map(a -> a.startsWith("@") ? dir + a.substring(1) : a)
          .toArray(String[]::new);
      Run r = VerifyCommandTest.run(args);
      assertEquals(row.exit(), r.code(), "exit code; stderr: " + r.err());
      assertEquals(1, r.err().size(), "exactly one line on stderr: " + r.err());
      String line = r.err().get(0);
      assertFalse(line.contains("\tat ") || line.contains("Exception") || line.contains("internal error"),
          "no stack trace or internal error: " + line);
      for (String s : row.mention()) {
        assertTrue(line.contains(s), "'" + line + "' should mention '" + s + "'");
      }
      Map<String, byte[]> after = snapshot(dir);
      assertEquals(before.keySet(), after.keySet(), "no file created or removed");
      for (String f : before.keySet()) {
        assertArrayEquals(before.get(f), after.get(f), f + " unchanged");
      }
      String all = String.join("\n", r.out()) + String.join("\n", r.err());
      assertFalse(all.getBytes(StandardCharsets.UTF_8).length > 4000, "no dump of the input: " + all.length());
    }));
  }
}
