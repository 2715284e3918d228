package dev.losskit.conformance;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.training.GradientCollector;
import dev.losskit.core.BceLoss;
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.DType;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * libtorch as the oracle: a TorchScript module ({@code torch_oracle.pt}, made by {@code fixtures/make_oracle.py})
 * whose methods call {@code torch.nn.functional.cross_entropy}, {@code nll_loss},
 * {@code binary_cross_entropy_with_logits} and {@code binary_cross_entropy} (method {@code bce}) and return the
 * loss with its gradient from {@code torch.autograd.grad}.
 * It runs in the libtorch that DJL's PyTorch engine embeds (2.7.1, from Maven Central), offline.
 *
 * <p>Methods are called through DJL's NDList path in training mode, inside a {@link GradientCollector}: DJL keeps
 * libtorch's (thread-local) grad mode off otherwise, and its IValue path runs under inference mode. Only one
 * gradient collector may exist in a JVM at a time, so an oracle is not thread-safe: use it from one thread.
 */
public final class TorchOracle implements AutoCloseable {
  private static final String RESOURCE = "/dev/losskit/conformance/torch_oracle.pt";

  /**
   * Held while a gradient collector is open. DJL's PyTorch engine allows one collector in the whole JVM at a time
   * (a second one throws), so the oracle and the DJL backends take turns through this lock when threads share them.
   */
  static final Object COLLECTOR = new Object();

  private final Model model;
  private final PtSymbolBlock block;
  private final Engine engine;
  private final Path dir;

  private TorchOracle(Model model, Path dir) {
    this.model = model;
    this.block = (PtSymbolBlock) model.getBlock();
    this.engine = Engine.getEngine("PyTorch");
    this.dir = dir;
  }

  /**
   * Loads the oracle module into DJL's PyTorch engine.
   *
   * @return the oracle
   * @throws IOException when the module cannot be unpacked
   */
  public static TorchOracle open() throws IOException {
    Path dir = Files.createTempDirectory("losskit-oracle");
    return new TorchOracle(load(dir), dir);
  }

  private static Model load(Path dir) throws IOException {
    try (InputStream in = TorchOracle.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        throw new IOException("missing resource " + RESOURCE);
      }
      Files.copy(in, dir.resolve("torch_oracle.pt"));
    }
    Model model = Model.newInstance("losskit-oracle", "PyTorch");
    try {
      model.load(dir, "torch_oracle");
    } catch (ai.djl.MalformedModelException | RuntimeException e) {
      model.close();
      throw new IOException("cannot load the TorchScript oracle: " + e.getMessage(), e);
    }
    return model;
  }

  /**
   * The oracle's {@code cast} method, loaded once for the JVM: the only way to make a bfloat16 array in DJL 0.35.1,
   * whose native dtype table has no bfloat16 (passing {@code DataType.BFLOAT16} to it aborts the JVM).
   */
  private static final class Caster {
    /** Held for the JVM's life: DJL frees a model's module when the model is finalized. */
    static final Model MODEL = open();
    static final PtSymbolBlock BLOCK = (PtSymbolBlock) MODEL.getBlock();

    private static Model open() {
      try {
        Path dir = Files.createTempDirectory("losskit-cast");
        Model model = load(dir);
        Files.deleteIfExists(dir.resolve("torch_oracle.pt"));
        Files.deleteIfExists(dir);
        return model;
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }
  }

  /**
   * The values of a float32 array in bfloat16, made by libtorch. A bfloat16 array has {@code DataType.UNKNOWN} in
   * DJL 0.35.1; only calls that pass no dtype to the engine may be made on it.
   *
   * @param f a float32 array whose values are bfloat16 values (the cast is then exact)
   * @return a new bfloat16 array in {@code f}'s manager
   */
  static NDArray bfloat16(NDArray f) {
    NDManager m = f.getManager();
    NDArray code = m.create(new double[] {DataType.BFLOAT16.ordinal()});
    NDArray method = m.create("");
    method.setName("module_method:cast");
    NDList out = IValueUtils.forward(Caster.BLOCK, new NDList(f, code, method), true);
    code.close();
    method.close();
    return out.singletonOrThrow();
  }

  /** {@return the version of the libtorch that runs the losses, e.g. {@code 2.7.1}} */
  public String libtorchVersion() {
    return engine.getVersion();
  }

  /**
   * Runs a loss call in libtorch.
   *
   * @param c the call
   * @return libtorch's loss and gradient, or the error libtorch raised
   */
  public Outcome run(LossCase c) {
    try (Prepared p = prepare(c)) {
      NDList out = p.forward();
      return Outcome.values(tensor(out.get(0), c.dtype()), tensor(out.get(1), c.dtype()));
    } catch (EngineException e) {
      return Outcome.threw(e, torchMessage(e.getMessage()));
    }
  }

  /**
   * A call made ready to time: its arrays are in libtorch already, so {@link Prepared#run} measures libtorch's loss
   * and gradient alone. Close it to free the arrays.
   *
   * @param c the call
   * @return the prepared call
   */
  public Prepared prepare(LossCase c) {
    NDManager m = model.getNDManager().newSubManager();
    NDList in = new NDList();
    in.add(array(m, c.input()));
    in.add(array(m, c.target()));
    in.add(optional(m, c.weight(), c.dtype()));
    double reduction = code(c.reduction());
    if (c.loss().equals(BceWithLogitsLoss.NAME)) {
      in.add(optional(m, c.posWeight(), c.dtype()));
      in.add(m.create(new double[] {flag(c.weight()), flag(c.posWeight()), reduction}));
    } else if (c.loss().equals(BceLoss.NAME)) {
      in.add(m.create(new double[] {flag(c.weight()), reduction}));
    } else {
      in.add(m.create(new double[] {flag(c.weight()), c.ignoreIndex(), reduction, c.labelSmoothing()}));
    }
    in.add(array(m, c.gradOutput() != null ? c.gradOutput() : c.unitUpstream()));
    NDArray method = m.create("");
    method.setName("module_method:" + c.loss());
    in.add(method);
    return new Prepared(m, in);
  }

  /** A loss call whose arrays are already in libtorch. */
  public final class Prepared implements AutoCloseable {
    private final NDManager manager;
    private final NDList inputs;

    private Prepared(NDManager manager, NDList inputs) {
      this.manager = manager;
      this.inputs = inputs;
    }

    /** Runs libtorch's loss and gradient once, freeing the outputs. */
    public void run() {
      try (NDManager sub = manager.newSubManager()) {
        forward().attach(sub);
      }
    }

    /** {@return libtorch's loss and gradient, held by this call's arrays until it is closed} */
    @SuppressWarnings("try") // the collector only needs to be open while the method runs
    NDList forward() {
      synchronized (COLLECTOR) {
        try (GradientCollector ignored = engine.newGradientCollector()) {
          return IValueUtils.forward(block, inputs, true);
        }
      }
    }

    @Override
    public void close() {
      manager.close();
    }
  }

  private static double flag(Tensor t) {
    return t == null ? 0 : 1;
  }

  private static double code(Reduction r) {
    return r == Reduction.NONE ? 0 : r == Reduction.MEAN ? 1 : 2;
  }

  private static NDArray optional(NDManager m, Tensor t, DType dtype) {
    if (t != null) {
      return array(m, t);
    }
    return dtype == DType.FLOAT64 ? m.create(new double[0]) : m.create(new float[0]);
  }

  static NDArray array(NDManager m, Tensor t) {
    Shape shape = new Shape(Arrays.stream(t.shape()).asLongStream().toArray());
    switch (t.dtype()) {
      case FLOAT32:
        return m.create(t.toFloatArray(), shape);
      case FLOAT64:
        return m.create(t.toDoubleArray(), shape);
      case FLOAT16: { // half values widen to float32 exactly, and narrow back exactly
        NDArray f = m.create(t.toFloatArray(), shape);
        NDArray h = f.toType(DataType.FLOAT16, false);
        f.close();
        return h;
      }
      case BFLOAT16: {
        NDArray f = m.create(t.toFloatArray(), shape);
        NDArray h = bfloat16(f);
        f.close();
        return h;
      }
      case INT32:
      case INT64: {
        long[] v = new long[t.numel()];
        for (int i = 0; i < v.length; i++) {
          v[i] = t.getLong(i);
        }
        return m.create(v, shape);
      }
      default:
        throw new AssertionError(t.dtype());
    }
  }

  static Tensor tensor(NDArray a) {
    return tensor(a, null);
  }

  /**
   * Reads an array back.
   *
   * @param a a float32, float64 or float16 array, or a bfloat16 one (which DJL 0.35.1 calls {@code UNKNOWN})
   * @param expected the dtype the array should have, or null for float32 or float64
   * @return its values, in its dtype
   * @throws IllegalStateException when the array's dtype is not the expected one
   */
  static Tensor tensor(NDArray a, DType expected) {
    int[] shape = Arrays.stream(a.getShape().getShape()).mapToInt(Math::toIntExact).toArray();
    DataType t = a.getDataType();
    if (t == DataType.FLOAT32 && (expected == null || expected == DType.FLOAT32)) {
      return Tensor.of(a.toFloatArray(), shape);
    }
    if (t == DataType.FLOAT64 && (expected == null || expected == DType.FLOAT64)) {
      return Tensor.of(a.toDoubleArray(), shape);
    }
    boolean half = t == DataType.FLOAT16 && expected == DType.FLOAT16
        || t == DataType.UNKNOWN && expected == DType.BFLOAT16 && a.toByteBuffer().remaining() == 2L * a.size();
    if (!half) {
      throw new IllegalStateException("an array of " + t + " where " + expected + " was expected");
    }
    // Half values widen to float32 exactly; rounding them back to the half dtype gives the same values.
    try (NDArray f = a.toType(DataType.FLOAT32, false)) {
      float[] v = f.toFloatArray();
      double[] d = new double[v.length];
      for (int i = 0; i < v.length; i++) {
        d[i] = v[i];
      }
      return Tensor.rounded(d, expected, shape);
    }
  }

  /** The line of a TorchScript error that says what went wrong, e.g. {@code RuntimeError: Target 7 is out of bounds.} */
  static String torchMessage(String message) {
    if (message == null) {
      return "libtorch raised an error";
    }
    String[] lines = message.strip().split("\n");
    for (int i = lines.length - 1; i >= 0; i--) {
      String l = lines[i].strip();
      if (l.matches("^[A-Za-z]*(Error|Exception): .*")) {
        return l;
      }
    }
    return lines[lines.length - 1].strip();
  }

  @Override
  public void close() {
    model.close();
    try {
      Files.deleteIfExists(dir.resolve("torch_oracle.pt"));
      Files.deleteIfExists(dir);
    } catch (IOException e) {
      // a temporary directory left behind is harmless
    }
  }
}
