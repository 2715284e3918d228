package dev.losskit.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Each example runs, and shows what it claims. */
class ExamplesTest {
  @Test
  void classWeightsAndSmoothingFindTheRareClasses() throws Exception {
    ImbalancedClassification.Result r = ImbalancedClassification.run(12, 7);
    assertTrue(r.lossAfter() < r.lossBefore(), "the loss falls: " + r.lossBefore() + " -> " + r.lossAfter());
    String recalls = Arrays.toString(r.recallPlain()) + " vs " + Arrays.toString(r.recallWeighted());
    assertTrue(r.recallWeighted()[2] > r.recallPlain()[2] + 0.1, "rarest class recall improves: " + recalls);
    assertTrue(r.recallWeighted()[1] > r.recallPlain()[1], "rare class recall improves: " + recalls);
    assertTrue(ImbalancedClassification.mean(r.recallWeighted())
        > ImbalancedClassification.mean(r.recallPlain()) + 0.05, "mean recall over classes improves: " + recalls);
  }

  @Test
  void paddingDoesNotMoveTheLossAndGetsNoGradient() throws Exception {
    SequenceTagging.Result r = SequenceTagging.run(10, 11);
    assertEquals(r.padded(), r.garbagePadding(), 0f, "garbage in the padding");
    assertEquals(r.padded(), r.longerPadding(), 0f, "more padding");
    assertEquals(r.padded(), r.realTokensOnly(), 1e-6f, "the real tokens alone");
    assertEquals(0.0, r.paddingGradient(), 0.0, "gradient at padded positions");
    assertTrue(r.lossAfter() < 0.5f * r.lossBefore(), "the tagger learns: " + r.lossBefore() + " -> " + r.lossAfter());
  }

  @Test
  void posWeightFindsTheRareLabels() throws Exception {
    MultiLabel.Result r = MultiLabel.run(15, 5);
    assertTrue(r.lossAfter() < r.lossBefore(), "the loss falls: " + r.lossBefore() + " -> " + r.lossAfter());
    assertTrue(r.prevalence()[3] < 0.06 && r.prevalence()[0] > 0.3, Arrays.toString(r.prevalence()));
    String recalls = Arrays.toString(r.recallPlain()) + " vs " + Arrays.toString(r.recallPosWeight());
    assertTrue(r.recallPosWeight()[3] > r.recallPlain()[3] + 0.1, "rarest label recall improves: " + recalls);
    assertTrue(r.recallPosWeight()[2] > r.recallPlain()[2], "rare label recall improves: " + recalls);
  }

  @Test
  void theAttachedOnnxLossMatchesTheCore() throws Exception {
    OnnxAttach.Result r = OnnxAttach.run(64, 3);
    assertEquals(r.coreLoss(), r.onnxLoss(), 2e-6 * Math.max(1, Math.abs(r.coreLoss())));
    assertTrue(r.gradientError() < 1e-6, "gradient difference " + r.gradientError());
    assertEquals(java.util.List.of(), r.notes(), "nothing changed besides the loss");
    assertEquals(11, r.opset(), "the opset-11 classifier stays at opset 11");
  }
}
