package dev.losskit.onnx;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.DType;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossArgumentException.Cause;
import dev.losskit.core.Loss;
import dev.losskit.core.NllLoss;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * A loss as an ONNX graph: PyTorch's {@code CrossEntropyLoss}, {@code NLLLoss} or {@code BCEWithLogitsLoss} with
 * every option, exported standalone ({@link #export()}) or attached to an existing model ({@link #attach}), with
 * the analytic gradient of the loss with respect to its input as an optional extra output.
 *
 * <p>A caller that only wants the file needs no protobuf class: {@link #exportBytes()} gives the serialized model
 * and {@link #export(Path)} writes it atomically.
 *
 * <p>Two lowerings: {@link Lowering#OP} uses ONNX's {@code SoftmaxCrossEntropyLoss} and
 * {@code NegativeLogLikelihoodLoss} where they are exactly PyTorch's loss (class indices, no smoothing);
 * {@link Lowering#PRIMITIVES} builds every option from basic operators. {@link Lowering#AUTO} takes the op where it
 * is exact. Opsets 13 to 21; the default is 17 with IR version 8.
 *
 * <p>The standalone graph has inputs {@code input} ({@code (N, C, d1..dk)}; for BCE {@code (N, d1..dk)}),
 * {@code target}, and, with the gradient and reduction {@code none}, {@code grad_output}; its outputs are
 * {@code loss} and, with the gradient, {@code grad_input}. Batch and spatial dimensions are symbolic. Instances are
 * immutable.
 */
public final class OnnxLoss {
  /** The lowest opset the graphs use (Unsqueeze and ReduceSum take their axes as inputs from 13). */
  public static final int MIN_OPSET = 13;
  /** The highest opset supported. */
  public static final int MAX_OPSET = 21;
  /** The default opset, which today's runtimes and checkers load. */
  public static final int DEFAULT_OPSET = 17;

  /** How the loss is lowered to ONNX operators. */
  public enum Lowering {
    /** {@link #OP} where it is exact, else {@link #PRIMITIVES}. */
    AUTO,
    /** ONNX's loss operators; only for class indices without label smoothing. */
    OP,
    /** Basic operators: {@code LogSoftmax}, {@code GatherElements}, {@code Where}, {@code ReduceSum}, .... */
    PRIMITIVES
  }

  private final Loss loss;
  private final boolean probabilities;
  private final DType dtype;
  private final int rank;
  private final int opset;
  private final Lowering lowering;
  private final boolean withGradient;

  private OnnxLoss(Builder b) {
    if (b.loss == null) {
      throw new LossArgumentException(Cause.NULL_ARGUMENT, "a loss is required");
    }
    if (b.opset < MIN_OPSET || b.opset > MAX_OPSET) {
      throw new LossArgumentException(Cause.OPTION, "opset " + b.opset + " is out of range: losskit emits opsets "
          + MIN_OPSET + " to " + MAX_OPSET);
    }
    if (b.rank < 0 || b.rank > 8) {
      throw new LossArgumentException(Cause.OPTION, "rank " + b.rank + " is out of range: 0 to 8 extra dimensions");
    }
    if (b.dtype == null || !b.dtype.isFloating()) {
      throw new LossArgumentException(Cause.DTYPE, "dtype must be float32 or float64, got " + b.dtype);
    }
    if (b.probabilities && !(b.loss instanceof CrossEntropyLoss)) {
      throw new LossArgumentException(Cause.OPTION,
          "probability targets are only for cross_entropy, not " + b.loss.name());
    }
    if (b.probabilities && ((CrossEntropyLoss) b.loss).ignoreIndex() >= 0) {
      throw new LossArgumentException(Cause.PROBABILITY_TARGET_IGNORE_INDEX,
          "ignoreIndex=" + ((CrossEntropyLoss) b.loss).ignoreIndex()
          + " is not supported with class-probability targets; it must be negative");
    }
    this.loss = b.loss;
    this.probabilities = b.probabilities;
    this.dtype = b.dtype;
    this.rank = b.rank;
    this.opset = b.opset;
    this.withGradient = b.withGradient;
    if (b.lowering == Lowering.OP && !opIsExact()) {
      throw new LossArgumentException(Cause.OPTION, "the op lowering cannot express " + whyNotOp()
          + "; use --lowering primitives or auto");
    }
    this.lowering = b.lowering;
  }

  /**
   * Starts an exporter of a loss.
   *
   * @param loss the loss and its options
   * @return a builder with float32, rank 0, opset 17, {@link Lowering#AUTO} and no gradient output
   */
  public static Builder builder(Loss loss) {
    return new Builder(loss);
  }

  /** {@return the loss and its options} */
  public Loss loss() {
    return loss;
  }

  /** {@return whether targets are class probabilities} */
  public boolean probabilities() {
    return probabilities;
  }

  /** {@return the dtype} */
  public DType dtype() {
    return dtype;
  }

  /** {@return the number of dimensions after (N, C) (BCE: after N)} */
  public int rank() {
    return rank;
  }

  /** {@return the opset} */
  public int opset() {
    return opset;
  }

  /** {@return the requested lowering} */
  public Lowering lowering() {
    return lowering;
  }

  /** {@return whether the gradient is an output} */
  public boolean withGradient() {
    return withGradient;
  }

  /** {@return true when ONNX's loss operator is exactly this loss: class indices without smoothing} */
  public boolean opIsExact() {
    return whyNotOp() == null;
  }

  /** {@return whether the op lowering is used} */
  public boolean usesOp() {
    return lowering != Lowering.PRIMITIVES && opIsExact();
  }

  /** {@return why the op lowering cannot express this loss, or null when it can} */
  public String whyNotOp() {
    if (loss instanceof BceWithLogitsLoss) {
      return "bce_with_logits (ONNX has no such operator)";
    }
    if (probabilities) {
      return "probability targets";
    }
    if (loss instanceof CrossEntropyLoss ce && ce.labelSmoothing() > 0) {
      return "label smoothing";
    }
    return null;
  }

  /**
   * Gives the ONNX IR version for an opset.
   *
   * @param opset an ONNX opset
   * @return the IR version that goes with it: 8 up to 18, 9 for 19 and 20, 10 for 21
   */
  public static int irVersionFor(int opset) {
    return opset <= 18 ? 8 : opset <= 20 ? 9 : 10;
  }

  private boolean classLoss() {
    return !(loss instanceof BceWithLogitsLoss);
  }

  private Object[] inputDims(Object classes) {
    List<Object> dims = new ArrayList<>();
    dims.add("N");
    if (classLoss()) {
      dims.add(classes);
    }
    for (int d = 1; d <= rank; d++) {
      dims.add("d" + d);
    }
    return dims.toArray();
  }

  private Object[] lossDims(Object[] inputDims) {
    if (loss.reduction() != Reduction.NONE) {
      return new Object[0];
    }
    if (!classLoss()) {
      return inputDims;
    }
    List<Object> dims = new ArrayList<>(List.of(inputDims));
    dims.remove(1);
    return dims.toArray();
  }

  private Object classDim() {
    double[] w = loss instanceof CrossEntropyLoss ce ? ce.weight() : loss instanceof NllLoss n ? n.weight() : null;
    return w == null ? (Object) "C" : (Object) (long) w.length;
  }

  /**
   * Emits the standalone loss graph.
   *
   * @return the model
   */
  public ModelProto export() {
    Graph g = new Graph("losskit", dtype, Set.of());
    Object[] in = inputDims(classDim());
    Value x = g.input("input", g.elemType, in);
    Value t = probabilities || !classLoss() ? g.input("target", g.elemType, in)
        : g.input("target", Graph.INT64, lossDimsOfIndexTarget(in));
    Object[] out = lossDims(in);
    Value gradOutput = withGradient && loss.reduction() == Reduction.NONE ? g.input("grad_output", g.elemType, out)
        : null;
    LossGraph.Emitted e = LossGraph.emit(this, x, t, gradOutput, withGradient);
    g.output(e.loss(), "loss", g.elemType, out);
    if (withGradient) {
      g.output(e.grad(), "grad_input", g.elemType, in);
    }
    return model(g.build(loss.name()), opset, irVersionFor(opset), List.of());
  }

  /**
   * Emits the standalone loss graph, serialized: the bytes of an {@code .onnx} file, for ONNX Runtime's
   * {@code createSession(byte[])} or any other reader, without protobuf classes in the caller's code.
   *
   * @return the model in ONNX's protobuf encoding
   */
  public byte[] exportBytes() {
    return export().toByteArray();
  }

  /**
   * Writes the standalone loss graph to a file, atomically: into a temporary file in the same directory, then
   * moved over the target. A reader sees the old file or the whole new one; a failed write leaves the target as it
   * was and no temporary file behind.
   *
   * @param file the {@code .onnx} file to create or replace; its directory must exist
   * @throws IOException when the file cannot be written
   */
  public void export(Path file) throws IOException {
    ModelProto model = export();
    AtomicFiles.write(file, model::writeTo);
  }

  private Object[] lossDimsOfIndexTarget(Object[] inputDims) {
    List<Object> dims = new ArrayList<>(List.of(inputDims));
    dims.remove(1);
    return dims.toArray();
  }

  /**
   * The result of attaching a loss to a model.
   *
   * @param model the model with the loss
   * @param notes what was changed beyond adding the loss, e.g. a raised opset
   */
  public record Attached(ModelProto model, List<String> notes) {
    /**
     * Serializes the model with the loss.
     *
     * @return the model in ONNX's protobuf encoding
     */
    public byte[] modelBytes() {
      return model.toByteArray();
    }

    /**
     * Writes the model with the loss atomically, as {@link OnnxLoss#export(Path)} does; the file may be the model
     * that was read.
     *
     * @param file the {@code .onnx} file to create or replace; its directory must exist
     * @throws IOException when the file cannot be written; the target is then unchanged
     */
    public void write(Path file) throws IOException {
      AtomicFiles.write(file, model::writeTo);
    }
  }

  /**
   * Checks the loss's weights against the output's declared dimensions, where the model declares them: a class
   * weight needs one entry per class (dimension 1), and BCE's weight and pos_weight must broadcast to the output
   * (NumPy's rules, from the right). Without this, the graph would be written and fail only when run.
   */
  private void checkOperands(String outputName, Object[] dims) {
    double[] classWeight = loss instanceof CrossEntropyLoss ? ((CrossEntropyLoss) loss).weight()
        : loss instanceof NllLoss ? ((NllLoss) loss).weight() : null;
    if (classWeight != null && dims[1] instanceof Long && classWeight.length != (Long) dims[1]) {
      throw new LossArgumentException(Cause.WEIGHT_SHAPE,
          "weight has " + classWeight.length + " entries but output '" + outputName
          + "' has " + dims[1] + " classes (dimension 1 of " + java.util.Arrays.toString(dims) + ")");
    }
    if (loss instanceof BceWithLogitsLoss) {
      BceWithLogitsLoss bce = (BceWithLogitsLoss) loss;
      checkBroadcast("weight", Cause.WEIGHT_SHAPE, bce.weight(), outputName, dims);
      checkBroadcast("pos_weight", Cause.POS_WEIGHT_SHAPE, bce.posWeight(), outputName, dims);
    }
  }

  private static void checkBroadcast(String what, Cause cause, Tensor operand, String outputName, Object[] dims) {
    if (operand == null) {
      return;
    }
    int[] shape = operand.shape();
    boolean ok = shape.length <= dims.length;
    for (int k = 1; ok && k <= shape.length; k++) {
      Object d = dims[dims.length - k];
      int s = shape[shape.length - k];
      ok = s == 1 || !(d instanceof Long) || s == (Long) d;
    }
    if (!ok) {
      throw new LossArgumentException(cause, what + " of shape " + java.util.Arrays.toString(shape)
          + " does not broadcast to output '" + outputName + "' of shape " + java.util.Arrays.toString(dims));
    }
  }

  /**
   * Attaches the loss to one of a model's outputs: adds a labels input, a {@code loss} output and, with the
   * gradient, {@code grad_<output>}; keeps the original inputs, outputs, initializers and metadata. The loss takes
   * its dtype and rank from the output's declared type where the model declares them.
   *
   * @param model the model, e.g. from {@code torch.onnx.export}
   * @param outputName the output the loss reads (logits)
   * @param labelsName the name of the new labels input
   * @return the model with the loss, and notes on what else changed
   * @throws IllegalArgumentException when the output does not exist, or a new name is taken
   */
  public Attached attach(ModelProto model, String outputName, String labelsName) {
    GraphProto graph = model.getGraph();
    ValueInfoProto output = graph.getOutputList().stream().filter(o -> o.getName().equals(outputName)).findFirst()
        .orElseThrow(() -> new LossArgumentException(Cause.MODEL,
            "the model has no output '" + outputName + "'; its outputs: "
            + graph.getOutputList().stream().map(ValueInfoProto::getName).collect(Collectors.joining(", "))));
    List<String> notes = new ArrayList<>();
    DType type = dtype;
    int elem = output.getType().getTensorType().getElemType();
    if (elem == Graph.FLOAT || elem == Graph.DOUBLE) {
      type = elem == Graph.FLOAT ? DType.FLOAT32 : DType.FLOAT64;
    } else if (elem != 0) {
      throw new LossArgumentException(Cause.DTYPE, "output '" + outputName + "' has element type "
          + TensorProto.DataType.forNumber(elem) + "; the loss needs float or double logits");
    }
    int outputRank = rank;
    TensorShapeProto shape = output.getType().getTensorType().getShape();
    Object[] dims = null;
    if (output.getType().getTensorType().hasShape()) {
      int minimum = classLoss() ? 2 : 1;
      if (shape.getDimCount() < minimum) {
        throw new LossArgumentException(Cause.INPUT_SHAPE, "output '" + outputName + "' has rank " + shape.getDimCount()
            + "; " + loss.name() + " needs at least " + minimum + " dimensions");
      }
      outputRank = shape.getDimCount() - minimum;
      dims = shape.getDimList().stream()
          .map(d -> d.hasDimValue() ? (Object) d.getDimValue() : (Object) (d.getDimParam().isEmpty() ? "?" : d.getDimParam()))
          .toArray();
    }
    if (dims != null) {
      checkOperands(outputName, dims);
    }
    OnnxLoss spec = new Builder(loss).probabilityTargets(probabilities).dtype(type).rank(outputRank).opset(opset)
        .lowering(lowering).withGradient(withGradient).build();
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
    Graph g = new Graph("losskit", type, taken);
    g.claim(outputName, "output");
    Value x = new Value(g, outputName);
    Value t = probabilities || !classLoss() ? g.input(labelsName, g.elemType, dims)
        : g.input(labelsName, Graph.INT64, spec.lossDimsOfIndexTarget(dims));
    Object[] lossDims = spec.lossDims(dims);
    Value gradOutput = withGradient && loss.reduction() == Reduction.NONE
        ? g.input("grad_output", g.elemType, lossDims) : null;
    LossGraph.Emitted e = LossGraph.emit(spec, x, t, gradOutput, withGradient);
    g.output(e.loss(), "loss", g.elemType, lossDims);
    if (withGradient) {
      g.output(e.grad(), "grad_" + outputName, g.elemType, dims);
    }

    int modelOpset = model.getOpsetImportList().stream().filter(o -> o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx"))
        .mapToInt(o -> (int) o.getVersion()).findFirst().orElse(0);
    int targetOpset = Math.max(modelOpset, MIN_OPSET);
    if (modelOpset < MIN_OPSET) {
      notes.add("raised the model's default opset from " + modelOpset + " to " + targetOpset
          + ": the loss needs at least " + MIN_OPSET);
    }
    GraphProto merged = graph.toBuilder().addAllInput(g.inputs()).addAllOutput(g.outputs())
        .addAllNode(g.nodes()).addAllInitializer(g.initializers()).build();
    long ir = Math.max(model.getIrVersion(), irVersionFor(targetOpset));
    ModelProto.Builder out = model.toBuilder().setGraph(merged).setIrVersion(ir).clearOpsetImport();
    boolean defaultDomain = false;
    for (OperatorSetIdProto o : model.getOpsetImportList()) {
      if (o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx")) {
        out.addOpsetImport(o.toBuilder().setVersion(targetOpset));
        defaultDomain = true;
      } else {
        out.addOpsetImport(o);
      }
    }
    if (!defaultDomain) {
      out.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(targetOpset));
    }
    return new Attached(out.build(), notes);
  }

  private static ModelProto model(GraphProto graph, int opset, int ir, List<OperatorSetIdProto> extra) {
    return ModelProto.newBuilder().setIrVersion(ir).setProducerName("losskit").setProducerVersion("0.1")
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset)).addAllOpsetImport(extra)
        .setGraph(graph).build();
  }

  /** Builds an {@link OnnxLoss}. */
  public static final class Builder {
    private final Loss loss;
    private boolean probabilities;
    private DType dtype = DType.FLOAT32;
    private int rank;
    private int opset = DEFAULT_OPSET;
    private Lowering lowering = Lowering.AUTO;
    private boolean withGradient;

    private Builder(Loss loss) {
      this.loss = loss;
    }

    /**
     * Sets whether targets are class probabilities rather than class indices.
     *
     * @param probabilities whether targets are class probabilities (cross-entropy only)
     * @return this builder
     */
    public Builder probabilityTargets(boolean probabilities) {
      this.probabilities = probabilities;
      return this;
    }

    /**
     * Sets the input's floating dtype.
     *
     * @param dtype float32 (default) or float64
     * @return this builder
     */
    public Builder dtype(DType dtype) {
      this.dtype = dtype;
      return this;
    }

    /**
     * Sets how many dimensions follow the batch and class dimensions.
     *
     * @param rank the number of dimensions after (N, C) (BCE: after N); default 0
     * @return this builder
     */
    public Builder rank(int rank) {
      this.rank = rank;
      return this;
    }

    /**
     * Sets the ONNX opset.
     *
     * @param opset 13 to 21; default 17
     * @return this builder
     */
    public Builder opset(int opset) {
      this.opset = opset;
      return this;
    }

    /**
     * Sets how the loss is lowered to ONNX operators.
     *
     * @param lowering default {@link Lowering#AUTO}
     * @return this builder
     */
    public Builder lowering(Lowering lowering) {
      this.lowering = lowering == null ? Lowering.AUTO : lowering;
      return this;
    }

    /**
     * Sets whether the graph also outputs the gradient.
     *
     * @param withGradient whether to output the gradient with respect to the input
     * @return this builder
     */
    public Builder withGradient(boolean withGradient) {
      this.withGradient = withGradient;
      return this;
    }

    /** {@return the exporter} */
    public OnnxLoss build() {
      return new OnnxLoss(this);
    }
  }
}
