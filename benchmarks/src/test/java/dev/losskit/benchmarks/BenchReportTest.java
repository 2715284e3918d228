package dev.losskit.benchmarks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.losskit.benchmarks.Bench.Case;
import dev.losskit.benchmarks.Bench.Floor;
import dev.losskit.benchmarks.Bench.Report;
import dev.losskit.benchmarks.Bench.Result;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;

/**
 * The report of a bench run, on a synthetic run whose figures are chosen so that every ratio is known: the JSON's
 * shape, the table's units, the targets' arithmetic and verdicts, and the charts. Nothing here is timed.
 */
class BenchReportTest {
  /** 10 GB/s: llm-vocab's two-pass bound is 2·4·4096·32000 B / 1e10 B/s = 104.8576 ms. */
  static final double BANDWIDTH = 10;
  static final double BOUND = 2.0 * 4 * 4096 * 32000 / (BANDWIDTH * 1e9);

  static Result row(String c, String workload, List<Integer> shape, int n, int k, String impl, double s) {
    return new Result(c, workload, shape, n, k, "float32", impl, 2, s, impl.startsWith("losskit-core") ? 100L : null,
        2.5, null);
  }

  /** Every case, with figures that meet some targets and miss others. */
  static Report synthetic() {
    List<Result> r = new ArrayList<>();
    List<Integer> llm = List.of(4096, 32000);
    r.add(row(Bench.LLM_VOCAB, "ce_fwd_bwd", llm, 4096, 32000, "losskit-core", 0.150));
    r.add(row(Bench.LLM_VOCAB, "ce_fwd_bwd", llm, 4096, 32000, "losskit-core-reuse", BOUND * 1.2)); // 1.20: met
    r.add(row(Bench.LLM_VOCAB, "ce_fwd_bwd", llm, 4096, 32000, "libtorch", BOUND * 1.2 * 4)); // 4.00: MISSED
    r.add(row(Bench.LLM_VOCAB, "ce_fwd_bwd", llm, 4096, 32000, "djl-builtin", 0.600));
    r.add(row(Bench.LLM_VOCAB, "ce_fwd_bwd", llm, 4096, 32000, "losskit-djl", 0.300)); // 2.00: met twice
    r.add(row(Bench.LLM_VOCAB, "ce_fwd", llm, 4096, 32000, "losskit-core", 0.050));
    r.add(row(Bench.LLM_VOCAB, "ce_fwd", llm, 4096, 32000, "ort", 0.125)); // 2.50: met
    List<Integer> small = List.of(32, 10);
    r.add(row(Bench.SMALL_BATCH, "ce_fwd_bwd", small, 32, 10, "losskit-core", 12e-6));
    r.add(row(Bench.SMALL_BATCH, "ce_fwd_bwd", small, 32, 10, "losskit-core-reuse", 10e-6));
    r.add(row(Bench.SMALL_BATCH, "ce_fwd_bwd", small, 32, 10, "libtorch", 60e-6)); // 6.00: met
    r.add(row(Bench.SMALL_BATCH, "ce_fwd_bwd", small, 32, 10, "djl-builtin", 150e-6));
    r.add(row(Bench.SMALL_BATCH, "ce_fwd_bwd", small, 32, 10, "losskit-djl", 200e-6)); // 0.75: MISSED
    List<Integer> seg = List.of(4, 21, 512, 512);
    r.add(row(Bench.SEGMENTATION, "ce_fwd_bwd", seg, 4, 21, "losskit-core", 0.2));
    r.add(row(Bench.SEGMENTATION, "ce_fwd_bwd", seg, 4, 21, "losskit-core-reuse", 0.15));
    r.add(row(Bench.SEGMENTATION, "ce_fwd_bwd", seg, 4, 21, "libtorch", 0.3)); // 2.00: MISSED
    List<Integer> dist = List.of(4096, 1000);
    r.add(row(Bench.DISTILLATION, "ce_fwd_bwd", dist, 4096, 1000, "losskit-core-reuse", 0.01));
    r.add(row(Bench.DISTILLATION, "ce_fwd_bwd", dist, 4096, 1000, "libtorch", 0.03)); // 3.00: met (exactly)
    r.add(new Result(Bench.DISTILLATION, "ce_fwd_bwd", dist, 4096, 1000, "float32", "djl-builtin", 2, 0.04, null,
        2.4, "sparseLabel=false, no label smoothing"));
    r.add(row(Bench.DISTILLATION, "ce_fwd_bwd", dist, 4096, 1000, "losskit-djl", 0.04)); // 1.00: met
    r.add(row(Bench.MULTILABEL, "bce_fwd_bwd", dist, 4096, 1000, "losskit-core-reuse", 0.02));
    r.add(row(Bench.MULTILABEL, "bce_fwd_bwd", dist, 4096, 1000, "libtorch", 0.1)); // 5.00: met
    r.add(row(Bench.MULTILABEL, "bce_fwd_bwd", dist, 4096, 1000, "djl-builtin", 0.05));
    r.add(row(Bench.MULTILABEL, "bce_fwd_bwd", dist, 4096, 1000, "losskit-djl", 0.04)); // 1.25: met
    List<Integer> tag = List.of(32, 512, 9);
    r.add(row(Bench.TAGGING, "ce_fwd_bwd", tag, 32, 9, "djl-builtin", 900e-6));
    r.add(row(Bench.TAGGING, "ce_fwd_bwd", tag, 32, 9, "losskit-djl", 600e-6)); // 1.50: met
    List<Integer> epoch = List.of(60000, 10);
    r.add(row(Bench.MLP_EPOCH, "train_epoch", epoch, 32, 10, "djl-builtin", 10.0));
    r.add(row(Bench.MLP_EPOCH, "train_epoch", epoch, 32, 10, "losskit-djl", 10.2)); // 1.02: met
    r.add(row(Bench.MLP_EPOCH, "train_epoch", epoch, 256, 10, "djl-builtin", 2.0));
    r.add(row(Bench.MLP_EPOCH, "train_epoch", epoch, 256, 10, "losskit-djl", 2.1)); // 1.05: MISSED
    for (int c : new int[] {10, 1000, 128256}) {
      int n = 4096 * 32000 / c;
      for (String impl : new String[] {"losskit-core", "losskit-core-reuse", "libtorch"}) {
        r.add(row(Bench.SWEEP, "ce_fwd_bwd", List.of(n, c), n, c, impl, 0.1 * (impl.equals("libtorch") ? 5 : 1)));
      }
    }
    r.add(new Result(Bench.LLM_VOCAB_BF16, "ce_fwd_bwd", llm, 4096, 32000, "float32", "losskit-core-float32", 2,
        0.15, null, 10.9, "float32 input: the bfloat16 values widened; float32 gradient"));
    for (String impl : new String[] {"losskit-core", "libtorch"}) {
      r.add(new Result(Bench.LLM_VOCAB_BF16, "ce_fwd_bwd", llm, 4096, 32000, "bfloat16", impl, 2,
          impl.equals("libtorch") ? 0.6 : 0.2, null, 10.9375, null)); // 3.00x libtorch
    }
    List<Case> cases = List.of(
        new Case(Bench.LLM_VOCAB, "N=4096 C=32000", "class indices", null, "ms"),
        new Case(Bench.SMALL_BATCH, "N=32 C=10", "class indices", null, "us"),
        new Case(Bench.SEGMENTATION, "N=4 C=21 512×512", "class weights, ignore_index=255 <5%> & more",
            "no DJL rows: DJL's SoftmaxCrossEntropyLoss has no class weights or ignore_index", "ms"),
        new Case(Bench.DISTILLATION, "N=4096 C=1000", "probability targets, label_smoothing=0.1",
            "djl-builtin: SoftmaxCrossEntropyLoss(sparseLabel=false), which has no label smoothing", "ms"),
        new Case(Bench.MULTILABEL, "4096×1000", "BCE with logits, pos_weight", "djl-builtin: no pos_weight", "ms"),
        new Case(Bench.TAGGING, "N=32 T=512 C=9", "class axis last", "DJL only", "us"),
        new Case(Bench.MLP_EPOCH, "MLP 784-128-10", "EasyTrain", "DJL only", "s"),
        new Case(Bench.SWEEP, "C=10,1000,32000,128256", "class indices", null, "ms"),
        new Case(Bench.LLM_VOCAB_BF16, "N=4096 C=32000", "class indices, bfloat16 logits", null, "ms"));
    List<Floor> floors = List.of(new Floor("new_gradient_array", 4096, 32000, 0.05),
        new Floor("djl_gradient_injection", 4096, 32000, 0.1));
    return new Report(BANDWIDTH, r, "2 cores, test", floors, cases, false);
  }

  @Test
  void everyJsonRowNamesItsCaseAndKeepsTheOldFields() throws Exception {
    Report report = synthetic();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    Bench.writeJson(report, out);
    JsonObject json = JsonParser.parseString(out.toString(StandardCharsets.UTF_8)).getAsJsonObject();
    assertEquals(BANDWIDTH, json.get("memory_bandwidth_gbs").getAsDouble());
    assertFalse(json.get("quick").getAsBoolean());
    var results = json.getAsJsonArray("results");
    assertEquals(report.results().size(), results.size());
    Set<String> cases = new HashSet<>();
    for (JsonElement e : results) {
      JsonObject o = e.getAsJsonObject();
      for (String key : new String[] {"case", "workload", "n", "c", "shape", "dtype", "impl", "threads", "median_s",
          "peak_extra_bytes", "loss", "note"}) {
        assertTrue(o.has(key), key + " missing in " + o);
      }
      assertTrue(Bench.CASES.contains(o.get("case").getAsString()), o.toString());
      boolean bf16 = o.get("case").getAsString().equals(Bench.LLM_VOCAB_BF16)
          && !o.get("impl").getAsString().equals("losskit-core-float32");
      assertEquals(bf16 ? "bfloat16" : "float32", o.get("dtype").getAsString());
      cases.add(o.get("case").getAsString());
    }
    assertEquals(Set.copyOf(Bench.CASES), cases);
    JsonObject seg = results.get(12).getAsJsonObject();
    assertEquals(Bench.SEGMENTATION, seg.get("case").getAsString());
    assertEquals("[4,21,512,512]", seg.get("shape").toString());
    assertEquals(0.2, seg.get("median_s").getAsDouble());
    assertEquals(9, json.getAsJsonArray("cases").size());
    assertEquals("us", json.getAsJsonArray("cases").get(1).getAsJsonObject().get("unit").getAsString());
    assertEquals(2, json.getAsJsonArray("floors").size());
  }

  @Test
  void theTableGivesSmallCasesInMicrosecondsAndLargeOnesInMilliseconds() {
    String table = BenchReport.table(synthetic());
    String small = block(table, Bench.SMALL_BATCH);
    assertTrue(small.contains("median_us"), small);
    assertTrue(small.matches("(?s).*libtorch\\s+32\\s+10\\s+2\\s+60\\.00\\s.*"), small); // 60e-6 s
    assertTrue(small.contains("6.00x libtorch"), small);
    assertTrue(small.contains("0.75x djl-builtin"), small);
    assertTrue(block(table, Bench.TAGGING).contains("median_us"));
    String llm = block(table, Bench.LLM_VOCAB);
    assertTrue(llm.contains("median_ms") && llm.contains("600.0") && llm.contains("2.50x ort"), llm);
    assertTrue(block(table, Bench.MLP_EPOCH).contains("median_s"));
    assertTrue(block(table, Bench.SEGMENTATION).contains("no class weights or ignore_index"));
    assertTrue(block(table, Bench.DISTILLATION).contains("sparseLabel=false, no label smoothing"));
    assertTrue(table.contains("new_gradient_array") && table.contains("djl_gradient_injection"), table);
    String bf16 = block(table, Bench.LLM_VOCAB_BF16);
    assertTrue(bf16.startsWith("== llm-vocab-bf16: N=4096 C=32000, bfloat16,"), bf16);
    assertTrue(bf16.contains("3.00x libtorch"), bf16);
    assertTrue(llm.startsWith("== llm-vocab: N=4096 C=32000, float32,"), llm);
  }

  /** The table's block of one case: from its header to the next blank line. */
  private static String block(String table, String name) {
    int start = table.indexOf("== " + name + ":");
    assertTrue(start >= 0, name + " missing in\n" + table);
    int end = table.indexOf("\n\n", start);
    return table.substring(start, end < 0 ? table.length() : end);
  }

  @Test
  void targetsComputeTheRatiosFromTheFiguresAndSayMetOrMissed() {
    List<String> t = BenchReport.targets(synthetic());
    expect(t, "small-batch ce_fwd_bwd: losskit-core-reuse vs libtorch", "6.00", "met");
    expect(t, "segmentation ce_fwd_bwd: losskit-core-reuse vs libtorch", "2.00", "MISSED");
    expect(t, "distillation ce_fwd_bwd: losskit-core-reuse vs libtorch", "3.00", "met");
    expect(t, "multilabel bce_fwd_bwd: losskit-core-reuse vs libtorch", "5.00", "met");
    expect(t, "llm-vocab ce_fwd_bwd: losskit-core-reuse vs libtorch", "4.00", "MISSED");
    expect(t, "llm-vocab ce_fwd: losskit-core vs ort", "2.50", "met");
    expect(t, "llm-vocab ce_fwd_bwd: losskit-core-reuse / two-pass memory bound 104.86 ms", "1.20", "met");
    expect(t, "small-batch ce_fwd_bwd: losskit-djl vs djl-builtin", "0.75", "MISSED");
    expect(t, "distillation ce_fwd_bwd: losskit-djl vs djl-builtin", "1.00", "met");
    expect(t, "multilabel bce_fwd_bwd: losskit-djl vs djl-builtin", "1.25", "met");
    expect(t, "tagging ce_fwd_bwd: losskit-djl vs djl-builtin", "1.50", "met");
    expect(t, "mlp-epoch batch 32: losskit-djl epoch / djl-builtin epoch", "1.02", "met");
    expect(t, "mlp-epoch batch 256: losskit-djl epoch / djl-builtin epoch", "1.05", "MISSED");
    long llmDjl = t.stream().filter(l -> l.startsWith("llm-vocab ce_fwd_bwd: losskit-djl vs djl-builtin")).count();
    assertEquals(2, llmDjl, "no slower, and at least 1.5x");
    assertTrue(t.stream().anyMatch(l -> l.contains("2.00  (target >= 1.5x)  met")), String.join("\n", t));
    assertTrue(t.stream().anyMatch(l -> l.contains("DJL's autograd carrying a ready gradient (100.00 ms)")),
        String.join("\n", t));
    assertTrue(t.stream().anyMatch(l -> l.contains("the JVM's new zeroed N·C array (50.00 ms)")), String.join("\n", t));
    assertTrue(t.stream().noneMatch(l -> l.contains("not measured")), String.join("\n", t));
    assertTrue(t.stream().noneMatch(l -> l.contains("C=128256 vs C=32000")), "the old targets are gone");
  }

  @Test
  void aTargetWithoutItsRowsIsNotMeasuredRatherThanMissed() {
    Report full = synthetic();
    Report partial = new Report(full.memoryBandwidthGbs(), full.results().stream()
        .filter(x -> !x.caseName().equals(Bench.MLP_EPOCH) && !x.impl().equals("ort")).toList(), full.machine(),
        full.floors(), full.cases(), true);
    List<String> t = BenchReport.targets(partial);
    expect(t, "mlp-epoch batch 32: losskit-djl epoch / djl-builtin epoch", "-", "not measured");
    expect(t, "llm-vocab ce_fwd: losskit-core vs ort", "-", "not measured");
    expect(t, "tagging ce_fwd_bwd: losskit-djl vs djl-builtin", "1.50", "met");
  }

  private static void expect(List<String> lines, String what, String value, String verdict) {
    String line = lines.stream().filter(l -> l.startsWith(what + " ")).findFirst()
        .orElseThrow(() -> new AssertionError(what + " missing in\n" + String.join("\n", lines)));
    String[] parts = line.substring(what.length()).trim().split("\\s+");
    assertEquals(value, parts[0], line);
    assertTrue(line.endsWith("  " + verdict), line);
  }

  @Test
  void everyCaseHasAWellFormedChartWithItsUnitAndNotes() throws Exception {
    Report r = synthetic();
    for (Case c : r.cases()) {
      String svg = c.name().equals(Bench.SWEEP) ? BenchReport.svg(r) : BenchReport.caseSvg(r, c);
      assertNotNull(svg, c.name());
      DocumentBuilderFactory.newInstance().newDocumentBuilder()
          .parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
      assertTrue(svg.contains(c.name()), c.name());
      if (c.note() != null) {
        assertTrue(svg.contains(BenchReport.esc(c.note())), c.name() + ": " + c.note());
      }
    }
    assertTrue(BenchReport.caseSvg(r, r.cases().get(1)).contains("µs"));
    String llm = BenchReport.caseSvg(r, r.cases().get(0));
    assertTrue(llm.contains("new_gradient_array") && llm.contains("two-pass memory bound"), llm);
    assertTrue(BenchReport.caseSvg(r, r.cases().get(2)).contains("&lt;5%&gt; &amp; more"), "escaped");
  }

  @Test
  void aRunWithoutTheSweepHasNoSweepChart() {
    Report full = synthetic();
    Report partial = new Report(full.memoryBandwidthGbs(), full.results().stream()
        .filter(x -> !x.caseName().equals(Bench.SWEEP)).toList(), full.machine(), full.floors(),
        full.cases().subList(0, 7), false);
    assertNull(BenchReport.svg(partial));
  }

  @Test
  void smallCallsAreTimedOverAtLeast2000CallsAfter500WarmUps() {
    Bench.Plan small = Bench.Plan.small(false);
    assertTrue(small.warmups() >= 500 && small.batches() * small.calls() >= 2000, small.toString());
    // At least the plan's warm-ups and batches of calls; a call this short is warmed up for a second (capped at
    // 5,000 calls) and batched to 20 ms (capped at 1,000 calls a batch).
    int[] calls = {0};
    Bench.time(new Bench.Plan(3, 4, 5), () -> calls[0]++);
    assertTrue(calls[0] >= 3 + 4 * 5 && calls[0] <= 5000 + 4 * 1000, "calls: " + calls[0]);
  }

  @Test
  void aRowWhoseLossDisagreesWithTheCaseIsFlaggedUnlessItsNoteSaysWhy() {
    List<Integer> shape = List.of(4, 3);
    List<Result> rows = new ArrayList<>(List.of(
        new Result("x", "ce_fwd_bwd", shape, 4, 3, "float32", "losskit-core", 2, 1, null, 2.0, null),
        new Result("x", "ce_fwd_bwd", shape, 4, 3, "float32", "libtorch", 2, 1, null, 2.0005, null),
        new Result("x", "ce_fwd_bwd", shape, 4, 3, "float32", "djl-builtin", 2, 1, null, 2.5, null),
        new Result("x", "ce_fwd_bwd", shape, 4, 3, "float32", "djl-builtin", 2, 1, null, 2.5, "no smoothing"),
        new Result("x", "ce_fwd", shape, 4, 3, "float32", "ort", 2, 1, null, 7.0, null),
        new Result("x", "ce_fwd_bwd", shape, 4, 3, "float32", "losskit-djl", 2, 1, null, Double.NaN, null)));
    Bench.crossCheck(rows, 0);
    assertNull(rows.get(1).note(), "within 1e-3");
    assertTrue(rows.get(2).note().startsWith("LOSS DIFFERS: 2.50000, losskit-core gives 2.00000"), rows.get(2).note());
    assertEquals("no smoothing", rows.get(3).note());
    assertNull(rows.get(4).note(), "the first of its workload");
    assertTrue(rows.get(5).note().startsWith("LOSS DIFFERS: NaN"), rows.get(5).note());
  }

  @Test
  void wrapBreaksAtSpaces() {
    assertEquals(List.of("aa bb", "cc"), BenchReport.wrap("aa bb cc", 5));
    assertEquals(List.of("averyveryverylongword"), BenchReport.wrap("averyveryverylongword", 5));
  }
}
