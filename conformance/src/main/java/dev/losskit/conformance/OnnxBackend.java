package dev.losskit.conformance;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.losskit.core.BceLoss;
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.DType;
import dev.losskit.core.HalfFloats;
import dev.losskit.core.Loss;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossArgumentException.Cause;
import dev.losskit.core.Tensor;
import dev.losskit.onnx.OnnxLoss;
import dev.losskit.onnx.OnnxLoss.Lowering;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.ShortBuffer;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The ONNX export, run in ONNX Runtime: the loss graph with its gradient output, exported for the combination's
 * options, dtype and rank, then run on the combination's values. Sessions are cached per graph, so the matrix
 * builds each distinct graph once.
 */
final class OnnxBackend implements Backend {
  /** ONNX's loss operators, where they are exact. */
  static final Backend OP = new OnnxBackend("onnx-op", Lowering.OP,
      "the ONNX export with SoftmaxCrossEntropyLoss / NegativeLogLikelihoodLoss, in ONNX Runtime");
  /** Every option from basic operators. */
  static final Backend PRIMITIVES = new OnnxBackend("onnx-primitives", Lowering.PRIMITIVES,
      "the ONNX export from basic operators, in ONNX Runtime");

  private final String name;
  private final Lowering lowering;
  private final String description;
  private final Map<String, OrtSession> sessions = new ConcurrentHashMap<>();

  private OnnxBackend(String name, Lowering lowering, String description) {
    this.name = name;
    this.lowering = lowering;
    this.description = description;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public String description() {
    return description;
  }

  /** Why the ONNX backends skip a BCELoss call whose probabilities the core rejects. */
  static final String PROBABILITY_RANGE_SKIP = "an ONNX graph cannot reject probabilities outside [0, 1] (ONNX has"
      + " no assert), so there is no error parity for " + Cause.PROBABILITY_RANGE;

  @Override
  public String skipReason(LossCase c) {
    if (c.input().dim() < (c.elementwise() ? 1 : 2)) {
      return "the exported graphs take a batch dimension; an unbatched (C) input is not exported";
    }
    if (lowering == Lowering.OP) {
      try {
        OnnxLoss spec = spec(c, c.buildLoss(), Lowering.PRIMITIVES);
        if (!spec.opIsExact()) {
          return "ONNX's loss operators cannot express " + spec.whyNotOp();
        }
      } catch (IllegalArgumentException e) {
        return null; // rejected options: run() reports the rejection
      }
    }
    if (c.loss().equals(BceLoss.NAME)) {
      LossArgumentException rejection = coreRejection(c);
      if (rejection != null && rejection.cause() == Cause.PROBABILITY_RANGE) {
        return PROBABILITY_RANGE_SKIP + " (the core: " + rejection.getMessage() + ")";
      }
    }
    return null;
  }

  /**
   * {@return the core's rejection of a call, or null when the core accepts it} The core checks shapes, dtypes and
   * the upstream gradient before the values, so a call it rejects for another cause as well is not skipped here:
   * the graph can reject that cause when it runs.
   */
  private static LossArgumentException coreRejection(LossCase c) {
    try {
      c.buildLoss().forwardBackward(c.input(), c.target(), c.gradOutput());
      return null;
    } catch (LossArgumentException e) {
      return e;
    } catch (RuntimeException e) {
      return null; // not a rejection: the graph runs, and the core backend reports the core's failure
    }
  }

  private OnnxLoss spec(LossCase c, Loss loss, Lowering l) {
    boolean classes = !c.elementwise();
    int rank = c.input().dim() - (classes ? 2 : 1);
    boolean probabilities = classes && c.input().sameShape(c.target());
    return OnnxLoss.builder(loss).probabilityTargets(probabilities).dtype(c.dtype()).rank(rank).lowering(l)
        .withGradient(true).reducedGradOutput(true).build();
  }

  /**
   * The causes an exported graph rejects by itself when it runs, so that a run-time failure of a graph that loaded
   * is a rejection of the input:
   * <ul>
   *   <li>{@code TARGET_OUT_OF_RANGE}: the target's {@code Gather}/{@code GatherElements} (or the loss operator)
   *       fails on an index out of bounds; a negative index that is not ignored is sent out of bounds on purpose;</li>
   *   <li>{@code SHAPE_MISMATCH}: a guard on the target's shape fails its {@code Gather}, and the target's declared
   *       rank is checked when the graph is fed;</li>
   *   <li>{@code WEIGHT_SHAPE}: a class weight fixes the input's declared class dimension, which ONNX Runtime
   *       checks when the graph is fed; a BCE or BCELoss weight that does not broadcast fails its {@code Mul} (one
   *       of higher rank than the input is refused by the exporter, with that cause);</li>
   *   <li>{@code POS_WEIGHT_SHAPE}: a pos_weight that does not broadcast fails its {@code Mul};</li>
   *   <li>{@code DTYPE} and {@code INPUT_SHAPE}: the graph's inputs are declared with their element type and
   *       rank, which ONNX Runtime checks when the graph is fed.</li>
   * </ul>
   * Options the graph is built from (label smoothing, ignore_index with probability targets, the op lowering's
   * limits) have no run-time form: losskit must reject them when it exports, with a {@code LossArgumentException}.
   * {@code PROBABILITY_RANGE} (BCELoss's input or target outside [0, 1], NaN included) is not here: a graph cannot
   * fail on a value without an assert, so {@link #skipReason} skips those calls with {@link #PROBABILITY_RANGE_SKIP}.
   */
  static final Set<Cause> RUN_TIME_CAUSES = Collections.unmodifiableSet(EnumSet.of(Cause.TARGET_OUT_OF_RANGE,
      Cause.SHAPE_MISMATCH, Cause.WEIGHT_SHAPE, Cause.POS_WEIGHT_SHAPE, Cause.DTYPE, Cause.INPUT_SHAPE));

  @Override
  public Set<Cause> runTimeCauses() {
    return RUN_TIME_CAUSES;
  }

  @Override
  public Outcome run(LossCase c) {
    OrtEnvironment env = Ort.environment();
    Loss loss;
    OnnxLoss spec;
    try {
      loss = c.buildLoss();
      spec = spec(c, loss, lowering);
    } catch (IllegalArgumentException e) {
      return Outcome.threw(e); // the runner accepts it only as losskit's LossArgumentException with the right cause
    }
    String key = key(c, loss, spec);
    OrtSession session = sessions.get(key);
    if (session == null) {
      byte[] graph;
      try {
        graph = spec.export().toByteArray();
      } catch (IllegalArgumentException e) {
        return Outcome.threw(e); // e.g. a BCE weight of higher rank than the input: WEIGHT_SHAPE, as the core
      }
      try {
        session = env.createSession(graph, Ort.sessionOptions());
      } catch (OrtException e) {
        return Outcome.rejected(e, "ONNX Runtime did not load the graph: " + e.getMessage(), Outcome.Stage.SESSION);
      }
      sessions.put(key, session);
    }
    Map<String, OnnxTensor> in = new HashMap<>();
    try {
      in.put("input", tensor(env, c.input()));
      in.put("target", tensor(env, c.target()));
      // Every graph takes the upstream gradient, a reduced one's as a scalar: multiplied inside the graph, before
      // the output's rounding, as libtorch multiplies it (scaling a half gradient afterwards would round it twice).
      in.put("grad_output", tensor(env, c.gradOutput() != null ? c.gradOutput() : c.unitUpstream()));
    } catch (OrtException e) {
      in.values().forEach(OnnxTensor::close);
      return Outcome.threw(e, "ONNX Runtime could not hold the inputs: " + e.getMessage());
    }
    try (OrtSession.Result out = session.run(in)) {
      Tensor l = read((OnnxTensor) out.get("loss").orElseThrow());
      Tensor g = read((OnnxTensor) out.get("grad_input").orElseThrow());
      return Outcome.values(l, g);
    } catch (OrtException e) {
      return Outcome.rejected(e, "ONNX Runtime: " + e.getMessage(), Outcome.Stage.GRAPH_RUN);
    } finally {
      in.values().forEach(OnnxTensor::close);
    }
  }

  /** The graph's identity: the loss's options, every weight value, dtype, rank and target kind. */
  private static String key(LossCase c, Loss loss, OnnxLoss spec) {
    StringBuilder k = new StringBuilder(loss.toString()).append('|').append(spec.dtype()).append('|')
        .append(spec.rank()).append('|').append(spec.probabilities());
    if (c.weight() != null) {
      k.append("|w").append(Arrays.toString(c.weight().shape())).append(Arrays.toString(c.weight().toDoubleArray()));
    }
    if (c.posWeight() != null) {
      k.append("|p").append(Arrays.toString(c.posWeight().shape()))
          .append(Arrays.toString(c.posWeight().toDoubleArray()));
    }
    return k.toString();
  }

  static OnnxTensor tensor(OrtEnvironment env, Tensor t) throws OrtException {
    long[] shape = Arrays.stream(t.shape()).asLongStream().toArray();
    switch (t.dtype()) {
      case FLOAT32:
        return OnnxTensor.createTensor(env, FloatBuffer.wrap(t.toFloatArray()), shape);
      case FLOAT64:
        return OnnxTensor.createTensor(env, DoubleBuffer.wrap(t.toDoubleArray()), shape);
      case FLOAT16:
      case BFLOAT16: {
        boolean f16 = t.dtype() == DType.FLOAT16;
        short[] bits = new short[t.numel()];
        for (int i = 0; i < bits.length; i++) {
          float v = (float) t.getDouble(i); // a half value: exact in float32, and back
          bits[i] = f16 ? HalfFloats.floatToFloat16(v) : HalfFloats.floatToBfloat16(v);
        }
        return OnnxTensor.createTensor(env, ShortBuffer.wrap(bits), shape,
            f16 ? ai.onnxruntime.OnnxJavaType.FLOAT16 : ai.onnxruntime.OnnxJavaType.BFLOAT16);
      }
      default: {
        long[] v = new long[t.numel()];
        for (int i = 0; i < v.length; i++) {
          v[i] = t.getLong(i);
        }
        return OnnxTensor.createTensor(env, LongBuffer.wrap(v), shape);
      }
    }
  }

  static Tensor read(OnnxTensor t) {
    int[] shape = Arrays.stream(t.getInfo().getShape()).mapToInt(Math::toIntExact).toArray();
    ai.onnxruntime.OnnxJavaType type = t.getInfo().type;
    if (type == ai.onnxruntime.OnnxJavaType.FLOAT16 || type == ai.onnxruntime.OnnxJavaType.BFLOAT16) {
      ShortBuffer b = t.getShortBuffer();
      short[] v = new short[b.remaining()];
      b.get(v);
      return Tensor.of(v, type == ai.onnxruntime.OnnxJavaType.FLOAT16 ? DType.FLOAT16 : DType.BFLOAT16, shape);
    }
    if (t.getInfo().type == ai.onnxruntime.OnnxJavaType.FLOAT) {
      FloatBuffer b = t.getFloatBuffer();
      float[] v = new float[b.remaining()];
      b.get(v);
      return Tensor.of(v, shape);
    }
    DoubleBuffer b = t.getDoubleBuffer();
    double[] v = new double[b.remaining()];
    b.get(v);
    return Tensor.of(v, shape);
  }
}
