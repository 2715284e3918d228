package dev.losskit.onnx;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.SparseTensorProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.losskit.core.DType;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossArgumentException.Cause;
import dev.losskit.core.Reduction;
import dev.losskit.onnx.OnnxLoss.Lowering;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Model surgery: a loss wired onto a user's ONNX model. {@link OnnxLoss} describes the loss graph; this class reads
 * the model, checks it (its opset, the output, the names it takes), adds the loss and writes the result.
 */
public final class ModelAttachment {
  private ModelAttachment() {}

  /**
   * Attaches a loss to one of a model's outputs; see {@link OnnxLoss#attach(ModelProto, String, String)}.
   *
   * @param loss the loss graph to attach
   * @param model the model, e.g. from {@code torch.onnx.export}, with its tensors inline
   * @param outputName the output the loss reads (logits)
   * @param labelsName the name of the new labels input
   * @return the model with the loss, and notes on what else changed
   * @throws IllegalArgumentException when the output does not exist, a new name is taken, the model's opset is
   *     out of range, or the model keeps tensors in external data files
   */
  public static OnnxLoss.Attached attach(OnnxLoss loss, ModelProto model, String outputName, String labelsName) {
    refuseExternalData(model);
    return wire(loss, model, outputName, labelsName);
  }

  /** Wires the loss onto a model whose tensors are all inline. */
  private static OnnxLoss.Attached wire(OnnxLoss spec0, ModelProto model, String outputName, String labelsName) {
    GraphProto graph = model.getGraph();
    List<String> notes = new ArrayList<>();
    java.util.OptionalLong declared = model.getOpsetImportList().stream()
        .filter(o -> o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx"))
        .mapToLong(OperatorSetIdProto::getVersion).findFirst();
    boolean addImport = declared.isEmpty();
    int modelOpset;
    if (addImport) {
      modelOpset = spec0.opset();
      notes.add("added a default-domain opset import at " + spec0.opset() + ": the model had none");
    } else if (declared.getAsLong() < OnnxLoss.MIN_OPSET || declared.getAsLong() > OnnxLoss.MAX_OPSET) {
      throw new LossArgumentException(Cause.MODEL, "the model's default-domain opset is " + declared.getAsLong()
          + "; losskit attaches a loss at opsets " + OnnxLoss.MIN_OPSET + " to " + OnnxLoss.MAX_OPSET
          + " and does not convert a model's nodes to another opset");
    } else {
      modelOpset = (int) declared.getAsLong();
    }
    if (spec0.lowering() == Lowering.OP && modelOpset < OnnxLoss.MIN_OP_LOWERING_OPSET) {
      throw new LossArgumentException(Cause.MODEL, "the model's opset is " + modelOpset + "; the op lowering needs "
          + OnnxLoss.MIN_OP_LOWERING_OPSET + " or later (SoftmaxCrossEntropyLoss, NegativeLogLikelihoodLoss), and attach"
          + " keeps the model's opset: use --lowering primitives or auto");
    }
    ValueInfoProto output = graph.getOutputList().stream().filter(o -> o.getName().equals(outputName)).findFirst()
        .orElseThrow(() -> new LossArgumentException(Cause.MODEL,
            "the model has no output '" + outputName + "'; its outputs: "
            + graph.getOutputList().stream().map(ValueInfoProto::getName).collect(Collectors.joining(", "))));
    DType type = spec0.dtype();
    int elem = output.getType().getTensorType().getElemType();
    if (elem == Graph.FLOAT || elem == Graph.DOUBLE || elem == Graph.FLOAT16 || elem == Graph.BFLOAT16) {
      type = elem == Graph.FLOAT ? DType.FLOAT32 : elem == Graph.DOUBLE ? DType.FLOAT64
          : elem == Graph.FLOAT16 ? DType.FLOAT16 : DType.BFLOAT16;
    } else if (elem != 0) {
      throw new LossArgumentException(Cause.DTYPE, "output '" + outputName + "' has element type "
          + TensorProto.DataType.forNumber(elem) + "; the loss needs float, double, float16 or bfloat16 logits");
    }
    if (type == DType.BFLOAT16 && modelOpset < OnnxLoss.MIN_BFLOAT16_OPSET) {
      throw new LossArgumentException(Cause.MODEL, "output '" + outputName + "' is bfloat16 and the model's opset is "
          + modelOpset + "; a bfloat16 loss needs opset " + OnnxLoss.MIN_BFLOAT16_OPSET + " or later (Cast and"
          + " Identity take bfloat16 from opset 13), and attach keeps the model's opset");
    }
    int outputRank = spec0.rank();
    TensorShapeProto shape = output.getType().getTensorType().getShape();
    Object[] dims = null;
    if (output.getType().getTensorType().hasShape()) {
      int minimum = spec0.classLoss() ? 2 : 1;
      if (shape.getDimCount() < minimum) {
        throw new LossArgumentException(Cause.INPUT_SHAPE, "output '" + outputName + "' has rank " + shape.getDimCount()
            + "; " + spec0.loss().name() + " needs at least " + minimum + " dimensions");
      }
      outputRank = shape.getDimCount() - minimum;
      dims = shape.getDimList().stream()
          .map(d -> d.hasDimValue() ? (Object) d.getDimValue() : (Object) (d.getDimParam().isEmpty() ? "?" : d.getDimParam()))
          .toArray();
    }
    if (dims != null) {
      spec0.checkOperands(outputName, dims);
    }
    OnnxLoss spec = OnnxLoss.builder(spec0.loss()).probabilityTargets(spec0.probabilities()).dtype(type)
        .rank(outputRank).opset(modelOpset).lowering(spec0.lowering()).withGradient(spec0.withGradient())
        .classAxis(spec0.classAxis()).build();
    if (dims == null) {
      dims = spec.inputDims(spec.classDim());
    }

    Set<String> taken = new HashSet<>();
    graph.getInputList().forEach(v -> taken.add(v.getName()));
    graph.getOutputList().forEach(v -> taken.add(v.getName()));
    graph.getValueInfoList().forEach(v -> taken.add(v.getName()));
    graph.getInitializerList().forEach(v -> taken.add(v.getName()));
    for (NodeProto n : graph.getNodeList()) {
      taken.addAll(n.getOutputList());
      taken.add(n.getName());
    }
    taken.remove(outputName);
    Graph g = new Graph("losskit", type, taken, modelOpset);
    g.claim(outputName, "output");
    Value x = g.fromIo(new Value(g, outputName));
    Value t = spec.probabilities() || !spec.classLoss() ? g.floatingInput(labelsName, dims)
        : g.input(labelsName, Graph.INT64, spec.lossDimsOfIndexTarget(dims));
    Object[] lossDims = spec.lossDims(dims);
    Value gradOutput = spec.withGradient() && spec.loss().reduction() == Reduction.NONE
        ? g.floatingInput("grad_output", lossDims) : null;
    LossGraph.Emitted e = LossGraph.emit(spec, x, t, gradOutput, spec.withGradient());
    g.floatingOutput(e.loss(), "loss", lossDims);
    if (spec.withGradient()) {
      g.floatingOutput(e.grad(), "grad_" + outputName, dims);
    }

    GraphProto merged = graph.toBuilder().addAllInput(g.inputs()).addAllOutput(g.outputs())
        .addAllNode(g.nodes()).addAllInitializer(g.initializers()).build();
    long ir = Math.max(model.getIrVersion(), OnnxLoss.irVersionFor(modelOpset));
    if (ir != model.getIrVersion()) {
      notes.add("raised the IR version from " + model.getIrVersion() + " to " + ir + ", opset " + modelOpset + "'s");
    }
    ModelProto.Builder out = model.toBuilder().setGraph(merged).setIrVersion(ir);
    if (addImport) {
      out.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(modelOpset));
    }
    return new OnnxLoss.Attached(out.build(), notes);
  }

  /**
   * Refuses a model whose tensors live in external data files when there is no directory to read them from: the
   * model's protobuf only names the files, relative to the model's directory.
   */
  private static void refuseExternalData(ModelProto model) {
    String[] first = firstExternal(model);
    if (first != null) {
      String graphName = model.getGraph().getName().isEmpty() ? "" : " (graph '" + model.getGraph().getName() + "')";
      throw new LossArgumentException(Cause.MODEL, "the model" + graphName + " keeps tensor '" + first[0]
          + "' in external data at '" + first[1] + "'; attach needs the model's directory to read it: pass the"
          + " model's path (ModelAttachment.attach(loss, path, ...)) or its directory, or save it with its tensors"
          + " inline (onnx.save(model, path, save_as_external_data=False))");
    }
  }

  /** {@return the owner's name and the location of the first tensor stored externally, or null when there is none} */
  private static String[] firstExternal(ModelProto model) {
    String[][] found = new String[1][];
    try {
      Tensors.model(model, true, (t, owner) -> {
        if (found[0] == null && t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
          found[0] = new String[] {owner, externalLocation(t)};
        }
        return t;
      });
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return found[0];
  }

  private static String externalLocation(TensorProto t) {
    return entry(t, "location") == null ? "?" : entry(t, "location");
  }

  private static String entry(TensorProto t, String key) {
    return t.getExternalDataList().stream().filter(e -> e.getKey().equals(key)).map(e -> e.getValue())
        .findFirst().orElse(null);
  }

  // ---- reading external data ----

  /**
   * Reads an ONNX model file, refusing files that are not one. Its external data, if any, stays where it is: the
   * {@code attach} methods that take a directory read it.
   *
   * @param file the {@code .onnx} file
   * @return the model
   * @throws IOException when the file cannot be read or is not an ONNX model; the message is one line naming it
   */
  public static ModelProto read(Path file) throws IOException {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      throw new IOException(file + ": no such file");
    } catch (IOException e) {
      throw new IOException(file + ": cannot read: " + oneLine(e.getMessage()));
    }
    ModelProto m;
    try {
      m = ModelProto.parseFrom(bytes);
    } catch (InvalidProtocolBufferException e) {
      throw new IOException(file + ": not an ONNX model (" + oneLine(e.getMessage()) + ")");
    }
    if (m.getIrVersion() <= 0 || !m.hasGraph() || m.getGraph().getOutputCount() == 0) {
      throw new IOException(file + ": not an ONNX model (no IR version, graph or outputs)");
    }
    return m;
  }

  private static String oneLine(String s) {
    return s == null ? "" : s.replaceAll("\\s+", " ").trim();
  }

  /**
   * Attaches a loss to one of the outputs of the model in a file, reading the tensors it keeps in external data
   * files from the file's directory; see {@link #attach(OnnxLoss, ModelProto, Path, String, String)}.
   *
   * @param loss the loss graph to attach
   * @param modelFile the model's {@code .onnx} file
   * @param outputName the output the loss reads (logits)
   * @param labelsName the name of the new labels input
   * @return the model with the loss and its tensors inline, and notes on what else changed
   * @throws IOException when the model or its data cannot be read
   * @throws IllegalArgumentException as {@link #attach(OnnxLoss, ModelProto, Path, String, String)} does
   */
  public static OnnxLoss.Attached attach(OnnxLoss loss, Path modelFile, String outputName, String labelsName)
      throws IOException {
    ModelProto model = read(modelFile);
    return attach(loss, model, modelFile.toAbsolutePath().getParent(), outputName, labelsName);
  }

  /**
   * Attaches a loss to one of a model's outputs, as {@link OnnxLoss#attach(ModelProto, String, String)} does, and
   * reads the tensors the model keeps in external data files into the result, so that it no longer depends on the
   * model's directory; {@link OnnxLoss.Attached#write(Path)} writes them inline, or beside the output when the
   * model would pass protobuf's 2 GiB limit. The model's files are only read.
   *
   * <p>External data locations are checked as ONNX's own loader checks them ({@code onnx/checker.cc},
   * {@code resolve_external_data_location}): a location must be relative, must not have a {@code ..} component,
   * and must name a regular file inside the directory, also after following symbolic links; its {@code offset} and
   * {@code length} must lie within the file.
   *
   * @param loss the loss graph to attach
   * @param model the model
   * @param baseDir the directory its external data locations are relative to: the model file's directory
   * @param outputName the output the loss reads (logits)
   * @param labelsName the name of the new labels input
   * @return the model with the loss and its tensors inline, and notes on what else changed
   * @throws IOException when the directory or a data file cannot be read
   * @throws IllegalArgumentException ({@link LossArgumentException}, cause {@code MODEL} for the data) as
   *     {@link OnnxLoss#attach(ModelProto, String, String)} does, and when an external data location or range is
   *     not allowed, or a tensor is kept in external data where attach does not read it (training information)
   */
  public static OnnxLoss.Attached attach(OnnxLoss loss, ModelProto model, Path baseDir, String outputName,
      String labelsName) throws IOException {
    for (ai.onnx.proto.OnnxMl.TrainingInfoProto info : model.getTrainingInfoList()) {
      ModelProto probe = ModelProto.newBuilder().setGraph(info.getInitialization()).build();
      String[] first = firstExternal(probe);
      if (first == null) {
        first = firstExternal(ModelProto.newBuilder().setGraph(info.getAlgorithm()).build());
      }
      if (first != null) {
        throw new LossArgumentException(Cause.MODEL, "the model's training information keeps tensor '" + first[0]
            + "' in external data at '" + first[1] + "'; attach does not read external data there");
      }
    }
    OnnxLoss.Attached wired = wire(loss, model, outputName, labelsName);
    if (firstExternal(wired.model()) == null) {
      return wired;
    }
    Path base;
    try {
      base = baseDir.toAbsolutePath().toRealPath();
    } catch (IOException e) {
      throw new IOException("cannot read the model's directory " + baseDir + ": " + oneLine(e.getMessage()));
    }
    int[] count = new int[1];
    Set<String> locations = new java.util.TreeSet<>();
    // The same (file, offset, length) is read once; the sum of distinct ranges must fit the memory this JVM has.
    java.util.Map<String, ByteString> read = new java.util.HashMap<>();
    long[] total = new long[1];
    long budget = Runtime.getRuntime().maxMemory() / 2;
    ModelProto inline = Tensors.model(wired.model(), true, (t, owner) -> {
      if (t.getDataLocation() != TensorProto.DataLocation.EXTERNAL) {
        return t;
      }
      count[0]++;
      locations.add(externalLocation(t));
      String key = entry(t, "location") + '\0' + entry(t, "offset") + '\0' + entry(t, "length");
      ByteString data = read.get(key);
      if (data == null) {
        data = readExternal(t, owner, base, budget - total[0]);
        total[0] += data.size();
        read.put(key, data);
      }
      return t.toBuilder().clearExternalData().setDataLocation(TensorProto.DataLocation.DEFAULT)
          .setRawData(data).build();
    });
    String[] left = firstExternal(inline);
    if (left != null) {
      throw new LossArgumentException(Cause.MODEL, "tensor '" + printable(left[0]) + "' still names external data at '"
          + printable(left[1]) + "' where attach does not read it");
    }
    List<String> notes = new ArrayList<>(wired.notes());
    notes.add("read " + count[0] + " tensor" + (count[0] == 1 ? "" : "s") + " from external data ("
        + locations.stream().map(l -> "'" + l + "'").collect(Collectors.joining(", "))
        + "); the output keeps them inline below 2 GiB, else in a data file beside it");
    return new OnnxLoss.Attached(inline, notes);
  }

  /**
   * Reads a tensor's external data after checking its location and range as ONNX's loader does.
   *
   * @throws LossArgumentException (cause MODEL) with one line naming the location when it is not allowed
   */
  private static ByteString readExternal(TensorProto t, String owner, Path base, long budget) throws IOException {
    String location = entry(t, "location");
    String who = "tensor '" + printable(owner) + "'";
    if (location == null || location.isEmpty()) {
      throw new LossArgumentException(Cause.MODEL, who + " is marked as external data but names no location");
    }
    String at = who + " keeps its data at '" + printable(location) + "'";
    if (location.chars().anyMatch(Character::isISOControl)) {
      throw new LossArgumentException(Cause.MODEL, at + ", a name with control characters");
    }
    if (location.startsWith("/") || location.startsWith("\\") || location.matches("^[A-Za-z]:.*")) {
      throw new LossArgumentException(Cause.MODEL, at + ", an absolute path; ONNX allows only locations relative"
          + " to the model's directory");
    }
    for (String part : location.split("[/\\\\]")) {
      if (part.equals("..")) {
        throw new LossArgumentException(Cause.MODEL, at + ", which leaves the model's directory ('..');"
            + " ONNX allows only locations inside it");
      }
    }
    Path file;
    try {
      file = base.resolve(location).normalize();
    } catch (java.nio.file.InvalidPathException e) {
      throw new LossArgumentException(Cause.MODEL, at + ", which is not a valid path");
    }
    if (!file.startsWith(base) || !Files.exists(file, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      throw new LossArgumentException(Cause.MODEL, at + ", which does not exist in the model's directory " + base);
    }
    Path real = realInside(file, base, at);
    Object key;
    try {
      key = Files.readAttributes(real, java.nio.file.attribute.BasicFileAttributes.class,
          java.nio.file.LinkOption.NOFOLLOW_LINKS).fileKey();
    } catch (IOException e) {
      throw new LossArgumentException(Cause.MODEL, at + ", which cannot be read: " + printable(e.toString()));
    }
    // NOFOLLOW_LINKS: a link swapped in for the checked file after the check is not followed.
    try (FileChannel ch = FileChannel.open(real, StandardOpenOption.READ, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      long size = ch.size();
      long offset = number(t, "offset", at, 0);
      long length = number(t, "length", at, size - Math.min(offset, size));
      if (offset > size || length > size - offset) {
        throw new LossArgumentException(Cause.MODEL, at + " with offset " + offset + " and length " + length
            + ", beyond the file's " + size + " bytes");
      }
      if (length > MAX_TENSOR_BYTES) {
        throw new LossArgumentException(Cause.MODEL, at + ": " + length + " bytes, more than one protobuf tensor"
            + " can hold (2 GiB)");
      }
      if (length > budget) {
        throw new LossArgumentException(Cause.MODEL, at + ": " + length + " more bytes, beyond the memory this JVM"
            + " can give the model's external data (" + Math.max(0, budget) + " bytes left; raise -Xmx)");
      }
      ByteBuffer buf = ByteBuffer.allocate((int) length);
      while (buf.hasRemaining()) {
        if (ch.read(buf, offset + buf.position()) < 0) {
          throw new LossArgumentException(Cause.MODEL, at + ": the file ended before " + (offset + length)
              + " bytes");
        }
      }
      // The file read is still the one checked: same real path, inside the directory, same file key.
      if (!realInside(file, base, at).equals(real) || !java.util.Objects.equals(key, Files.readAttributes(real,
          java.nio.file.attribute.BasicFileAttributes.class, java.nio.file.LinkOption.NOFOLLOW_LINKS).fileKey())) {
        throw new LossArgumentException(Cause.MODEL, at + ", which changed while it was read");
      }
      return UnsafeByteOperations.unsafeWrap(buf.array());
    } catch (IOException e) {
      throw new LossArgumentException(Cause.MODEL, at + ", which cannot be read: " + printable(e.toString()));
    }
  }

  /** The real path of a checked location: a regular file inside the model's directory after following links. */
  private static Path realInside(Path file, Path base, String at) {
    Path real;
    try {
      real = file.toRealPath();
    } catch (NoSuchFileException e) {
      throw new LossArgumentException(Cause.MODEL, at + ", a symbolic link to a file that does not exist");
    } catch (IOException e) {
      throw new LossArgumentException(Cause.MODEL, at + ", which cannot be resolved: " + printable(e.toString()));
    }
    if (!real.startsWith(base)) {
      throw new LossArgumentException(Cause.MODEL, at + ", a symbolic link leading outside the model's"
          + " directory; ONNX allows only files inside it");
    }
    if (!Files.isRegularFile(real, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      throw new LossArgumentException(Cause.MODEL, at + ", which is not a regular file");
    }
    return real;
  }

  /** {@return text from a model, with control characters (a newline, a NUL) shown as escapes, for one-line messages} */
  static String printable(String s) {
    StringBuilder b = new StringBuilder(s.length());
    s.codePoints().forEach(c -> {
      if (Character.isISOControl(c)) {
        b.append(String.format("\\u%04x", c));
      } else {
        b.appendCodePoint(c);
      }
    });
    return b.toString();
  }

  /** The largest tensor one Java array, and so one protobuf {@code raw_data}, holds. */
  private static final long MAX_TENSOR_BYTES = Integer.MAX_VALUE - 8;

  private static long number(TensorProto t, String key, String at, long dflt) {
    String v = entry(t, key);
    if (v == null) {
      return dflt;
    }
    long n;
    try {
      n = Long.parseLong(v.trim());
    } catch (NumberFormatException e) {
      throw new LossArgumentException(Cause.MODEL, at + " with " + key + " '" + v + "', not a byte count");
    }
    if (n < 0) {
      throw new LossArgumentException(Cause.MODEL, at + " with a negative " + key + " (" + n + ")");
    }
    return n;
  }

  // ---- writing ----

  /** Protobuf's limit on a serialized message: 2 GiB less one byte. */
  static final long PROTOBUF_LIMIT = Integer.MAX_VALUE;
  /** Up to this serialized size, with every tensor inline, the output is one file: the limit less 64 MiB. */
  static final long INLINE_LIMIT = PROTOBUF_LIMIT - (64L << 20);
  /** Above the inline limit, tensors of at least this many bytes go beside the output: ONNX's own default. */
  static final long MIN_EXTERNAL_BYTES = 1024;

  /** {@return the model's serialized size with every tensor inline, as a long: it may pass 2 GiB} */
  static long inlineSize(ModelProto model) throws IOException {
    long[] raw = new long[1];
    ModelProto stripped = Tensors.model(model, true, (t, owner) -> {
      if (t.getRawData().isEmpty()) {
        return t;
      }
      raw[0] += t.getRawData().size() + 16L;
      return t.toBuilder().clearRawData().build();
    });
    return stripped.getSerializedSize() + raw[0];
  }

  /**
   * Writes a model so that it loads wherever it is written. Up to {@code inlineLimit} bytes with every tensor
   * inline, one file, atomically. Above, the tensors of at least {@code minExternalBytes} ({@code raw_data} of
   * initializers and node attributes, in subgraphs too) go into {@code FILE.<sha256 prefix>.data} beside it, written
   * first and atomically, and the model, referring to that file, last: the name follows from the data, so an
   * existing model's data file is never replaced by other content while that model still points to it.
   *
   * @throws IOException when a file cannot be written, or the model is too large even with its tensors beside it
   */
  static void write(ModelProto model, Path file, long inlineLimit, long minExternalBytes) throws IOException {
    if (inlineSize(model) <= inlineLimit) {
      AtomicFiles.write(file, model::writeTo);
      return;
    }
    List<ByteString> chunks = new ArrayList<>();
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    Tensors.model(model, false, (t, owner) -> {
      if (!t.getRawData().isEmpty() && t.getRawData().size() >= minExternalBytes) {
        chunks.add(t.getRawData());
        t.getRawData().asReadOnlyByteBufferList().forEach(sha::update);
      }
      return t;
    });
    String hash = java.util.HexFormat.of().formatHex(sha.digest()).substring(0, 16);
    Path name = file.toAbsolutePath().getFileName();
    if (name == null) {
      throw new IOException(file + " is not a file name");
    }
    String location = name + "." + hash + ".data";
    long[] offset = new long[1];
    ModelProto external = Tensors.model(model, false, (t, owner) -> {
      if (t.getRawData().isEmpty() || t.getRawData().size() < minExternalBytes) {
        return t;
      }
      long length = t.getRawData().size();
      TensorProto out = t.toBuilder().clearRawData().clearExternalData()
          .setDataLocation(TensorProto.DataLocation.EXTERNAL)
          .addExternalData(kv("location", location))
          .addExternalData(kv("offset", Long.toString(offset[0])))
          .addExternalData(kv("length", Long.toString(length))).build();
      offset[0] += length;
      return out;
    });
    long size = inlineSize(external);
    if (size > PROTOBUF_LIMIT) {
      throw new IOException("the model is " + size + " bytes even with its tensors in a data file, above"
          + " protobuf's 2 GiB limit");
    }
    Path dataFile = file.toAbsolutePath().resolveSibling(location);
    boolean existed = Files.exists(dataFile, java.nio.file.LinkOption.NOFOLLOW_LINKS);
    AtomicFiles.write(dataFile, out -> {
      for (ByteString c : chunks) {
        c.writeTo(out);
      }
    });
    try {
      AtomicFiles.write(file, external::writeTo);
    } catch (IOException | RuntimeException e) {
      if (!existed) {
        Files.deleteIfExists(dataFile); // no model points to it
      }
      throw e;
    }
  }

  private static ai.onnx.proto.OnnxMl.StringStringEntryProto kv(String key, String value) {
    return ai.onnx.proto.OnnxMl.StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
  }

  /**
   * Every place a model keeps a tensor, visited in order and rebuilt with what a function returns: initializers,
   * sparse initializers, node attributes ({@code Constant}'s value, tensor lists, sparse tensors), subgraphs and
   * functions (node attributes and attribute defaults).
   */
  static final class Tensors {
    private Tensors() {}

    /** Maps a tensor; {@code owner} is the name a message gives it. */
    @FunctionalInterface
    interface Fn {
      /**
       * Maps a tensor.
       *
       * @param t the tensor
       * @param owner its name, or the output of the node that holds it
       * @return the tensor to keep
       * @throws IOException when reading or writing its data fails
       */
      TensorProto apply(TensorProto t, String owner) throws IOException;
    }

    /**
     * Maps a model's tensors.
     *
     * @param all also sparse tensors and functions; otherwise only what ONNX's external data helper externalizes:
     *     initializers and node attribute tensors, in subgraphs too
     */
    static ModelProto model(ModelProto m, boolean all, Fn f) throws IOException {
      ModelProto.Builder b = m.toBuilder().setGraph(graph(m.getGraph(), all, f));
      if (all) {
        for (int i = 0; i < m.getFunctionsCount(); i++) {
          ai.onnx.proto.OnnxMl.FunctionProto fn = m.getFunctions(i);
          ai.onnx.proto.OnnxMl.FunctionProto.Builder fb = fn.toBuilder();
          for (int k = 0; k < fn.getNodeCount(); k++) {
            fb.setNode(k, node(fn.getNode(k), all, f));
          }
          for (int k = 0; k < fn.getAttributeProtoCount(); k++) {
            fb.setAttributeProto(k, attribute(fn.getAttributeProto(k), null, all, f));
          }
          b.setFunctions(i, fb);
        }
      }
      return b.build();
    }

    private static GraphProto graph(GraphProto g, boolean all, Fn f) throws IOException {
      GraphProto.Builder b = g.toBuilder();
      for (int i = 0; i < g.getInitializerCount(); i++) {
        b.setInitializer(i, f.apply(g.getInitializer(i), g.getInitializer(i).getName()));
      }
      if (all) {
        for (int i = 0; i < g.getSparseInitializerCount(); i++) {
          b.setSparseInitializer(i, sparse(g.getSparseInitializer(i), null, f));
        }
      }
      for (int i = 0; i < g.getNodeCount(); i++) {
        b.setNode(i, node(g.getNode(i), all, f));
      }
      return b.build();
    }

    private static NodeProto node(NodeProto n, boolean all, Fn f) throws IOException {
      NodeProto.Builder b = n.toBuilder();
      String owner = n.getOutputCount() > 0 ? n.getOutput(0) : null;
      for (int i = 0; i < n.getAttributeCount(); i++) {
        b.setAttribute(i, attribute(n.getAttribute(i), owner, all, f));
      }
      return b.build();
    }

    private static AttributeProto attribute(AttributeProto a, String owner, boolean all, Fn f) throws IOException {
      AttributeProto.Builder b = a.toBuilder();
      if (a.hasT()) {
        b.setT(f.apply(a.getT(), owner != null ? owner : a.getT().getName()));
      }
      for (int i = 0; i < a.getTensorsCount(); i++) {
        b.setTensors(i, f.apply(a.getTensors(i), owner != null ? owner : a.getTensors(i).getName()));
      }
      if (all) {
        if (a.hasSparseTensor()) {
          b.setSparseTensor(sparse(a.getSparseTensor(), owner, f));
        }
        for (int i = 0; i < a.getSparseTensorsCount(); i++) {
          b.setSparseTensors(i, sparse(a.getSparseTensors(i), owner, f));
        }
      }
      if (a.hasG()) {
        b.setG(graph(a.getG(), all, f));
      }
      for (int i = 0; i < a.getGraphsCount(); i++) {
        b.setGraphs(i, graph(a.getGraphs(i), all, f));
      }
      return b.build();
    }

    private static SparseTensorProto sparse(SparseTensorProto s, String owner, Fn f) throws IOException {
      SparseTensorProto.Builder b = s.toBuilder();
      if (s.hasValues()) {
        b.setValues(f.apply(s.getValues(), owner != null ? owner : s.getValues().getName()));
      }
      if (s.hasIndices()) {
        b.setIndices(f.apply(s.getIndices(), owner != null ? owner : s.getIndices().getName()));
      }
      return b.build();
    }
  }
}
