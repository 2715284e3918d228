package dev.losskit.conformance;

import dev.losskit.core.BceLoss;
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.DType;
import dev.losskit.core.LossArgumentException.Cause;
import dev.losskit.core.NllLoss;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The conformance matrix as data: option axes whose product gives every combination, plus named edge cases and
 * inputs libtorch rejects. A new axis value is one entry in a list, never a new test.
 *
 * <p>Each combination's inputs are drawn from a generator seeded by its id, so a combination means the same
 * numbers on every run and every machine. float32, float16 and bfloat16 inputs are float64 draws rounded once, so
 * the float64 run of such a combination sees exactly the same values.
 */
public final class Matrix {
  private Matrix() {}

  /**
   * One combination of the matrix.
   *
   * @param id a stable id naming every axis value, e.g.
   *     {@code cross_entropy[reduction=mean, weight=yes, ignore_index=1, ls=0.1, target=index, shape=(3,4,2), float32]}
   * @param axes the axis values, by axis name, for reports and filters
   * @param call the loss call
   * @param expectedCause why libtorch rejects it, as the cause losskit must reject it with; null when it is valid
   */
  public record Combination(String id, Map<String, String> axes, LossCase call, Cause expectedCause) {
    /** {@return true when libtorch must reject the call, and every backend with it} */
    public boolean invalid() {
      return expectedCause != null;
    }

    /** {@return the loss's name} */
    public String loss() {
      return call.loss();
    }

    /** {@return the dtype} */
    public DType dtype() {
      return call.dtype();
    }

    /** {@return true for the representative third that {@code --quick} runs} */
    public boolean quick() {
      return Math.floorMod(id.hashCode(), 3) == 0;
    }
  }

  // ---- the axes ------------------------------------------------------------------------------------------------

  /** The losses the matrix covers. */
  public static final List<String> LOSSES = List.of(CrossEntropyLoss.NAME, NllLoss.NAME, BceWithLogitsLoss.NAME,
      BceLoss.NAME);

  static final List<Reduction> REDUCTIONS = List.of(Reduction.NONE, Reduction.MEAN, Reduction.SUM);
  /** The dtypes every combination runs in. */
  public static final List<DType> DTYPES = List.of(DType.FLOAT32, DType.FLOAT64, DType.FLOAT16, DType.BFLOAT16);
  /** Class weights: none, or per class with a zero entry (on the last class). */
  static final List<Boolean> CLASS_WEIGHTS = List.of(false, true);
  /** ignore_index: the default (never hit), a class in range that some targets hit, a negative one they hit. */
  static final List<Long> IGNORE_INDICES = List.of(-100L, 1L, -1L);
  static final List<Double> SMOOTHINGS = List.of(0.0, 0.1, 1.0);
  static final List<Boolean> PROBABILITY_TARGETS = List.of(false, true);
  /** (C), (N,C), (N,C,d1), (N,C,d1,d2), (N,C,d1,d2,d3). */
  static final List<int[]> CLASS_SHAPES =
      List.of(new int[] {4}, new int[] {3, 4}, new int[] {3, 4, 2}, new int[] {3, 4, 2, 3}, new int[] {2, 4, 2, 3, 2});
  /** BCE weight: none, per element, or broadcast. */
  static final List<String> BCE_WEIGHTS = List.of("none", "element", "broadcast");
  /** BCE pos_weight: none, or broadcast along the last dimension. */
  static final List<Boolean> BCE_POS_WEIGHTS = List.of(false, true);
  /** (N), (N,C), (N,C,H,W). */
  static final List<int[]> BCE_SHAPES = List.of(new int[] {5}, new int[] {3, 4}, new int[] {2, 3, 2, 2});
  static final List<Boolean> SOFT_TARGETS = List.of(false, true);
  /** BCELoss's probabilities: uniform in (0, 1), or with exact 0s and 1s among them (the logs' clamp at -100). */
  static final List<Boolean> EXACT_PROBABILITIES = List.of(false, true);

  /** {@return every combination: the axis products, then the edge cases, then the rejected inputs} */
  public static List<Combination> all() {
    List<Combination> out = new ArrayList<>();
    crossEntropy(out);
    nll(out);
    bce(out);
    bceProbabilities(out);
    edgeCases(out);
    rejected(out);
    return out;
  }

  /**
   * Selects the combinations of the given losses, and only the representative third when {@code quick}.
   *
   * @param combos combinations
   * @param losses loss names to keep, or null for all
   * @param quick whether to keep only the representative third
   * @return the selection, in order
   */
  public static List<Combination> select(List<Combination> combos, List<String> losses, boolean quick) {
    return combos.stream()
        .filter(c -> losses == null || losses.contains(c.loss()))
        .filter(c -> !quick || c.quick())
        .collect(Collectors.toList());
  }

  private static void crossEntropy(List<Combination> out) {
    for (Reduction reduction : REDUCTIONS) {
      for (boolean weighted : CLASS_WEIGHTS) {
        for (long ignore : IGNORE_INDICES) {
          for (double ls : SMOOTHINGS) {
            for (boolean prob : PROBABILITY_TARGETS) {
              for (int[] shape : CLASS_SHAPES) {
                for (DType dtype : DTYPES) {
                  Map<String, String> axes = axes("reduction", reduction, "weight", weighted ? "yes" : "no",
                      "ignore_index", ignore, "ls", ls, "target", prob ? "probability" : "index",
                      "shape", shape(shape), "dtype", dtype);
                  // libtorch: "ignore_index is not supported for floating point target" (any ignore_index >= 0).
                  Cause cause = prob && ignore >= 0 ? Cause.PROBABILITY_TARGET_IGNORE_INDEX : null;
                  out.add(combination(CrossEntropyLoss.NAME, axes, cause, r -> {
                    Tensor x = tensor(dtype, gaussian(r, size(shape), 2), shape);
                    Tensor t = prob ? probabilities(r, dtype, shape) : indices(r, shape, ignore);
                    return new LossCase(CrossEntropyLoss.NAME, dtype, reduction, ignore, ls,
                        weighted ? classWeight(r, dtype, classes(shape)) : null, null, x, t,
                        upstream(r, dtype, reduction, lossShape(shape)));
                  }));
                }
              }
            }
          }
        }
      }
    }
  }

  private static void nll(List<Combination> out) {
    for (Reduction reduction : REDUCTIONS) {
      for (boolean weighted : CLASS_WEIGHTS) {
        for (long ignore : IGNORE_INDICES) {
          for (int[] shape : CLASS_SHAPES) {
            for (DType dtype : DTYPES) {
              Map<String, String> axes = axes("reduction", reduction, "weight", weighted ? "yes" : "no",
                  "ignore_index", ignore, "shape", shape(shape), "dtype", dtype);
              out.add(combination(NllLoss.NAME, axes, null, r -> new LossCase(NllLoss.NAME, dtype, reduction, ignore, 0,
                  weighted ? classWeight(r, dtype, classes(shape)) : null, null, logProbabilities(r, dtype, shape),
                  indices(r, shape, ignore), upstream(r, dtype, reduction, lossShape(shape)))));
            }
          }
        }
      }
    }
  }

  private static void bce(List<Combination> out) {
    for (Reduction reduction : REDUCTIONS) {
      for (String weight : BCE_WEIGHTS) {
        for (boolean pos : BCE_POS_WEIGHTS) {
          for (int[] shape : BCE_SHAPES) {
            for (boolean soft : SOFT_TARGETS) {
              for (DType dtype : DTYPES) {
                Map<String, String> axes = axes("reduction", reduction, "weight", weight, "pos_weight",
                    pos ? "broadcast" : "none", "shape", shape(shape), "target", soft ? "soft" : "hard",
                    "dtype", dtype);
                out.add(combination(BceWithLogitsLoss.NAME, axes, null, r -> {
                  int n = size(shape);
                  Tensor w = weight.equals("none") ? null
                      : weight.equals("element") ? tensor(dtype, positive(r, n), shape)
                      : broadcastWeight(r, dtype, shape);
                  int last = shape[shape.length - 1];
                  Tensor p = pos ? tensor(dtype, positive(r, last), new int[] {last}) : null;
                  return new LossCase(BceWithLogitsLoss.NAME, dtype, reduction, -100, 0, w, p,
                      tensor(dtype, gaussian(r, n, 2), shape), binaryTargets(r, dtype, shape, soft),
                      upstream(r, dtype, reduction, shape));
                }));
              }
            }
          }
        }
      }
    }
  }

  /** BCELoss: reduction x weight x shape x hard and soft targets x probabilities with exact 0 and 1 x dtype. */
  private static void bceProbabilities(List<Combination> out) {
    for (Reduction reduction : REDUCTIONS) {
      for (String weight : BCE_WEIGHTS) {
        for (int[] shape : BCE_SHAPES) {
          for (boolean soft : SOFT_TARGETS) {
            for (boolean exact : EXACT_PROBABILITIES) {
              for (DType dtype : DTYPES) {
                Map<String, String> axes = axes("reduction", reduction, "weight", weight, "shape", shape(shape),
                    "target", soft ? "soft" : "hard", "p", exact ? "with 0 and 1" : "uniform", "dtype", dtype);
                out.add(combination(BceLoss.NAME, axes, null, r -> {
                  int n = size(shape);
                  Tensor w = weight.equals("none") ? null
                      : weight.equals("element") ? tensor(dtype, positive(r, n), shape)
                      : broadcastWeight(r, dtype, shape);
                  return probabilityBce(dtype, reduction, w, unitValues(r, dtype, shape, exact),
                      binaryTargets(r, dtype, shape, soft), upstream(r, dtype, reduction, shape));
                }));
              }
            }
          }
        }
      }
    }
  }

  /** Named edge cases, each for every reduction and dtype. */
  private static void edgeCases(List<Combination> out) {
    int[] c4 = {3, 4};
    edge(out, "empty batch", CrossEntropyLoss.NAME, (r, d, red) -> ce(d, red, 0.1, classWeight(r, d, 4),
        tensor(d, new double[0], new int[] {0, 4}), Tensor.of(new long[0], 0), null));
    edge(out, "empty batch, probabilities", CrossEntropyLoss.NAME, (r, d, red) -> ce(d, red, 0, null,
        tensor(d, new double[0], new int[] {0, 4}), tensor(d, new double[0], new int[] {0, 4}), null));
    edge(out, "empty spatial", CrossEntropyLoss.NAME, (r, d, red) -> ce(d, red, 0, null,
        tensor(d, new double[0], new int[] {2, 4, 0}), Tensor.of(new long[0], 2, 0), null));
    edge(out, "empty batch", NllLoss.NAME, (r, d, red) -> new LossCase(NllLoss.NAME, d, red, -100, 0, null, null,
        tensor(d, new double[0], new int[] {0, 4}), Tensor.of(new long[0], 0), null));
    edge(out, "empty batch", BceWithLogitsLoss.NAME, (r, d, red) -> bceCase(d, red, null, null,
        tensor(d, new double[0], new int[] {0, 4}), tensor(d, new double[0], new int[] {0, 4})));
    for (double ls : new double[] {0, 0.1}) {
      edge(out, "all ignored, ls=" + ls, CrossEntropyLoss.NAME, (r, d, red) -> ce(d, red, ls, classWeight(r, d, 4),
          tensor(d, gaussian(r, 12, 2), c4), Tensor.of(new long[] {-100, -100, -100}, 3), null));
    }
    edge(out, "all ignored", NllLoss.NAME, (r, d, red) -> new LossCase(NllLoss.NAME, d, red, -100, 0, null, null,
        logProbabilities(r, d, c4), Tensor.of(new long[] {-100, -100, -100}, 3), null));
    edge(out, "C=1", CrossEntropyLoss.NAME, (r, d, red) -> ce(d, red, 0.1, null,
        tensor(d, gaussian(r, 3, 2), new int[] {3, 1}), Tensor.of(new long[] {0, 0, 0}, 3), null));
    edge(out, "C=1, probabilities", CrossEntropyLoss.NAME, (r, d, red) -> ce(d, red, 0.1, null,
        tensor(d, gaussian(r, 3, 2), new int[] {3, 1}), tensor(d, new double[] {1, 1, 1}, new int[] {3, 1}), null));
    edge(out, "C=1", NllLoss.NAME, (r, d, red) -> new LossCase(NllLoss.NAME, d, red, -100, 0, null, null,
        tensor(d, gaussian(r, 3, 1), new int[] {3, 1}), Tensor.of(new long[] {0, 0, 0}, 3), null));
    edge(out, "extreme logits", CrossEntropyLoss.NAME, (r, d, red) -> ce(d, red, 0.1, classWeight(r, d, 4),
        tensor(d, new double[] {1e4, -1e4, 80, -80, 30, -30, 0.5, 1, -1e4, 1e4, 0, 88}, c4),
        Tensor.of(new long[] {1, 0, 2}, 3), null));
    edge(out, "extreme logits, probabilities", CrossEntropyLoss.NAME, (r, d, red) -> ce(d, red, 0, null,
        tensor(d, new double[] {1e4, -1e4, 80, -80, 30, -30, 0.5, 1, -1e4, 1e4, 0, 88}, c4),
        probabilities(r, d, c4), null));
    edge(out, "extreme logits", BceWithLogitsLoss.NAME, (r, d, red) -> bceCase(d, red, null, null,
        tensor(d, new double[] {1e4, -1e4, 80, -80, 30, -30, 17, -17}, new int[] {2, 4}),
        binaryTargets(r, d, new int[] {2, 4}, true)));
    double ninf = Double.NEGATIVE_INFINITY;
    edge(out, "-inf logit off target", CrossEntropyLoss.NAME, (r, d, red) -> ce(d, red, 0, null,
        tensor(d, new double[] {0.5, ninf, 1, 2, ninf, 0.1, 0.2, 0.3, 0, 0, 0, ninf}, c4),
        Tensor.of(new long[] {0, 3, 1}, 3), null));
    edge(out, "-inf logit at target", CrossEntropyLoss.NAME, (r, d, red) -> ce(d, red, 0, null,
        tensor(d, new double[] {0.5, ninf, 1, 2, ninf, 0.1, 0.2, 0.3, 0, 0, 0, ninf}, c4),
        Tensor.of(new long[] {1, 0, 3}, 3), null));
    edge(out, "-inf logit, smoothing", CrossEntropyLoss.NAME, (r, d, red) -> ce(d, red, 0.1, null,
        tensor(d, new double[] {0.5, ninf, 1, 2, ninf, 0.1, 0.2, 0.3, 0, 0, 0, 1}, c4),
        Tensor.of(new long[] {0, 3, 1}, 3), null));
    edge(out, "-inf logit, zero probability", CrossEntropyLoss.NAME, (r, d, red) -> ce(d, red, 0, null,
        tensor(d, new double[] {0.5, ninf, 1, 2}, new int[] {1, 4}),
        tensor(d, new double[] {0.5, 0, 0.5, 0}, new int[] {1, 4}), null));
    edge(out, "infinite logits", BceWithLogitsLoss.NAME, (r, d, red) -> bceCase(d, red, null,
        tensor(d, new double[] {2, 0.5}, new int[] {2}),
        tensor(d, new double[] {Double.POSITIVE_INFINITY, ninf, ninf, Double.POSITIVE_INFINITY}, new int[] {2, 2}),
        tensor(d, new double[] {1, 0, 1, 0}, new int[] {2, 2})));
    edge(out, "NaN logit", CrossEntropyLoss.NAME, (r, d, red) -> ce(d, red, 0.1, null,
        tensor(d, new double[] {Double.NaN, 1, 2, 3, 0, 1, 2, 3, 1, 1, 1, 1}, c4),
        Tensor.of(new long[] {1, 2, -100}, 3), null));
    edge(out, "NaN logit", BceWithLogitsLoss.NAME, (r, d, red) -> bceCase(d, red, null, null,
        tensor(d, new double[] {Double.NaN, 1, -2, 3}, new int[] {4}), tensor(d, new double[] {1, 0, 1, 0.5},
            new int[] {4})));
    edge(out, "empty batch", BceLoss.NAME, (r, d, red) -> probabilityBce(d, red, null,
        tensor(d, new double[0], new int[] {0, 4}), tensor(d, new double[0], new int[] {0, 4}), null));
    edge(out, "saturated: every p 0 or 1", BceLoss.NAME, (r, d, red) -> probabilityBce(d, red,
        tensor(d, new double[] {1, 2, 0, 0.5}, new int[] {4}),
        tensor(d, new double[] {0, 1, 0, 1, 1, 0, 0, 1}, new int[] {2, 4}),
        tensor(d, new double[] {0, 1, 1, 0, 0.5, 0.5, 0, 1}, new int[] {2, 4}), null));
    edge(out, "extreme p", BceLoss.NAME, (r, d, red) -> probabilityBce(d, red, null,
        tensor(d, new double[] {1e-45, 1e-30, 1e-8, 1 - 0x1p-24, 1e-3, 0.999, 1e-12, 0.5}, new int[] {2, 4}),
        binaryTargets(r, d, new int[] {2, 4}, true), null));
    // Rows wide enough for the fused vectorised kernels (C >= 64 float32; BCE from 4096 elements, mean or sum).
    int[] wide = {4, 1000};
    edge(out, "wide rows C=1000, weights, ls=0.1", CrossEntropyLoss.NAME, (r, d, red) -> ce(d, red, 0.1,
        classWeight(r, d, 1000), tensor(d, gaussian(r, 4000, 3), wide), indices(r, wide, 1), null));
    edge(out, "wide rows C=1000, extreme logits", CrossEntropyLoss.NAME, (r, d, red) -> {
      double[] x = gaussian(r, 4000, 3);
      for (int i = 0; i < x.length; i += 37) {
        x[i] = (i % 2 == 0 ? 1 : -1) * (i % 3 == 0 ? 1e4 : 88);
      }
      return ce(d, red, 0.1, null, tensor(d, x, wide), indices(r, wide, -100), null);
    });
    edge(out, "wide rows C=1000", NllLoss.NAME, (r, d, red) -> new LossCase(NllLoss.NAME, d, red, -100, 0,
        classWeight(r, d, 1000), null, logProbabilities(r, d, wide), indices(r, wide, -100), null));
    edge(out, "4096 elements, pos_weight", BceWithLogitsLoss.NAME, (r, d, red) -> bceCase(d, red, null,
        tensor(d, positive(r, 64), new int[] {64}), tensor(d, gaussian(r, 4096, 4), new int[] {64, 64}),
        binaryTargets(r, d, new int[] {64, 64}, true)));
    edge(out, "4096 elements, weight", BceLoss.NAME, (r, d, red) -> probabilityBce(d, red,
        tensor(d, positive(r, 64), new int[] {64}), unitValues(r, d, new int[] {64, 64}, true),
        binaryTargets(r, d, new int[] {64, 64}, true), null));
    edge(out, "zero weight on every target", CrossEntropyLoss.NAME, (r, d, red) -> ce(d, red, 0,
        tensor(d, new double[] {0, 1, 2, 3}, new int[] {4}), tensor(d, gaussian(r, 12, 2), c4),
        Tensor.of(new long[] {0, 0, 0}, 3), null));
  }

  /**
   * Inputs libtorch rejects, each with the cause losskit must reject it with: every backend must reject them too.
   * One reduction each, every dtype.
   */
  private static void rejected(List<Combination> out) {
    int[] c4 = {3, 4};
    reject(out, "target out of range", CrossEntropyLoss.NAME, Cause.TARGET_OUT_OF_RANGE, (r, d) -> ce(d,
        Reduction.MEAN, 0, null, tensor(d, gaussian(r, 12, 2), c4), Tensor.of(new long[] {0, 4, 1}, 3), null));
    reject(out, "negative target", CrossEntropyLoss.NAME, Cause.TARGET_OUT_OF_RANGE, (r, d) -> ce(d,
        Reduction.MEAN, 0.1, null, tensor(d, gaussian(r, 12, 2), c4), Tensor.of(new long[] {0, -2, 1}, 3), null));
    reject(out, "target out of range", NllLoss.NAME, Cause.TARGET_OUT_OF_RANGE, (r, d) -> new LossCase(NllLoss.NAME,
        d, Reduction.SUM, -100, 0, null, null, logProbabilities(r, d, c4), Tensor.of(new long[] {0, 9, 1}, 3), null));
    reject(out, "weight of the wrong length", CrossEntropyLoss.NAME, Cause.WEIGHT_SHAPE, (r, d) -> ce(d,
        Reduction.MEAN, 0, classWeight(r, d, 5), tensor(d, gaussian(r, 12, 2), c4), Tensor.of(new long[] {0, 1, 2}, 3),
        null));
    reject(out, "weight of the wrong length", NllLoss.NAME, Cause.WEIGHT_SHAPE, (r, d) -> new LossCase(NllLoss.NAME,
        d, Reduction.MEAN, -100, 0, classWeight(r, d, 3), null, logProbabilities(r, d, c4),
        Tensor.of(new long[] {0, 1, 2}, 3), null));
    reject(out, "batch size mismatch", CrossEntropyLoss.NAME, Cause.SHAPE_MISMATCH, (r, d) -> ce(d, Reduction.MEAN,
        0, null, tensor(d, gaussian(r, 12, 2), c4), Tensor.of(new long[] {0, 1}, 2), null));
    reject(out, "spatial size mismatch", NllLoss.NAME, Cause.SHAPE_MISMATCH, (r, d) -> new LossCase(NllLoss.NAME, d,
        Reduction.MEAN, -100, 0, null, null, logProbabilities(r, d, new int[] {2, 4, 3}), Tensor.of(new long[4], 2, 2),
        null));
    reject(out, "label smoothing above 1", CrossEntropyLoss.NAME, Cause.LABEL_SMOOTHING_RANGE, (r, d) -> ce(d,
        Reduction.MEAN, 1.5, null, tensor(d, gaussian(r, 12, 2), c4), Tensor.of(new long[] {0, 1, 2}, 3), null));
    reject(out, "label smoothing above 1, probabilities", CrossEntropyLoss.NAME, Cause.LABEL_SMOOTHING_RANGE,
        (r, d) -> ce(d, Reduction.MEAN, 1.5, null, tensor(d, gaussian(r, 12, 2), c4), probabilities(r, d, c4), null));
    reject(out, "pos_weight not broadcastable", BceWithLogitsLoss.NAME, Cause.POS_WEIGHT_SHAPE, (r, d) -> bceCase(d,
        Reduction.MEAN, null, tensor(d, positive(r, 5), new int[] {5}), tensor(d, gaussian(r, 12, 2), c4),
        binaryTargets(r, d, c4, false)));
    reject(out, "weight not broadcastable", BceWithLogitsLoss.NAME, Cause.WEIGHT_SHAPE, (r, d) -> bceCase(d,
        Reduction.MEAN, tensor(d, positive(r, 3), new int[] {3}), null, tensor(d, gaussian(r, 12, 2), c4),
        binaryTargets(r, d, c4, false)));
    reject(out, "target shape differs", BceWithLogitsLoss.NAME, Cause.SHAPE_MISMATCH, (r, d) -> bceCase(d,
        Reduction.MEAN, null, null, tensor(d, gaussian(r, 12, 2), c4), binaryTargets(r, d, new int[] {3, 4, 1},
        false)));
    // BCELoss: libtorch's kernel checks each input and target value ("all elements of input should be between 0
    // and 1").
    double[] badInputs = {1.5, -0.25, Double.NaN, Double.POSITIVE_INFINITY};
    String[] badNames = {"p above 1", "p negative", "p NaN", "p infinite"};
    for (int k = 0; k < badInputs.length; k++) {
      double bad = badInputs[k];
      reject(out, badNames[k], BceLoss.NAME, Cause.PROBABILITY_RANGE, (r, d) -> {
        double[] v = unitValues(r, d, c4, false).toDoubleArray();
        v[5] = bad;
        return probabilityBce(d, Reduction.MEAN, null, tensor(d, v, c4), binaryTargets(r, d, c4, true), null);
      });
    }
    for (double bad : new double[] {1.5, -1}) {
      reject(out, "target " + (bad > 1 ? "above 1" : "negative"), BceLoss.NAME, Cause.PROBABILITY_RANGE, (r, d) -> {
        double[] y = binaryTargets(r, d, c4, true).toDoubleArray();
        y[7] = bad;
        return probabilityBce(d, Reduction.SUM, null, unitValues(r, d, c4, false), tensor(d, y, c4), null);
      });
    }
    reject(out, "weight not broadcastable", BceLoss.NAME, Cause.WEIGHT_SHAPE, (r, d) -> probabilityBce(d,
        Reduction.MEAN, tensor(d, positive(r, 3), new int[] {3}), unitValues(r, d, c4, false),
        binaryTargets(r, d, c4, false), null));
    reject(out, "target shape differs", BceLoss.NAME, Cause.SHAPE_MISMATCH, (r, d) -> probabilityBce(d,
        Reduction.MEAN, null, unitValues(r, d, c4, false), binaryTargets(r, d, new int[] {3, 4, 1}, false), null));
  }

  // ---- building combinations -----------------------------------------------------------------------------------

  @FunctionalInterface
  private interface EdgeCase {
    LossCase make(Random r, DType dtype, Reduction reduction);
  }

  @FunctionalInterface
  private interface RejectedCase {
    LossCase make(Random r, DType dtype);
  }

  private static void edge(List<Combination> out, String name, String loss, EdgeCase make) {
    for (Reduction reduction : REDUCTIONS) {
      for (DType dtype : DTYPES) {
        Map<String, String> axes = axes("edge", name, "reduction", reduction, "dtype", dtype);
        out.add(combination(loss, axes, null, r -> make.make(r, dtype, reduction)));
      }
    }
  }

  private static void reject(List<Combination> out, String name, String loss, Cause cause, RejectedCase make) {
    for (DType dtype : DTYPES) {
      Map<String, String> axes = axes("rejected", name, "dtype", dtype);
      out.add(combination(loss, axes, java.util.Objects.requireNonNull(cause), r -> make.make(r, dtype)));
    }
  }

  private static Combination combination(String loss, Map<String, String> axes, Cause cause,
      Function<Random, LossCase> make) {
    String id = loss + axes.entrySet().stream()
        .map(e -> e.getKey().equals("dtype") ? e.getValue() : e.getKey() + "=" + e.getValue())
        .collect(Collectors.joining(", ", "[", "]"));
    LossCase call = make.apply(new Random(id.hashCode()));
    return new Combination(id, axes, call, cause);
  }

  private static Map<String, String> axes(Object... kv) {
    Map<String, String> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put((String) kv[i], String.valueOf(kv[i + 1]));
    }
    return m;
  }

  private static LossCase ce(DType d, Reduction red, double ls, Tensor weight, Tensor x, Tensor t, Tensor g) {
    return new LossCase(CrossEntropyLoss.NAME, d, red, -100, ls, weight, null, x, t, g);
  }

  private static LossCase probabilityBce(DType d, Reduction red, Tensor weight, Tensor p, Tensor y, Tensor g) {
    return new LossCase(BceLoss.NAME, d, red, -100, 0, weight, null, p, y, g);
  }

  /** Probabilities in (0, 1), or with every third one exactly 0 or 1 when {@code exact}. */
  private static Tensor unitValues(Random r, DType dtype, int[] shape, boolean exact) {
    double[] p = new double[size(shape)];
    for (int i = 0; i < p.length; i++) {
      p[i] = exact && i % 3 == 0 ? r.nextInt(2) : r.nextDouble();
    }
    return tensor(dtype, p, shape);
  }

  private static LossCase bceCase(DType d, Reduction red, Tensor weight, Tensor posWeight, Tensor x, Tensor y) {
    return new LossCase(BceWithLogitsLoss.NAME, d, red, -100, 0, weight, posWeight, x, y, null);
  }

  // ---- data ----------------------------------------------------------------------------------------------------

  static String shape(int[] shape) {
    return Arrays.stream(shape).mapToObj(String::valueOf).collect(Collectors.joining(",", "(", ")"));
  }

  private static int size(int[] shape) {
    return Tensor.checkedSize(shape);
  }

  private static int classes(int[] shape) {
    return shape.length == 1 ? shape[0] : shape[1];
  }

  /** The shape of an unreduced class loss: the input's shape without the class dimension. */
  private static int[] lossShape(int[] shape) {
    if (shape.length == 1) {
      return new int[0];
    }
    int[] out = new int[shape.length - 1];
    out[0] = shape[0];
    System.arraycopy(shape, 2, out, 1, shape.length - 2);
    return out;
  }

  /** The float tensor of the given dtype, rounding each draw once for float32, float16 and bfloat16. */
  static Tensor tensor(DType dtype, double[] values, int[] shape) {
    if (dtype == DType.FLOAT64) {
      return Tensor.of(values, shape);
    }
    if (dtype.isHalf()) {
      return Tensor.rounded(values, dtype, shape);
    }
    float[] f = new float[values.length];
    for (int i = 0; i < f.length; i++) {
      f[i] = (float) values[i];
    }
    return Tensor.of(f, shape);
  }

  private static double[] gaussian(Random r, int n, double scale) {
    double[] v = new double[n];
    for (int i = 0; i < n; i++) {
      v[i] = scale * r.nextGaussian();
    }
    return v;
  }

  private static double[] positive(Random r, int n) {
    double[] v = new double[n];
    for (int i = 0; i < n; i++) {
      v[i] = 0.5 + 1.5 * r.nextDouble();
    }
    return v;
  }

  /** Per-class weights in [0.5, 2) with the last class at exactly 0. */
  private static Tensor classWeight(Random r, DType dtype, int classes) {
    double[] w = positive(r, classes);
    w[classes - 1] = 0;
    return tensor(dtype, w, new int[] {classes});
  }

  /** Class indices; when {@code ignore} is hit (not -100), about a quarter of the positions, but never all. */
  private static Tensor indices(Random r, int[] shape, long ignore) {
    int[] ls = lossShape(shape);
    int n = size(ls);
    int c = classes(shape);
    long[] t = new long[n];
    for (int i = 0; i < n; i++) {
      t[i] = r.nextInt(c);
    }
    if (ignore != -100) {
      for (int i = 0; i < n; i++) {
        if (r.nextInt(4) == 0) {
          t[i] = ignore;
        }
      }
      t[0] = ignore; // hit at least once; an unbatched input is then all ignored
      if (n > 1) {
        t[n - 1] = ignore == 0 ? 1 : 0;
      }
    }
    return Tensor.of(t, ls);
  }

  /** Index of class c at position p in a (N, C, d...) layout. */
  private static int at(int[] shape, int p, int c) {
    int classes = classes(shape);
    int inner = shape.length <= 2 ? 1 : size(Arrays.copyOfRange(shape, 2, shape.length));
    return (p / inner * classes + c) * inner + p % inner;
  }

  private static Tensor probabilities(Random r, DType dtype, int[] shape) {
    int c = classes(shape);
    int positions = size(shape) / c;
    double[] y = new double[size(shape)];
    for (int p = 0; p < positions; p++) {
      double[] e = new double[c];
      double total = 0;
      for (int k = 0; k < c; k++) {
        e[k] = Math.exp(r.nextGaussian());
        total += e[k];
      }
      for (int k = 0; k < c; k++) {
        y[at(shape, p, k)] = e[k] / total;
      }
    }
    return tensor(dtype, y, shape);
  }

  /** log-softmax of gaussian logits, computed in float64: NLL's usual input. */
  private static Tensor logProbabilities(Random r, DType dtype, int[] shape) {
    int c = classes(shape);
    int positions = size(shape) / c;
    double[] x = gaussian(r, size(shape), 2);
    double[] out = new double[x.length];
    for (int p = 0; p < positions; p++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int k = 0; k < c; k++) {
        max = Math.max(max, x[at(shape, p, k)]);
      }
      double sum = 0;
      for (int k = 0; k < c; k++) {
        sum += Math.exp(x[at(shape, p, k)] - max);
      }
      for (int k = 0; k < c; k++) {
        out[at(shape, p, k)] = x[at(shape, p, k)] - max - Math.log(sum);
      }
    }
    return tensor(dtype, out, shape);
  }

  private static Tensor binaryTargets(Random r, DType dtype, int[] shape, boolean soft) {
    double[] y = new double[size(shape)];
    for (int i = 0; i < y.length; i++) {
      y[i] = soft ? r.nextDouble() : r.nextInt(2);
    }
    return tensor(dtype, y, shape);
  }

  /** A BCE weight that broadcasts: (1) for (N), (C) for (N, C), (1, C, 1, 1) for (N, C, H, W). */
  private static Tensor broadcastWeight(Random r, DType dtype, int[] shape) {
    int[] w = shape.length == 1 ? new int[] {1}
        : shape.length == 2 ? new int[] {shape[1]}
        : new int[] {1, shape[1], 1, 1};
    return tensor(dtype, positive(r, size(w)), w);
  }

  /** A random upstream gradient in the loss's shape: a scalar unless the reduction is none. */
  private static Tensor upstream(Random r, DType dtype, Reduction reduction, int[] lossShape) {
    int[] shape = reduction == Reduction.NONE ? lossShape : new int[0];
    return tensor(dtype, gaussian(r, size(shape), 1), shape);
  }
}
