package dev.losskit.djl;

import ai.djl.ndarray.NDArray;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Whether a loss call can be part of a backward pass: the engine's autograd is recording on this thread. DJL's API has no such question, so this asks the PyTorch engine directly
 * ({@code ai.djl.pytorch.jni.JniUtils.isGradMode()}, libtorch's thread-local {@code GradMode}), found by reflection
 * so that the adapter still depends on DJL's API alone. For any other engine, or if that method is not there, the
 * answer is always yes, which is never wrong, only slower.
 *
 * <p>A call that no backward can reach is, for example, the loss as DJL's training evaluator: {@code EasyTrain}
 * evaluates it again in {@code onTrainingBatch}, after the {@code GradientCollector} has closed and set the grad
 * mode back to off, and in validation.
 *
 * <p>It does not ask whether the predictions require a gradient: DJL's {@code hasGradient()} on the PyTorch engine
 * is true only for leaves ({@code requires_grad && (is_leaf || retains_grad)}), so it is false for every model
 * output, whose gradient the backward does need.
 */
final class Autograd {
  private Autograd() {}

  private static final String PYTORCH = "PyTorch";
  private static final Object UNRESOLVED = new Object();
  /** {@code JniUtils.isGradMode}, {@code null} when it is absent, or {@link #UNRESOLVED} before the first look. */
  private static volatile Object gradMode = UNRESOLVED;

  /** {@return true unless the engine says that no gradient of this call can ever be asked for} */
  static boolean recording(NDArray pred) {
    ai.djl.engine.Engine engine = pred.getManager().getEngine();
    if (!PYTORCH.equals(engine.getEngineName())) {
      return true;
    }
    Object h = gradMode;
    if (h == UNRESOLVED) {
      h = resolve(engine);
      gradMode = h;
    }
    if (h == null) {
      return true;
    }
    try {
      return (boolean) ((MethodHandle) h).invokeExact();
    } catch (Throwable e) { // an engine whose grad mode cannot be read: assume it records
      return true;
    }
  }

  private static Object resolve(ai.djl.engine.Engine engine) {
    try {
      Class<?> jni = Class.forName("ai.djl.pytorch.jni.JniUtils", true, engine.getClass().getClassLoader());
      return MethodHandles.publicLookup().findStatic(jni, "isGradMode", MethodType.methodType(boolean.class));
    } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
      return null;
    }
  }
}
