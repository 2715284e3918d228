package dev.losskit.benchmarks;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.training.GradientCollector;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * libtorch's bfloat16 cross-entropy, forward and backward, for the {@code llm-vocab-bf16} bench case: a TorchScript
 * module ({@code bf16_cross_entropy.pt}, made by {@code fixtures/make_bf16_bench.py}) run through DJL's PyTorch
 * engine.
 *
 * <p>DJL 0.35.1 aborts the JVM on any call that passes {@link DataType#BFLOAT16} to native code, so nothing here
 * names that type: the module's {@code forward} rounds the float32 logits to bfloat16 once, before the timing, and
 * the timed {@code cross_entropy} method takes that array (which DJL reports as {@link DataType#UNKNOWN}) and
 * returns the float32 loss and the bfloat16 gradient. Methods run inside a gradient collector, as the conformance
 * oracle's do: DJL's IValue path runs under inference mode otherwise, and autograd refuses inference tensors.
 */
final class Bf16Torch implements AutoCloseable {
  private static final String RESOURCE = "/dev/losskit/benchmarks/bf16_cross_entropy.pt";

  private final Model model;
  private final Path dir;
  private final PtSymbolBlock block;
  private final Engine engine;
  private final NDManager manager;
  private final NDList call;

  private Bf16Torch(Model model, Path dir, NDManager manager, NDList call) {
    this.model = model;
    this.dir = dir;
    this.block = (PtSymbolBlock) model.getBlock();
    this.engine = Engine.getEngine("PyTorch");
    this.manager = manager;
    this.call = call;
  }

  /**
   * Loads the module and puts the call's arrays into libtorch: the logits rounded to bfloat16 there, the targets.
   *
   * @param x the logits, float32 values that are bfloat16 values (so the rounding is exact), row-major
   * @param t the class indices
   * @param n the rows
   * @param c the classes
   * @return the prepared call
   * @throws IOException when the module cannot be unpacked or loaded
   */
  @SuppressWarnings("try")
  static Bf16Torch open(float[] x, long[] t, int n, int c) throws IOException {
    Path dir = Files.createTempDirectory("losskit-bf16");
    try (InputStream in = Bf16Torch.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        throw new IOException("missing resource " + RESOURCE);
      }
      Files.copy(in, dir.resolve("bf16_cross_entropy.pt"));
    }
    Model model = Model.newInstance("losskit-bf16", "PyTorch");
    try {
      model.load(dir, "bf16_cross_entropy");
    } catch (ai.djl.MalformedModelException | RuntimeException e) {
      model.close();
      throw new IOException("cannot load the bfloat16 module: " + e.getMessage(), e);
    }
    PtSymbolBlock block = (PtSymbolBlock) model.getBlock();
    NDManager m = model.getNDManager().newSubManager();
    NDArray bf16;
    try (NDManager once = m.newSubManager()) {
      NDArray f32 = once.create(x, new Shape(n, c));
      try (GradientCollector ignored = Engine.getEngine("PyTorch").newGradientCollector()) {
        bf16 = IValueUtils.forward(block, new NDList(f32), true).get(0);
      }
      bf16.attach(m);
    }
    NDArray method = m.create("");
    method.setName("module_method:cross_entropy");
    return new Bf16Torch(model, dir, m, new NDList(bf16, m.create(t), method));
  }

  /** {@return libtorch's loss of the call, one run outside any timing} */
  double loss() {
    try (NDManager sub = manager.newSubManager()) {
      NDList out = forward();
      out.attach(sub);
      return out.get(0).getFloat();
    }
  }

  /** Runs libtorch's loss and gradient once, freeing the outputs. */
  void run() {
    try (NDManager sub = manager.newSubManager()) {
      forward().attach(sub);
    }
  }

  /**
   * {@return libtorch's gradient as float32 values (exactly the bfloat16 values), one run outside any timing}
   */
  float[] gradient() {
    try (NDManager sub = manager.newSubManager()) {
      NDList out = forward();
      out.attach(sub);
      return out.get(1).toType(DataType.FLOAT32, false).toFloatArray();
    }
  }

  @SuppressWarnings("try") // the collector only needs to be open while the method runs
  private NDList forward() {
    try (GradientCollector ignored = engine.newGradientCollector()) {
      return IValueUtils.forward(block, call, true);
    }
  }

  @Override
  public void close() {
    manager.close();
    model.close();
    try {
      Files.deleteIfExists(dir.resolve("bf16_cross_entropy.pt"));
      Files.deleteIfExists(dir);
    } catch (IOException e) {
      // a temporary directory left behind is harmless
    }
  }
}
