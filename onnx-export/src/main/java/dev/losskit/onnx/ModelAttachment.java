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
    if (elem == Graph.FLOAT || elem == Graph.DOUBLE) {
      type = elem == Graph.FLOAT ? DType.FLOAT32 : DType.FLOAT64;
    } else if (elem != 0) {
      throw new LossArgumentException(Cause.DTYPE, "output '" + outputName + "' has element type "
          + TensorProto.DataType.forNumber(elem) + "; the loss needs float or double logits");
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
    Value x = new Value(g, outputName);
    Value t = spec.probabilities() || !spec.classLoss() ? g.input(labelsName, g.elemType, dims)
        : g.input(labelsName, Graph.INT64, spec.lossDimsOfIndexTarget(dims));
    Object[] lossDims = spec.lossDims(dims);
    Value gradOutput = spec.withGradient() && spec.loss().reduction() == Reduction.NONE
        ? g.input("grad_output", g.elemType, lossDims) : null;
    LossGraph.Emitted e = LossGraph.emit(spec, x, t, gradOutput, spec.withGradient());
    g.output(e.loss(), "loss", g.elemType, lossDims);
    if (spec.withGradient()) {
      g.output(e.grad(), "grad_" + outputName, g.elemType, dims);
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
   * Refuses a model whose tensors live in external data files: the model's protobuf only names the files, relative
   * to the model's directory, so the model with the loss written elsewhere, or under another name next to a file it
   * no longer matches, would silently lose its weights. Initializers and {@code Constant} nodes are checked, in
   * subgraphs too.
   */
  private static void refuseExternalData(ModelProto model) {
    String[] first = firstExternal(model.getGraph());
    for (int i = 0; first == null && i < model.getFunctionsCount(); i++) {
      first = firstExternal(model.getFunctions(i).getNodeList());
    }
    if (first != null) {
      String graphName = model.getGraph().getName().isEmpty() ? "" : " (graph '" + model.getGraph().getName() + "')";
      throw new LossArgumentException(Cause.MODEL, "the model" + graphName + " keeps tensor '" + first[0]
          + "' in external data at '" + first[1] + "'; attach does not support external data yet: save the model"
          + " with its tensors inline (onnx.save(model, path, save_as_external_data=False)) and attach to that");
    }
  }

  /** {@return the name and location of the first tensor stored externally, or null when there is none} */
  private static String[] firstExternal(GraphProto graph) {
    List<TensorProto> tensors = new ArrayList<>(graph.getInitializerList());
    for (ai.onnx.proto.OnnxMl.SparseTensorProto sparse : graph.getSparseInitializerList()) {
      tensors.add(sparse.getValues());
      tensors.add(sparse.getIndices());
    }
    for (TensorProto t : tensors) {
      if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
        return new String[] {t.getName(), externalLocation(t)};
      }
    }
    return firstExternal(graph.getNodeList());
  }

  /** {@return the name and location of the first tensor a node keeps externally, or null when there is none} */
  private static String[] firstExternal(List<NodeProto> nodes) {
    for (NodeProto n : nodes) {
      for (ai.onnx.proto.OnnxMl.AttributeProto a : n.getAttributeList()) {
        List<TensorProto> tensors = new ArrayList<>(a.getTensorsList());
        if (a.hasT()) {
          tensors.add(a.getT());
        }
        if (a.hasSparseTensor()) {
          tensors.add(a.getSparseTensor().getValues());
          tensors.add(a.getSparseTensor().getIndices());
        }
        for (TensorProto t : tensors) {
          if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
            return new String[] {n.getOutputCount() > 0 ? n.getOutput(0) : t.getName(), externalLocation(t)};
          }
        }
        List<GraphProto> subgraphs = new ArrayList<>(a.getGraphsList());
        if (a.hasG()) {
          subgraphs.add(a.getG());
        }
        for (GraphProto sub : subgraphs) {
          String[] found = firstExternal(sub);
          if (found != null) {
            return found;
          }
        }
      }
    }
    return null;
  }

  private static String externalLocation(TensorProto t) {
    return t.getExternalDataList().stream().filter(e -> e.getKey().equals("location")).map(e -> e.getValue())
        .findFirst().orElse("?");
  }
}
