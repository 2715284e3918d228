package dev.losskit.djl;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.training.GradientCollector;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The test module {@code half_oracle.pt} (made by {@code fixtures/make_djl_half.py}) in DJL's PyTorch engine: a
 * bfloat16 cast, the only way DJL 0.35.1 can hold a bfloat16 tensor, and libtorch's own float16 and bfloat16 losses
 * with their gradients, returned as float32 (which holds half values exactly).
 */
final class HalfOracle implements AutoCloseable {
  private static final String RESOURCE = "/dev/losskit/djl/half_oracle.pt";
  private final Model model;
  final PtSymbolBlock block;

  private HalfOracle(Model model) {
    this.model = model;
    this.block = (PtSymbolBlock) model.getBlock();
  }

  static HalfOracle open() throws IOException {
    Path dir = Files.createTempDirectory("losskit-half-oracle");
    try (InputStream in = HalfOracle.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        throw new IOException("missing resource " + RESOURCE);
      }
      Files.copy(in, dir.resolve("half_oracle.pt"));
    }
    Model model = Model.newInstance("losskit-half-oracle", "PyTorch");
    try {
      model.load(dir, "half_oracle");
    } catch (ai.djl.MalformedModelException e) {
      model.close();
      throw new IOException(e);
    }
    return new HalfOracle(model);
  }

  /**
   * {@return {@code x} cast to bfloat16 by TorchScript: DJL reports it as UNKNOWN} With autograd recording (inside a
   * gradient collector), the gradient flows back through the cast to {@code x}.
   */
  NDArray toBfloat16(NDArray x) {
    return IValueUtils.forward(block, new NDList(x), true).head();
  }

  /** {@return {@code x} cast to int16 by TorchScript, the other dtype DJL reports as UNKNOWN} */
  NDArray toInt16(NDArray x) {
    NDArray method = x.getManager().create("");
    method.setName("module_method:to_int16");
    return IValueUtils.forward(block, new NDList(x, method), false).head();
  }

  /**
   * Runs one of the module's loss methods (libtorch computing in the half dtype) and returns [loss, grad] as float32,
   * copied out.
   */
  @SuppressWarnings("try")
  float[][] run(NDManager m, String method, NDList args) {
    NDArray name = m.create("");
    name.setName("module_method:" + method);
    NDList in = new NDList(args);
    in.add(name);
    try (GradientCollector ignored = Engine.getEngine("PyTorch").newGradientCollector()) {
      NDList out = IValueUtils.forward(block, in, true);
      float[][] r = {out.get(0).toFloatArray(), out.get(1).toFloatArray()};
      out.close();
      return r;
    }
  }

  @Override
  public void close() {
    model.close();
  }
}
