package dev.losskit.cli;

import dev.losskit.core.BceLoss;
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.DType;
import dev.losskit.core.Loss;
import dev.losskit.core.NllLoss;
import dev.losskit.core.Reduction;
import dev.losskit.onnx.OnnxLoss;
import java.util.List;
import picocli.CommandLine.Option;

/** The loss options {@code export} and {@code attach} share, with PyTorch's names and defaults. */
final class LossOptions {
  @Option(names = "--loss", required = true, paramLabel = "LOSS",
      description = "cross_entropy, nll_loss, bce_with_logits or bce (BCELoss, on probabilities).")
  String loss;

  @Option(names = "--reduction", paramLabel = "R", description = "none, mean (default) or sum.")
  String reduction = "mean";

  @Option(names = "--weight", split = ",", paramLabel = "W",
      description = "Per-class weights (cross_entropy, nll_loss) or weights along the last dimension"
          + " (bce_with_logits, bce).")
  double[] weight;

  @Option(names = "--ignore-index", paramLabel = "N", description = "Ignored class index (default -100).")
  Long ignoreIndex;

  @Option(names = "--label-smoothing", paramLabel = "X", description = "Label smoothing in [0, 1] (cross_entropy).")
  Double labelSmoothing;

  @Option(names = "--pos-weight", split = ",", paramLabel = "P",
      description = "Positive-class weights along the last dimension (bce_with_logits).")
  double[] posWeight;

  @Option(names = "--target", paramLabel = "KIND", description = "index (default) or probability (cross_entropy).")
  String target = "index";

  @Option(names = "--dtype", paramLabel = "T",
      description = "float32 (default), float64, float16 or bfloat16 (bfloat16 from opset 13). Half graphs take and"
          + " give that dtype and compute in float32 inside. attach takes the dtype the model declares instead.")
  String dtype = "float32";

  @Option(names = "--rank", paramLabel = "K",
      description = "Dimensions besides N and C, or besides N for bce_with_logits and bce (default 0).")
  int rank;

  @Option(names = "--class-axis", paramLabel = "A",
      description = "Where the class dimension is: 1 (default, (N, C, d...)) or -1 (last, (N, d..., C));"
          + " cross_entropy and nll_loss.")
  Integer classAxis;

  @Option(names = "--opset", paramLabel = "N", description = "ONNX opset, " + OnnxLoss.MIN_OPSET + " to "
      + OnnxLoss.MAX_OPSET + " (default " + OnnxLoss.DEFAULT_OPSET + "); export only: attach uses the model's.")
  Integer opset;

  @Option(names = "--lowering", paramLabel = "L", description = "auto (default), op or primitives.")
  String lowering = "auto";

  @Option(names = "--with-gradient", description = "Add the gradient of the loss with respect to its input.")
  boolean withGradient;

  /**
   * Builds the exporter, rejecting options the loss does not take.
   *
   * @return the exporter
   * @throws IllegalArgumentException with a one-line message naming the bad option
   */
  OnnxLoss exporter() {
    if (!List.of(CrossEntropyLoss.NAME, NllLoss.NAME, BceWithLogitsLoss.NAME, BceLoss.NAME).contains(loss)) {
      throw new IllegalArgumentException("unknown --loss '" + loss
          + "': valid losses are cross_entropy, nll_loss, bce_with_logits, bce");
    }
    boolean ce = loss.equals(CrossEntropyLoss.NAME);
    boolean withLogits = loss.equals(BceWithLogitsLoss.NAME);
    boolean probabilityBce = loss.equals(BceLoss.NAME);
    if (labelSmoothing != null && !ce) {
      throw new IllegalArgumentException("--label-smoothing does not apply to " + loss);
    }
    if (ignoreIndex != null && (withLogits || probabilityBce)) {
      throw new IllegalArgumentException("--ignore-index does not apply to " + loss);
    }
    if (posWeight != null && !withLogits) {
      throw new IllegalArgumentException("--pos-weight does not apply to " + loss
          + (probabilityBce ? ": BCELoss has no pos_weight (bce_with_logits has, on logits)" : ""));
    }
    if (classAxis != null && classAxis != 1 && probabilityBce) {
      throw new IllegalArgumentException("--class-axis " + classAxis + " does not apply to " + loss
          + ": it is elementwise and has no class axis");
    }
    if (!List.of("index", "probability").contains(target)) {
      throw new IllegalArgumentException("unknown --target '" + target + "': valid kinds are index, probability");
    }
    if (target.equals("probability") && !ce) {
      throw new IllegalArgumentException("--target probability does not apply to " + loss
          + (probabilityBce ? ": it is for cross_entropy; bce's targets are always probabilities of the input's shape"
              : ""));
    }
    if (!List.of("float32", "float64", "float16", "bfloat16").contains(dtype)) {
      throw new IllegalArgumentException("unknown --dtype '" + dtype
          + "': valid dtypes are float32, float64, float16, bfloat16");
    }
    OnnxLoss.Lowering l;
    try {
      l = OnnxLoss.Lowering.valueOf(lowering.toUpperCase(java.util.Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown --lowering '" + lowering + "': valid lowerings are auto, op, primitives");
    }
    Reduction r = Reduction.fromPytorchName(reduction);
    Loss core;
    if (ce) {
      CrossEntropyLoss.Builder b = CrossEntropyLoss.builder().reduction(r).weight(weight);
      if (ignoreIndex != null) {
        b.ignoreIndex(ignoreIndex);
      }
      if (labelSmoothing != null) {
        b.labelSmoothing(labelSmoothing);
      }
      core = b.build();
    } else if (withLogits) {
      core = BceWithLogitsLoss.builder().reduction(r).weight(weight).posWeight(posWeight).build();
    } else if (probabilityBce) {
      core = BceLoss.builder().reduction(r).weight(weight).build();
    } else {
      NllLoss.Builder b = NllLoss.builder().reduction(r).weight(weight);
      if (ignoreIndex != null) {
        b.ignoreIndex(ignoreIndex);
      }
      core = b.build();
    }
    return OnnxLoss.builder(core).probabilityTargets(target.equals("probability"))
        .dtype(DType.fromPytorchName(dtype)).rank(rank).opset(opset == null ? OnnxLoss.DEFAULT_OPSET : opset)
        .lowering(l).withGradient(withGradient).classAxis(classAxis == null ? 1 : classAxis).build();
  }
}
