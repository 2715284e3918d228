package dev.losskit.core;

import dev.losskit.core.LossArgumentException.Cause;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;

/**
 * The calls every loss shares: each validates its arguments and runs one computation that yields the loss, the
 * gradient, or both.
 */
abstract sealed class AbstractLoss implements Loss permits CrossEntropyLoss, NllLoss, BceWithLogitsLoss, BceLoss {
  private final String name;
  private final Reduction reduction;
  private final boolean autocast;

  AbstractLoss(String name, Reduction reduction, boolean autocast) {
    this.name = name;
    this.reduction = reduction;
    this.autocast = autocast;
  }

  @Override
  public final boolean autocast() {
    return autocast;
  }

  /** {@return {@code ", autocast=true"} for {@code toString} when autocast is on, else nothing} */
  final String autocastSuffix() {
    return autocast ? ", autocast=true" : "";
  }

  /**
   * {@return the tensor as the loss computes on it: under autocast a half tensor widened exactly to float32 (a
   * full-size copy, as PyTorch's autocast makes; {@link #run} avoids it where a kernel reads the half input in
   * place), otherwise the tensor itself}
   */
  private Tensor cast(Tensor t) {
    return autocast && t != null && t.dtype().isHalf() ? t.widenedToFloat32() : t;
  }

  @Override
  public final String name() {
    return name;
  }

  @Override
  public final Reduction reduction() {
    return reduction;
  }

  @Override
  public final Tensor forward(Tensor input, Tensor target) {
    return run(input, target, Request.lossOnly()).loss();
  }

  @Override
  public final Tensor backward(Tensor input, Tensor target, Tensor gradOutput) {
    if (gradOutput == null) {
      throw new LossArgumentException(Cause.NULL_ARGUMENT, name + ": gradOutput must not be null");
    }
    return run(input, target, Request.of(gradOutput, false, true)).gradInput();
  }

  @Override
  public final LossResult forwardBackward(Tensor input, Tensor target, Tensor gradOutput) {
    return run(input, target, Request.of(gradOutput, true, true));
  }

  @Override
  public final LossResult forwardBackward(Tensor input, Tensor target, Tensor gradOutput, float[] gradInto) {
    return into(input, target, gradOutput, gradInto, DType.FLOAT32, gradInto == null ? -1 : gradInto.length);
  }

  @Override
  public final LossResult forwardBackward(Tensor input, Tensor target, Tensor gradOutput, double[] gradInto) {
    return into(input, target, gradOutput, gradInto, DType.FLOAT64, gradInto == null ? -1 : gradInto.length);
  }

  @Override
  public final LossResult forwardBackward(Tensor input, Tensor target, Tensor gradOutput, FloatBuffer gradInto) {
    checkWritable(gradInto);
    return into(input, target, gradOutput, gradInto, DType.FLOAT32, gradInto == null ? -1 : gradInto.capacity());
  }

  @Override
  public final LossResult forwardBackward(Tensor input, Tensor target, Tensor gradOutput, DoubleBuffer gradInto) {
    checkWritable(gradInto);
    return into(input, target, gradOutput, gradInto, DType.FLOAT64, gradInto == null ? -1 : gradInto.capacity());
  }

  private void checkWritable(java.nio.Buffer b) {
    if (b != null && b.isReadOnly()) {
      throw new LossArgumentException(Cause.GRADIENT_BUFFER, name + ": the gradient buffer is read-only");
    }
  }

  private LossResult into(Tensor input, Tensor target, Tensor gradOutput, Object gradInto, DType type, int length) {
    if (gradInto == null) {
      throw new LossArgumentException(Cause.NULL_ARGUMENT, name + ": the gradient buffer must not be null");
    }
    if (input == null) {
      throw new LossArgumentException(Cause.NULL_ARGUMENT, name + ": input and target must not be null");
    }
    DType result = autocast && input.dtype().isHalf() ? DType.FLOAT32 : input.dtype();
    if (result != type) {
      throw new LossArgumentException(Cause.GRADIENT_BUFFER,
          name + ": a " + type + " gradient buffer does not fit a " + input.dtype() + " input"
          + (input.dtype().isHalf() && type == DType.FLOAT32 ? " (autocast(true) gives a float32 gradient)" : ""));
    }
    if (length != input.numel()) {
      throw new LossArgumentException(Cause.GRADIENT_BUFFER,
          name + ": the gradient buffer has " + length + " elements but the input has "
          + input.numel() + " (shape " + java.util.Arrays.toString(input.shape()) + ")");
    }
    GradientBuffer out = GradientBuffer.of(gradInto);
    LossResult r = run(input, target, new Request(gradOutput, true, true, out));
    Tensor grad = r.gradInput();
    if (gradInto instanceof FloatBuffer || gradInto instanceof DoubleBuffer) {
      if (!out.sinkWritten()) {
        out.copyInto(grad);
      }
      return new LossResult(r.loss(), gradInto instanceof FloatBuffer
          ? Tensor.view((FloatBuffer) gradInto, 0, input.shape())
          : Tensor.view((DoubleBuffer) gradInto, 0, input.shape()));
    }
    if (type == DType.FLOAT32 && grad.floatArrayOrNull() != gradInto) {
      System.arraycopy(grad.toFloatArray(), 0, (float[]) gradInto, 0, length);
    } else if (type == DType.FLOAT64 && grad.doubleArrayOrNull() != gradInto) {
      System.arraycopy(grad.toDoubleArray(), 0, (double[]) gradInto, 0, length);
    }
    return new LossResult(r.loss(), type == DType.FLOAT32 ? Tensor.of((float[]) gradInto, input.shape())
        : Tensor.of((double[]) gradInto, input.shape()));
  }

  /**
   * Every call's way in. Under autocast a half input is read in place by a kernel that gives float32 results where
   * the loss has one ({@link #readsHalfUnderAutocast}); otherwise the half tensors are widened to float32 first.
   */
  private LossResult run(Tensor input, Tensor target, Request r) {
    if (autocast && input != null && input.dtype().isHalf() && readsHalfUnderAutocast(target)) {
      return compute(input, cast(target), r.withGradOutput(cast(r.gradOutput())).asFloat32Result());
    }
    return compute(cast(input), cast(target), r.withGradOutput(cast(r.gradOutput())));
  }

  /**
   * {@return whether {@link #compute} reads a half input with this target in place under autocast, giving float32
   * results bit for bit those of the float32 input widened from it}
   */
  boolean readsHalfUnderAutocast(Tensor target) {
    return false;
  }

  /**
   * Validates the arguments and computes what is wanted with the fastest kernels available: a fused kernel where
   * one exists for the call, the reference kernels otherwise.
   *
   * @param r the upstream gradient, the outputs wanted and the caller's gradient buffer
   * @return the loss (null unless {@code r.wantLoss()}) and the gradient (null unless {@code r.wantGrad()})
   */
  LossResult compute(Tensor input, Tensor target, Request r) {
    return computeReference(input, target, r);
  }

  /** Validates the arguments and computes what is wanted with the reference kernels. */
  abstract LossResult computeReference(Tensor input, Tensor target, Request r);

  /** Checks the upstream gradient against the loss's shape: {@code unreduced} for none, a scalar otherwise. */
  final void checkGradOutput(Tensor gradOutput, int[] unreduced) {
    if (gradOutput != null) {
      Checks.checkGradOutput(name, gradOutput, reduction == Reduction.NONE ? unreduced : new int[0]);
    }
  }
}
