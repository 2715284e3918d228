package dev.losskit.onnx;

import dev.losskit.core.BceLoss;
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.NllLoss;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.util.Arrays;
import java.util.List;

/**
 * The loss subgraphs: each loss's forward formula and its analytic gradient, one ONNX node per line, as libtorch
 * defines them (see the core's {@code Reference*} kernels for the same formulas as loops). The formulas have the
 * class dimension at 1, {@code (N, C, d1, ..., dk)}; a class-last input ({@code classAxis(-1)}) is transposed to
 * that layout first and its gradient transposed back.
 */
final class LossGraph {
  private LossGraph() {}

  /** The loss, and its gradient with respect to the input (null unless asked for). */
  record Emitted(Value loss, Value grad) {}

  static Emitted emit(OnnxLoss spec, Value x, Value t, Value gradOutput, boolean wantGrad) {
    int rank = spec.rank() + 2;
    if (spec.classAxis() == 1 || rank == 2) {
      return emitClassAt1(spec, x, t, gradOutput, wantGrad);
    }
    // Class last, (N, d1..dk, C): transposed to (N, C, d1..dk), the layout every formula below assumes, and the
    // gradient transposed back, so it keeps the input's layout. Transpose is the same operator at every opset.
    long[] toClassAt1 = new long[rank];
    long[] back = new long[rank];
    toClassAt1[1] = rank - 1;
    for (int d = 2; d < rank; d++) {
      toClassAt1[d] = d - 1;
    }
    for (int d = 0; d < rank; d++) {
      back[(int) toClassAt1[d]] = d;
    }
    Graph g = x.g;
    Value xt = g.op("Transpose", List.of(x), "perm", toClassAt1);
    Value tt = spec.probabilities() ? g.op("Transpose", List.of(t), "perm", toClassAt1) : t;
    Emitted e = emitClassAt1(spec, xt, tt, gradOutput, wantGrad);
    return new Emitted(e.loss(), e.grad() == null ? null : g.op("Transpose", List.of(e.grad()), "perm", back));
  }

  private static Emitted emitClassAt1(OnnxLoss spec, Value x, Value t, Value gradOutput, boolean wantGrad) {
    dev.losskit.core.Loss loss = spec.loss();
    if (loss instanceof CrossEntropyLoss ce) {
      return spec.probabilities()
          ? probabilityTargets(spec, x, t, ce.weight(), ce.labelSmoothing(), gradOutput, wantGrad)
          : classIndices(spec, x, t, ce.weight(), ce.ignoreIndex(), ce.labelSmoothing(), true, gradOutput, wantGrad);
    }
    if (loss instanceof NllLoss nll) {
      return classIndices(spec, x, t, nll.weight(), nll.ignoreIndex(), 0, false, gradOutput, wantGrad);
    }
    if (loss instanceof BceLoss bce) {
      return bce(spec, x, t, bce.weight(), gradOutput, wantGrad);
    }
    BceWithLogitsLoss bce = (BceWithLogitsLoss) loss;
    return bceWithLogits(spec, x, t, bce.weight(), bce.posWeight(), gradOutput, wantGrad);
  }

  /**
   * Class indices: \( (1-\varepsilon)\,\mathrm{nll} + \tfrac{\varepsilon}{C} S \) with ignored positions masked to 0;
   * {@code mean} divides by \( W = \sum w_t \) over non-ignored positions. Gradient:
   * \( \partial\log p = -g\,[(1-\varepsilon)\,w_t\,\mathbb{1}_{c=t} + \tfrac{\varepsilon}{C} w_c] \), then
   * \( \partial x = \partial\log p - e^{\log p} \sum_c \partial\log p \) (cross-entropy only).
   */
  private static Emitted classIndices(OnnxLoss spec, Value x, Value t, double[] weight, long ignoreIndex, double eps,
      boolean logSoftmax, Value gradOutput, boolean wantGrad) {
    Graph g = x.g;
    int rank = spec.rank() + 2;
    Reduction reduction = spec.loss().reduction();
    Value zero = g.scalar(0);
    Value mask = t.equal(g.int64(ignoreIndex)).not();
    // Ignored positions read class 0; a negative class index that is not ignored is sent out of bounds, so the
    // run fails as in PyTorch (GatherElements would otherwise count it from the end).
    Value index = t.where(mask, g.int64(0));
    Value safe = g.int64(Graph.OUT_OF_BOUNDS).where(index.less(g.int64(0)), index);
    long[] spatial = new long[rank - 1];
    for (int d = 1; d < spatial.length; d++) {
      spatial[d] = d + 1;
    }
    Value valid = g.guard(t.shape().equal(x.shape().gather(g.int64s(spatial), 0)).all());
    Value w = weight == null ? null : g.rounded(weight, new long[] {weight.length});
    Value wt = w == null ? null : w.gather(safe, 0);
    Value weightSum = wt == null ? mask.cast(g.elemType).reduceSum(false) : wt.where(mask, zero).reduceSum(false);
    Value classes = x.shape().gather(g.int64(1), 0);
    Value wB = weight == null ? null : g.rounded(weight, classShape(rank, weight.length));

    Value logp;
    Value lossValue;
    if (spec.usesOp()) {
      Object[] attributes = {"reduction", reduction.pytorchName(), "ignore_index", ignoreIndex};
      List<Value> in = w == null ? List.of(x, t) : List.of(x, t, w);
      if (logSoftmax) {
        List<Value> out = g.ops("SoftmaxCrossEntropyLoss", 2, in, attributes);
        lossValue = out.get(0);
        logp = out.get(1);
      } else {
        lossValue = g.op("NegativeLogLikelihoodLoss", in, attributes);
        logp = x;
      }
    } else {
      logp = logSoftmax ? x.logSoftmax(1, rank) : x;
      Value picked = logp.gatherElements(safe.unsqueeze(1), 1).squeeze(1);
      Value nll = (wt == null ? picked : picked.mul(wt)).neg().where(mask, zero);
      Value smooth = null;
      Value epsOverC = null;
      if (eps > 0) {
        epsOverC = g.scalar(eps).div(classes.toFloat());
        smooth = (wB == null ? logp : logp.mul(wB)).reduceSum(false, 1).neg().where(mask, zero);
      }
      switch (reduction) {
        case NONE:
          lossValue = eps > 0 ? nll.mul(1 - eps).add(smooth.mul(epsOverC)) : nll;
          break;
        case SUM:
          lossValue = eps > 0
              ? nll.reduceSum(false).mul(1 - eps).add(smooth.reduceSum(false).mul(epsOverC))
              : nll.reduceSum(false);
          break;
        default:
          lossValue = eps > 0
              ? nll.reduceSum(false).div(weightSum).mul(1 - eps)
                  .add(smooth.reduceSum(false).div(weightSum).mul(epsOverC))
              : nll.reduceSum(false).div(weightSum);
      }
    }
    lossValue = lossValue.mul(valid);
    if (!wantGrad) {
      return new Emitted(lossValue, null);
    }
    // The gradient reaching each position's loss, zero where the target is ignored.
    Value one = gradOutput != null ? gradOutput : g.scalar(1); // a reduced loss's scalar upstream, or 1
    Value upstream = reduction == Reduction.NONE ? gradOutput
        : reduction == Reduction.SUM ? one : one.div(weightSum);
    Value perPosition = upstream.where(mask, zero).unsqueeze(1);
    Value classIndex = g.op("Range", List.of(g.int64(0), classes, g.int64(1))).reshape(g.int64s(classShape(rank, -1)));
    Value oneHot = safe.unsqueeze(1).equal(classIndex).cast(g.elemType);
    Value target = wt == null ? oneHot : oneHot.mul(wt.unsqueeze(1));
    Value dLogp = target.mul(perPosition).mul(-(1 - eps));
    if (eps > 0) {
      Value spread = wB == null ? perPosition : perPosition.mul(wB);
      dLogp = dLogp.add(spread.mul(g.scalar(-eps).div(classes.toFloat())));
    }
    Value grad = logSoftmax ? dLogp.sub(logp.exp().mul(dLogp.reduceSum(true, 1))) : dLogp;
    return new Emitted(lossValue, grad.mul(valid));
  }

  /**
   * Class probabilities, smoothed to \( y' = y(1-\varepsilon) + \varepsilon/C \): \( \ell = -\sum_c \log p_c\,y'_c\,w_c \);
   * {@code mean} divides by N·d…. Gradient: \( \partial\log p = -g\,y'\,w \), through log-softmax.
   */
  private static Emitted probabilityTargets(OnnxLoss spec, Value x, Value t, double[] weight, double eps,
      Value gradOutput, boolean wantGrad) {
    Graph g = x.g;
    int rank = spec.rank() + 2;
    Reduction reduction = spec.loss().reduction();
    Value valid = g.guard(t.shape().equal(x.shape()).all());
    Value logp = x.logSoftmax(1, rank);
    Value classes = x.shape().gather(g.int64(1), 0).toFloat();
    Value target = eps > 0 ? t.mul(1 - eps).add(g.scalar(eps).div(classes)) : t;
    Value weighted = weight == null ? target : target.mul(g.rounded(weight, classShape(rank, weight.length)));
    Value term = logp.mul(weighted);
    Value positions = x.size().toFloat().div(classes);
    Value lossValue = reduction == Reduction.NONE ? term.reduceSum(false, 1).neg()
        : reduction == Reduction.SUM ? term.reduceSum(false).neg()
        : term.reduceSum(false).neg().div(positions);
    lossValue = lossValue.mul(valid);
    if (!wantGrad) {
      return new Emitted(lossValue, null);
    }
    Value one = gradOutput != null ? gradOutput : g.scalar(1); // a reduced loss's scalar upstream, or 1
    Value upstream = reduction == Reduction.NONE ? gradOutput.unsqueeze(1)
        : reduction == Reduction.SUM ? one : one.div(positions);
    Value dLogp = weighted.mul(upstream).neg();
    return new Emitted(lossValue, dLogp.sub(logp.exp().mul(dLogp.reduceSum(true, 1))).mul(valid));
  }

  /**
   * BCE with logits, in Relu/Abs/Exp/Log form (ONNX Runtime has no float64 Softplus):
   * \( \log\sigma(x) = -\mathrm{relu}(-x) - \log(1 + e^{-|x|}) \),
   * \( \ell = ((1-y)\,x - (1 + (p-1)\,y)\log\sigma(x))\,w \). Gradient: \( ((p y + 1 - y)\,\sigma(x) - p y)\,w\,g \).
   */
  private static Emitted bceWithLogits(OnnxLoss spec, Value x, Value y, Tensor weight, Tensor posWeight,
      Value gradOutput, boolean wantGrad) {
    Graph g = x.g;
    Reduction reduction = spec.loss().reduction();
    Value w = weight == null ? null : constant(g, weight);
    Value p = posWeight == null ? null : constant(g, posWeight);
    Value valid = g.guard(y.shape().equal(x.shape()).all());
    Value logSigmoid = x.neg().relu().neg().sub(x.abs().neg().exp().add(1).log());
    Value logWeight = p == null ? null : p.add(-1).mul(y).add(1);
    Value l = y.neg().add(1).mul(x).sub(logWeight == null ? logSigmoid : logSigmoid.mul(logWeight));
    if (w != null) {
      l = l.mul(w);
    }
    Value count = x.size().toFloat();
    Value lossValue = reduction == Reduction.NONE ? l
        : reduction == Reduction.SUM ? l.reduceSum(false) : l.reduceSum(false).div(count);
    lossValue = lossValue.mul(valid);
    if (!wantGrad) {
      return new Emitted(lossValue, null);
    }
    Value sigmoid = x.neg().exp().add(1).reciprocal();
    Value d;
    if (p != null) {
      Value py = p.mul(y);
      d = py.add(1).sub(y).mul(sigmoid).sub(py);
    } else {
      d = sigmoid.sub(y);
    }
    if (w != null) {
      d = d.mul(w);
    }
    Value grad = reduction == Reduction.NONE ? d.mul(gradOutput)
        : reduction == Reduction.SUM ? (gradOutput == null ? d : d.mul(gradOutput))
        : (gradOutput == null ? d.div(count) : d.mul(gradOutput.div(count)));
    return new Emitted(lossValue, grad.mul(valid));
  }

  /**
   * BCELoss on probabilities, libtorch's formulas with its clamps:
   * \( \ell = ((y - 1)\max(\operatorname{log1p}(-x), -100) - y\max(\log x, -100))\,w \), gradient
   * \( g\,(x - y) / \max((1 - x)\,x, \epsilon)\,w \) with \( \epsilon = 10^{-12} \) in the graph's dtype.
   * {@code Log(0)} is {@code -inf} and {@code Max(-inf, -100)} is -100, so a probability of exactly 0 or 1 costs at
   * most 100 and never makes an {@code inf·0}.
   *
   * <p>ONNX has no {@code Log1p}, and {@code Log(1 - x)} loses the relative accuracy of small x entirely (in float32,
   * 1 - 1e-7 rounds to 1 - 1.19e-7, and every x below 2^-25 gives 0). {@link #log1pOfNeg} computes it with the
   * classic compensation instead, to a few ulps in both dtypes.
   *
   * <p>The graph cannot check that x and y lie in [0, 1] (ONNX has no assert): outside it, it just computes numbers
   * from the same formulas (a NaN where a log's argument is negative), where the core throws.
   */
  private static Emitted bce(OnnxLoss spec, Value x, Value y, Tensor weight, Value gradOutput, boolean wantGrad) {
    Graph g = x.g;
    Reduction reduction = spec.loss().reduction();
    Value w = weight == null ? null : constant(g, weight);
    Value valid = g.guard(y.shape().equal(x.shape()).all());
    Value floor = g.scalar(-100);
    Value oneMinusX = g.scalar(1).sub(x);
    Value logX = x.log().max(floor);
    Value log1mX = log1pOfNeg(x, oneMinusX).max(floor);
    Value l = y.add(-1).mul(log1mX).sub(y.mul(logX));
    if (w != null) {
      l = l.mul(w);
    }
    Value count = x.size().toFloat();
    Value lossValue = reduction == Reduction.NONE ? l
        : reduction == Reduction.SUM ? l.reduceSum(false) : l.reduceSum(false).div(count);
    lossValue = lossValue.mul(valid);
    if (!wantGrad) {
      return new Emitted(lossValue, null);
    }
    // libtorch's EPSILON in the input's dtype, scalar_t(EPSILON): (float) 1e-12 in float32, 0 in float16 (where
    // x = 0 or 1 then divides by 0, as libtorch does), 1.0019e-12 in bfloat16; the division itself is in float32.
    Value d = x.sub(y).div(oneMinusX.mul(x).max(g.rounded(new double[] {BCE_EPSILON}, new long[0])));
    if (w != null) {
      d = d.mul(w);
    }
    Value grad = reduction == Reduction.NONE ? d.mul(gradOutput)
        : reduction == Reduction.SUM ? (gradOutput == null ? d : d.mul(gradOutput))
        : (gradOutput == null ? d.div(count) : d.mul(gradOutput.div(count)));
    return new Emitted(lossValue, grad.mul(valid));
  }

  /** libtorch's clamp of BCELoss's gradient denominator, {@code EPSILON} in {@code aten/src/ATen/native/Loss.cpp}. */
  static final double BCE_EPSILON = dev.losskit.core.BceLoss.EPSILON;

  /**
   * \( \operatorname{log1p}(-x) \) without a {@code Log1p} operator: with \( u = -x \) and \( v = 1 + u \) rounded
   * (given as {@code oneMinusX}), \( \operatorname{log1p}(u) = \log(v) \cdot u / (v - 1) \), or u itself where
   * \( v = 1 \). The rounding error of v cancels between {@code Log(v)} and \( v - 1 \), which is exact (Sterbenz),
   * so the result is within a few ulps of log1p (Goldberg, "What every computer scientist should know about
   * floating-point arithmetic", theorem 4). At x = 1, v = 0 and the result is {@code -inf}; at x = 0 it is -0.
   */
  private static Value log1pOfNeg(Value x, Value oneMinusX) {
    Graph g = x.g;
    Value u = x.neg();
    Value vMinus1 = oneMinusX.sub(g.scalar(1));
    Value compensated = oneMinusX.log().mul(u.div(vMinus1));
    return u.where(vMinus1.equal(g.scalar(0)), compensated);
  }

  /** A per-class weight's shape for broadcasting along axis 1 of a rank-{@code rank} tensor: (1, C, 1, ...). */
  private static long[] classShape(int rank, long classes) {
    long[] shape = new long[rank];
    Arrays.fill(shape, 1);
    shape[1] = classes;
    return shape;
  }

  private static Value constant(Graph g, Tensor t) {
    return g.rounded(t.toDoubleArray(), Arrays.stream(t.shape()).asLongStream().toArray());
  }
}
