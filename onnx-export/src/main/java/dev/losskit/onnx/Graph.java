package dev.losskit.onnx;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.losskit.core.DType;
import dev.losskit.core.HalfFloats;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossArgumentException.Cause;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A small builder of ONNX graphs in the style of Tribuo's {@code ONNXContext}: it hands out unique names, keeps
 * initializers, and lets the loss code read like its formula, one node per line, through {@link Value}. Every
 * name it makes starts with a prefix, and it never reuses a name it was told is taken, so a loss can be added to
 * an existing model without collisions.
 */
final class Graph {
  /** ONNX element types. */
  static final int FLOAT = TensorProto.DataType.FLOAT_VALUE;
  static final int DOUBLE = TensorProto.DataType.DOUBLE_VALUE;
  static final int INT64 = TensorProto.DataType.INT64_VALUE;
  static final int BOOL = TensorProto.DataType.BOOL_VALUE;
  static final int FLOAT16 = TensorProto.DataType.FLOAT16_VALUE;
  static final int BFLOAT16 = TensorProto.DataType.BFLOAT16_VALUE;

  /** The loss's dtype: that of its floating inputs and outputs. */
  final DType dtype;
  /**
   * The element type the nodes compute in: DOUBLE for float64, FLOAT otherwise. A half-precision loss computes in
   * float32 between a {@code Cast} of each half input ({@link #floatingInput}, {@link #fromIo}) and a {@code Cast}
   * of each output back ({@link #floatingOutput}).
   */
  final int elemType;
  /** The element type of the graph's floating inputs and outputs: {@link #elemType}, or FLOAT16 or BFLOAT16. */
  final int ioType;
  /** The default-domain opset the nodes are emitted at; {@link Value} picks each operator's form by it. */
  final int opset;
  private final String prefix;
  private final Set<String> taken;
  private final List<NodeProto> nodes = new ArrayList<>();
  private final List<TensorProto> initializers = new ArrayList<>();
  private final List<ValueInfoProto> inputs = new ArrayList<>();
  private final List<ValueInfoProto> outputs = new ArrayList<>();
  private int counter;

  /**
   * Creates an empty graph whose generated names avoid {@code taken}.
   *
   * @param prefix what every generated name starts with
   * @param dtype the loss's floating dtype: float32, float64, or float16 or bfloat16 (computed in float32)
   * @param taken names already used (by a model the loss is attached to)
   * @param opset the default-domain opset of the nodes
   */
  Graph(String prefix, DType dtype, Set<String> taken, int opset) {
    this.prefix = prefix;
    this.opset = opset;
    this.dtype = dtype;
    this.elemType = dtype == DType.FLOAT64 ? DOUBLE : FLOAT;
    this.ioType = dtype == DType.FLOAT16 ? FLOAT16 : dtype == DType.BFLOAT16 ? BFLOAT16 : elemType;
    this.taken = new HashSet<>(taken);
  }

  /** {@return a fresh name, {@code prefix/hint_n}} */
  String fresh(String hint) {
    String name;
    do {
      name = prefix + "/" + hint + "_" + counter++;
    } while (!taken.add(name));
    return name;
  }

  /** Claims a name chosen by the caller (an input or output name), failing when it is taken. */
  void claim(String name, String what) {
    if (!taken.add(name)) {
      throw new LossArgumentException(Cause.MODEL, what + " name '" + name + "' is already used in the model");
    }
  }

  /** A graph input of the given element type; a dimension is a {@code Long} extent or a {@code String} symbol. */
  Value input(String name, int type, Object... dims) {
    claim(name, "input");
    inputs.add(valueInfo(name, type, dims));
    return new Value(this, name);
  }

  /**
   * A floating graph input in the loss's dtype, as the nodes read it: the input itself, or for a half dtype its
   * {@code Cast} to float32 (exact: every half value is a float32).
   */
  Value floatingInput(String name, Object... dims) {
    return fromIo(input(name, ioType, dims));
  }

  /** A floating value of the loss's dtype (a model's output) as the nodes read it: cast to float32 if half. */
  Value fromIo(Value v) {
    return ioType == elemType ? v : v.cast(elemType);
  }

  /**
   * A floating graph output in the loss's dtype, under the given name: for a half dtype, the float32 result
   * {@code Cast} to it, rounded once to nearest even.
   */
  void floatingOutput(Value v, String name, Object... dims) {
    output(ioType == elemType ? v : v.cast(ioType), name, ioType, dims);
  }

  /** A graph output, under the given name. */
  void output(Value v, String name, int type, Object... dims) {
    claim(name, "output");
    nodes.add(NodeProto.newBuilder().setOpType("Identity").setName(fresh("output")).addInput(v.name)
        .addOutput(name).build());
    outputs.add(valueInfo(name, type, dims));
  }

  /** A node with one output. Attributes alternate name and value (Long, Double, long[] or String). */
  Value op(String opType, List<Value> in, Object... attributes) {
    String out = fresh(opType.toLowerCase(java.util.Locale.ROOT));
    NodeProto.Builder n = NodeProto.newBuilder().setOpType(opType).setName(fresh(opType + "_node")).addOutput(out);
    for (Value v : in) {
      n.addInput(v == null ? "" : v.name);
    }
    for (int i = 0; i < attributes.length; i += 2) {
      n.addAttribute(attribute((String) attributes[i], attributes[i + 1]));
    }
    nodes.add(n.build());
    return new Value(this, out);
  }

  /** A node with several outputs. */
  List<Value> ops(String opType, int outputs, List<Value> in, Object... attributes) {
    NodeProto.Builder n = NodeProto.newBuilder().setOpType(opType).setName(fresh(opType + "_node"));
    List<Value> out = new ArrayList<>();
    for (int i = 0; i < outputs; i++) {
      String name = fresh(opType.toLowerCase(java.util.Locale.ROOT));
      n.addOutput(name);
      out.add(new Value(this, name));
    }
    for (Value v : in) {
      n.addInput(v == null ? "" : v.name);
    }
    for (int i = 0; i < attributes.length; i += 2) {
      n.addAttribute(attribute((String) attributes[i], attributes[i + 1]));
    }
    nodes.add(n.build());
    return out;
  }

  /** An index no tensor has: Gather and GatherElements reject it, which is how the graphs raise errors. */
  static final long OUT_OF_BOUNDS = 1L << 62;

  /**
   * A runtime check, since ONNX has no assert: a scalar 1 in the loss's dtype that the runtime can only compute
   * when {@code ok} (a boolean scalar) holds; otherwise its {@code Gather} index is out of bounds and the run
   * fails. Multiplying a result by it changes nothing (x·1 = x, NaN and infinities included).
   */
  Value guard(Value ok) {
    Value index = int64(0).where(ok, int64(OUT_OF_BOUNDS));
    return tensor(new double[] {1}, new long[] {1}).gather(index, 0);
  }

  /** A scalar constant in the loss's dtype. */
  Value scalar(double v) {
    return tensor(new double[] {v}, new long[0]);
  }

  /** A constant in the loss's dtype. */
  Value tensor(double[] values, long[] shape) {
    String name = fresh("const");
    TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(elemType);
    for (long d : shape) {
      t.addDims(d);
    }
    for (double v : values) {
      if (elemType == FLOAT) {
        t.addFloatData((float) v);
      } else {
        t.addDoubleData(v);
      }
    }
    initializers.add(t.build());
    return new Value(this, name);
  }

  /**
   * A constant of values the loss's dtype holds, such as a weight: PyTorch requires a loss's weights in the input's
   * dtype, so for a half dtype each value is first rounded to it (once, to nearest even); the constant is then
   * stored in the compute type, float32, which holds every half value exactly. For float32 and float64 this is
   * {@link #tensor}.
   */
  Value rounded(double[] values, long[] shape) {
    if (dtype != null && dtype.isHalf()) {
      double[] r = new double[values.length];
      for (int i = 0; i < r.length; i++) {
        r[i] = dtype == DType.FLOAT16 ? HalfFloats.float16ToFloat(HalfFloats.doubleToFloat16(values[i]))
            : HalfFloats.bfloat16ToFloat(HalfFloats.doubleToBfloat16(values[i]));
      }
      values = r;
    }
    return tensor(values, shape);
  }

  /** A 1-D int64 constant. */
  Value int64s(long... values) {
    String name = fresh("const");
    TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(INT64).addDims(values.length);
    for (long v : values) {
      t.addInt64Data(v);
    }
    initializers.add(t.build());
    return new Value(this, name);
  }

  /** A scalar int64 constant. */
  Value int64(long value) {
    String name = fresh("const");
    initializers.add(TensorProto.newBuilder().setName(name).setDataType(INT64).addInt64Data(value).build());
    return new Value(this, name);
  }

  List<NodeProto> nodes() {
    return nodes;
  }

  /** {@return the initializers some node reads: a constant made for a path not taken is dropped} */
  List<TensorProto> initializers() {
    Set<String> used = new HashSet<>();
    nodes.forEach(n -> used.addAll(n.getInputList()));
    List<TensorProto> out = new ArrayList<>();
    for (TensorProto t : initializers) {
      if (used.contains(t.getName())) {
        out.add(t);
      }
    }
    return out;
  }

  List<ValueInfoProto> inputs() {
    return inputs;
  }

  List<ValueInfoProto> outputs() {
    return outputs;
  }

  /** {@return the graph, with its inputs, outputs, nodes and initializers} */
  GraphProto build(String name) {
    return GraphProto.newBuilder().setName(name).addAllInput(inputs).addAllOutput(outputs).addAllNode(nodes)
        .addAllInitializer(initializers()).build();
  }

  static ValueInfoProto valueInfo(String name, int type, Object... dims) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    for (Object d : dims) {
      if (d instanceof String) {
        shape.addDimBuilder().setDimParam((String) d);
      } else {
        shape.addDimBuilder().setDimValue(((Number) d).longValue());
      }
    }
    return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder()
        .setTensorType(TypeProto.Tensor.newBuilder().setElemType(type).setShape(shape))).build();
  }

  private static AttributeProto attribute(String name, Object value) {
    AttributeProto.Builder a = AttributeProto.newBuilder().setName(name);
    if (value instanceof Long || value instanceof Integer) {
      a.setType(AttributeProto.AttributeType.INT).setI(((Number) value).longValue());
    } else if (value instanceof Double || value instanceof Float) {
      a.setType(AttributeProto.AttributeType.FLOAT).setF(((Number) value).floatValue());
    } else if (value instanceof long[]) {
      a.setType(AttributeProto.AttributeType.INTS);
      for (long v : (long[]) value) {
        a.addInts(v);
      }
    } else if (value instanceof String) {
      a.setType(AttributeProto.AttributeType.STRING).setS(com.google.protobuf.ByteString.copyFromUtf8((String) value));
    } else {
      throw new IllegalArgumentException("unsupported attribute " + name + " = " + value);
    }
    return a.build();
  }
}
