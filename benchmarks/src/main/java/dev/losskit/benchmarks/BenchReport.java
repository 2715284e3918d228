package dev.losskit.benchmarks;

import dev.losskit.benchmarks.Bench.Report;
import dev.losskit.benchmarks.Bench.Result;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/** The console table, the performance targets with their verdicts, and the throughput chart of a bench run. */
public final class BenchReport {
  private BenchReport() {}

  /**
   * Formats a bench run's measurements as the console table.
   *
   * @param r a bench run
   * @return its measurements as a table
   */
  public static String table(Report r) {
    StringBuilder out = new StringBuilder();
    out.append(String.format(Locale.ROOT, "machine: %s; memory bandwidth %.1f GB/s (read + write)%n", r.machine(),
        r.memoryBandwidthGbs()));
    out.append(String.format(Locale.ROOT, "%-12s %-19s %8s %7s %8s %10s %13s %14s%n", "workload", "impl", "N", "C",
        "threads", "median_s", "elements/s", "extra_bytes"));
    for (Result x : r.results()) {
      out.append(String.format(Locale.ROOT, "%-12s %-19s %8d %7d %8d %10.4f %13.3e %14s%n", x.workload(), x.impl(),
          x.n(), x.c(), x.threads(), x.medianS(), x.throughput(),
          x.peakExtraBytes() == null ? "-" : String.valueOf(x.peakExtraBytes())));
    }
    return out.toString();
  }

  private static Optional<Result> find(Report r, String workload, String impl, int n, int c) {
    return r.results().stream().filter(x -> x.workload().equals(workload) && x.impl().equals(impl)
        && x.n() == n && x.c() == c).findFirst();
  }

  /**
   * Judges a bench run against the performance targets.
   *
   * @param r a bench run
   * @return the performance targets at N×32000 (the first cross-entropy size), each with its measured value, and
   *     for a missed one the measured floor that bounds it
   */
  public static List<String> targets(Report r) {
    Result main = r.results().get(0);
    int n = main.n();
    int c = main.c();
    List<String> out = new ArrayList<>();
    Optional<Result> reused = find(r, "ce_fwd_bwd", "losskit-core-reuse", n, c);
    Optional<Bench.Floor> newArray = floor(r, "new_gradient_array");
    find(r, "ce_fwd_bwd", "libtorch", n, c).ifPresent(t -> {
      out.add(verdict("core CE forward+backward vs libtorch (fresh gradient)", t.medianS() / main.medianS(),
          ">= 5x", t.medianS() / main.medianS() >= 5));
      reused.ifPresent(u -> out.add(verdict("core CE forward+backward vs libtorch (reused gradient buffer)",
          t.medianS() / u.medianS(), ">= 5x", t.medianS() / u.medianS() >= 5)));
      if (reused.isPresent() && newArray.isPresent()) {
        double floor = reused.get().medianS() + newArray.get().medianS();
        out.add(String.format(Locale.ROOT, "  fresh gradient: the kernel into a warm buffer (%.4f s) + the JVM's new"
            + " zeroed N·C array (%.4f s) = %.4f s; 5x libtorch needs <= %.4f s: %s", reused.get().medianS(),
            newArray.get().medianS(), floor, t.medianS() / 5,
            floor <= t.medianS() / 5 ? "reachable" : "out of reach while each call allocates its gradient"));
      }
    });
    double bound = 3.0 * 4 * n * c / (r.memoryBandwidthGbs() * 1e9);
    out.add(verdict("core vs the three-pass bound (" + String.format(Locale.ROOT, "%.4f s", bound) + "), fresh",
        main.medianS() / bound, "<= 1.5x", main.medianS() / bound <= 1.5));
    reused.ifPresent(u -> out.add(verdict("core vs the three-pass bound, reused gradient buffer",
        u.medianS() / bound, "<= 1.5x", u.medianS() / bound <= 1.5)));
    Optional<Result> coreFwd = find(r, "ce_fwd", "losskit-core", n, c);
    Optional<Result> ort = find(r, "ce_fwd", "ort", n, c);
    if (coreFwd.isPresent() && ort.isPresent()) {
      double x = ort.get().medianS() / coreFwd.get().medianS();
      out.add(verdict("core CE forward vs ONNX Runtime", x, ">= 2x", x >= 2));
    }
    Optional<Result> adapter = find(r, "ce_fwd_bwd", "losskit-djl", n, c);
    Optional<Result> builtin = find(r, "ce_fwd_bwd", "djl-builtin", n, c);
    if (adapter.isPresent() && builtin.isPresent()) {
      double x = builtin.get().medianS() / adapter.get().medianS();
      out.add(verdict("DJL adapter vs DJL's SoftmaxCrossEntropyLoss", x, ">= 3x", x >= 3));
      Optional<Bench.Floor> inject = floor(r, "djl_gradient_injection");
      if (inject.isPresent() && reused.isPresent()) {
        double floor = inject.get().medianS() + reused.get().medianS();
        out.add(String.format(Locale.ROOT, "  DJL adapter: DJL's autograd carrying a ready gradient (%.4f s) + the"
            + " kernel (%.4f s) = %.4f s; 3x DJL's loss needs <= %.4f s: %s", inject.get().medianS(),
            reused.get().medianS(), floor, builtin.get().medianS() / 3,
            floor <= builtin.get().medianS() / 3 ? "reachable" : "out of reach through DJL's public API"));
      }
    }
    Optional<Result> wide = r.results().stream().filter(x -> x.workload().equals("ce_fwd_bwd")
        && x.impl().equals("losskit-core") && x.c() == 128256).findFirst();
    if (wide.isPresent()) {
      double x = wide.get().throughput() / main.throughput();
      out.add(verdict("core throughput at C=128256 vs C=32000", x, ">= 0.75", x >= 0.75));
    }
    return out;
  }

  private static Optional<Bench.Floor> floor(Report r, String what) {
    return r.floors().stream().filter(f -> f.what().equals(what)).findFirst();
  }

  private static String verdict(String what, double value, String target, boolean met) {
    return String.format(Locale.ROOT, "%-62s %6.2f  (target %s)  %s", what, value, target, met ? "met" : "MISSED");
  }

  /**
   * Draws a bench run's throughput chart.
   *
   * @param r a bench run
   * @return an SVG chart of cross-entropy forward+backward throughput against C, one line per implementation
   */
  public static String svg(Report r) {
    Map<String, List<Result>> lines = r.results().stream()
        .filter(x -> x.workload().equals("ce_fwd_bwd") && x.n() * (long) x.c() > 1 << 20)
        .collect(Collectors.groupingBy(Result::impl, LinkedHashMap::new, Collectors.toList()));
    double maxY = r.results().stream().filter(x -> x.workload().equals("ce_fwd_bwd"))
        .mapToDouble(Result::throughput).max().orElse(1);
    int w = 720;
    int h = 420;
    int left = 80;
    int bottom = 360;
    int top = 40;
    int right = 560;
    String[] colours = {"#1b7f3b", "#b3261e", "#2f5fb3", "#c9871a", "#7a4bb3"};
    StringBuilder s = new StringBuilder();
    s.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
        + "font-family=\"sans-serif\" font-size=\"12\">%n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>%n", w, h));
    s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"24\" font-size=\"14\">Cross-entropy forward+backward "
        + "throughput (float32, N·C ≈ %d)</text>%n", left, r.results().get(0).n() * r.results().get(0).c()));
    s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>%n",
        left, bottom, right, bottom));
    s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>%n",
        left, top, left, bottom));
    for (int k = 0; k <= 4; k++) {
      double v = maxY * k / 4;
      int y = (int) (bottom - (bottom - top) * k / 4.0);
      s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.1e</text>%n", left - 6,
          y + 4, v));
    }
    for (int c : Bench.SWEEP) {
      int x = xOf(c, left, right);
      s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">C=%d</text>%n", x,
          bottom + 18, c));
    }
    s.append(String.format(Locale.ROOT, "<text x=\"12\" y=\"%d\" transform=\"rotate(-90 12 %d)\">elements / s"
        + "</text>%n", (top + bottom) / 2, (top + bottom) / 2));
    int i = 0;
    for (Map.Entry<String, List<Result>> e : lines.entrySet()) {
      String colour = colours[i % colours.length];
      List<Result> pts = e.getValue().stream().sorted((a, b) -> Integer.compare(a.c(), b.c()))
          .collect(Collectors.toList());
      String path = pts.stream().map(p -> xOf(p.c(), left, right) + "," + (int) (bottom - (bottom - top)
          * p.throughput() / maxY)).collect(Collectors.joining(" "));
      s.append(String.format(Locale.ROOT, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%s\"/>%n",
          colour, path));
      s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>"
          + "<text x=\"%d\" y=\"%d\">%s</text>%n", right + 20, top + 20 * i, colour, right + 38, top + 20 * i + 10,
          e.getKey()));
      i++;
    }
    s.append("</svg>\n");
    return s.toString();
  }

  private static int xOf(int c, int left, int right) {
    double lo = Math.log10(Bench.SWEEP[0]);
    double hi = Math.log10(Bench.SWEEP[Bench.SWEEP.length - 1]);
    return (int) (left + 20 + (right - left - 40) * (Math.log10(c) - lo) / (hi - lo));
  }
}
