package dev.losskit.onnx;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import dev.losskit.core.BceLoss;
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
import java.util.List;
import java.util.Set;

/**
 * A loss as an ONNX graph: PyTorch's {@code CrossEntropyLoss}, {@code NLLLoss}, {@code BCEWithLogitsLoss} or
 * {@code BCELoss} (on probabilities) with every option, exported standalone ({@link #export()}) or attached to an
 * existing model ({@link #attach}), with the analytic gradient of the loss with respect to its input as an optional
 * extra output.
 *
 * <p>A caller that only wants the file needs no protobuf class: {@link #exportBytes()} gives the serialized model
 * and {@link #export(Path)} writes it atomically.
 *
 * <p>Two lowerings: {@link Lowering#OP} uses ONNX's {@code SoftmaxCrossEntropyLoss} and
 * {@code NegativeLogLikelihoodLoss} where they are exactly PyTorch's loss (class indices, no smoothing);
 * {@link Lowering#PRIMITIVES} builds every option from basic operators. {@link Lowering#AUTO} takes the op where it
 * is exact and the opset has it (12 and later). Opsets {@value #MIN_OPSET} to {@value #MAX_OPSET}, each operator in
 * the form that opset defines; the default is {@value #DEFAULT_OPSET} with IR version 8. {@link #attach} emits the
 * loss at the model's own opset and changes none of the model's nodes.
 *
 * <p>The standalone graph has inputs {@code input} ({@code (N, C, d1..dk)}, or {@code (N, d1..dk, C)} with
 * {@link Builder#classAxis classAxis(-1)}; for BCE {@code (N, d1..dk)}),
 * {@code target}, and, with the gradient and reduction {@code none}, {@code grad_output}; its outputs are
 * {@code loss} and, with the gradient, {@code grad_input}. Batch and spatial dimensions are symbolic. Instances are
 * immutable.
 *
 * <p>Half precision, {@link Builder#dtype dtype} {@code FLOAT16} or {@code BFLOAT16} (bfloat16 from opset
 * {@value #MIN_BFLOAT16_OPSET}): the graph's floating inputs and outputs have that element type, as PyTorch's
 * loss takes and gives it; inside, each half input is {@code Cast} to float32 (exact), the float32 graph above
 * computes, and each output is {@code Cast} back, rounded once to nearest even. Weights and pos_weight are
 * rounded to the half dtype first, as PyTorch holds them in the input's dtype, and stored as float32 constants
 * (exactly those half values); so is BCELoss's gradient clamp, 0 in float16. The core computes half losses in
 * double and rounds once, so the graph's results differ from the core's by the float32 rounding before the final
 * one: at most one ulp of the half dtype where the float32 result is far more accurate than a half ulp (OnnxHalfTest
 * measures it on every loss kind). Where a result is a small difference of large float32 terms, float32's absolute
 * error decides instead: a confidently right class's loss of 1e-9, which bfloat16 holds, is
 * {@code log(1 + 1e-9) = 0} in float32, thousands of bfloat16 ulps away, though within a few 2^-24 of the terms'
 * scale. The {@link Lowering#OP op lowering} stays exact for half: ONNX's loss operators read the
 * float32 cast, so they run in float32 as for a float32 graph and never see a half tensor. Fed half tensors
 * directly, they would not run everywhere: {@code NegativeLogLikelihoodLoss}'s schema has no bfloat16, and ONNX
 * Runtime 1.30 (Python, CPU) loads a float16 {@code SoftmaxCrossEntropyLoss} but refuses a bfloat16 one.
 *
 * <p>ONNX has no assert, so a graph checks at run time only what it can fail an operator on (a target's shape, a
 * class index). In particular a {@code BCELoss} graph cannot reject probabilities outside [0, 1], which the core
 * rejects: it computes numbers from the same formulas there (NaN where a log's argument is negative).
 */
public final class OnnxLoss {
  /**
   * The lowest opset the graphs are emitted at: 11, the first with {@code Range} and with {@code Gather},
   * {@code GatherElements} and {@code Equal} in the forms the graphs use. Below 13, {@code Unsqueeze},
   * {@code Squeeze} and {@code ReduceSum} take their axes as attributes, and {@code LogSoftmax} flattens its input to
   * 2-D at the axis, so a class axis that is not last is first transposed last.
   */
  public static final int MIN_OPSET = 11;
  /**
   * The highest opset supported: the newest ONNX Runtime 1.29 accepts. ONNX Runtime builds with ONNX 1.21.0
   * (opset 26, IR version 13; microsoft/onnxruntime#27601 "ONNX 1.21.0 integration" moved {@code cmake/deps.txt}
   * to it), and {@code ValidateOpsetForDomain} in {@code onnxruntime/core/graph/model_load_utils.h} refuses a model
   * stamped with a later opset than the ONNX release it was built with. Checked with the Java ONNX Runtime 1.29.0
   * this project tests with: a model at opset 26 (IR 13) loads and runs; at 27 loading fails with "Opset 27 is under
   * development and support for this is limited. ... Current official support for domain ai.onnx is till opset 26."
   * OnnxLossOpsetTest runs every loss graph at every opset up to this one.
   */
  public static final int MAX_OPSET = 26;
  /**
   * The lowest opset a bfloat16 graph is emitted at: 13, where {@code Cast} and {@code Identity} first take
   * bfloat16 (float16 they take at every opset losskit emits).
   */
  public static final int MIN_BFLOAT16_OPSET = 13;
  /** The lowest opset with ONNX's loss operators, {@code SoftmaxCrossEntropyLoss} and {@code NegativeLogLikelihoodLoss}. */
  public static final int MIN_OP_LOWERING_OPSET = 12;
  /** The default opset, which today's runtimes and checkers load. */
  public static final int DEFAULT_OPSET = 17;

  /** How the loss is lowered to ONNX operators. */
  public enum Lowering {
    /** {@link #OP} where it is exact, else {@link #PRIMITIVES}. */
    AUTO,
    /** ONNX's loss operators; only for class indices without label smoothing, at opset 12 or later. */
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
  private final boolean reducedGradOutput;
  private final int classAxis;

  private OnnxLoss(Builder b) {
    if (b.loss == null) {
      throw new LossArgumentException(Cause.NULL_ARGUMENT, "a loss is required");
    }
    checkOpset(b.opset);
    if (b.rank < 0 || b.rank > 8) {
      throw new LossArgumentException(Cause.OPTION, "rank " + b.rank + " is out of range: 0 to 8 extra dimensions");
    }
    if (b.dtype == null || !b.dtype.isFloating()) {
      throw new LossArgumentException(Cause.DTYPE, "dtype must be float32, float64, float16 or bfloat16, got "
          + b.dtype);
    }
    if (b.dtype == DType.BFLOAT16 && b.opset < MIN_BFLOAT16_OPSET) {
      throw new LossArgumentException(Cause.DTYPE, "bfloat16 graphs need opset " + MIN_BFLOAT16_OPSET
          + " or later (Cast and Identity take bfloat16 from opset 13), not opset " + b.opset
          + "; float16 works at every opset");
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
    this.reducedGradOutput = b.reducedGradOutput;
    if (b.classAxis != 1 && b.classAxis != -1) {
      throw new LossArgumentException(Cause.OPTION, "class axis " + b.classAxis
          + " is not supported: 1 (PyTorch's layout, (N, C, d...)) or -1 (class last, (N, d..., C))");
    }
    if (b.classAxis == -1 && !classLoss(b.loss)) {
      throw new LossArgumentException(Cause.OPTION,
          "class axis -1 does not apply to " + b.loss.name() + ": it is elementwise and has no class axis");
    }
    this.classAxis = b.classAxis;
    if (b.lowering == Lowering.OP && !opIsExact()) {
      throw new LossArgumentException(Cause.OPTION, "the op lowering cannot express " + whyNotOp()
          + "; use --lowering primitives or auto");
    }
    if (b.lowering == Lowering.OP && b.opset < MIN_OP_LOWERING_OPSET) {
      throw new LossArgumentException(Cause.OPTION, "the op lowering needs opset " + MIN_OP_LOWERING_OPSET
          + " or later (SoftmaxCrossEntropyLoss, NegativeLogLikelihoodLoss), not opset " + b.opset
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

  /** {@return the number of dimensions besides N and C (BCE: besides N)} */
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

  /** {@return the class axis: 1 for {@code (N, C, d...)}, -1 for {@code (N, d..., C)}} */
  public int classAxis() {
    return classAxis;
  }

  /** {@return where the class dimension is in a class loss's input of this rank: 1, or last for class axis -1} */
  int classIndex() {
    return classAxis == 1 ? 1 : rank + 1;
  }

  /** {@return true when ONNX's loss operator is exactly this loss: class indices without smoothing} */
  public boolean opIsExact() {
    return whyNotOp() == null;
  }

  /** {@return whether the op lowering is used: not asked against, exact, and the opset has the operators} */
  public boolean usesOp() {
    return lowering != Lowering.PRIMITIVES && opIsExact() && opset >= MIN_OP_LOWERING_OPSET;
  }

  /** {@return why the op lowering cannot express this loss, or null when it can} */
  public String whyNotOp() {
    if (!classLoss()) {
      return loss.name() + " (ONNX has no such operator)";
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
   * Gives the ONNX IR version for an opset: that of the first ONNX release with the opset, from {@code VERSION_TABLE}
   * in ONNX's {@code onnx/helper.py} (its {@code docs/Versioning.md}).
   *
   * @param opset an ONNX opset, {@value #MIN_OPSET} to {@value #MAX_OPSET}
   * @return 6 for 11; 7 for 12 to 14; 8 for 15 to 18; 9 for 19 and 20; 10 for 21 and 22; 11 for 23; 12 for 24;
   *     13 for 25 and 26
   * @throws LossArgumentException when the opset is out of range
   */
  public static int irVersionFor(int opset) {
    checkOpset(opset);
    return IR_VERSIONS[opset - MIN_OPSET];
  }

  /** IR versions of opsets 11 to 26, from ONNX's {@code VERSION_TABLE} (ONNX 1.6.0 to 1.21.0). */
  private static final int[] IR_VERSIONS = {6, 7, 7, 7, 8, 8, 8, 8, 9, 9, 10, 10, 11, 12, 13, 13};

  private static void checkOpset(int opset) {
    if (opset < MIN_OPSET || opset > MAX_OPSET) {
      throw new LossArgumentException(Cause.OPTION, "opset " + opset + " is out of range: losskit emits opsets "
          + MIN_OPSET + " to " + MAX_OPSET);
    }
  }

  boolean classLoss() {
    return classLoss(loss);
  }

  /** {@return whether a loss has a class dimension: cross-entropy and NLL, not the elementwise BCE losses} */
  private static boolean classLoss(Loss loss) {
    return !(loss instanceof BceWithLogitsLoss || loss instanceof BceLoss);
  }

  Object[] inputDims(Object classes) {
    List<Object> dims = new ArrayList<>();
    dims.add("N");
    for (int d = 1; d <= rank; d++) {
      dims.add("d" + d);
    }
    if (classLoss()) {
      dims.add(classIndex(), classes);
    }
    return dims.toArray();
  }

  Object[] lossDims(Object[] inputDims) {
    if (loss.reduction() != Reduction.NONE) {
      return new Object[0];
    }
    if (!classLoss()) {
      return inputDims;
    }
    List<Object> dims = new ArrayList<>(List.of(inputDims));
    dims.remove(classIndex());
    return dims.toArray();
  }

  Object classDim() {
    double[] w = loss instanceof CrossEntropyLoss ce ? ce.weight() : loss instanceof NllLoss n ? n.weight() : null;
    return w == null ? (Object) "C" : (Object) (long) w.length;
  }

  /**
   * Emits the standalone loss graph.
   *
   * @return the model
   * @throws LossArgumentException (cause {@code WEIGHT_SHAPE} or {@code POS_WEIGHT_SHAPE}) when a BCE weight or
   *     pos_weight has more dimensions than the input of this rank: ONNX's broadcasting would widen the loss instead
   *     of failing
   */
  public ModelProto export() {
    Object[] in = inputDims(classDim());
    checkBroadcastRanks(in);
    Graph g = new Graph("losskit", dtype, Set.of(), opset);
    Value x = g.floatingInput("input", in);
    Value t = probabilities || !classLoss() ? g.floatingInput("target", in)
        : g.input("target", Graph.INT64, lossDimsOfIndexTarget(in));
    Object[] out = lossDims(in);
    Value gradOutput = withGradient && (loss.reduction() == Reduction.NONE || reducedGradOutput)
        ? g.floatingInput("grad_output", out) : null;
    LossGraph.Emitted e = LossGraph.emit(this, x, t, gradOutput, withGradient);
    g.floatingOutput(e.loss(), "loss", out);
    if (withGradient) {
      g.floatingOutput(e.grad(), "grad_input", in);
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

  Object[] lossDimsOfIndexTarget(Object[] inputDims) {
    List<Object> dims = new ArrayList<>(List.of(inputDims));
    dims.remove(classIndex());
    return dims.toArray();
  }

  /**
   * The result of attaching a loss to a model.
   *
   * @param model the model with the loss
   * @param notes what was changed beyond adding the loss, e.g. a default-domain opset import the model lacked
   */
  public record Attached(ModelProto model, List<String> notes) {
    /**
     * Serializes the model with the loss, its tensors inline; for models below protobuf's 2 GiB limit.
     *
     * @return the model in ONNX's protobuf encoding
     */
    public byte[] modelBytes() {
      return model.toByteArray();
    }

    /**
     * Writes the model with the loss atomically, as {@link OnnxLoss#export(Path)} does; the file may be the model
     * that was read. Below protobuf's 2 GiB limit (less a margin) the tensors are written inline, in one file;
     * above it, the larger tensors go first into a data file beside it named after the file and the data,
     * {@code FILE.<sha256 prefix>.data}, and the model referring to it is written last. Either way the result loads
     * from wherever it is written, and a data file another model refers to is never overwritten with other content.
     *
     * @param file the {@code .onnx} file to create or replace; its directory must exist
     * @throws IOException when the file cannot be written; the target is then unchanged
     */
    public void write(Path file) throws IOException {
      write(file, ModelAttachment.INLINE_LIMIT, ModelAttachment.MIN_EXTERNAL_BYTES);
    }

    /** Writes with another inline limit and smallest external tensor, so that tests can write data beside. */
    void write(Path file, long inlineLimit, long minExternalBytes) throws IOException {
      ModelAttachment.write(model, file, inlineLimit, minExternalBytes);
    }
  }

  /**
   * Checks the loss's weights against the output's declared dimensions, where the model declares them: a class
   * weight needs one entry per class (dimension 1, or the last for class axis -1), and the BCE losses' weight and
   * pos_weight must broadcast to the output (NumPy's rules, from the right). Without this, the graph would be
   * written and fail only when run.
   */
  void checkOperands(String outputName, Object[] dims) {
    double[] classWeight = loss instanceof CrossEntropyLoss ? ((CrossEntropyLoss) loss).weight()
        : loss instanceof NllLoss ? ((NllLoss) loss).weight() : null;
    int c = classAxis == 1 ? 1 : dims.length - 1;
    if (classWeight != null && dims[c] instanceof Long && classWeight.length != (Long) dims[c]) {
      throw new LossArgumentException(Cause.WEIGHT_SHAPE,
          "weight has " + classWeight.length + " entries but output '" + outputName
          + "' has " + dims[c] + " classes (dimension " + c + " of " + java.util.Arrays.toString(dims) + ")");
    }
    if (loss instanceof BceWithLogitsLoss) {
      BceWithLogitsLoss bce = (BceWithLogitsLoss) loss;
      checkBroadcast("weight", Cause.WEIGHT_SHAPE, bce.weight(), "output '" + outputName + "'", dims);
      checkBroadcast("pos_weight", Cause.POS_WEIGHT_SHAPE, bce.posWeight(), "output '" + outputName + "'", dims);
    }
    if (loss instanceof BceLoss) {
      checkBroadcast("weight", Cause.WEIGHT_SHAPE, ((BceLoss) loss).weight(), "output '" + outputName + "'", dims);
    }
  }

  /**
   * Checks, for the standalone graph, that a BCE weight or pos_weight has no more dimensions than the input: its
   * extents are checked when the graph runs (a {@code Mul} that cannot broadcast fails), but an operand of higher
   * rank would silently broadcast the loss to a larger shape, where the core rejects it.
   */
  private void checkBroadcastRanks(Object[] inputDims) {
    if (loss instanceof BceWithLogitsLoss bce) {
      checkBroadcast("weight", Cause.WEIGHT_SHAPE, bce.weight(), "input", inputDims);
      checkBroadcast("pos_weight", Cause.POS_WEIGHT_SHAPE, bce.posWeight(), "input", inputDims);
    } else if (loss instanceof BceLoss bce) {
      checkBroadcast("weight", Cause.WEIGHT_SHAPE, bce.weight(), "input", inputDims);
    }
  }

  private static void checkBroadcast(String what, Cause cause, Tensor operand, String target, Object[] dims) {
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
          + " does not broadcast to " + target + " of shape " + java.util.Arrays.toString(dims));
    }
  }

  /**
   * Attaches the loss to one of a model's outputs, as {@link ModelAttachment#attach(OnnxLoss, ModelProto, String,
   * String)} does: adds a labels input, a {@code loss} output and, with the gradient, {@code grad_<output>}; keeps
   * the original inputs, outputs, initializers, nodes, opsets and metadata. The loss takes its dtype and rank from
   * the output's declared type where the model declares them (float, double, float16 or bfloat16; see the class
   * description for half precision), and is emitted at the model's default-domain opset
   * (this exporter's opset is not used), which must be {@value #MIN_OPSET} to {@value #MAX_OPSET}; the IR version
   * becomes that opset's where the model's is lower. A model without a default-domain opset import gets one at this
   * exporter's opset, and a note says so. A model whose tensors live in external data files is refused here: it
   * needs its directory, which {@link ModelAttachment#attach(OnnxLoss, Path, String, String)} takes.
   *
   * @param model the model, e.g. from {@code torch.onnx.export}
   * @param outputName the output the loss reads (logits)
   * @param labelsName the name of the new labels input
   * @return the model with the loss, and notes on what else changed
   * @throws IllegalArgumentException when the output does not exist, a new name is taken, the model's opset is
   *     out of range, or the model keeps tensors in external data files
   */
  public Attached attach(ModelProto model, String outputName, String labelsName) {
    return ModelAttachment.attach(this, model, outputName, labelsName);
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
    private boolean reducedGradOutput;
    private int classAxis = 1;

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
     * Sets the input's floating dtype, which the graph's floating inputs and outputs have.
     *
     * @param dtype float32 (default), float64, or float16 or bfloat16 (computed in float32 between casts; see the
     *     class description); bfloat16 needs opset {@value OnnxLoss#MIN_BFLOAT16_OPSET} or later
     * @return this builder
     */
    public Builder dtype(DType dtype) {
      this.dtype = dtype;
      return this;
    }

    /**
     * Sets how many dimensions there are besides the batch and class dimensions.
     *
     * @param rank the number of dimensions besides N and C (BCE: besides N), whatever the class axis; default 0
     * @return this builder
     */
    public Builder rank(int rank) {
      this.rank = rank;
      return this;
    }

    /**
     * Sets the ONNX opset.
     *
     * @param opset {@value OnnxLoss#MIN_OPSET} to {@value OnnxLoss#MAX_OPSET} (default {@value OnnxLoss#DEFAULT_OPSET});
     *     {@link OnnxLoss#attach} uses the model's opset instead
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

    /**
     * Sets whether a graph with the gradient and reduction {@code mean} or {@code sum} also takes the upstream
     * gradient, a scalar input {@code grad_output} (as reduction {@code none} always takes one of the loss's shape):
     * the gradient is then that of {@code grad_output · loss}, multiplied inside the graph before the output's
     * rounding, for loss scaling in mixed precision or any other upstream. Off by default: the gradient is the
     * loss's own.
     *
     * @param reducedGradOutput whether a reduced loss's graph takes {@code grad_output}
     * @return this builder
     */
    public Builder reducedGradOutput(boolean reducedGradOutput) {
      this.reducedGradOutput = reducedGradOutput;
      return this;
    }

    /**
     * Sets where the class dimension is, as the DJL adapter's {@code classAxis} does: 1 is PyTorch's
     * {@code (N, C, d1..dk)}; -1 is class last, {@code (N, d1..dk, C)} (channels-last, e.g. a tagger's
     * {@code (N, T, C)}), with class-index targets {@code (N, d1..dk)}, probability targets and the gradient in the
     * input's layout. For rank 0 both are {@code (N, C)}. Cross-entropy and NLL only: BCE is elementwise.
     *
     * @param classAxis 1 (default) or -1
     * @return this builder
     */
    public Builder classAxis(int classAxis) {
      this.classAxis = classAxis;
      return this;
    }

    /** {@return the exporter} */
    public OnnxLoss build() {
      return new OnnxLoss(this);
    }
  }
}
