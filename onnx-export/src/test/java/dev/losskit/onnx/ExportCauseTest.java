package dev.losskit.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.losskit.core.BceLoss;
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.DType;
import dev.losskit.core.LossArgumentException;
import dev.losskit.core.LossArgumentException.Cause;
import dev.losskit.core.NllLoss;
import org.junit.jupiter.api.Test;

/** The exporter's option checks are losskit's validation: a {@link LossArgumentException} with its cause. */
class ExportCauseTest {
  private static Cause cause(org.junit.jupiter.api.function.Executable call) {
    return assertThrows(LossArgumentException.class, call).cause();
  }

  @Test
  void probabilityTargetsWithANonNegativeIgnoreIndex() {
    assertEquals(Cause.PROBABILITY_TARGET_IGNORE_INDEX, cause(() -> OnnxLoss.builder(
        CrossEntropyLoss.builder().ignoreIndex(1).build()).probabilityTargets(true).build()));
  }

  @Test
  void optionsOutsideTheirDomain() {
    assertEquals(Cause.OPTION, cause(() -> OnnxLoss.builder(CrossEntropyLoss.create()).opset(10).build()));
    assertEquals(Cause.OPTION, cause(() -> OnnxLoss.builder(CrossEntropyLoss.create()).opset(27).build()));
    assertEquals(Cause.OPTION, cause(() -> OnnxLoss.builder(CrossEntropyLoss.create()).opset(11)
        .lowering(OnnxLoss.Lowering.OP).build()));
    assertEquals(Cause.OPTION, cause(() -> OnnxLoss.builder(CrossEntropyLoss.create()).rank(9).build()));
    assertEquals(Cause.OPTION, cause(() -> OnnxLoss.builder(NllLoss.create()).probabilityTargets(true).build()));
    assertEquals(Cause.OPTION, cause(() -> OnnxLoss.builder(BceWithLogitsLoss.create())
        .lowering(OnnxLoss.Lowering.OP).build()));
    assertEquals(Cause.OPTION, cause(() -> OnnxLoss.builder(BceLoss.create()).lowering(OnnxLoss.Lowering.OP).build()));
    assertEquals(Cause.OPTION, cause(() -> OnnxLoss.builder(BceLoss.create()).classAxis(-1).build()));
    assertEquals(Cause.DTYPE, cause(() -> OnnxLoss.builder(CrossEntropyLoss.create()).dtype(DType.INT64).build()));
    assertEquals(Cause.DTYPE, cause(() -> OnnxLoss.builder(CrossEntropyLoss.create()).dtype(null).build()));
    assertEquals(Cause.NULL_ARGUMENT, cause(() -> OnnxLoss.builder(null).build()));
  }

  @Test
  void aBceWeightOfHigherRankThanTheInputIsAWeightShape() {
    assertEquals(Cause.WEIGHT_SHAPE, cause(() -> OnnxLoss.builder(BceLoss.builder()
        .weight(dev.losskit.core.Tensor.of(new double[4], 2, 2)).build()).build().export()));
    assertEquals(Cause.WEIGHT_SHAPE, cause(() -> OnnxLoss.builder(BceWithLogitsLoss.builder()
        .weight(dev.losskit.core.Tensor.of(new double[4], 2, 2)).build()).build().export()));
    assertEquals(Cause.POS_WEIGHT_SHAPE, cause(() -> OnnxLoss.builder(BceWithLogitsLoss.builder()
        .posWeight(dev.losskit.core.Tensor.of(new double[4], 2, 2)).build()).build().export()));
  }
}
