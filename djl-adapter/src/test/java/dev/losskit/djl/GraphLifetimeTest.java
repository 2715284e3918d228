package dev.losskit.djl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The graph a loss builds must own every tensor its backward reads. libtorch's autograd saves some operands for
 * the backward (a product saves the other factor, a quotient its divisor); DJL's PyTorch engine wraps Java direct
 * buffers without a copy, and frees them only when the Java side lets go. An operand whose Java wrapper is closed
 * between the forward and the backward, such as the temporary scalar that DJL's {@code mul(Number)} creates and
 * closes at once, leaves the graph pointing at memory the JVM may free and hand out again.
 *
 * <p>This test runs the forward, lets the garbage collector and the buffer cleaner run, fills the freed native
 * memory with a sentinel by allocating small direct buffers, and only then runs the backward. The gradient must be
 * the one computed with no collection in between.
 */
class GraphLifetimeTest {
  private static final double SENTINEL = 1.0e6;

  /** The options that make each loss multiply or divide by a constant on its way to the value. */
  enum Case {
    CE_SMOOTHED_NONE(() -> CrossEntropyLoss.builder().labelSmoothing(0.1).reduction(
        dev.losskit.core.Reduction.NONE)),
    CE_SMOOTHED_MEAN(() -> CrossEntropyLoss.builder().labelSmoothing(0.2)),
    CE_PROBABILITIES_MEAN(() -> CrossEntropyLoss.builder().labelSmoothing(0.1)),
    BCE_MEAN(() -> BceWithLogitsLoss.builder()),
    BCE_POS_WEIGHT_SUM(() -> BceWithLogitsLoss.builder().posWeight(new double[] {2.5, 0.5, 1.0, 3.0})
        .reduction(dev.losskit.core.Reduction.SUM));

    final Supplier<Object> builder;

    Case(Supplier<Object> builder) {
      this.builder = builder;
    }

    TorchLoss build(Execution execution) {
      Object b = builder.get();
      if (b instanceof CrossEntropyLoss.Builder) {
        return ((CrossEntropyLoss.Builder) b).execution(execution).build();
      }
      return ((BceWithLogitsLoss.Builder) b).execution(execution).build();
    }
  }

  @ParameterizedTest
  @EnumSource(Case.class)
  void theBackwardReadsOnlyMemoryTheGraphOwns(Case c) {
    for (boolean half : new boolean[] {false, true}) { // float64, and float16 (its widening and rounding)
      for (Execution execution : new Execution[] {Execution.ENGINE, Execution.CORE}) {
        double[] quiet = gradient(c, execution, false, half);
        double[] disturbed = gradient(c, execution, true, half);
        assertArrayEquals(quiet, disturbed, 0.0, c + " on " + execution + (half ? " in float16" : "")
            + ": the gradient changed when the JVM freed and reused native memory between forward and backward");
      }
    }
  }

  @SuppressWarnings("try")
  private static double[] gradient(Case c, Execution execution, boolean collectBetween, boolean half) {
    Random r = new Random(11);
    int n = 8;
    int classes = 4;
    boolean bce = c.name().startsWith("BCE");
    boolean probabilities = c == Case.CE_PROBABILITIES_MEAN;
    double[] x = new double[n * classes];
    for (int i = 0; i < x.length; i++) {
      x[i] = r.nextGaussian() * 2;
    }
    try (NDManager m = NDManager.newBaseManager("PyTorch")) {
      NDArray pred = m.create(x, new Shape(n, classes));
      if (half) {
        pred = pred.toType(ai.djl.ndarray.types.DataType.FLOAT16, false);
      }
      pred.setRequiresGradient(true);
      NDArray label;
      if (bce || probabilities) {
        double[] y = new double[n * classes];
        for (int i = 0; i < y.length; i++) {
          y[i] = r.nextDouble();
        }
        label = m.create(y, new Shape(n, classes));
      } else {
        long[] t = new long[n];
        for (int i = 0; i < n; i++) {
          t[i] = r.nextInt(classes);
        }
        label = m.create(t);
      }
      if (collectBetween) {
        settle(); // earlier garbage goes first, so what is freed below was made by this forward
      }
      try (GradientCollector collector = Engine.getEngine("PyTorch").newGradientCollector()) {
        NDArray value = c.build(execution).evaluate(new NDList(label), new NDList(pred));
        if (collectBetween) {
          long freed = DIRECT.getCount() - settle();
          scribble();
          if (execution == Execution.ENGINE) {
            // DJL's Number operands and the Java-made sources of the engine's copies of constants and weights are
            // closed by now: the collection between forward and backward must free some of them, or this test
            // would prove nothing.
            assertTrue(freed > 0, c + ": no direct buffer was freed between forward and backward");
          }
        }
        collector.backward(value.sum());
      } finally {
        SCRIBBLE.remove();
      }
      NDArray g = pred.getGradient();
      return (half ? g.toType(ai.djl.ndarray.types.DataType.FLOAT64, false) : g).toDoubleArray();
    }
  }

  /**
   * Collects garbage until the direct-buffer cleaner has freed what it can.
   *
   * @return how many direct buffers are left
   */
  private static long settle() {
    long last = Long.MAX_VALUE;
    for (int round = 0; round < 50; round++) {
      System.gc();
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
      long now = DIRECT.getCount();
      if (now >= last && round >= 3) {
        break;
      }
      last = now;
    }
    return DIRECT.getCount();
  }

  /**
   * Takes freed native memory back with small direct buffers full of a sentinel, as any later allocation of the
   * same size would, and keeps them until the backward has run.
   */
  private static void scribble() {
    List<ByteBuffer> hold = new ArrayList<>();
    for (int i = 0; i < 4096; i++) {
      ByteBuffer b = ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder());
      b.putDouble(0, SENTINEL);
      hold.add(b);
    }
    SCRIBBLE.set(hold);
  }

  private static final BufferPoolMXBean DIRECT = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)
      .stream().filter(b -> b.getName().equals("direct")).findFirst().orElseThrow();

  private static final ThreadLocal<List<ByteBuffer>> SCRIBBLE = new ThreadLocal<>();
}
