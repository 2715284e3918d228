package dev.losskit.djl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import ai.djl.engine.Engine;
import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.training.loss.Loss;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A loss leaves nothing in the labels' manager. DJL attaches an operation's result to its first operand's manager;
 * a label array that outlives the step (a fixed target, a teacher's outputs held for an epoch) would otherwise
 * collect every array derived from it, call after call: native memory that grows until its manager closes, and
 * steps that slow down as it grows.
 */
class LabelScopeTest {
  enum Case {
    CE_INDICES_SMOOTHED_WEIGHTED_IGNORE(false, false, m -> m.create(new long[] {0, 3, 2, -100, 1, 2},
        new Shape(6)), () -> CrossEntropyLoss.builder().labelSmoothing(0.1).weight(new double[] {1, 2, 0.5, 1})),
    CE_INDICES_PLAIN(false, false, m -> m.create(new long[] {0, 3, 2, 1, 1, 2}, new Shape(6)),
        () -> CrossEntropyLoss.builder()),
    CE_FLOAT_INDICES(false, false, m -> m.create(new float[] {0, 3, 2, 1, 1, 2}, new Shape(6)),
        () -> CrossEntropyLoss.builder()),
    CE_PROBABILITIES_SMOOTHED(false, true, null, () -> CrossEntropyLoss.builder().labelSmoothing(0.1)),
    CE_PROBABILITIES_FLOAT64_LABELS(false, true, null, () -> CrossEntropyLoss.builder()),
    NLL_INDICES(false, false, m -> m.create(new long[] {0, 3, 2, 1, 1, 2}, new Shape(6)), () -> NllLoss.builder()),
    BCE_POS_WEIGHT(true, false, null, () -> BceWithLogitsLoss.builder().posWeight(new double[] {2, 1, 0.5, 3})),
    BCE_FLOAT64_LABELS_WEIGHTED(true, false, m -> m.create(new double[24], new Shape(6, 4)),
        () -> BceWithLogitsLoss.builder().weight(new double[] {1, 2, 3, 4}));

    final boolean bce;
    final boolean probabilities;
    final Function<NDManager, NDArray> labels;
    final java.util.function.Supplier<Object> builder;

    Case(boolean bce, boolean probabilities, Function<NDManager, NDArray> labels,
        java.util.function.Supplier<Object> builder) {
      this.bce = bce;
      this.probabilities = probabilities;
      this.labels = labels;
      this.builder = builder;
    }

    Loss build(Execution execution) {
      Object b = builder.get();
      if (b instanceof CrossEntropyLoss.Builder) {
        return ((CrossEntropyLoss.Builder) b).execution(execution).build();
      }
      if (b instanceof NllLoss.Builder) {
        return ((NllLoss.Builder) b).execution(execution).build();
      }
      return ((BceWithLogitsLoss.Builder) b).execution(execution).build();
    }
  }

  @ParameterizedTest
  @EnumSource(Case.class)
  @SuppressWarnings("try")
  void stepsLeaveNothingInTheLabelsManager(Case c) {
    Random r = new Random(5);
    float[] x = new float[24];
    for (int i = 0; i < x.length; i++) {
      x[i] = (float) r.nextGaussian();
    }
    for (Execution execution : Execution.values()) {
      try (NDManager labelsManager = NDManager.newBaseManager("PyTorch");
          NDManager model = NDManager.newBaseManager("PyTorch")) {
        NDArray label;
        if (c.labels != null) {
          label = c.labels.apply(labelsManager);
        } else if (c.bce) {
          label = labelsManager.create(new float[24], new Shape(6, 4));
        } else {
          double[] y = new double[24];
          for (int i = 0; i < 24; i++) {
            y[i] = 0.25;
          }
          label = c == Case.CE_PROBABILITIES_FLOAT64_LABELS ? labelsManager.create(y, new Shape(6, 4))
              : labelsManager.create(y, new Shape(6, 4)).toType(DataType.FLOAT32, false);
        }
        int before = managed(labelsManager);
        Loss loss = c.build(execution);
        for (int step = 0; step < 3; step++) {
          try (NDManager stepManager = model.newSubManager()) {
            NDArray pred = stepManager.create(x, new Shape(6, 4));
            pred.setRequiresGradient(true);
            try (GradientCollector g = Engine.getEngine("PyTorch").newGradientCollector()) {
              g.backward(loss.evaluate(new NDList(label), new NDList(pred)));
            }
            pred.getGradient().getFloat(0, 0);
          }
        }
        assertEquals(before, managed(labelsManager), c + " on " + execution
            + ": arrays derived from the labels were left in the labels' manager after three steps");
        assertFalse(label.isReleased(), c + " on " + execution + ": the labels were closed");
      }
    }
  }

  private static int managed(NDManager m) {
    return ((BaseNDManager) m).getManagedArrays().size();
  }
}
