package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.losskit.core.LossArgumentException.Cause;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * scikit-learn's {@code log_loss}: values from scikit-learn 1.9.1 where the test says so, otherwise against
 * {@code -sum_i w_i sum_c Y_ic log clip(P_ic)} written out here. Every check and its cause is in
 * {@link BadInputTest} and {@link LossArgumentCauseTest}; the golden files hold 278 more cases from scikit-learn.
 */
class LogLossTest {
  private static final LogLoss DEFAULT = LogLoss.create();
  private static final double LN2 = Math.log(2);

  private static Tensor labels(long... y) {
    return Tensor.of(y, y.length);
  }

  private static Tensor rows(int columns, double... p) {
    return Tensor.of(p, p.length / columns, columns);
  }

  private static void assertBits(double expected, double actual, String what) {
    assertEquals(Double.doubleToLongBits(expected), Double.doubleToLongBits(actual),
        what + ": " + expected + " vs " + actual);
  }

  // ---- values from scikit-learn --------------------------------------------------------------------------------

  @Test
  void seedExamplesGiveScikitLearnsValues() {
    // scikit-learn 1.9.1: log_loss([[0,1],[1,0]], [[0.3,0.7],[0.8,0.2]]) and log_loss([[0,1,0]], [[0.4,0.4,0.2]])
    // (fixtures/goldens/seed-examples.json, seed003-log-loss-a and -b).
    LogLoss.Result a = DEFAULT.compute(Tensor.of(new long[] {0, 1, 1, 0}, 2, 2), rows(2, 0.3, 0.7, 0.8, 0.2));
    assertEquals(0.2899092476264711, a.loss(), 1e-15);
    LogLoss.Result b = DEFAULT.compute(Tensor.of(new long[] {0, 1, 0}, 1, 3), rows(3, 0.4, 0.4, 0.2));
    assertEquals(0.916290731874155, b.loss(), 1e-15);
    assertEquals(List.of(0L, 1L, 2L), b.classes());
    assertEquals(1, b.samples());
    assertEquals(List.of(), b.warnings());
  }

  @Test
  void stringLabelsGiveScikitLearnsDocstringValue() {
    // scikit-learn 1.9.1's docstring: log_loss(["spam", "ham", "ham", "spam"], [[.1, .9], [.9, .1], [.8, .2],
    // [.35, .65]]) = 0.21616187468057912 (printed as 0.21616).
    String[] y = {"spam", "ham", "ham", "spam"};
    Tensor p = rows(2, .1, .9, .9, .1, .8, .2, .35, .65);
    LogLoss.Result r = DEFAULT.compute(y, p, null);
    assertEquals(0.21616187468057912, r.loss(), 1e-15);
    assertEquals(List.of("ham", "spam"), r.classes());
    // The same as the labels coded by their sorted order.
    assertBits(DEFAULT.compute(labels(1, 0, 0, 1), p).loss(), r.loss(), "strings vs codes");
  }

  @Test
  void negativeWeightsThatNearlyCancelGiveScikitLearnsValue() {
    // scikit-learn 1.9.1 (sklearn-1.9.json, w-negative-sum-near-zero-float64): the weights sum to 5.55e-17 in
    // float64, the order NumPy adds three numbers in, so the mean is huge but defined.
    LogLoss.Result r = DEFAULT.compute(labels(0, 1, 1), rows(2, 0.5, 0.5, 0.3, 0.7, 0.1, 0.9),
        Tensor.of(new double[] {0.1, 0.2, -0.3}, 3));
    assertEquals(1964317974457586.5, r.loss(), 1964317974457586.5 * 1e-12);
  }

  // ---- the formula ---------------------------------------------------------------------------------------------

  @Test
  void labelsAreOneHotOverTheSortedDistinctLabels() {
    double[] p = {0.2, 0.5, 0.3, 0.6, 0.1, 0.3, 0.25, 0.25, 0.5, 0.1, 0.1, 0.8};
    long[] codes = {2, 0, 1, 2};
    double expected = 0;
    for (int i = 0; i < codes.length; i++) {
      expected -= Math.log(p[3 * i + (int) codes[i]]);
    }
    expected /= codes.length;
    LogLoss.Result r = DEFAULT.compute(labels(codes), rows(3, p));
    assertEquals(expected, r.loss(), 1e-15);
    assertEquals(List.of(0L, 1L, 2L), r.classes());
    // Any labels: the columns follow their sorted order.
    LogLoss.Result sparse = DEFAULT.compute(labels(100, -5, 7, 100), rows(3, p));
    assertBits(r.loss(), sparse.loss(), "labels -5, 7, 100");
    assertEquals(List.of(-5L, 7L, 100L), sparse.classes());
    // Whole floating labels are labels.
    assertBits(r.loss(), DEFAULT.compute(Tensor.of(new double[] {2, 0, 1, 2}, 4), rows(3, p)).loss(), "floating");
    // A column (N, 1) of labels is labels, not an indicator matrix.
    assertBits(r.loss(), DEFAULT.compute(Tensor.of(codes, 4, 1), rows(3, p)).loss(), "(N, 1)");
  }

  @Test
  void aOneDimensionalPredictionIsTheProbabilityOfTheSecondClass() {
    double[] p = {0.1, 0.6, 0.9, 0.35};
    long[] y = {0, 1, 1, 0};
    double expected = 0;
    for (int i = 0; i < p.length; i++) {
      expected -= y[i] == 1 ? Math.log(p[i]) : Math.log(1 - p[i]);
    }
    expected /= p.length;
    double oneD = DEFAULT.compute(labels(y), Tensor.of(p, 4)).loss();
    assertEquals(expected, oneD, 1e-15);
    assertBits(oneD, DEFAULT.compute(labels(y), Tensor.of(p, 4, 1)).loss(), "(N, 1)");
    double[] two = new double[8];
    for (int i = 0; i < 4; i++) {
      two[2 * i] = 1 - p[i];
      two[2 * i + 1] = p[i];
    }
    assertBits(oneD, DEFAULT.compute(labels(y), rows(2, two)).loss(), "[1-p, p]");
    // The positive class is the greater label.
    assertBits(oneD, DEFAULT.compute(labels(-3, 8, 8, -3), Tensor.of(p, 4)).loss(), "labels -3, 8");
  }

  @Test
  void float32ComplementIsRoundedToFloat32() {
    float p = 0.1f;
    double expected = -Math.log((double) (1f - p));
    LogLoss.Result r = LogLoss.builder().labels(0, 1).build()
        .compute(labels(0), Tensor.of(new float[] {p}, 1));
    assertEquals(expected, r.loss(), Math.ulp(expected));
    assertTrue((double) (1f - p) != 1 - (double) p, "the test needs a p where the two complements differ");
  }

  @Test
  void probabilitiesAreClippedWithTheMachineEpsilonOfTheirDtype() {
    // p = 0 on the true class is clipped to eps: -log(2^-52) = 52 ln 2 in float64, -log(2^-23) = 23 ln 2 in float32.
    Tensor y = labels(1, 0);
    assertEquals(52 * LN2, DEFAULT.compute(y, rows(2, 1, 0, 0, 1)).loss(), 1e-13);
    assertEquals(23 * LN2, DEFAULT.compute(y, Tensor.of(new float[] {1, 0, 0, 1}, 2, 2)).loss(), 1e-13);
    // p = 1 on the true class is clipped to 1 - eps.
    assertEquals(-Math.log1p(-0x1p-52), DEFAULT.compute(y, rows(2, 0, 1, 1, 0)).loss(), 1e-30);
    assertEquals(-Math.log1p(-0x1p-23), DEFAULT.compute(y, Tensor.of(new float[] {0, 1, 1, 0}, 2, 2)).loss(),
        1e-20);
    // Integer predictions are read as float64, as scikit-learn's check_array converts them.
    assertBits(DEFAULT.compute(y, rows(2, 1, 0, 0, 1)).loss(),
        DEFAULT.compute(y, Tensor.of(new long[] {1, 0, 0, 1}, 2, 2)).loss(), "int64 y_pred");
  }

  @Test
  void normalizeChoosesTheWeightedMeanOrTheWeightedSum() {
    double[] p = {0.7, 0.3, 0.4, 0.6, 0.9, 0.1};
    long[] y = {0, 1, 1};
    double[] w = {2.0, 0.5, 0};
    double sum = 0;
    double weights = 0;
    for (int i = 0; i < 3; i++) {
      sum -= w[i] * Math.log(p[2 * i + (int) y[i]]);
      weights += w[i];
    }
    Tensor weight = Tensor.of(w, 3);
    assertEquals(sum / weights, DEFAULT.compute(labels(y), rows(2, p), weight).loss(), 1e-15);
    LogLoss total = LogLoss.builder().normalize(false).build();
    assertEquals(sum, total.compute(labels(y), rows(2, p), weight).loss(), 1e-15);
    double unweighted = 0;
    for (int i = 0; i < 3; i++) {
      unweighted -= Math.log(p[2 * i + (int) y[i]]);
    }
    assertEquals(unweighted, total.compute(labels(y), rows(2, p)).loss(), 1e-15);
    // Integer weights are weights.
    assertBits(DEFAULT.compute(labels(y), rows(2, p), Tensor.of(new double[] {3, 1, 0}, 3)).loss(),
        DEFAULT.compute(labels(y), rows(2, p), Tensor.of(new long[] {3, 1, 0}, 3)).loss(), "int64 weights");
  }

  @Test
  void labelsNameClassesThatYTrueLacks() {
    // Classes 1..4; y_true has no 3, whose column is still y_pred's third.
    double[] p = {0.1, 0.2, 0.3, 0.4, 0.4, 0.3, 0.2, 0.1, 0.25, 0.25, 0.25, 0.25};
    long[] y = {4, 1, 2};
    double expected = -(Math.log(0.4) + Math.log(0.4) + Math.log(0.25)) / 3;
    LogLoss.Result r = LogLoss.builder().labels(1, 2, 3, 4).build().compute(labels(y), rows(4, p));
    assertEquals(expected, r.loss(), 1e-15);
    assertEquals(List.of(1L, 2L, 3L, 4L), r.classes());
    assertEquals(List.of(), r.warnings());
    // Unsorted labels are sorted, as LabelBinarizer does, with scikit-learn's warning.
    LogLoss unsorted = LogLoss.builder().labels(3, 1, 4, 2).build();
    LogLoss.Result u = unsorted.compute(labels(y), rows(4, p));
    assertBits(r.loss(), u.loss(), "unsorted labels");
    assertEquals(1, u.warnings().size(), u.warnings().toString());
    assertTrue(u.warnings().get(0).startsWith("Labels passed were [3, 1, 4, 2]. But this function assumes labels"
        + " are ordered lexicographically. Pass the ordered labels=[1, 2, 3, 4]"), u.warnings().get(0));
    assertEquals(List.of(1L, 2L, 3L, 4L), u.classes());
    // Labels make a single class in y_true fine, and a 1-D y_pred reads as [1-p, p] over them.
    LogLoss.Result single = LogLoss.builder().labels(0, 1).build().compute(labels(1, 1), Tensor.of(new double[] {
        0.8, 0.6}, 2));
    assertEquals(-(Math.log(0.8) + Math.log(0.6)) / 2, single.loss(), 1e-15);
  }

  @Test
  void rowsNotSummingToOneAreCountedWarnedAndUsedAsGiven() {
    double[] p = {0.3, 0.3, 0.2, 0.8, 0.9, 0.9};
    LogLoss.Result r = DEFAULT.compute(labels(0, 1, 1), rows(2, p));
    assertEquals(-(Math.log(0.3) + Math.log(0.8) + Math.log(0.9)) / 3, r.loss(), 1e-15);
    assertEquals(2, r.rowsNotSummingToOne());
    assertEquals(List.of(LogLoss.ROWS_NOT_SUMMING_TO_ONE), r.warnings());
    assertEquals("The y_prob values do not sum to one. Make sure to pass probabilities.", r.warnings().get(0));
  }

  @Test
  void theRowSumToleranceIsSqrtEpsPlusOneE8InTheDtype() {
    double bound64 = 1e-8 + Math.sqrt(0x1p-52);
    LogLoss.Result in64 = DEFAULT.compute(labels(0, 1), rows(2, 1 - 0.9 * bound64, 0, 0.5, 0.5));
    LogLoss.Result out64 = DEFAULT.compute(labels(0, 1), rows(2, 1 - 1.1 * bound64, 0, 0.5, 0.5));
    assertEquals(0, in64.rowsNotSummingToOne());
    assertEquals(1, out64.rowsNotSummingToOne());
    float bound32 = 1e-8f + (float) Math.sqrt(0x1p-23);
    float[] inside = {0.5f, 0.5f + 0.9f * bound32, 0.5f, 0.5f};
    float[] outside = {0.5f, 0.5f + 1.1f * bound32, 0.5f, 0.5f};
    assertEquals(0, DEFAULT.compute(labels(0, 1), Tensor.of(inside, 2, 2)).rowsNotSummingToOne());
    assertEquals(1, DEFAULT.compute(labels(0, 1), Tensor.of(outside, 2, 2)).rowsNotSummingToOne());
    // The float32 bound (3.45e-4) would pass the float64 row: the dtype decides.
    assertTrue(1.1 * bound64 < bound32);
  }

  @Test
  void pairwiseSumsFollowNumpysOrder() {
    // numpy/_core/src/umath/loops_utils.h.src: below 8 terms NumPy adds in order from 0; from 8 to 128 terms it
    // keeps eight partial sums r[j] = a[j] + a[j+8] + ..., combines them as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))
    // and adds the remainder in order; above 128 it sums the halves split at a multiple of 8.
    double[] a = new double[17];
    for (int i = 0; i < a.length; i++) {
      a[i] = 1.0 / (i + 3);
    }
    double seven = 0;
    for (int i = 0; i < 7; i++) {
      seven += a[i];
    }
    assertBits(seven, LogLoss.pairwiseSum64(a, 0, 7), "7 terms");
    double[] r = new double[8];
    float[] r32 = new float[8];
    for (int j = 0; j < 8; j++) {
      r[j] = a[j] + a[j + 8];
      r32[j] = (float) a[j] + (float) a[j + 8];
    }
    double seventeen = (((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))) + a[16];
    assertBits(seventeen, LogLoss.pairwiseSum64(a, 0, 17), "17 terms");
    float seventeen32 = (((r32[0] + r32[1]) + (r32[2] + r32[3])) + ((r32[4] + r32[5]) + (r32[6] + r32[7])))
        + (float) a[16];
    double[] rounded = new double[17];
    for (int i = 0; i < rounded.length; i++) {
      rounded[i] = (float) a[i];
    }
    assertEquals(seventeen32, LogLoss.pairwiseSum32(rounded, 0, 17));
    double[] thirds = new double[300];
    java.util.Arrays.fill(thirds, 1.0 / 3);
    assertBits(LogLoss.pairwiseSum64(thirds, 0, 144) + LogLoss.pairwiseSum64(thirds, 144, 156),
        LogLoss.pairwiseSum64(thirds, 0, 300), "300 terms");
  }

  @Test
  void anIndicatorMatrixIsUsedAsGiven() {
    double[] p = {0.2, 0.5, 0.3, 0.6, 0.1, 0.3, 0.25, 0.25, 0.5};
    // Several ones in a row, and an empty row (loss 0, but it counts as a sample).
    long[] y = {1, 1, 0, 0, 0, 0, 0, 0, 1};
    double expected = -(Math.log(0.2) + Math.log(0.5) + Math.log(0.5)) / 3;
    LogLoss.Result r = DEFAULT.compute(Tensor.of(y, 3, 3), rows(3, p));
    assertEquals(expected, r.loss(), 1e-15);
    assertEquals(List.of(0L, 1L, 2L), r.classes());
    // Two distinct whole values weigh the logs: {0, 2} doubles the loss; floating values are the same.
    long[] twice = y.clone();
    for (int i = 0; i < twice.length; i++) {
      twice[i] *= 2;
    }
    assertEquals(2 * expected, DEFAULT.compute(Tensor.of(twice, 3, 3), rows(3, p)).loss(), 1e-15);
    double[] floating = new double[9];
    for (int i = 0; i < 9; i++) {
      floating[i] = y[i];
    }
    assertBits(r.loss(), DEFAULT.compute(Tensor.of(floating, 3, 3), rows(3, p)).loss(), "floating indicator");
    assertBits(0.0, DEFAULT.compute(Tensor.of(new long[9], 3, 3), rows(3, p)).loss(), "all zeros");
    // A (N, 2) indicator with a 1-D y_pred.
    assertBits(DEFAULT.compute(labels(1, 0), Tensor.of(new double[] {0.7, 0.2}, 2)).loss(),
        DEFAULT.compute(Tensor.of(new long[] {0, 1, 1, 0}, 2, 2), Tensor.of(new double[] {0.7, 0.2}, 2)).loss(),
        "(N, 2) indicator");
  }

  @Test
  void stringsSortByCodePointAsNumpyDoes() {
    // U+FFFF sorts before U+1F600 by code point; Java's compareTo (UTF-16 units) would put the emoji first.
    String emoji = "\uD83D\uDE00";
    String last = "\uFFFF";
    assertTrue(emoji.compareTo(last) < 0);
    LogLoss.Result r = DEFAULT.compute(new String[] {emoji, last}, rows(2, 0.1, 0.9, 0.6, 0.4), null);
    assertEquals(List.of(last, emoji), r.classes());
    assertEquals(-(Math.log(0.9) + Math.log(0.6)) / 2, r.loss(), 1e-15);
    LogLoss labelled = LogLoss.builder().labels("c", "a", "b").build();
    LogLoss.Result l = labelled.compute(new String[] {"a", "c"}, rows(3, 0.5, 0.3, 0.2, 0.1, 0.1, 0.8), null);
    assertEquals(-(Math.log(0.5) + Math.log(0.8)) / 2, l.loss(), 1e-15);
    assertEquals(List.of("a", "b", "c"), l.classes());
    assertEquals(1, l.warnings().size());
  }

  @Test
  void theResultAndTheOptionsAreReadOnly() {
    LogLoss.Result r = DEFAULT.compute(labels(0, 1), Tensor.of(new double[] {0.5, 0.5}, 2));
    assertThrows(UnsupportedOperationException.class, () -> r.classes().add(3L));
    assertThrows(UnsupportedOperationException.class, () -> r.warnings().add("x"));
    long[] given = {2, 1};
    LogLoss m = LogLoss.builder().normalize(false).labels(given).build();
    given[0] = 7;
    assertEquals(List.of(1L, 2L), List.of(m.labels()[0], m.labels()[1]));
    m.labels()[0] = 9;
    assertEquals(1L, m.labels()[0]);
    assertEquals("LogLoss(normalize=false, labels=[1, 2])", m.toString());
    assertEquals(null, DEFAULT.labels());
    assertEquals(null, m.stringLabels());
    assertTrue(DEFAULT.normalize());
  }

  // ---- accumulation --------------------------------------------------------------------------------------------

  private record Data(Tensor y, Tensor p, Tensor w, long[] yv, double[] pv, double[] wv) {}

  private static Data random(long seed, int n, int c, boolean float32) {
    Random r = new Random(seed);
    long[] y = new long[n];
    double[] p = new double[n * c];
    double[] w = new double[n];
    for (int i = 0; i < n; i++) {
      y[i] = 10 * r.nextInt(c);
      double sum = 0;
      for (int j = 0; j < c; j++) {
        p[i * c + j] = r.nextInt(10) == 0 ? 0 : r.nextDouble();
        sum += p[i * c + j];
      }
      for (int j = 0; j < c; j++) {
        p[i * c + j] = sum == 0 ? 1.0 / c : p[i * c + j] / sum * (i % 5 == 0 ? 0.9 : 1);
      }
      w[i] = r.nextInt(4) == 0 ? 0 : 3 * r.nextDouble();
    }
    Tensor pt = float32 ? Tensor.fromDoubles(DType.FLOAT32, p.clone(), new int[] {n, c}) : Tensor.of(p, n, c);
    return new Data(Tensor.of(y, n), pt, Tensor.of(w, n), y, pt.toDoubleArray(), w);
  }

  private static Tensor slice(double[] v, int from, int to, int columns, boolean float32) {
    double[] part = java.util.Arrays.copyOfRange(v, from * columns, to * columns);
    int[] shape = columns == 0 ? new int[] {to - from} : new int[] {to - from, columns};
    return float32 ? Tensor.fromDoubles(DType.FLOAT32, part, shape) : Tensor.of(part, shape);
  }

  @Test
  void accumulatingBatchesGivesTheSingleCallOnTheConcatenationBitForBit() {
    int[] cuts = {0, 5, 5, 20, 21, 37};
    for (boolean float32 : new boolean[] {false, true}) {
      for (boolean normalize : new boolean[] {true, false}) {
        for (boolean weighted : new boolean[] {false, true}) {
          Data d = random(7, 37, 4, float32);
          LogLoss m = LogLoss.builder().normalize(normalize).labels(0, 10, 20, 30).build();
          LogLoss.Result once = m.compute(d.y(), d.p(), weighted ? d.w() : null);
          LogLoss.Accumulator acc = m.accumulator();
          for (int k = 0; k + 1 < cuts.length; k++) {
            int from = cuts[k];
            int to = cuts[k + 1];
            Tensor y = Tensor.of(java.util.Arrays.copyOfRange(d.yv(), from, to), to - from);
            Tensor w = weighted ? Tensor.of(java.util.Arrays.copyOfRange(d.wv(), from, to), to - from) : null;
            acc.add(y, slice(d.pv(), from, to, 4, float32), w);
          }
          LogLoss.Result batched = acc.result();
          String what = "float32=" + float32 + " normalize=" + normalize + " weighted=" + weighted;
          assertBits(once.loss(), batched.loss(), what);
          assertEquals(once, batched, what);
          assertTrue(once.rowsNotSummingToOne() > 0, "the data has rows not summing to one");
          assertEquals(37, acc.samples());
        }
      }
    }
  }

  @Test
  void accumulatingIndicatorBatchesAndOneDimensionalPredictions() {
    long[] y = {1, 0, 0, 1, 1, 1, 0, 0, 1, 0};
    double[] p = {0.9, 0.2, 0.5, 0.7, 0.4};
    LogLoss.Result once = DEFAULT.compute(Tensor.of(y, 5, 2), Tensor.of(p, 5));
    LogLoss.Accumulator acc = DEFAULT.accumulator();
    acc.add(Tensor.of(java.util.Arrays.copyOfRange(y, 0, 4), 2, 2), Tensor.of(new double[] {0.9, 0.2}, 2));
    acc.add(Tensor.of(new long[0], 0, 2), Tensor.of(new double[0], 0));
    acc.add(Tensor.of(java.util.Arrays.copyOfRange(y, 4, 10), 3, 2), Tensor.of(new double[] {0.5, 0.7, 0.4}, 3));
    assertEquals(once, acc.result());
    // Its classes are the indicator's columns, fixed by the first batch.
    LossArgumentException e = assertThrows(LossArgumentException.class,
        () -> acc.add(Tensor.of(new long[] {0, 1, 0}, 1, 3), rows(3, 0.2, 0.3, 0.5)));
    assertEquals(Cause.SHAPE_MISMATCH, e.cause(), e.getMessage());
  }

  @Test
  void theAccumulatorChecksTheWholeDataAtTheEnd() {
    LogLoss m = LogLoss.builder().labels(0, 1).build();
    LogLoss.Accumulator acc = m.accumulator();
    LossArgumentException empty = assertThrows(LossArgumentException.class, acc::result);
    assertEquals(Cause.INPUT_SHAPE, empty.cause());
    // All-zero weights in one batch are fine when another batch has a weight.
    acc.add(labels(0, 1), rows(2, 0.6, 0.4, 0.3, 0.7), Tensor.of(new double[2], 2));
    assertEquals(Cause.SAMPLE_WEIGHT, assertThrows(LossArgumentException.class, acc::result).cause());
    acc.add(labels(1), rows(2, 0.2, 0.8), Tensor.of(new double[] {2}, 1));
    assertEquals(-Math.log(0.8), acc.result().loss(), 1e-15);
    // Weights summing to zero: no mean, but a sum.
    LogLoss.Accumulator cancel = m.accumulator();
    cancel.add(labels(0), rows(2, 0.6, 0.4), Tensor.of(new double[] {1}, 1));
    cancel.add(labels(1), rows(2, 0.6, 0.4), Tensor.of(new double[] {-1}, 1));
    assertEquals(Cause.SAMPLE_WEIGHT, assertThrows(LossArgumentException.class, cancel::result).cause());
    LogLoss.Accumulator sum = LogLoss.builder().normalize(false).labels(0, 1).build().accumulator();
    sum.add(labels(0, 1), rows(2, 0.6, 0.4, 0.6, 0.4), Tensor.of(new double[] {1, -1}, 2));
    assertEquals(-Math.log(0.6) + Math.log(0.4), sum.result().loss(), 1e-15);
  }

  @Test
  void theAccumulatorFixesItsClassesAndDtypeUpFront() {
    LossArgumentException noLabels = assertThrows(LossArgumentException.class,
        () -> DEFAULT.accumulator().add(labels(0, 1), rows(2, 0.5, 0.5, 0.5, 0.5)));
    assertEquals(Cause.OPTION, noLabels.cause());
    assertTrue(noLabels.getMessage().contains("labels("), noLabels.getMessage());
    LogLoss.Accumulator acc = LogLoss.builder().labels(0, 1).build().accumulator();
    acc.add(labels(0), Tensor.of(new float[] {0.5f, 0.5f}, 1, 2));
    LossArgumentException dtype = assertThrows(LossArgumentException.class,
        () -> acc.add(labels(1), rows(2, 0.5, 0.5)));
    assertEquals(Cause.DTYPE, dtype.cause());
    // An indicator matrix holds at most two distinct values over all batches.
    LogLoss.Accumulator ind = DEFAULT.accumulator();
    ind.add(Tensor.of(new long[] {0, 1}, 1, 2), rows(2, 0.5, 0.5));
    ind.add(Tensor.of(new long[] {1, 1}, 1, 2), rows(2, 0.5, 0.5));
    LossArgumentException third = assertThrows(LossArgumentException.class,
        () -> ind.add(Tensor.of(new long[] {2, 0}, 1, 2), rows(2, 0.5, 0.5)));
    assertEquals(Cause.TARGET_TYPE, third.cause());
    assertTrue(third.getMessage().contains("[0, 1, 2]"), third.getMessage());
  }

  @Test
  void aRejectedBatchLeavesTheAccumulatorUnchangedAndResetEmptiesIt() {
    LogLoss m = LogLoss.builder().labels(0, 1, 2).build();
    LogLoss.Accumulator acc = m.accumulator();
    acc.add(labels(0, 2), rows(3, 0.5, 0.25, 0.25, 0.1, 0.1, 0.8));
    LogLoss.Result before = acc.result();
    // A bad label in the last row, a probability above 1, a bad weight: nothing of these batches is added.
    assertThrows(LossArgumentException.class, () -> acc.add(labels(1, 5), rows(3, 0.2, 0.2, 0.6, 0.3, 0.3, 0.4)));
    assertThrows(LossArgumentException.class, () -> acc.add(labels(1), rows(3, 0.2, 0.2, 1.6)));
    assertThrows(LossArgumentException.class,
        () -> acc.add(labels(1, 1), rows(3, 0.2, 0.2, 0.6, 0.3, 0.3, 0.4), Tensor.of(new double[] {1, Double.NaN},
            2)));
    assertEquals(before, acc.result());
    assertEquals(2, acc.samples());
    acc.reset();
    assertEquals(0, acc.samples());
    assertEquals(Cause.INPUT_SHAPE, assertThrows(LossArgumentException.class, acc::result).cause());
    acc.add(labels(1), Tensor.of(new float[] {0.2f, 0.7f, 0.1f}, 1, 3));
    assertEquals(-Math.log(0.7f), acc.result().loss(), 1e-15);
  }

  @Test
  void oneMetricIsSharedAcrossThreads() throws Exception {
    LogLoss m = LogLoss.builder().labels(0, 10, 20, 30).build();
    List<Data> data = new ArrayList<>();
    List<LogLoss.Result> alone = new ArrayList<>();
    for (int k = 0; k < 16; k++) {
      Data d = random(100 + k, 50 + k, 4, k % 2 == 0);
      data.add(d);
      alone.add(m.compute(d.y(), d.p(), k % 3 == 0 ? null : d.w()));
    }
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        done.add(pool.submit(() -> {
          for (int round = 0; round < 50; round++) {
            for (int k = 0; k < data.size(); k++) {
              Data d = data.get(k);
              assertEquals(alone.get(k), m.compute(d.y(), d.p(), k % 3 == 0 ? null : d.w()));
            }
          }
          return null;
        }));
      }
      for (Future<?> f : done) {
        f.get();
      }
    } finally {
      pool.shutdown();
      assertTrue(pool.awaitTermination(1, TimeUnit.MINUTES));
    }
  }
}
