package dev.losskit.benchmarks;

import dev.losskit.benchmarks.Bench.Case;
import dev.losskit.benchmarks.Bench.Floor;
import dev.losskit.benchmarks.Bench.Report;
import dev.losskit.benchmarks.Bench.Result;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The console table, the performance targets with their verdicts, and the charts of a bench run: the throughput
 * sweep over C, and one bar chart per case.
 */
public final class BenchReport {
  private BenchReport() {}

  /** The cases where the core-reuse row must be at least 3× libtorch. */
  static final List<String> CORE_VS_LIBTORCH = List.of(Bench.SMALL_BATCH, Bench.SEGMENTATION, Bench.DISTILLATION,
      Bench.MULTILABEL);

  /** The cases where DJL has a comparable loss: the adapter must be no slower than it. */
  static final List<String> ADAPTER_VS_DJL = List.of(Bench.SMALL_BATCH, Bench.LLM_VOCAB, Bench.DISTILLATION,
      Bench.MULTILABEL, Bench.TAGGING);

  /**
   * Formats a bench run's measurements as the console table: one block per case, times in the case's unit
   * (microseconds for the small cases).
   *
   * @param r a bench run
   * @return its measurements as a table
   */
  public static String table(Report r) {
    StringBuilder out = new StringBuilder();
    out.append(String.format(Locale.ROOT, "machine: %s; memory bandwidth %.1f GB/s (read + write)%s%n", r.machine(),
        r.memoryBandwidthGbs(), r.quick() ? "; --quick: smaller sizes, fewer repetitions" : ""));
    out.append("speedup: the reference's time / this row's time (libtorch for forward+backward, ort for forward,"
        + " djl-builtin for the adapter)\n");
    for (Case c : r.cases()) {
      List<Result> rows = rows(r, c.name());
      // The case's dtype: that of most of its rows (llm-vocab-bf16 has one float32 row for comparison).
      String dtype = rows.stream().collect(Collectors.groupingBy(Result::dtype, LinkedHashMap::new,
          Collectors.counting())).entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey)
          .orElse("float32");
      out.append(String.format(Locale.ROOT, "%n== %s: %s, %s, %s%n", c.name(), c.shape(), dtype, c.options()));
      if (c.note() != null) {
        out.append("   ").append(c.note()).append('\n');
      }
      out.append(String.format(Locale.ROOT, "%-12s %-19s %6s %6s %7s %12s %18s %11s %12s %10s  %s%n", "workload",
          "impl", "N", "C", "threads", "median_" + c.unit(), "speedup", "elements/s", "extra_bytes", "loss", "note"));
      for (Result x : rows) {
        out.append(String.format(Locale.ROOT, "%-12s %-19s %6d %6d %7d %12s %18s %11.3e %12s %10s  %s%n",
            x.workload(), x.impl(), x.n(), x.c(), x.threads(), number(x.medianS() / scale(c.unit())), speedup(r, x),
            x.throughput(), x.peakExtraBytes() == null ? "-" : String.valueOf(x.peakExtraBytes()),
            x.loss() == null ? "-" : String.format(Locale.ROOT, "%.6g", x.loss()), x.note() == null ? "" : x.note()));
      }
    }
    if (!r.floors().isEmpty()) {
      out.append(String.format(Locale.ROOT, "%nfloors (llm-vocab size):%n"));
      for (Floor f : r.floors()) {
        out.append(String.format(Locale.ROOT, "%-24s N=%d C=%d %12s ms%n", f.what(), f.n(), f.c(),
            number(f.medianS() * 1e3)));
      }
    }
    return out.toString();
  }

  /** Seconds per unit. */
  static double scale(String unit) {
    switch (unit) {
      case "us":
        return 1e-6;
      case "ms":
        return 1e-3;
      case "s":
        return 1;
      default:
        throw new IllegalArgumentException(unit);
    }
  }

  /** Four significant figures at most, without an exponent. */
  private static String number(double v) {
    return v >= 1000 ? String.format(Locale.ROOT, "%.0f", v) : v >= 100 ? String.format(Locale.ROOT, "%.1f", v)
        : v >= 10 ? String.format(Locale.ROOT, "%.2f", v) : String.format(Locale.ROOT, "%.3f", v);
  }

  private static List<Result> rows(Report r, String caseName) {
    return r.results().stream().filter(x -> x.caseName().equals(caseName)).collect(Collectors.toList());
  }

  /** The implementation a row is compared with in the table, or null. */
  static String reference(Result x) {
    if (x.impl().equals("losskit-djl")) {
      return "djl-builtin";
    }
    if (x.workload().equals("ce_fwd")) {
      return x.impl().equals("ort") ? null : "ort";
    }
    return x.impl().equals("libtorch") ? null : "libtorch";
  }

  private static String speedup(Report r, Result x) {
    String ref = reference(x);
    if (ref == null) {
      return "-";
    }
    Optional<Result> base = find(r, x.caseName(), x.workload(), ref, x.n(), x.c());
    return base.map(b -> String.format(Locale.ROOT, "%.2fx %s", b.medianS() / x.medianS(), ref)).orElse("-");
  }

  private static Optional<Result> find(Report r, String caseName, String workload, String impl, int n, int c) {
    return r.results().stream().filter(x -> x.caseName().equals(caseName) && x.workload().equals(workload)
        && x.impl().equals(impl) && x.n() == n && x.c() == c).findFirst();
  }

  private static Optional<Result> find(Report r, String caseName, String workload, String impl) {
    return r.results().stream().filter(x -> x.caseName().equals(caseName) && x.workload().equals(workload)
        && x.impl().equals(impl)).findFirst();
  }

  private static String workload(String caseName) {
    return caseName.equals(Bench.MULTILABEL) ? "bce_fwd_bwd" : "ce_fwd_bwd";
  }

  /**
   * Judges a bench run against the performance targets: each line gives the measured ratio, the target and
   * {@code met} or {@code MISSED} ({@code not measured} when the run lacks a row), and for llm-vocab the measured
   * floors that bound what any kernel can reach.
   *
   * @param r a bench run
   * @return the verdicts, one a line
   */
  public static List<String> targets(Report r) {
    List<String> out = new ArrayList<>();
    for (String c : CORE_VS_LIBTORCH) {
      out.add(faster(r, c, workload(c), "losskit-core-reuse", "libtorch", 3));
    }
    out.add(faster(r, Bench.LLM_VOCAB, "ce_fwd_bwd", "losskit-core-reuse", "libtorch", 5));
    out.add(faster(r, Bench.LLM_VOCAB, "ce_fwd", "losskit-core", "ort", 2));
    Optional<Result> reused = find(r, Bench.LLM_VOCAB, "ce_fwd_bwd", "losskit-core-reuse");
    String boundWhat = "llm-vocab ce_fwd_bwd: losskit-core-reuse / two-pass memory bound";
    if (reused.isPresent()) {
      Result u = reused.get();
      double bound = 2.0 * 4 * u.elements() / (r.memoryBandwidthGbs() * 1e9);
      double x = u.medianS() / bound;
      out.add(verdict(String.format(Locale.ROOT, "%s %.2f ms", boundWhat, bound * 1e3), x,
          "<= 1.25x", x <= 1.25));
    } else {
      out.add(missing(boundWhat, "<= 1.25x"));
    }
    for (String c : ADAPTER_VS_DJL) {
      out.add(faster(r, c, workload(c), "losskit-djl", "djl-builtin", 1));
    }
    out.add(faster(r, Bench.LLM_VOCAB, "ce_fwd_bwd", "losskit-djl", "djl-builtin", 1.5));
    for (int batch : MlpEpoch.BATCHES) {
      String what = String.format(Locale.ROOT, "mlp-epoch batch %d: losskit-djl epoch / djl-builtin epoch", batch);
      Optional<Result> ours = find(r, Bench.MLP_EPOCH, "train_epoch", "losskit-djl", batch, MlpEpoch.CLASSES);
      Optional<Result> theirs = find(r, Bench.MLP_EPOCH, "train_epoch", "djl-builtin", batch, MlpEpoch.CLASSES);
      if (ours.isPresent() && theirs.isPresent()) {
        double x = ours.get().medianS() / theirs.get().medianS();
        out.add(verdict(what, x, "<= 1.03x", x <= 1.03));
      } else {
        out.add(missing(what, "<= 1.03x"));
      }
    }
    out.addAll(floors(r));
    return out;
  }

  /** A "{@code impl} at least {@code times}× {@code ref}" verdict: the ratio is ref's time over impl's. */
  private static String faster(Report r, String caseName, String workload, String impl, String ref, double times) {
    String target = ">= " + java.math.BigDecimal.valueOf(times).stripTrailingZeros().toPlainString() + "x"
        + (times == 1 ? " (no slower)" : "");
    String what = String.format(Locale.ROOT, "%s %s: %s vs %s", caseName, workload, impl, ref);
    Optional<Result> a = find(r, caseName, workload, impl);
    Optional<Result> b = find(r, caseName, workload, ref);
    if (a.isEmpty() || b.isEmpty()) {
      return missing(what, target);
    }
    double x = b.get().medianS() / a.get().medianS();
    return verdict(what, x, target, x >= times) + lossDiffers(a.get(), b.get());
  }

  /** {@return a warning when a row of the verdict computed a loss that differs from its case's} */
  private static String lossDiffers(Result... rows) {
    for (Result x : rows) {
      if (x.note() != null && x.note().startsWith("LOSS DIFFERS")) {
        return " (but " + x.impl() + ": " + x.note() + ")";
      }
    }
    return "";
  }

  /** The floors' explanation lines, at llm-vocab's size. */
  private static List<String> floors(Report r) {
    List<String> out = new ArrayList<>();
    Optional<Result> fresh = find(r, Bench.LLM_VOCAB, "ce_fwd_bwd", "losskit-core");
    Optional<Result> reused = find(r, Bench.LLM_VOCAB, "ce_fwd_bwd", "losskit-core-reuse");
    Optional<Result> torch = find(r, Bench.LLM_VOCAB, "ce_fwd_bwd", "libtorch");
    Optional<Floor> newArray = floor(r, "new_gradient_array");
    if (fresh.isPresent() && reused.isPresent() && newArray.isPresent()) {
      double floor = reused.get().medianS() + newArray.get().medianS();
      out.add(String.format(Locale.ROOT, "  llm-vocab, fresh gradient: the kernel into a warm buffer (%.2f ms) + the"
          + " JVM's new zeroed N·C array (%.2f ms) = %.2f ms; measured losskit-core %.2f ms%s",
          reused.get().medianS() * 1e3, newArray.get().medianS() * 1e3, floor * 1e3, fresh.get().medianS() * 1e3,
          torch.map(t -> String.format(Locale.ROOT, " (%.2fx libtorch; 5x needs <= %.2f ms: %s)",
              t.medianS() / fresh.get().medianS(), t.medianS() / 5 * 1e3,
              fresh.get().medianS() <= t.medianS() / 5 ? "met"
                  : floor <= t.medianS() / 5 ? "reachable" : "out of reach while each call allocates its gradient"))
              .orElse("")));
    }
    Optional<Result> forward = find(r, Bench.LLM_VOCAB, "ce_fwd", "losskit-core");
    if (forward.isPresent() && reused.isPresent()) {
      double bound = 2.0 * 4 * reused.get().elements() / (r.memoryBandwidthGbs() * 1e9);
      double f = forward.get().medianS();
      out.add(String.format(Locale.ROOT, "  llm-vocab, memory bound: 2·4·N·C bytes at %.1f GB/s = %.2f ms, 1.25x"
          + " = %.2f ms; the forward alone, which reads the logits once and writes nothing, takes %.2f ms (%.2fx"
          + " the bound), the forward+backward %.2f ms", r.memoryBandwidthGbs(), bound * 1e3, 1.25 * bound * 1e3,
          f * 1e3, f / bound, reused.get().medianS() * 1e3));
    }
    Optional<Result> adapter = find(r, Bench.LLM_VOCAB, "ce_fwd_bwd", "losskit-djl");
    Optional<Result> builtin = find(r, Bench.LLM_VOCAB, "ce_fwd_bwd", "djl-builtin");
    Optional<Floor> inject = floor(r, "djl_gradient_injection");
    if (adapter.isPresent() && builtin.isPresent() && inject.isPresent() && reused.isPresent()) {
      double floor = inject.get().medianS() + reused.get().medianS();
      double need = builtin.get().medianS() / 1.5;
      out.add(String.format(Locale.ROOT, "  llm-vocab, DJL adapter: DJL's autograd carrying a ready gradient (%.2f ms)"
          + " + the kernel (%.2f ms) = %.2f ms; measured losskit-djl %.2f ms; 1.5x DJL's loss needs <= %.2f ms: %s",
          inject.get().medianS() * 1e3, reused.get().medianS() * 1e3, floor * 1e3, adapter.get().medianS() * 1e3,
          need * 1e3, adapter.get().medianS() <= need ? "met"
              : floor <= need ? "reachable" : "out of reach through DJL's public API"));
    }
    return out;
  }

  private static Optional<Floor> floor(Report r, String what) {
    return r.floors().stream().filter(f -> f.what().equals(what)).findFirst();
  }

  static String verdict(String what, double value, String target, boolean met) {
    return String.format(Locale.ROOT, "%-76s %7.2f  (target %s)  %s", what, value, target, met ? "met" : "MISSED");
  }

  private static String missing(String what, String target) {
    return String.format(Locale.ROOT, "%-76s %7s  (target %s)  not measured", what, "-", target);
  }

  // ---- charts ---------------------------------------------------------------------------------------------------

  private static final String[] COLOURS = {"#1b7f3b", "#b3261e", "#2f5fb3", "#c9871a", "#7a4bb3", "#3a8d99",
      "#8a8a8a"};

  /** Implementations in the charts' order, each with its colour. */
  private static final List<String> IMPLS = List.of("losskit-core", "losskit-core-reuse", "libtorch", "djl-builtin",
      "losskit-djl", "ort");

  private static String colour(String impl) {
    int i = IMPLS.indexOf(impl);
    return COLOURS[(i < 0 ? IMPLS.size() : i) % COLOURS.length];
  }

  /**
   * Draws a bench run's throughput chart: cross-entropy forward+backward throughput against C at fixed N·C, from
   * the sweep and llm-vocab (the sweep's C=32000 point).
   *
   * @param r a bench run
   * @return an SVG chart, one line per implementation, or null when the run has no sweep
   */
  public static String svg(Report r) {
    List<Result> points = r.results().stream().filter(x -> x.workload().equals("ce_fwd_bwd")
        && (x.caseName().equals(Bench.SWEEP) || x.caseName().equals(Bench.LLM_VOCAB))).collect(Collectors.toList());
    if (points.stream().noneMatch(x -> x.caseName().equals(Bench.SWEEP))) {
      return null;
    }
    Map<String, List<Result>> lines = points.stream()
        .collect(Collectors.groupingBy(Result::impl, LinkedHashMap::new, Collectors.toList()));
    double maxY = points.stream().mapToDouble(Result::throughput).max().orElse(1);
    int w = 760;
    int h = 440;
    int left = 80;
    int bottom = 360;
    int top = 48;
    int right = 580;
    StringBuilder s = new StringBuilder();
    s.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
        + "font-family=\"sans-serif\" font-size=\"12\">%n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>%n", w, h));
    s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\">sweep: "
        + "cross-entropy forward+backward throughput against C</text>%n", left));
    s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"38\" fill=\"#444\">float32, class indices, N·C ≈ %d;"
        + " higher is better; C=32000 is llm-vocab</text>%n", left, points.get(0).elements()));
    axes(s, left, top, right, bottom);
    for (int k = 0; k <= 4; k++) {
      double v = maxY * k / 4;
      int y = (int) (bottom - (bottom - top) * k / 4.0);
      s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.1e</text>%n", left - 6,
          y + 4, v));
      s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>%n",
          left + 1, y, right, y));
    }
    for (int c : Bench.SWEEP_C) {
      int x = xOf(c, left, right);
      s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">C=%d</text>%n", x,
          bottom + 18, c));
    }
    s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">classes C (log scale)"
        + "</text>%n", (left + right) / 2, bottom + 40));
    s.append(String.format(Locale.ROOT, "<text x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" "
        + "text-anchor=\"middle\">elements (N·C) per second</text>%n", (top + bottom) / 2, (top + bottom) / 2));
    int i = 0;
    for (Map.Entry<String, List<Result>> e : lines.entrySet()) {
      String colour = colour(e.getKey());
      List<Result> pts = e.getValue().stream().sorted((a, b) -> Integer.compare(a.c(), b.c()))
          .collect(Collectors.toList());
      String path = pts.stream().map(p -> xOf(p.c(), left, right) + "," + (int) (bottom - (bottom - top)
          * p.throughput() / maxY)).collect(Collectors.joining(" "));
      s.append(String.format(Locale.ROOT, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%s\"/>%n",
          colour, path));
      for (Result p : pts) {
        s.append(String.format(Locale.ROOT, "<circle cx=\"%d\" cy=\"%d\" r=\"3\" fill=\"%s\"/>%n",
            xOf(p.c(), left, right), (int) (bottom - (bottom - top) * p.throughput() / maxY), colour));
      }
      s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>"
          + "<text x=\"%d\" y=\"%d\">%s</text>%n", right + 20, top + 20 * i, colour, right + 38, top + 20 * i + 10,
          esc(e.getKey())));
      i++;
    }
    s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" fill=\"#444\">%s</text>%n", left, h - 14,
        esc(r.machine())));
    s.append("</svg>\n");
    return s.toString();
  }

  private static void axes(StringBuilder s, int left, int top, int right, int bottom) {
    s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>%n",
        left, bottom, right, bottom));
    s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>%n",
        left, top, left, bottom));
  }

  private static int xOf(int c, int left, int right) {
    double lo = Math.log10(Bench.SWEEP_C[0]);
    double hi = Math.log10(Bench.SWEEP_C[Bench.SWEEP_C.length - 1]);
    return (int) (left + 20 + (right - left - 40) * (Math.log10(c) - lo) / (hi - lo));
  }

  /**
   * Draws one case's chart: a bar per implementation and workload, the median time in the case's unit, each
   * labelled with its time, its speedup over the reference and its note, with the case's notes below. llm-vocab's
   * chart also has the two floors as grey bars and the two-pass memory bound as a dashed line.
   *
   * @param r a bench run
   * @param c one of its cases, other than the sweep (whose chart is {@link #svg})
   * @return an SVG chart
   */
  public static String caseSvg(Report r, Case c) {
    record Bar(String group, String label, double value, String colour, String text) {}
    String unit = c.unit().equals("us") ? "µs" : c.unit();
    double scale = scale(c.unit());
    List<Bar> bars = new ArrayList<>();
    for (Result x : rows(r, c.name())) {
      String sp = speedup(r, x);
      double v = x.medianS() / scale;
      bars.add(new Bar(group(x), x.impl(), v, colour(x.impl()), number(v) + " " + unit
          + (sp.equals("-") ? "" : " (" + sp.replace("x ", "× ") + ")") + (x.note() == null ? "" : "; " + x.note())));
    }
    List<String> notes = new ArrayList<>();
    if (c.note() != null) {
      notes.add(c.note());
    }
    double bound = Double.NaN;
    if (c.name().equals(Bench.LLM_VOCAB)) {
      for (Floor f : r.floors()) {
        double v = f.medianS() / scale;
        bars.add(new Bar("floors: steps an implementation cannot avoid", f.what(), v, "#9e9e9e", number(v) + " " + unit
            + (f.what().equals("new_gradient_array") ? " (the JVM zeroing a fresh N·C gradient)"
            : " (DJL's autograd carrying a ready gradient)")));
      }
      Optional<Result> any = rows(r, c.name()).stream().findFirst();
      if (any.isPresent()) {
        bound = 2.0 * 4 * any.get().elements() / (r.memoryBandwidthGbs() * 1e9) / scale;
        notes.add(String.format(Locale.ROOT, "dashed line: the two-pass memory bound, reading the logits once and"
            + " writing the gradient once (2·4·N·C bytes) at the measured %.1f GB/s: %s %s", r.memoryBandwidthGbs(),
            number(bound), unit));
      }
    }
    notes.add(r.machine() + (r.quick() ? "; a --quick run" : ""));
    double max = bars.stream().mapToDouble(Bar::value).max().orElse(1);
    if (!Double.isNaN(bound)) {
      max = Math.max(max, bound);
    }
    int labelW = 190;
    int barW = 340;
    int rowH = 24;
    int w = 1040;
    List<String> subtitle = new ArrayList<>(wrap("float32, " + c.options(), 130));
    subtitle.add(String.format(Locale.ROOT, "median time per %s in %s: shorter is better",
        c.name().equals(Bench.MLP_EPOCH) ? "epoch" : "call", unit));
    int top = 40 + 16 * subtitle.size() + 8;
    int groups = (int) bars.stream().map(Bar::group).distinct().count();
    List<String> noteLines = new ArrayList<>();
    notes.forEach(n -> noteLines.addAll(wrap(n, 130)));
    int h = top + rowH * bars.size() + 18 * groups + 30 + 16 * noteLines.size();
    StringBuilder s = new StringBuilder();
    s.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
        + "font-family=\"sans-serif\" font-size=\"12\">%n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>%n", w, h));
    s.append(String.format(Locale.ROOT, "<text x=\"12\" y=\"22\" font-size=\"15\" font-weight=\"bold\">%s: %s"
        + "</text>%n", esc(c.name()), esc(c.shape())));
    int y = 40;
    for (String line : subtitle) {
      s.append(String.format(Locale.ROOT, "<text x=\"12\" y=\"%d\" fill=\"#444\">%s</text>%n", y, esc(line)));
      y += 16;
    }
    y = top;
    String last = null;
    for (Bar b : bars) {
      if (!b.group().equals(last)) {
        y += 18;
        s.append(String.format(Locale.ROOT, "<text x=\"12\" y=\"%d\" font-weight=\"bold\">%s</text>%n", y - 4,
            esc(b.group())));
        last = b.group();
      }
      int len = Math.max(1, (int) Math.round(barW * b.value() / max));
      s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>%n", labelW - 8,
          y + 16, esc(b.label())));
      s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>%n",
          labelW, y + 4, len, rowH - 6, b.colour()));
      s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">%s</text>%n", labelW + len + 6, y + 16,
          esc(b.text())));
      // the axis, and the memory bound, beside each bar only: the groups' headings stay clear
      s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>%n",
          labelW, y, labelW, y + rowH));
      if (!Double.isNaN(bound) && !b.group().startsWith("floors")) {
        int x = labelW + (int) Math.round(barW * bound / max);
        s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\" "
            + "stroke-dasharray=\"4 3\"/>%n", x, y, x, y + rowH));
      }
      y += rowH;
    }
    y += 24;
    for (String n : noteLines) {
      s.append(String.format(Locale.ROOT, "<text x=\"12\" y=\"%d\" fill=\"#444\">%s</text>%n", y, esc(n)));
      y += 16;
    }
    s.append("</svg>\n");
    return s.toString();
  }

  /** Breaks text into lines of at most {@code width} characters, at spaces. */
  static List<String> wrap(String text, int width) {
    List<String> lines = new ArrayList<>();
    StringBuilder line = new StringBuilder();
    for (String word : text.split(" ")) {
      if (line.length() > 0 && line.length() + 1 + word.length() > width) {
        lines.add(line.toString());
        line.setLength(0);
      }
      if (line.length() > 0) {
        line.append(' ');
      }
      line.append(word);
    }
    if (line.length() > 0) {
      lines.add(line.toString());
    }
    return lines;
  }

  /** A chart's group of bars: the workload, and for a case with several sizes the size. */
  private static String group(Result x) {
    if (x.workload().equals("train_epoch")) {
      return "train_epoch, batch " + x.n();
    }
    String what = x.workload().equals("ce_fwd") ? "ce_fwd (forward only)" : x.workload() + " (forward+backward)";
    return x.caseName().equals(Bench.SWEEP) ? what + ", N=" + x.n() + " C=" + x.c() : what;
  }

  static String esc(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }
}
