package dev.losskit.core;

/**
 * The fused cross-entropy kernels, for every layout: rows whose classes are contiguous ({@code (C)} and
 * {@code (N, C)}) and the K-dim layout {@code (N, C, d...)}, read with class stride {@code d1·...·dk}; class indices
 * and class probabilities. For class indices one pass per row gathers the maximum, a second computes
 * \( e_c = \exp(x_c - m) \) and the sums while the row is in cache, and a third scales \( e_c \) into the
 * gradient \( g\,(K\,p_c - \tfrac{\varepsilon}{C} w_c) - (1-\varepsilon)\,g\,w_t\,[c = t] \) with
 * \( K = (1-\varepsilon)\,w_t + \tfrac{\varepsilon}{C} \sum_c w_c \). Extra memory is O(N) besides the gradient,
 * plus scratch per thread (a row of doubles, or a block of positions for the K-dim layout).
 *
 * <p>Rows (and, for the K-dim layout, blocks of positions) are processed in parallel ({@link Parallelism}). Every
 * value is computed in double precision and rounded once: float32 inputs with the Vector API
 * ({@code jdk.incubator.vector}, when the module is present) run {@link VectorCrossEntropy} (rows of at least
 * {@value #VECTOR_MIN_CLASSES} classes, K-dim items of at least {@value #KDIM_MIN_INNER} positions) for class
 * indices and {@link VectorProbabilities} for class probabilities, within 1 ulp of the exact value; everything else
 * runs in double scalar code. The reference kernel
 * ({@link ReferenceCrossEntropy}) is the specification; tests prove this kernel against it.
 *
 * <p>float16 and bfloat16 inputs with class indices take the float32 paths: each row or block is widened exactly
 * into per-thread float32 scratch ({@link Tensor#readFloats}), so no full-size float32 copy is made, and the
 * gradient goes through a half {@link GradientSink}, each float32 element rounded to the half dtype (double scalar
 * code rounds each element once from double). Weights are rounded to the half dtype and the loss is rounded once
 * from double, as in the reference kernel.
 */
final class FastCrossEntropy {
  private FastCrossEntropy() {}

  /** Rows at least this long use the vector kernel; shorter ones run double scalar code. */
  static final int VECTOR_MIN_CLASSES = 64;

  static LossResult indexTargets(ClassProblem p, ClassOptions o, Request r) {
    double[] weight = o.weight();
    long ignoreIndex = o.ignoreIndex();
    double eps = o.labelSmoothing();
    Reduction reduction = o.reduction();
    Tensor gradOutput = r.gradOutput();
    boolean wantLoss = r.wantLoss();
    boolean wantGrad = r.wantGrad();
    // The results' dtype: the input's, or float32 for a half input under autocast (computed as for float32).
    DType dtype = r.resultType(p.input.dtype());
    int positions = p.positions();
    int classes = p.classes;
    double[] w = weight == null ? null : ReferenceKernels.weightsFor(weight, classes, dtype);
    double weightTotal = 0;
    for (int c = 0; c < classes; c++) {
      weightTotal += w == null ? 1 : w[c];
    }
    // The weight sum W, in position order; the targets and upstream gradients are then made per block of positions
    // in per-thread scratch, so that nothing of O(positions) is allocated unless the output needs it (reduction none).
    double ws = 0;
    for (int pos = 0; pos < positions; pos++) {
      long t = p.target.getLong(pos);
      if (t != ignoreIndex) {
        ws += w == null ? 1 : w[(int) t];
      }
    }
    final double weightSum = ws;
    boolean none = reduction == Reduction.NONE;

    // Half inputs read as float32 (widened exactly, a row or block at a time into scratch) and take the float32
    // kernels; their gradient goes through a half sink, each float32 element rounded to the half dtype.
    boolean half = dtype.isHalf();
    boolean float32Vectors = (dtype == DType.FLOAT32 || half) && p.input.dtype() != DType.FLOAT64
        && VectorSupport.AVAILABLE;
    boolean vector = float32Vectors && classes >= VECTOR_MIN_CLASSES && p.inner == 1;
    // At least one class (an (N, 0, d...) input of all-ignored targets is valid, and has nothing to vectorise) and
    // at least one full vector of positions per item, whatever the lane count.
    boolean kdim = float32Vectors && classes >= 1 && p.inner >= Math.max(KDIM_MIN_INNER, VectorCrossEntropy.floatLanes());
    int stride = p.inner;
    // Many short rows: blocks of rows transposed in cache to the K-dim layout, so that their classes run across
    // positions in vector lanes (a row of 10 classes fills no vector of doubles by itself).
    boolean shortRows = float32Vectors && !vector && !kdim && p.inner == 1 && classes >= 1
        && positions >= SHORT_ROWS_MIN_POSITIONS;
    // A caller's NIO buffer (a native tensor's memory) takes each row or block as it is finished, with no N·C array.
    GradientSink sink = !wantGrad ? null : half ? GradientSink.half(dtype, positions * classes)
        : vector || kdim || shortRows ? GradientSink.of(r.out().floatSink(positions * classes)) : null;
    float[] gradF = wantGrad && dtype == DType.FLOAT32 && sink == null
        ? r.out().floats(positions * classes) : null;
    double[] gradD = wantGrad && dtype == DType.FLOAT64 ? r.out().doubles(positions * classes) : null;
    // Reduction none: the per-position losses are the output. Otherwise each fixed block of positions adds its
    // losses in position order into its own partial sums, added in block order: the same for every thread count.
    double[] perPosition = wantLoss && none ? new double[positions] : null;
    final double total = weightTotal;
    double[] blockNll;
    double[] blockSmooth;
    Blocks blocks = (pos0, len, sc) -> {
      int[] tg = sc.target;
      double[] up = sc.upstream;
      for (int j = 0; j < len; j++) {
        int pos = pos0 + j;
        long t = p.target.getLong(pos);
        tg[j] = t == ignoreIndex ? -1 : (int) t;
        up[j] = tg[j] < 0 ? 0 : ReferenceCrossEntropy.upstream(reduction, gradOutput, pos, weightSum);
        sc.nll[j] = 0;
        sc.smooth[j] = 0;
      }
    };
    if (kdim) {
      int[] geometry = kdimGeometry(p);
      int nb = p.batch * geometry[2];
      blockNll = new double[nb];
      blockSmooth = new double[nb];
      kdimIndexTargets(p, blocks, w, total, eps, perPosition, blockNll, blockSmooth, gradF, sink, geometry);
    } else if (shortRows) {
      int block = shortRowsBlock(classes);
      int nb = (positions + block - 1) / block;
      blockNll = new double[nb];
      blockSmooth = new double[nb];
      shortRowsIndexTargets(p, blocks, w, total, eps, perPosition, blockNll, blockSmooth, gradF, sink, block,
          wantGrad);
    } else {
      int minRows = Math.max(1, 16384 / Math.max(1, classes));
      int block = Math.max(64, minRows);
      int nb = (positions + block - 1) / block;
      blockNll = new double[nb];
      blockSmooth = new double[nb];
      Parallelism.forChunks(nb, 1, (fromBlock, toBlock) -> {
        Scratch sc = SCRATCH.get();
        sc.positions(block, eps > 0);
        if (vector) {
          float[] scratch = p.input.floatArray() == null ? sc.floats(classes) : null;
          double[] eScratch = wantGrad ? sc.e(classes) : null;
          double[] laneScratch = sc.lanes(VectorCrossEntropy.doubleLanes());
          double[] stats = sc.stats;
          float[] row = sink == null ? null : sc.floats2(classes);
          for (int b = fromBlock; b < toBlock; b++) {
            int from = b * block;
            int len = Math.min(block, positions - from);
            blocks.fill(from, len, sc);
            for (int j = 0; j < len; j++) {
              int pos = from + j;
              float[] g = sink != null ? row : gradF;
              VectorCrossEntropy.row(p.input, pos * classes, classes, scratch, eScratch, laneScratch, stats,
                  sc.target[j], w, total, eps, sc.upstream[j], sc.nll, sc.smooth, j, g,
                  sink != null || gradF == null ? 0 : pos * classes);
              if (sink != null) {
                sink.put(pos * classes, row, 0, classes);
              }
            }
            finishBlock(sc, b, from, len, eps, classes, perPosition, blockNll, blockSmooth);
          }
        } else {
          double[] row = sc.row(classes);
          for (int b = fromBlock; b < toBlock; b++) {
            int from = b * block;
            int len = Math.min(block, positions - from);
            blocks.fill(from, len, sc);
            for (int j = 0; j < len; j++) {
              int pos = from + j;
              int at = readRow(p, pos, row, classes);
              scalarRow(row, classes, sc.target[j], w, total, eps, sc.upstream[j], sc.nll, sc.smooth, j, gradF,
                  gradD, sink, at, stride, wantGrad);
            }
            finishBlock(sc, b, from, len, eps, classes, perPosition, blockNll, blockSmooth);
          }
        }
        return 0;
      });
    }

    Tensor loss = null;
    if (wantLoss) {
      double nllSum = 0;
      double smoothSum = 0;
      for (int b = 0; b < blockNll.length; b++) {
        nllSum += blockNll[b];
        smoothSum += blockSmooth[b];
      }
      double sum = eps > 0 ? (1 - eps) * nllSum + smoothSum * (eps / classes) : nllSum;
      double mean = eps > 0 ? (1 - eps) * (nllSum / weightSum) + (smoothSum / weightSum) * (eps / classes)
          : nllSum / weightSum;
      loss = ReferenceKernels.reduce(dtype, reduction, perPosition, p.lossShape, sum, mean);
    }
    Tensor grad = !wantGrad ? null
        : sink != null ? sink.tensor(p.input.shape())
        : gradF != null ? Tensor.of(gradF, p.input.shape()) : Tensor.of(gradD, p.input.shape());
    return new LossResult(loss, grad);
  }

  /** K-dim inputs with at least this many positions per item run in vector blocks across positions. */
  static final int KDIM_MIN_INNER = 16;

  /**
   * Float32 K-dim inputs with the Vector API: each item's positions in blocks of a multiple of the float lane count
   * ({@link VectorCrossEntropy#kdimBlock}), sized so that a block's rows and their exponentials stay in the L2 cache;
   * the positions past the last whole multiple run in double scalar code. The blocks are fixed by the shape alone,
   * so every position is computed the same way for every number of threads.
   */
  /** {@return the K-dim geometry: the vector positions per item, the block length and the blocks per item} */
  private static int[] kdimGeometry(ClassProblem p) {
    int classes = p.classes;
    int inner = p.inner;
    int lanes = VectorCrossEntropy.floatLanes();
    int vectorInner = inner - inner % lanes;
    int blockMax = Math.max(lanes, Math.min(1024, 16384 / Math.max(1, classes)) / lanes * lanes);
    int block = Math.min(blockMax, vectorInner);
    return new int[] {vectorInner, block, (vectorInner + block - 1) / block};
  }

  private static void kdimIndexTargets(ClassProblem p, Blocks blocks, double[] w, double total, double eps,
      double[] perPosition, double[] blockNll, double[] blockSmooth, float[] gradF, GradientSink sink,
      int[] geometry) {
    int classes = p.classes;
    int inner = p.inner;
    int vectorInner = geometry[0];
    final int block = geometry[1];
    int blocksPerItem = geometry[2];
    int tail = inner - vectorInner;
    boolean wantGrad = gradF != null || sink != null;
    Parallelism.forChunks(p.batch * blocksPerItem, 1, (from, to) -> {
      Scratch scr = SCRATCH.get();
      scr.positions(block + tail, eps > 0);
      VectorCrossEntropy.KdimScratch sc = scr.kdim(classes, block, p.input.floatArray() == null, sink != null);
      for (int b = from; b < to; b++) {
        int item = b / blocksPerItem;
        int s0 = (b % blocksPerItem) * block;
        int len = Math.min(block, vectorInner - s0);
        boolean last = s0 + len == vectorInner && vectorInner < inner;
        int p0 = item * inner + s0;
        int count = last ? len + tail : len;
        blocks.fill(p0, count, scr);
        VectorCrossEntropy.kdimBlock(p.input, classes, inner, item, s0, len, scr.target, p0, w, total, eps,
            scr.upstream, scr.nll, scr.smooth, gradF, sink, sc);
        if (last) {
          // The item's last positions, fewer than a vector's lanes.
          for (int s = vectorInner; s < inner; s++) {
            int pos = item * inner + s;
            scalarPosition(p, pos, pos - p0, scr, w, total, eps, gradF, sink, wantGrad);
          }
        }
        finishBlock(scr, b, p0, count, eps, classes, perPosition, blockNll, blockSmooth);
      }
      return 0;
    });
  }

  /** Float32 rows shorter than {@link #VECTOR_MIN_CLASSES} go through {@link #shortRowsIndexTargets} from this many. */
  static final int SHORT_ROWS_MIN_POSITIONS = 256;

  /** {@return the rows per block of {@link #shortRowsIndexTargets}: a multiple of the float lanes, 16K elements} */
  private static int shortRowsBlock(int classes) {
    int lanes = VectorCrossEntropy.floatLanes();
    return Math.max(lanes, Math.min(1024, 16384 / classes) / lanes * lanes);
  }

  /**
   * Float32 rows of fewer than {@link #VECTOR_MIN_CLASSES} classes: each block of {@code block} rows (fixed by the
   * shape, so every row is computed the same way for any number of threads) is transposed in cache to a (C, block)
   * array and run by the K-dim kernel ({@link VectorCrossEntropy#kdimBlock}), its gradient transposed back; a last
   * block's rows past a whole multiple of the float lanes run in double scalar code.
   */
  private static void shortRowsIndexTargets(ClassProblem p, Blocks blocks, double[] w, double total, double eps,
      double[] perPosition, double[] blockNll, double[] blockSmooth, float[] gradF, GradientSink sink,
      int block, boolean wantGrad) {
    int classes = p.classes;
    int positions = p.positions();
    int lanes = VectorCrossEntropy.floatLanes();
    int nb = blockNll.length;
    Parallelism.forChunks(nb, 1, (from, to) -> {
      Scratch scr = SCRATCH.get();
      scr.positions(block, eps > 0);
      VectorCrossEntropy.KdimScratch sc = scr.kdim(classes, block, false, false);
      float[] xt = scr.transposed(classes * block);
      Tensor view = Tensor.of(xt, 1, classes, block);
      float[] gt = wantGrad ? scr.transposedGrad(classes * block) : null;
      // The block's rows as they lie, for a buffer-backed input or gradient.
      float[] rows = p.input.floatArray() == null || sink != null ? scr.floats(classes * block) : null;
      for (int b = from; b < to; b++) {
        int r0 = b * block;
        int count = Math.min(block, positions - r0);
        int len = count - count % lanes;
        blocks.fill(r0, count, scr);
        if (len > 0) {
          float[] src;
          int so;
          if (p.input.floatArray() != null) {
            src = p.input.floatArray();
            so = p.input.offset() + r0 * classes;
          } else {
            p.input.readFloats(r0 * classes, rows, len * classes);
            src = rows;
            so = 0;
          }
          for (int j = 0; j < len; j++) {
            int at = so + j * classes;
            for (int c = 0; c < classes; c++) {
              xt[c * block + j] = src[at + c];
            }
          }
          VectorCrossEntropy.kdimBlock(view, classes, block, 0, 0, len, scr.target, 0, w, total, eps,
              scr.upstream, scr.nll, scr.smooth, gt, null, sc);
          if (wantGrad) {
            float[] dst = sink != null ? rows : gradF;
            int dOff = sink != null ? 0 : r0 * classes;
            for (int j = 0; j < len; j++) {
              int at = dOff + j * classes;
              for (int c = 0; c < classes; c++) {
                dst[at + c] = gt[c * block + j];
              }
            }
            if (sink != null) {
              sink.put(r0 * classes, rows, 0, len * classes);
            }
          }
        }
        // The last rows of the last block, fewer than a vector's lanes.
        for (int j = len; j < count; j++) {
          scalarPosition(p, r0 + j, j, scr, w, total, eps, gradF, sink, wantGrad);
        }
        finishBlock(scr, b, r0, count, eps, classes, perPosition, blockNll, blockSmooth);
      }
      return 0;
    });
  }

  /**
   * Position {@code pos} (block index {@code j}) of a float32 input in double scalar code ({@link #scalarRow}): the
   * vector kernels' leftover positions. Its gradient goes into {@code gradF}, or into the caller's buffer
   * {@code sink} when there is one.
   */
  private static void scalarPosition(ClassProblem p, int pos, int j, Scratch scr, double[] w, double total,
      double eps, float[] gradF, GradientSink sink, boolean wantGrad) {
    int classes = p.classes;
    int inner = p.inner;
    double[] row = scr.row(classes);
    int at = readRow(p, pos, row, classes);
    scalarRow(row, classes, scr.target[j], w, total, eps, scr.upstream[j], scr.nll, scr.smooth, j,
        sink == null ? gradF : null, null, sink, at, inner, wantGrad);
  }

  /** Fills a block's targets and upstream gradients into scratch, and zeroes its losses. */
  private interface Blocks {
    void fill(int pos0, int len, Scratch sc);
  }

  /** A block's losses: into the output for reduction none, and into the block's partial sums, in position order. */
  private static void finishBlock(Scratch sc, int b, int pos0, int len, double eps, int classes,
      double[] perPosition, double[] blockNll, double[] blockSmooth) {
    double nllSum = 0;
    double smoothSum = 0;
    for (int j = 0; j < len; j++) {
      nllSum += sc.nll[j];
      if (eps > 0) {
        smoothSum += sc.smooth[j];
      }
      if (perPosition != null) {
        perPosition[pos0 + j] = eps > 0 ? (1 - eps) * sc.nll[j] + sc.smooth[j] * (eps / classes) : sc.nll[j];
      }
    }
    blockNll[b] = nllSum;
    blockSmooth[b] = smoothSum;
  }

  /** Per-thread scratch, grown as needed and kept between calls. */
  private static final class Scratch {
    int[] target = new int[0];
    double[] upstream = new double[0];
    double[] nll = new double[0];
    double[] smooth = new double[0];
    final double[] stats = new double[2];
    private double[] row = new double[0];
    private double[] e = new double[0];
    private double[] lanes = new double[0];
    private float[] floats = new float[0];
    private float[] floats2 = new float[0];
    private Object kdim;
    private int kdimClasses = -1;
    private int kdimBlock = -1;
    private boolean kdimBuffer;
    private boolean kdimSink;

    void positions(int n, boolean smoothing) {
      if (target.length < n) {
        target = new int[n];
        upstream = new double[n];
        nll = new double[n];
        smooth = new double[n];
      }
    }

    /** {@return exactly {@code n} doubles (readRow reads the row's length)} */
    double[] row(int n) {
      if (row.length != n) {
        row = new double[n];
      }
      return row;
    }

    double[] e(int n) {
      return e.length >= n ? e : (e = new double[n]);
    }

    double[] lanes(int n) {
      return lanes.length >= n ? lanes : (lanes = new double[n]);
    }

    float[] floats(int n) {
      return floats.length >= n ? floats : (floats = new float[n]);
    }

    float[] floats2(int n) {
      return floats2.length >= n ? floats2 : (floats2 = new float[n]);
    }

    private float[] transposed = new float[0];
    private float[] transposedGrad = new float[0];

    /** {@return exactly {@code n} floats: a (C, block) view is made over the whole array} */
    float[] transposed(int n) {
      return transposed.length == n ? transposed : (transposed = new float[n]);
    }

    float[] transposedGrad(int n) {
      return transposedGrad.length >= n ? transposedGrad : (transposedGrad = new float[n]);
    }

    VectorCrossEntropy.KdimScratch kdim(int classes, int block, boolean buffer, boolean sink) {
      if (kdim == null || kdimClasses != classes || kdimBlock != block || kdimBuffer != buffer
          || kdimSink != sink) {
        kdim = new VectorCrossEntropy.KdimScratch(classes, block, buffer, sink);
        kdimClasses = classes;
        kdimBlock = block;
        kdimBuffer = buffer;
        kdimSink = sink;
      }
      return (VectorCrossEntropy.KdimScratch) kdim;
    }
  }

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  /** Reads position {@code pos}'s classes into {@code row}; returns the flat index of its class 0. */
  private static int readRow(ClassProblem p, int pos, double[] row) {
    return readRow(p, pos, row, row.length);
  }

  private static int readRow(ClassProblem p, int pos, double[] row, int classes) {
    int at = p.at(pos, 0);
    if (p.inner == 1) {
      p.input.readDoubles(at, row, classes);
    } else {
      for (int c = 0; c < classes; c++) {
        row[c] = p.input.getDouble(at + c * p.inner);
      }
    }
    return at;
  }

  /** Rows of contiguous classes at least this long use the vector kernel for probability targets. */
  static final int PROBABILITY_VECTOR_MIN_CLASSES = 16;

  /**
   * Class probabilities, smoothed to \( y' = y(1-\varepsilon) + \varepsilon/C \): per position
   * \( \ell = -\sum_c \log p_c\,y'_c\,w_c \) and \( \partial x_c = g\,(p_c T - y'_c w_c) \) with
   * \( T = \sum_c y'_c w_c \); {@code mean} divides by the number of positions.
   *
   * <p>Float32 inputs and targets take the vector kernels ({@link VectorSupport#AVAILABLE}): rows of contiguous
   * classes, or strips of positions in the K-dim layout; exponentials, sums and the gradient's final scale in
   * double, each gradient element rounded to float once. Everything else is double scalar code.
   */
  static LossResult probabilityTargets(ClassProblem p, ClassOptions o, Request r) {
    DType dtype = p.input.dtype();
    boolean vector = dtype == DType.FLOAT32 && p.target.dtype() == DType.FLOAT32 && VectorSupport.AVAILABLE
        && p.classes >= 1 && p.positions() >= 1
        && (p.inner > 1 || p.classes >= PROBABILITY_VECTOR_MIN_CLASSES);
    return vector ? probabilityVector(p, o, r) : probabilityScalar(p, o, r);
  }

  /**
   * Reads {@code width} positions of each class of a K-dim batch, from flat index {@code base} with class stride
   * {@code inner}, into {@code strip} with class stride {@code l}.
   *
   * @return {@code strip}
   */
  private static float[] gather(Tensor t, int base, int inner, int classes, int width, float[] strip, float[] tmp,
      int l) {
    for (int c = 0; c < classes; c++) {
      t.readFloats(base + c * inner, tmp, width);
      System.arraycopy(tmp, 0, strip, c * l, width);
    }
    return strip;
  }

  /** Probability targets with the vector kernels: float32 input and target, at least one class and position. */
  private static LossResult probabilityVector(ClassProblem p, ClassOptions o, Request r) {
    double eps = o.labelSmoothing();
    Reduction reduction = o.reduction();
    int positions = p.positions();
    int classes = p.classes;
    int inner = p.inner;
    int n = p.input.numel();
    double[] w = o.weight() == null ? null : ReferenceKernels.weightsFor(o.weight(), classes, DType.FLOAT32);
    double count = positions;
    double[] g = new double[positions];
    if (r.wantGrad()) {
      for (int pos = 0; pos < positions; pos++) {
        g[pos] = ReferenceCrossEntropy.upstream(reduction, r.gradOutput(), pos, count);
      }
    }
    java.nio.FloatBuffer sink = r.wantGrad() ? r.out().floatSink(n) : null;
    float[] gradF = r.wantGrad() && sink == null ? r.out().floats(n) : null;
    boolean grad = r.wantGrad();
    double[] perPosition = new double[positions];
    Tensor input = p.input;
    Tensor target = p.target;
    if (inner == 1) {
      Parallelism.forChunks(positions, Math.max(1, 16384 / classes), (from, to) -> {
        double[] e = new double[classes];
        double[] lanes = new double[VectorProbabilities.scratchLanes()];
        float[] xs = input.floatArray() == null ? new float[classes] : null;
        float[] ys = target.floatArray() == null ? new float[classes] : null;
        float[] row = sink != null ? new float[classes] : null;
        java.nio.FloatBuffer out = sink == null ? null : sink.duplicate();
        for (int pos = from; pos < to; pos++) {
          int at = pos * classes;
          float[] xa = xs == null ? input.floatArray() : xs;
          int xo = xs == null ? input.offset() + at : 0;
          if (xs != null) {
            input.readFloats(at, xs, classes);
          }
          float[] ya = ys == null ? target.floatArray() : ys;
          int yo = ys == null ? target.offset() + at : 0;
          if (ys != null) {
            target.readFloats(at, ys, classes);
          }
          float[] ga = !grad ? null : row != null ? row : gradF;
          perPosition[pos] = VectorProbabilities.row(xa, xo, ya, yo, classes, w, eps, g[pos], ga,
              row != null ? 0 : at, e, lanes);
          if (out != null) {
            out.put(at, row, 0, classes);
          }
        }
        return 0;
      });
    } else {
      int l = VectorProbabilities.lanes();
      int strips = (inner + l - 1) / l;
      Parallelism.forChunks(p.batch * strips, Math.max(1, 16384 / (classes * l)), (from, to) -> {
        double[] e = new double[classes * l];
        double[] lanes = new double[VectorProbabilities.scratchLanes()];
        float[] xs = input.floatArray() == null ? new float[classes * l] : null;
        float[] ys = target.floatArray() == null ? new float[classes * l] : null;
        float[] gs = sink != null ? new float[classes * l] : null;
        float[] tmp = xs != null || ys != null ? new float[l] : null;
        java.nio.FloatBuffer out = sink == null ? null : sink.duplicate();
        for (int u = from; u < to; u++) {
          int batch = u / strips;
          int s0 = (u % strips) * l;
          int width = Math.min(l, inner - s0);
          int base = batch * classes * inner + s0;
          int pos0 = batch * inner + s0;
          float[] xa = xs == null ? input.floatArray() : gather(input, base, inner, classes, width, xs, tmp, l);
          int xo = xs == null ? input.offset() + base : 0;
          int xStride = xs == null ? inner : l;
          float[] ya = ys == null ? target.floatArray() : gather(target, base, inner, classes, width, ys, tmp, l);
          int yo = ys == null ? target.offset() + base : 0;
          int yStride = ys == null ? inner : l;
          float[] ga = !grad ? null : gs != null ? gs : gradF;
          int go = gs != null ? 0 : base;
          int gStride = gs != null ? l : inner;
          if (width == l) {
            VectorProbabilities.strip(xa, xo, xStride, ya, yo, yStride, classes, w, eps, g, perPosition, pos0, ga,
                go, gStride, e, lanes);
          } else {
            for (int j = 0; j < width; j++) {
              perPosition[pos0 + j] = VectorProbabilities.position(xa, xo + j, xStride, ya, yo + j, yStride, classes,
                  w, eps, g[pos0 + j], ga, go + j, gStride, e);
            }
          }
          if (out != null) {
            for (int c = 0; c < classes; c++) {
              out.put(base + c * inner, gs, c * l, width);
            }
          }
        }
        return 0;
      });
    }
    Tensor loss = null;
    if (r.wantLoss()) {
      double sum = 0;
      for (double v : perPosition) {
        sum += v;
      }
      loss = ReferenceKernels.reduce(DType.FLOAT32, reduction, perPosition, p.lossShape, sum, sum / count);
    }
    Tensor gradient = !grad ? null
        : sink != null ? Tensor.view(sink, 0, p.input.shape()) : Tensor.of(gradF, p.input.shape());
    return new LossResult(loss, gradient);
  }

  private static LossResult probabilityScalar(ClassProblem p, ClassOptions o, Request r) {
    double[] weight = o.weight();
    double eps = o.labelSmoothing();
    Reduction reduction = o.reduction();
    Tensor gradOutput = r.gradOutput();
    boolean wantLoss = r.wantLoss();
    boolean wantGrad = r.wantGrad();
    DType dtype = p.input.dtype();
    int positions = p.positions();
    int classes = p.classes;
    double[] w = ReferenceKernels.weightsFor(weight, classes, dtype);
    double count = p.input.numel() == 0 ? Double.NaN : positions;
    float[] gradF = wantGrad && dtype == DType.FLOAT32 ? r.out().floats(p.input.numel()) : null;
    double[] gradD = wantGrad && dtype == DType.FLOAT64 ? r.out().doubles(p.input.numel()) : null;
    double[] perPosition = new double[positions];
    int stride = p.inner;
    int minRows = Math.max(1, 16384 / Math.max(1, classes));
    Parallelism.forChunks(positions, minRows, (from, to) -> {
      double[] x = new double[classes];
      double[] y = new double[classes];
      for (int pos = from; pos < to; pos++) {
        int at = readRow(p, pos, x);
        for (int c = 0; c < classes; c++) {
          double t = p.target.getDouble(at + c * stride);
          y[c] = eps > 0 ? t * (1 - eps) + eps / classes : t;
        }
        double max = Double.NEGATIVE_INFINITY;
        for (int c = 0; c < classes; c++) {
          max = Math.max(max, x[c]);
        }
        double sum = 0;
        for (int c = 0; c < classes; c++) {
          sum += Math.exp(x[c] - max);
        }
        double logSum = Math.log(sum);
        double l = 0;
        double total = 0;
        for (int c = 0; c < classes; c++) {
          l += (x[c] - max - logSum) * y[c] * w[c];
          total += y[c] * w[c];
        }
        perPosition[pos] = -l;
        if (gradF != null || gradD != null) {
          double g = ReferenceCrossEntropy.upstream(reduction, gradOutput, pos, count);
          for (int c = 0; c < classes; c++) {
            double v = -y[c] * w[c] * g + Math.exp(x[c] - max - logSum) * g * total;
            if (gradF != null) {
              gradF[at + c * stride] = (float) v;
            } else {
              gradD[at + c * stride] = v;
            }
          }
        }
      }
      return 0;
    });
    Tensor loss = null;
    if (wantLoss) {
      double sum = 0;
      for (double v : perPosition) {
        sum += v;
      }
      loss = ReferenceKernels.reduce(dtype, reduction, perPosition, p.lossShape, sum, sum / count);
    }
    Tensor grad = !wantGrad ? null
        : gradF != null ? Tensor.of(gradF, p.input.shape()) : Tensor.of(gradD, p.input.shape());
    return new LossResult(loss, grad);
  }

  /** One row in double precision: statistics, loss and gradient. Ignored rows have target -1 and upstream 0. */
  private static void scalarRow(double[] x, int classes, int target, double[] w, double weightTotal, double eps,
      double g, double[] nll, double[] smooth, int pos, float[] gradF, double[] gradD, GradientSink sink, int at,
      int stride, boolean wantGrad) {
    double max = Double.NEGATIVE_INFINITY;
    for (int c = 0; c < classes; c++) {
      max = Math.max(max, x[c]);
    }
    double sum = 0;
    double others = 0; // the sum without the target's term: 1 - p_t = others / sum, without cancellation
    for (int c = 0; c < classes; c++) {
      double e = Math.exp(x[c] - max);
      sum += e;
      if (c != target) {
        others += e;
      }
    }
    double logSum = Math.log(sum);
    if (target >= 0) {
      double wt = w == null ? 1 : w[target];
      nll[pos] = -(x[target] - max - logSum) * wt;
      if (eps > 0) {
        double s = 0;
        for (int c = 0; c < classes; c++) {
          s += (x[c] - max - logSum) * (w == null ? 1 : w[c]);
        }
        smooth[pos] = -s;
      }
    }
    if (!wantGrad) {
      return;
    }
    double wt = target < 0 ? 0 : w == null ? 1 : w[target];
    double k = g * ((1 - eps) * wt + (eps / classes) * weightTotal);
    double spread = g * (eps / classes);
    for (int c = 0; c < classes; c++) {
      double prob = Math.exp(x[c] - max - logSum);
      double v = k * prob - spread * (w == null ? 1 : w[c]);
      if (c == target) {
        // k p_t - spread w_t - (1 - eps) g w_t, written with 1 - p_t = others / sum as the vector kernels do, so
        // that it keeps its relative accuracy when p_t is near 1 (and is exactly 0 for a single class).
        v = -(1 - eps) * g * wt * (others / sum);
        if (eps > 0) {
          v += spread * (weightTotal * Math.exp(x[c] - max - logSum) - wt);
        }
      }
      if (gradF != null) {
        gradF[at + c * stride] = (float) v;
      } else if (gradD != null) {
        gradD[at + c * stride] = v;
      } else {
        sink.put(at + c * stride, v);
      }
    }
  }
}
