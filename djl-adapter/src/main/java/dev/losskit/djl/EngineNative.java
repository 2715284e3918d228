package dev.losskit.djl;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import dev.losskit.core.DType;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.util.Arrays;

/**
 * The engine-native path: the losses composed from DJL NDArray operations, as libtorch composes them, so they run
 * on any device with the engine's autograd. Arguments are checked by the core's own shape rules first, so both
 * paths reject exactly the same inputs with the same messages.
 */
final class EngineNative {
  private EngineNative() {}

  /**
   * {@return whether the labels' values are checked on the host} True on the CPU, where the labels can be read in
   * place, so both paths reject the same labels with the same messages. False on any other device, where reading
   * them back would stall the step: there, out-of-range class indices are left to libtorch's own kernel checks
   * ({@code gather} and {@code take} refuse an index outside the class range, on a GPU as a device-side assertion),
   * and float labels are not checked for being whole numbers (a fractional label is truncated toward zero).
   */
  static boolean hostChecks(Device labels) {
    return Device.Type.CPU.equals(labels.getDeviceType());
  }

  /** Cross-entropy (log-softmax first) or NLL (input used as given). */
  static NDArray classLoss(TorchLoss loss, NDArray pred, NDArray label, double[] weight, long ignoreIndex,
      double eps, boolean logSoftmax) {
    dev.losskit.core.Loss core = loss.core();
    String name = core.name();
    TorchLoss.Layout layout = TorchLoss.Layout.of(loss, pred, label);
    if (layout.pType().isHalf()) {
      DType h = layout.pType();
      NDArray target = layout.probabilities() && layout.lType().isFloating() ? halfTarget(pred, label) : label;
      return HalfPrecision.loss(pred, h, classLoss(loss, HalfPrecision.widen(pred, DataType.FLOAT64), target,
          HalfPrecision.rounded(weight, h), ignoreIndex, eps, logSoftmax));
    }
    DType pType = layout.pType();
    DType lType = layout.lType();
    int[] pShape = layout.pShape();
    int[] lShape = layout.lShape();
    boolean channelsLast = layout.channelsLast();
    boolean probabilities = layout.probabilities();
    int[] torchInput = layout.torchInput();
    NDArray t = inPredictionScope(label, pred);
    // The labels' values are checked on the host, in Java, when they are there already: no engine op, no device
    // synchronisation, and the core's own messages. Elsewhere (a GPU) they are not read back: see hostChecks.
    boolean host = hostChecks(label.getDevice());
    Tensor indices = null;
    if (!probabilities && lType.isFloating()) {
      if (host) {
        indices = CoreBacked.wholeNumbers(label, lShape, name); // throws naming the first fractional label
      }
      lType = DType.INT64;
    }
    core.checkShapes(torchInput, pType, layout.torchTarget(), lType);

    NDArray x = pred;
    if (channelsLast) {
      int[] perm = new int[pShape.length];
      perm[1] = pShape.length - 1;
      for (int d = 2; d < perm.length; d++) {
        perm[d] = d - 1;
      }
      x = pred.transpose(perm);
      if (probabilities) {
        t = t.transpose(perm);
      }
    }
    boolean unbatched = pShape.length == 1;
    int c = torchInput.length == 1 ? torchInput[0] : torchInput[1];
    if (unbatched) {
      x = x.reshape(1, c);
      t = probabilities ? t.reshape(1, c) : t.reshape(1);
    }
    NDArray logp = logSoftmax ? x.logSoftmax(1) : x;
    NDArray w = weight == null ? null : vector(pred.getManager(), weight, pType);
    NDArray result;
    if (probabilities) {
      result = probabilityLoss(logp, t.toType(pred.getDataType(), false), w, eps, core.reduction(), c);
    } else {
      if (host) {
        if (indices == null) {
          indices = TorchLoss.hostView(label, layout.lType(), lShape);
        }
        core.checkTargetValues(torchInput, indices); // throws naming the first index out of range
      }
      NDArray t64 = t.toType(DataType.INT64, false);
      if (host && w == null && eps == 0 && indices.numel() > 0 && !holds(indices, ignoreIndex)) {
        result = plainIndexLoss(logp, t64, core.reduction());
      } else {
        result = indexLoss(logp, t64, w, ignoreIndex, eps, core.reduction(), c);
      }
    }
    return unbatched && core.reduction() == Reduction.NONE ? result.reshape(new Shape()) : result;
  }

  /** {@return whether any of the class indices is {@code value}} */
  private static boolean holds(Tensor indices, long value) {
    for (int i = 0, n = indices.numel(); i < n; i++) {
      if (indices.getLong(i) == value) {
        return true;
      }
    }
    return false;
  }

  /**
   * Class indices with no weight, no smoothing and no ignored position, which the host has checked: libtorch's
   * {@code nll_loss} is then \( -\log p_{t} \) per position and its mean divides by N·d…, so the masks and the
   * weight sum of {@link #indexLoss} are not needed. Four operations, as DJL's own loss takes.
   */
  private static NDArray plainIndexLoss(NDArray logp, NDArray t, Reduction reduction) {
    NDArray picked = logp.gather(t.expandDims(1), 1).squeeze(1);
    switch (reduction) {
      case NONE:
        return picked.neg();
      case SUM:
        return picked.sum().neg();
      case MEAN:
        return picked.mean().neg();
      default:
        throw new AssertionError(reduction);
    }
  }

  /**
   * Class indices, as libtorch's {@code nll_loss} and {@code cross_entropy_loss_label_smoothing}:
   * \( (1-\varepsilon)\,\mathrm{nll} + \tfrac{\varepsilon}{C}\,S \), ignored positions masked (not multiplied) to 0.
   */
  private static NDArray indexLoss(NDArray logp, NDArray t, NDArray w, long ignoreIndex, double eps,
      Reduction reduction, int c) {
    NDArray mask = t.neq(ignoreIndex);
    NDArray safe = NDArrays.where(mask, t, t.zerosLike());
    NDArray picked = logp.gather(safe.expandDims(1), 1).squeeze(1);
    NDArray zeros = picked.zerosLike();
    NDArray wt = w == null ? picked.onesLike() : w.take(safe);
    NDArray nll = NDArrays.where(mask, picked.mul(wt).neg(), zeros);
    NDArray weightSum = NDArrays.where(mask, wt, zeros).sum();
    NDArray smooth = null;
    if (eps > 0) {
      NDArray weighted = w == null ? logp : logp.mul(broadcastClass(w, logp));
      smooth = NDArrays.where(mask, weighted.sum(new int[] {1}).neg(), zeros);
    }
    switch (reduction) {
      case NONE:
        return eps > 0 ? nll.mul(constant(nll, 1 - eps)).add(smooth.mul(constant(nll, eps / c))) : nll;
      case SUM:
        return eps > 0
            ? nll.sum().mul(constant(nll, 1 - eps)).add(smooth.sum().mul(constant(nll, eps / c))) : nll.sum();
      case MEAN:
        return eps > 0
            ? nll.sum().div(weightSum).mul(constant(nll, 1 - eps))
                .add(smooth.sum().div(weightSum).mul(constant(nll, eps / c)))
            : nll.sum().div(weightSum);
      default:
        throw new AssertionError(reduction);
    }
  }

  /** Class probabilities, as libtorch's {@code cross_entropy_loss_prob_target}: {@code mean} divides by N·d…. */
  private static NDArray probabilityLoss(NDArray logp, NDArray y, NDArray w, double eps, Reduction reduction,
      int c) {
    NDArray target = eps > 0 ? y.mul(constant(y, 1 - eps)).add(constant(y, eps / c)) : y;
    NDArray term = logp.mul(target);
    if (w != null) {
      term = term.mul(broadcastClass(w, logp));
    }
    switch (reduction) {
      case NONE:
        return term.sum(new int[] {1}).neg();
      case SUM:
        return term.sum().neg();
      case MEAN:
        return term.sum().neg().div(constant(term, c == 0 ? 0 : logp.size() / c));
      default:
        throw new AssertionError(reduction);
    }
  }

  /** BCE with logits: \( ((1-y)\,x - (1+(p-1)\,y)\,\log\sigma(x))\,w \), with \( \log\sigma(x) = -\mathrm{softplus}(-x) \). */
  static NDArray bceWithLogits(TorchLoss loss, NDArray pred, NDArray label, Tensor weight, Tensor posWeight) {
    dev.losskit.core.Loss core = loss.core();
    String name = core.name();
    DType pType = TorchLoss.dtype(pred, "predictions", name);
    DType lType = TorchLoss.dtype(label, "labels", name);
    if (pType.isHalf()) {
      // Float labels are rounded to the predictions' dtype, as PyTorch needs them.
      core.checkShapes(TorchLoss.shape(pred), pType, TorchLoss.shape(label), lType.isFloating() ? pType : lType);
      return HalfPrecision.loss(pred, pType, bceWithLogits(loss, HalfPrecision.widen(pred, DataType.FLOAT64),
          halfTarget(pred, label), HalfPrecision.rounded(weight, pType), HalfPrecision.rounded(posWeight, pType)));
    }
    core.checkShapes(TorchLoss.shape(pred), pType, TorchLoss.shape(label), lType);
    NDManager m = pred.getManager();
    NDArray y = inPredictionScope(label, pred).toType(pred.getDataType(), false);
    NDArray logSigmoid = Activation.softPlus(pred.neg()).neg();
    if (posWeight != null) {
      NDArray p = tensor(m, posWeight, pType);
      logSigmoid = logSigmoid.mul(p.sub(1).mul(y).add(1));
    }
    NDArray l = y.neg().add(1).mul(pred).sub(logSigmoid);
    if (weight != null) {
      l = l.mul(tensor(m, weight, pType));
    }
    switch (core.reduction()) {
      case NONE:
        return l;
      case SUM:
        return l.sum();
      case MEAN:
        return l.sum().div(constant(l, pred.size()));
      default:
        throw new AssertionError(core.reduction());
    }
  }

  /**
   * BCELoss on probabilities, as libtorch's {@code binary_cross_entropy}: the loss
   * \( ((y-1)\max(\log(1-x), -100) - y\max(\log x, -100))\,w \) and, in place of its autograd derivative, libtorch's
   * own gradient \( \frac{x - y}{\max((1-x)x,\ \epsilon)}\,w \), joined as
   * \( L + (x\,\mathrm{stop}(G) - \mathrm{stop}(x\,G)) \) per element before the reduction: its value is exactly L and
   * its gradient G (the autograd derivative of the clamped loss would be 0 where a log is clamped, where libtorch's
   * is \( \mp 1/\epsilon \)). DJL has no {@code log1p}: \( \operatorname{log1p}(-x) \) is
   * \( \log(v)\,(-x)/(v-1) \) with \( v = 1 - x \) rounded, which keeps its relative accuracy for tiny x, where
   * \( \log(1 - x) \) would round to 0. On the CPU the values are checked on the host first, with the core's messages; on
   * another device they are not read back (see {@link #hostChecks}), and a value outside [0, 1] gives NaN.
   */
  static NDArray bce(TorchLoss loss, NDArray pred, NDArray label, Tensor weight) {
    return bce(loss, pred, label, weight, null);
  }

  /**
   * BCELoss with libtorch's clamp in {@code clampType} (the predictions' dtype when null): a half call runs in float64
   * with its half dtype's clamp, which in float16 is 0.
   */
  private static NDArray bce(TorchLoss loss, NDArray pred, NDArray label, Tensor weight, DType clampType) {
    dev.losskit.core.BceLoss core = (dev.losskit.core.BceLoss) loss.core();
    String name = core.name();
    DType pType = TorchLoss.dtype(pred, "predictions", name);
    DType lType = TorchLoss.dtype(label, "labels", name);
    int[] shape = TorchLoss.shape(pred);
    if (pType.isHalf()) {
      core.checkShapes(shape, pType, TorchLoss.shape(label), lType.isFloating() ? pType : lType);
      return HalfPrecision.loss(pred, pType, bce(loss, HalfPrecision.widen(pred, DataType.FLOAT64),
          halfTarget(pred, label), HalfPrecision.rounded(weight, pType), pType));
    }
    core.checkShapes(shape, pType, TorchLoss.shape(label), lType);
    if (hostChecks(pred.getDevice()) && hostChecks(label.getDevice())) {
      core.checkValues(TorchLoss.hostView(pred, pType, shape), TorchLoss.hostView(label, lType, shape));
    }
    NDManager m = pred.getManager();
    NDArray x = pred;
    NDArray y = inPredictionScope(label, pred);
    NDArray one = constant(x, 1);
    NDArray floor = constant(x, -100);
    // log1p(-x), which DJL lacks, as log(v)·(-x)/(v - 1) with v = 1 - x rounded (exact to a few ulps; -x where v
    // rounds to 1). The loss enters the result under stopGradient, so the unselected branch's NaN never reaches a
    // gradient.
    NDArray v = one.sub(x);
    NDArray log1pNeg = NDArrays.where(v.eq(one), x.neg(), v.log().mul(x.neg()).div(v.sub(one)));
    NDArray l = y.sub(one).mul(log1pNeg.maximum(floor)).sub(y.mul(x.log().maximum(floor)));
    NDArray xs = x.stopGradient();
    double eps = dev.losskit.core.BceLoss.epsilon(clampType != null ? clampType : pType);
    NDArray q = one.sub(xs).mul(xs);
    NDArray g = xs.sub(y).div(q.maximum(constant(x, eps)));
    NDArray w = weight == null ? null : tensor(m, weight, pType);
    if (w != null) {
      l = l.mul(w);
      g = g.mul(w);
    }
    NDArray term;
    NDArray per;
    if (eps == 0) {
      // float16's clamp is 0: at p = 0 or 1 libtorch's gradient is ±inf, or NaN where x = y or the weight is 0, and
      // x·G there would make the value NaN too. There the gradient comes from sqrt(x - stop(x)), 0 in value with an
      // infinite derivative, times sign(x - y)·w: ±inf, or 0·inf = NaN, as libtorch's division by 0 gives; elsewhere
      // from x·G as usual. where() sends each branch's gradient to its own elements only.
      NDArray clamped = q.eq(constant(x, 0));
      NDArray zero = g.zerosLike(); // float64 here (the half call's widened predictions): a dtype DJL can name
      NDArray finiteG = NDArrays.where(clamped, zero, g).stopGradient();
      term = x.mul(finiteG);
      NDArray s = xs.sub(y).sign();
      if (w != null) {
        s = s.mul(w);
      }
      // sqrt's argument is 1 off the clamped elements: sqrt(0)'s infinite derivative times where()'s 0 would be NaN.
      NDArray away = NDArrays.where(clamped, zero, zero.add(constant(x, 1)));
      NDArray infinite = NDArrays.where(clamped, x.sub(xs).add(away).sqrt().mul(s.stopGradient()), zero);
      per = l.stopGradient().add(term.sub(term.stopGradient())).add(infinite);
    } else {
      term = x.mul(g.stopGradient());
      per = l.stopGradient().add(term.sub(term.stopGradient()));
    }
    switch (core.reduction()) {
      case NONE:
        return per;
      case SUM:
        return per.sum();
      case MEAN:
        return per.sum().div(constant(per, pred.size()));
      default:
        throw new AssertionError(core.reduction());
    }
  }

  /**
   * {@return float labels for half predictions, in float64: rounded to the predictions' dtype first (as PyTorch needs
   * the target in the input's dtype; libtorch's conversion, through float32 from float64), then widened exactly}
   * Constants: no gradient flows to them.
   */
  private static NDArray halfTarget(NDArray pred, NDArray label) {
    NDArray y = inPredictionScope(label, pred).stopGradient();
    boolean same = y.getDataType() == pred.getDataType() // float16, or both UNKNOWN: both bfloat16, as checked
        && (y.getDataType() != DataType.UNKNOWN || HalfPrecision.isBfloat16(y));
    return HalfPrecision.widen(same ? y : HalfPrecision.round(pred, y), DataType.FLOAT64);
  }

  /**
   * {@return the labels as an array of the predictions' manager: the labels themselves when they share it, else a
   * view of them (their memory, no copy) attached there} DJL attaches an operation's result to its first operand's
   * manager, so every array derived from the labels (a cast, a mask, a smoothed target) would otherwise stay in the
   * labels' manager until it closes. For labels kept across steps (a fixed target, a teacher's outputs held for an
   * epoch), those arrays piled up call after call: a 4096×1000 smoothed probability step through this path went
   * from 15 ms to 80 ms as they grew. The view, and all that derives from it, closes with the predictions' manager.
   */
  static NDArray inPredictionScope(NDArray label, NDArray pred) {
    NDManager m = pred.getManager();
    if (label.getManager() == m) {
      return label;
    }
    NDArray view = label.reshape(label.getShape());
    view.attach(m);
    return view;
  }

  /**
   * A 0-dim constant in {@code like}'s dtype, in the engine's own memory. Two reasons. A Java double would become a
   * float64 0-dim tensor, which promotes a reduced (0-dim) float32 loss to float64. And the graph keeps the factor of
   * a product and the divisor of a quotient for the backward: DJL's {@code mul(Number)} wraps a Java direct buffer
   * and closes it as soon as the forward has run, so the JVM may free and reuse that memory before the backward reads
   * it (the cause of a garbage gradient once seen in {@code losskit conform}). A copy made by the engine belongs to
   * the graph for as long as the graph needs it.
   */
  private static NDArray constant(NDArray like, double v) {
    NDManager m = like.getManager();
    try (NDArray javaBacked = like.getDataType() == DataType.FLOAT32 ? m.create((float) v) : m.create(v)) {
      return javaBacked.duplicate();
    }
  }

  /** A (C) weight shaped (1, C, 1, ...) to broadcast along axis 1 of {@code like}. */
  private static NDArray broadcastClass(NDArray w, NDArray like) {
    long[] shape = new long[like.getShape().dimension()];
    Arrays.fill(shape, 1);
    shape[1] = w.size();
    return w.reshape(new Shape(shape));
  }

  /**
   * Class weights in the predictions' dtype, rounded as PyTorch holds a float32 loss's weight, in the engine's own
   * memory: the graph keeps them for the backward (see {@link #constant}).
   */
  private static NDArray vector(NDManager m, double[] w, DType dtype) {
    return tensor(m, Tensor.of(w, w.length), dtype); // tensor() copies; w is only read
  }

  /** A weight tensor in the predictions' dtype, in the engine's own memory (see {@link #constant}). */
  private static NDArray tensor(NDManager m, Tensor t, DType dtype) {
    Shape shape = new Shape(Arrays.stream(t.shape()).asLongStream().toArray());
    try (NDArray javaBacked = dtype == DType.FLOAT32 ? m.create(t.toFloatArray(), shape)
        : m.create(t.toDoubleArray(), shape)) {
      return javaBacked.duplicate();
    }
  }
}
