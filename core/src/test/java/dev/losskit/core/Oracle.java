package dev.losskit.core;

/**
 * Independent float64 derivations used by the tests: written from the formulas, sharing no code with the kernels.
 */
final class Oracle {
  private Oracle() {}

  /** log-softmax of one row, via log-sum-exp. */
  static double[] logSoftmax(double... x) {
    double m = Double.NEGATIVE_INFINITY;
    for (double v : x) {
      m = Math.max(m, v);
    }
    double s = 0;
    for (double v : x) {
      s += Math.exp(v - m);
    }
    double lse = m + Math.log(s);
    double[] out = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      out[i] = x[i] - lse;
    }
    return out;
  }

  static double[] softmax(double... x) {
    double[] lp = logSoftmax(x);
    double[] p = new double[lp.length];
    for (int i = 0; i < lp.length; i++) {
      p[i] = Math.exp(lp[i]);
    }
    return p;
  }

  /** Row r of a row-major (N, C) matrix. */
  static double[] row(double[] x, int r, int c) {
    return java.util.Arrays.copyOfRange(x, r * c, (r + 1) * c);
  }

  static double sum(double[] x) {
    double s = 0;
    for (double v : x) {
      s += v;
    }
    return s;
  }
}
