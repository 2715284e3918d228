package dev.losskit.conformance;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.DType;
import dev.losskit.core.HalfFloats;
import dev.losskit.core.Tensor;
import dev.losskit.djl.Execution;
import dev.losskit.djl.NllLoss;
import dev.losskit.djl.TorchLoss;

/**
 * The DJL adapter as a DJL user runs it: the loss's {@code evaluate} inside a {@link GradientCollector} on the
 * PyTorch engine, then {@code backward} of \( \sum g \cdot \ell \) for the upstream gradient \( g \), and the
 * predictions' gradient read back. Fresh arrays every call: DJL accumulates gradients on reused leaves.
 */
final class DjlBackend implements Backend {
  /** The adapter's core-backed path. */
  static final Backend CORE = new DjlBackend("djl-core", Execution.CORE,
      "the DJL adapter, core-backed: the core's gradient handed to DJL's autograd");
  /** The adapter's engine-native path. */
  static final Backend ENGINE = new DjlBackend("djl-engine", Execution.ENGINE,
      "the DJL adapter, engine-native: NDArray operations with the engine's autograd");

  private final String name;
  private final Execution execution;
  private final String description;

  private DjlBackend(String name, Execution execution, String description) {
    this.name = name;
    this.execution = execution;
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

  @Override
  @SuppressWarnings("try") // the collector only needs to be open while the loss and its backward run
  public Outcome run(LossCase c) {
    try (NDManager m = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
      TorchLoss loss = build(c);
      NDArray pred = TorchOracle.array(m, c.input());
      pred.setRequiresGradient(true);
      NDArray label = TorchOracle.array(m, c.target());
      NDArray value;
      synchronized (TorchOracle.COLLECTOR) {
        try (GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
          value = loss.evaluate(new NDList(label), new NDList(pred));
          // Made through TorchOracle.array, not onesLike: DJL cannot name bfloat16 to the engine.
          NDArray upstream = TorchOracle.array(m, c.gradOutput() != null ? c.gradOutput() : c.unitUpstream());
          collector.backward(value.mul(upstream).sum());
        }
      }
      Tensor lossValue = c.dtype() == DType.BFLOAT16 && value.getDataType() == ai.djl.ndarray.types.DataType.FLOAT32
          ? bfloat16Held(value) : TorchOracle.tensor(value, c.dtype());
      return Outcome.values(lossValue, TorchOracle.tensor(pred.getGradient(), c.dtype()));
    } catch (IllegalArgumentException e) {
      return Outcome.threw(e); // the runner accepts it only as losskit's LossArgumentException with the right cause
    } catch (EngineException e) {
      // libtorch's own error: the adapter let bad input through to the engine, which is never a pass.
      return Outcome.threw(e, TorchOracle.torchMessage(e.getMessage()));
    }
  }

  /**
   * The adapter's bfloat16 loss, which it returns in float32 (DJL 0.35.1's {@code GradientCollector.backward} seeds a
   * loss with {@code ones(shape, its dtype)}, and naming bfloat16 to DJL's native code aborts the JVM): each value
   * must be a bfloat16 value, held exactly.
   */
  private static Tensor bfloat16Held(NDArray value) {
    Tensor f = TorchOracle.tensor(value, DType.FLOAT32);
    for (int i = 0; i < f.numel(); i++) {
      float v = (float) f.getDouble(i);
      float b = HalfFloats.bfloat16ToFloat(HalfFloats.floatToBfloat16(v));
      if (!(b == v || Float.isNaN(b) && Float.isNaN(v))) {
        throw new IllegalStateException("the float32 loss of a bfloat16 prediction holds " + v
            + ", which is not a bfloat16 value");
      }
    }
    return Tensor.rounded(f.toDoubleArray(), DType.BFLOAT16, f.shape());
  }

  private TorchLoss build(LossCase c) {
    switch (c.loss()) {
      case CrossEntropyLoss.NAME:
        return dev.losskit.djl.CrossEntropyLoss.builder().reduction(c.reduction()).weight(vector(c))
            .ignoreIndex(c.ignoreIndex()).labelSmoothing(c.labelSmoothing()).execution(execution).build();
      case dev.losskit.core.NllLoss.NAME:
        return NllLoss.builder().reduction(c.reduction()).weight(vector(c)).ignoreIndex(c.ignoreIndex())
            .execution(execution).build();
      case BceWithLogitsLoss.NAME:
        return dev.losskit.djl.BceWithLogitsLoss.builder().reduction(c.reduction()).weight(c.weight())
            .posWeight(c.posWeight()).execution(execution).build();
      case dev.losskit.core.BceLoss.NAME:
        return dev.losskit.djl.BceLoss.builder().reduction(c.reduction()).weight(c.weight()).execution(execution)
            .build();
      default:
        throw new IllegalStateException("unknown loss " + c.loss());
    }
  }

  private static double[] vector(LossCase c) {
    if (c.weight() == null) {
      return null;
    }
    if (c.weight().dim() != 1) {
      throw new IllegalArgumentException(c.loss() + ": weight must be 1-D, got shape "
          + java.util.Arrays.toString(c.weight().shape()));
    }
    return c.weight().toDoubleArray();
  }
}
