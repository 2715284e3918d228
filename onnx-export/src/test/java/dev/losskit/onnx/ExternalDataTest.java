package dev.losskit.onnx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossResult;
import dev.losskit.core.Tensor;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ModelAttachment} on torch's model with external data (fixtures/models): the data written beside the
 * output when a tiny inline limit forces it, an in-place attach, and the locations ONNX's loader refuses.
 */
class ExternalDataTest {
  private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();
  private static final String MODEL = "classifier.dynamo.op18.external.onnx";
  private static final String DATA = MODEL + ".data";
  private static final OnnxLoss CE = OnnxLoss.builder(CrossEntropyLoss.create()).withGradient(true).build();

  @TempDir Path root;

  private Path copyFixture(String dirName) throws Exception {
    Path models = Path.of(System.getProperty("losskit.fixtures"), "models");
    Path d = Files.createDirectory(root.resolve(dirName));
    Files.copy(models.resolve(MODEL), d.resolve(MODEL));
    Files.copy(models.resolve(DATA), d.resolve(DATA));
    return d;
  }

  private static Map<String, byte[]> snapshot(Path dir) throws Exception {
    Map<String, byte[]> files = new TreeMap<>();
    try (Stream<Path> s = Files.list(dir)) {
      for (Path p : (Iterable<Path>) s::iterator) {
        files.put(p.getFileName().toString(), Files.readAllBytes(p));
      }
    }
    return files;
  }

  private static void assertSame(Map<String, byte[]> before, Map<String, byte[]> after) {
    assertEquals(before.keySet(), after.keySet());
    before.forEach((k, v) -> assertArrayEquals(v, after.get(k), k + " unchanged"));
  }

  /**
   * Runs the attached model from its file (so that ONNX Runtime resolves external data from its folder) on a batch
   * and checks loss and gradient against the core on ONNX Runtime's own logits.
   */
  private static void runsAndMatchesTheCore(Path file) throws Exception {
    float[] features = new float[3 * 8];
    for (int i = 0; i < features.length; i++) {
      features[i] = (float) Math.sin(i * 0.7);
    }
    long[] labels = {0, 4, 2};
    try (OrtSession s = ENV.createSession(file.toString(), new OrtSession.SessionOptions());
        OnnxTensor x = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(features), new long[] {3, 8});
        OnnxTensor t = OnnxTensor.createTensor(ENV, LongBuffer.wrap(labels), new long[] {3});
        OrtSession.Result r = s.run(Map.of("features", x, "labels", t))) {
      float[] logits = floats(r, "logits");
      LossResult expected = CrossEntropyLoss.create().forwardBackward(Tensor.of(logits, 3, 5),
          Tensor.of(labels, 3), null);
      assertEquals(expected.loss().toFloatArray()[0], floats(r, "loss")[0], 2e-6);
      assertArrayEquals(expected.gradInput().toFloatArray(), floats(r, "grad_logits"), 2e-6f);
    }
  }

  private static float[] floats(OrtSession.Result r, String name) {
    FloatBuffer b = ((OnnxTensor) r.get(name).orElseThrow()).getFloatBuffer();
    float[] v = new float[b.remaining()];
    b.get(v);
    return v;
  }

  @Test
  void aboveTheLimitTheDataGoesBesideTheOutputUnderAContentDerivedName() throws Exception {
    Path in = copyFixture("in");
    Path outDir = Files.createDirectory(root.resolve("out"));
    Map<String, byte[]> before = snapshot(in);
    OnnxLoss.Attached a = ModelAttachment.attach(CE, in.resolve(MODEL), "logits", "labels");
    Path out = outDir.resolve("m.onnx");
    a.write(out, 16, 64);

    List<String> names = snapshot(outDir).keySet().stream().toList();
    assertEquals(2, names.size(), names.toString());
    String dataName = names.stream().filter(n -> !n.equals("m.onnx")).findFirst().orElseThrow();
    byte[] data = Files.readAllBytes(outDir.resolve(dataName));
    String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    assertEquals("m.onnx." + sha.substring(0, 16) + ".data", dataName, "named after the output and its content");
    ModelProto written = ModelProto.parseFrom(Files.readAllBytes(out));
    long external = written.getGraph().getInitializerList().stream()
        .filter(t -> t.getDataLocation() == TensorProto.DataLocation.EXTERNAL).peek(t -> assertEquals(dataName,
            t.getExternalDataList().stream().filter(e -> e.getKey().equals("location")).findFirst().orElseThrow()
                .getValue()))
        .count();
    assertEquals(written.getGraph().getInitializerList().stream().filter(t -> t.getRawData().size() >= 64
        || t.getDataLocation() == TensorProto.DataLocation.EXTERNAL).count(), external,
        "every tensor of 64 bytes or more refers to the data file; small ones (axes) stay inline");
    assertTrue(external >= 2, "the weights at least: " + external);
    assertEquals(data.length, written.getGraph().getInitializerList().stream()
        .filter(t -> t.getDataLocation() == TensorProto.DataLocation.EXTERNAL).mapToLong(t -> Long.parseLong(
            t.getExternalDataList().stream().filter(e -> e.getKey().equals("length")).findFirst().orElseThrow()
                .getValue())).sum(), "the data file holds exactly the external tensors");
    runsAndMatchesTheCore(out);
    assertSame(before, snapshot(in));
  }

  @Test
  void inPlaceTheOldDataFileStaysForTheOldModelAndTheNewModelLoads() throws Exception {
    Path in = copyFixture("inplace");
    Path model = in.resolve(MODEL);
    byte[] oldData = Files.readAllBytes(in.resolve(DATA));
    OnnxLoss.Attached a = ModelAttachment.attach(CE, model, "logits", "labels");
    // The old model still exists while the new data is written: its data file must not change.
    a.write(model, 16, 64);
    assertArrayEquals(oldData, Files.readAllBytes(in.resolve(DATA)), "the old data file is not overwritten");
    assertEquals(3, snapshot(in).size(), snapshot(in).keySet().toString());
    runsAndMatchesTheCore(model);
    // Attaching in place with the default limit embeds the data: one file that loads.
    Path inline = copyFixture("inline");
    ModelAttachment.attach(CE, inline.resolve(MODEL), "logits", "labels").write(inline.resolve(MODEL));
    assertFalse(ModelProto.parseFrom(Files.readAllBytes(inline.resolve(MODEL))).toString().contains("EXTERNAL"));
    assertArrayEquals(oldData, Files.readAllBytes(inline.resolve(DATA)));
    runsAndMatchesTheCore(inline.resolve(MODEL));
  }

  /** A directory symlink in the middle of a location that leads out is refused like a file link. */
  @Test
  void aDirectoryLinkInTheMiddleOfALocationCannotLeadOut() throws Exception {
    Path in = copyFixture("dirlink");
    Path outside = Files.createDirectory(root.resolve("elsewhere"));
    Files.write(outside.resolve(DATA), Files.readAllBytes(in.resolve(DATA)));
    Files.createSymbolicLink(in.resolve("sub"), outside);
    ModelProto m = variant(in, Map.of("location", "sub/" + DATA));
    LossArgumentException e = assertThrows(LossArgumentException.class,
        () -> ModelAttachment.attach(CE, m, in, "logits", "labels"));
    assertTrue(e.getMessage().contains("symbolic link leading outside"), e.getMessage());
  }

  /** When the model cannot be written, the data file written for it first is removed: nothing points to it. */
  @Test
  void aFailedModelWriteLeavesNoDataFileBehind() throws Exception {
    Path in = copyFixture("failwrite");
    Path outDir = Files.createDirectory(root.resolve("failout"));
    Path out = Files.createDirectory(outDir.resolve("m.onnx")); // a directory where the model should go
    OnnxLoss.Attached a = ModelAttachment.attach(CE, in.resolve(MODEL), "logits", "labels");
    assertThrows(java.io.IOException.class, () -> a.write(out, 16, 64));
    try (Stream<Path> left = Files.list(outDir)) {
      assertEquals(List.of("m.onnx"), left.map(p -> p.getFileName().toString()).toList(),
          "only the directory is left");
    }
  }

  @Test
  void theModelAndItsDirectoryAttachLikeThePath() throws Exception {
    Path in = copyFixture("proto");
    ModelProto m = ModelAttachment.read(in.resolve(MODEL));
    Path out = Files.createDirectory(root.resolve("o")).resolve("x.onnx");
    ModelAttachment.attach(CE, m, in, "logits", "labels").write(out);
    assertEquals(List.of("x.onnx"), snapshot(out.getParent()).keySet().stream().toList());
    runsAndMatchesTheCore(out);
    assertEquals(ModelAttachment.attach(CE, in.resolve(MODEL), "logits", "labels").model(),
        ModelAttachment.attach(CE, m, in, "logits", "labels").model());
  }

  /** The fixture with its first external tensor's entries changed. */
  private static ModelProto variant(Path dir, Map<String, String> entries) throws Exception {
    ModelProto m = ModelAttachment.read(dir.resolve(MODEL));
    var g = m.getGraph().toBuilder();
    for (int i = 0; i < g.getInitializerCount(); i++) {
      TensorProto t = g.getInitializer(i);
      if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
        Map<String, String> e = t.getExternalDataList().stream().collect(Collectors.toMap(
            StringStringEntryProto::getKey, StringStringEntryProto::getValue, (x, y) -> x, TreeMap::new));
        e.putAll(entries);
        TensorProto.Builder b = t.toBuilder().clearExternalData();
        e.forEach((k, v) -> b.addExternalData(StringStringEntryProto.newBuilder().setKey(k).setValue(v)));
        g.setInitializer(i, b);
        break;
      }
    }
    return m.toBuilder().setGraph(g).build();
  }

  @Test
  void locationsOutsideTheFolderAndRangesBeyondTheFileAreRefusedInOneLine() throws Exception {
    Path in = copyFixture("bad");
    Path outside = Files.createDirectory(root.resolve("outside"));
    Files.write(outside.resolve("secret.data"), Files.readAllBytes(in.resolve(DATA)));
    Files.createSymbolicLink(in.resolve("link.data"), Path.of("..", "outside", "secret.data"));
    Map<String, byte[]> before = snapshot(in);
    Object[][] rows = {
        {Map.of("location", outside.resolve("secret.data").toString()), "absolute path"},
        {Map.of("location", "../../etc/passwd"), "'../../etc/passwd'"},
        {Map.of("location", "sub/../../outside/secret.data"), "'..'"},
        {Map.of("location", "link.data"), "symbolic link leading outside"},
        {Map.of("location", "absent.data"), "does not exist"},
        {Map.of("location", ""), "names no location"},
        {Map.of("offset", "800", "length", "100"), "offset 800 and length 100, beyond the file's 832 bytes"},
        {Map.of("offset", "900"), "beyond the file's 832 bytes"},
        {Map.of("offset", "-1"), "negative offset"},
        {Map.of("length", "ten"), "length 'ten'"},
        {Map.of("location", "a\nb.data"), "'a\\u000ab.data', a name with control characters"},
        {Map.of("location", "sub/x.data"), "does not exist"},
    };
    for (Object[] row : rows) {
      @SuppressWarnings("unchecked")
      ModelProto m = variant(in, (Map<String, String>) row[0]);
      LossArgumentException e = assertThrows(LossArgumentException.class,
          () -> ModelAttachment.attach(CE, m, in, "logits", "labels"), row[0].toString());
      assertEquals(LossArgumentException.Cause.MODEL, e.cause());
      assertTrue(e.getMessage().contains((String) row[1]), e.getMessage());
      assertFalse(e.getMessage().contains("\n"), e.getMessage());
      String location = ((Map<?, ?>) row[0]).containsKey("location") ? (String) ((Map<?, ?>) row[0]).get("location")
          : DATA;
      if (!location.isEmpty() && location.chars().noneMatch(Character::isISOControl)) {
        assertTrue(e.getMessage().contains("'" + location + "'"), "names the location: " + e.getMessage());
      }
    }
    assertSame(before, snapshot(in));
    // A good neighbour: a symbolic link that stays inside the folder is followed.
    Files.createSymbolicLink(in.resolve("inside.data"), Path.of(DATA));
    ModelProto ok = variant(in, Map.of("location", "inside.data"));
    assertFalse(ModelAttachment.attach(CE, ok, in, "logits", "labels").model().toString().contains("EXTERNAL"));
  }
}
