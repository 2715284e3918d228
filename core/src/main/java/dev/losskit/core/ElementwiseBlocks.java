package dev.losskit.core;

/**
 * The block driver that the fused elementwise kernels share ({@link FastBceWithLogits}, {@link FastBce}): the
 * outputs of a call, its blocks of {@link #BLOCK} elements at fixed indices run in parallel chunks, and the result.
 * A float32 call on the vector path hands each block to the kernel as arrays and offsets ({@link Span}): heap
 * arrays in place, buffer-backed tensors copied into per-thread scratch, and the gradient into the caller's array,
 * or into scratch then the caller's buffer. Block sums are added in block order, so results depend neither on
 * timing nor on the number of threads. float16 and bfloat16 tensors take the same path, each block widened
 * exactly into float32 scratch, the gradient rounded to the half dtype from float32 scratch by a
 * {@link GradientSink} (on the scalar path, from double, once).
 */
final class ElementwiseBlocks {
  private ElementwiseBlocks() {}

  /** Elements per block: the unit of work and of the loss sum. */
  static final int BLOCK = 2048;

  /** Inputs at least this large use vectors. */
  static final int VECTOR_MIN_ELEMENTS = 64;

  /** The operand's values as the kernel reads them: a period (1 for a scalar, L, or numel) and the values. */
  record Operand(double[] values, int period) {
    double at(int i) {
      return values[i % period];
    }

    /**
     * The values laid out so that the elements of the block from index {@code b} read theirs contiguously from
     * {@link #offset(int)}: the values themselves when the period is the element count, else
     * {@code period + BLOCK} of them repeated.
     */
    double[] expanded(int n) {
      if (period == n) {
        return values;
      }
      double[] e = new double[period + BLOCK];
      for (int i = 0; i < e.length; i++) {
        e[i] = values[i % period];
      }
      return e;
    }

    /** {@return where the block from index {@code b} starts in {@link #expanded}} */
    int offset(int b) {
      return b % period;
    }
  }

  /** {@return a weight in the form the fused kernels read, or null when its broadcast needs the reference kernel} */
  static Operand operand(Broadcast b, int[] shape, DType dtype) {
    int[] s = b.shape();
    int n = Tensor.checkedSize(shape);
    int size = Tensor.checkedSize(s);
    int last = shape.length == 0 ? 1 : shape[shape.length - 1];
    boolean lastDim = true;
    for (int k = 0; k < s.length - 1; k++) {
      lastDim &= s[k] == 1;
    }
    int period;
    if (size == 1) {
      period = 1;
    } else if (size == n && java.util.Arrays.equals(s, shape)) {
      period = n;
    } else if (lastDim && s.length > 0 && s[s.length - 1] == last) {
      period = last;
    } else {
      return null;
    }
    double[] v = b.toTensor().toDoubleArray();
    for (int i = 0; i < v.length; i++) {
      v[i] = ReferenceKernels.roundTo(dtype, v[i]);
    }
    return new Operand(v, period);
  }

  /** One call's operands and outputs. */
  static final class Call {
    final Tensor input;
    final Tensor target;
    final Reduction reduction;
    final int n;
    final boolean vector;
    final boolean wantLoss;
    final boolean wantGrad;
    /** Whether a block computes its loss sum (a reduced loss). */
    final boolean wantSum;
    /** The upstream gradient per element ({@code none}), or null. */
    final Tensor upstream;
    /** The scalar upstream gradient ({@code mean}: divided by the element count), or 1 for {@code none}. */
    final double scale;
    /** The unreduced loss ({@code none}), or null. */
    final double[] perElement;
    final GradientSink sink;
    final float[] gradF;
    final double[] gradD;
    final double[] sums;

    /**
     * Sets up the outputs. The vector kernel takes the call when input and target are float32, there are at least
     * {@link #VECTOR_MIN_ELEMENTS} of them, the Vector API is there, and a per-element upstream gradient, if any, is
     * float32 too.
     */
    Call(Tensor input, Tensor target, Reduction reduction, Request r) {
      this.input = input;
      this.target = target;
      this.reduction = reduction;
      this.n = input.numel();
      this.vector = readsFloats(input) && readsFloats(target) && n >= VECTOR_MIN_ELEMENTS
          && VectorSupport.AVAILABLE && !(reduction == Reduction.NONE && r.wantGrad() && r.gradOutput() != null
          && !readsFloats(r.gradOutput()));
      this.wantLoss = r.wantLoss();
      this.wantGrad = r.wantGrad();
      boolean none = reduction == Reduction.NONE;
      this.wantSum = wantLoss && !none;
      this.upstream = none && wantGrad ? r.gradOutput() : null;
      double g = none ? 1 : ReferenceKernels.scalarGrad(r.gradOutput());
      this.scale = reduction == Reduction.MEAN ? g / n : g;
      DType dtype = input.dtype();
      this.perElement = wantLoss && none ? new double[n] : null;
      // A half input's gradient is a new half array, written through a sink: block by block from float32 scratch on
      // the vector path (each element rounded once from float32), element by element from double otherwise.
      this.sink = !wantGrad ? null : dtype.isHalf() ? GradientSink.half(dtype, n)
          : vector ? GradientSink.of(r.out().floatSink(n)) : null;
      this.gradF = wantGrad && dtype == DType.FLOAT32 && sink == null ? r.out().floats(n) : null;
      this.gradD = wantGrad && dtype == DType.FLOAT64 ? r.out().doubles(n) : null;
      this.sums = new double[(n + BLOCK - 1) / BLOCK];
    }

    /** {@return the upstream gradient of element {@code i}: per element for {@code none}, else the scale} */
    double upstreamAt(int i) {
      return reduction == Reduction.NONE ? (upstream == null ? 1 : upstream.getDouble(i)) : scale;
    }

    /** Records element {@code i}'s loss: into the unreduced loss when there is one. */
    void loss(int i, double l) {
      if (perElement != null) {
        perElement[i] = l;
      }
    }

    /** {@return whether the call wants the gradient on the scalar path} */
    boolean scalarGrad() {
      return gradF != null || gradD != null || sink != null;
    }

    /** Records element {@code i}'s gradient, {@code d} times its upstream gradient, in the input's dtype. */
    void grad(int i, double d) {
      double v = d * upstreamAt(i);
      if (gradF != null) {
        gradF[i] = (float) v;
      } else if (gradD != null) {
        gradD[i] = v;
      } else {
        sink.put(i, v);
      }
    }

  }

  /**
   * One block of a float32 call, as arrays and offsets: element {@code j} of the block is {@code x[xo + j]},
   * {@code y[yo + j]}, the upstream gradient {@code g[go + j]} ({@code g} null: the call's scale) and its gradient
   * goes to {@code grad[gro + j]} ({@code grad} null: none wanted).
   */
  static final class Span {
    int from;
    int len;
    float[] x;
    int xo;
    float[] y;
    int yo;
    float[] g;
    int go;
    float[] grad;
    int gro;
  }

  /** The scalar kernel over elements {@code [from, to)}: returns their loss sum. */
  @FunctionalInterface
  interface ScalarRange {
    double run(int from, int to);
  }

  /** The vector kernel over one block: returns its loss sum. One per thread, so it may hold scratch. */
  @FunctionalInterface
  interface VectorBlock {
    double run(Span s);
  }

  /** Runs every block of the call and returns its loss and gradient. */
  static LossResult run(Call c, ScalarRange scalar, java.util.function.Supplier<VectorBlock> vectorBlocks) {
    int blocks = c.sums.length;
    int n = c.n;
    Parallelism.forChunks(blocks, Math.max(1, 65536 / BLOCK), (fromBlock, toBlock) -> {
      if (!c.vector) {
        for (int k = fromBlock; k < toBlock; k++) {
          int from = k * BLOCK;
          c.sums[k] = scalar.run(from, Math.min(n, from + BLOCK));
        }
        return 0;
      }
      VectorBlock kernel = vectorBlocks.get();
      Tensor up = c.upstream;
      float[] xs = c.input.floatArray() == null ? new float[BLOCK] : null;
      float[] ys = c.target.floatArray() == null ? new float[BLOCK] : null;
      float[] gs = up != null && up.floatArray() == null ? new float[BLOCK] : null;
      float[] row = c.sink != null ? new float[BLOCK] : null;
      GradientSink out = c.sink;
      Span s = new Span();
      for (int k = fromBlock; k < toBlock; k++) {
        int from = k * BLOCK;
        int len = Math.min(n, from + BLOCK) - from;
        s.from = from;
        s.len = len;
        s.x = in(c.input, xs, from, len);
        s.xo = xs != null ? 0 : c.input.offset() + from;
        s.y = in(c.target, ys, from, len);
        s.yo = ys != null ? 0 : c.target.offset() + from;
        s.g = up == null ? null : in(up, gs, from, len);
        s.go = up == null || gs != null ? 0 : up.offset() + from;
        s.grad = !c.wantGrad ? null : row != null ? row : c.gradF;
        s.gro = row != null ? 0 : from;
        c.sums[k] = kernel.run(s);
        if (out != null) {
          out.put(from, row, 0, len);
        }
      }
      return 0;
    });
    Tensor loss = null;
    int[] shape = c.input.shape();
    DType dtype = c.input.dtype();
    if (c.wantLoss) {
      double sum = 0;
      for (double v : c.sums) {
        sum += v;
      }
      loss = ReferenceKernels.reduce(dtype, c.reduction, c.perElement, shape, sum, n == 0 ? Double.NaN : sum / n);
    }
    Tensor grad = !c.wantGrad ? null
        : c.sink != null ? c.sink.tensor(shape)
        : c.gradF != null ? Tensor.of(c.gradF, shape) : Tensor.of(c.gradD, shape);
    return new LossResult(loss, grad);
  }

  /**
   * {@return whether the vector path can read {@code t} as float32 blocks: float32 in place or from its buffer, and
   * half types widened exactly into scratch}
   */
  private static boolean readsFloats(Tensor t) {
    return t.dtype() == DType.FLOAT32 || t.dtype().isHalf();
  }

  /** {@return the block's floats: the tensor's own array, or {@code scratch} filled from its buffer} */
  private static float[] in(Tensor t, float[] scratch, int from, int len) {
    if (scratch == null) {
      return t.floatArray();
    }
    t.readFloats(from, scratch, len);
    return scratch;
  }
}
