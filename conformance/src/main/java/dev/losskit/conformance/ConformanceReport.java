package dev.losskit.conformance;

import com.google.gson.stream.JsonWriter;
import dev.losskit.core.DType;
import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The conformance results and their reports: a summary table, {@code conformance.json}, {@code conformance.md} and
 * a self-contained {@code conformance.html} with a heat map of error per combination and backend.
 *
 * @param libtorch the version of libtorch the backends were checked against
 * @param results one result per combination and backend
 */
public record ConformanceReport(String libtorch, List<CaseResult> results) {

  /**
   * One row of the summary: a loss and a backend.
   *
   * @param loss the loss
   * @param backend the backend
   * @param combinations how many combinations ran
   * @param passed how many passed
   * @param failed how many failed
   * @param skipped how many the backend skipped
   */
  public record Row(String loss, String backend, int combinations, int passed, int failed, int skipped) {}

  /** {@return one row per loss and backend, in order of appearance} */
  public List<Row> summary() {
    Map<String, int[]> counts = new LinkedHashMap<>();
    for (CaseResult r : results) {
      int[] c = counts.computeIfAbsent(r.loss() + "\u0000" + r.backend(), k -> new int[4]);
      c[0]++;
      c[r.status().equals("pass") ? 1 : r.status().equals("fail") ? 2 : 3]++;
    }
    List<Row> rows = new ArrayList<>();
    counts.forEach((k, c) -> {
      String[] lb = k.split("\u0000");
      rows.add(new Row(lb[0], lb[1], c[0], c[1], c[2], c[3]));
    });
    return rows;
  }

  /** {@return the number of results that failed} */
  public long failures() {
    return results.stream().filter(r -> !r.ok()).count();
  }

  /** {@return the distinct combinations run} */
  public long combinations() {
    return results.stream().map(CaseResult::combination).distinct().count();
  }

  /** {@return the distinct combinations libtorch accepted} */
  public long validCombinations() {
    return results.stream().filter(CaseResult::valid).map(CaseResult::combination).distinct().count();
  }

  /** {@return the backends, in order of appearance} */
  public List<String> backends() {
    Set<String> s = new LinkedHashSet<>();
    results.forEach(r -> s.add(r.backend()));
    return new ArrayList<>(s);
  }

  /** {@return the summary table, as the console shows it} */
  public String table() {
    StringWriter sw = new StringWriter();
    PrintWriter out = new PrintWriter(sw);
    String fmt = "%-16s %-16s %12s %8s %8s %8s%n";
    out.printf(Locale.ROOT, fmt, "loss", "backend", "combinations", "passed", "failed", "skipped");
    int[] total = new int[4];
    for (Row r : summary()) {
      out.printf(Locale.ROOT, fmt, r.loss(), r.backend(), r.combinations(), r.passed(), r.failed(), r.skipped());
      total[0] += r.combinations();
      total[1] += r.passed();
      total[2] += r.failed();
      total[3] += r.skipped();
    }
    out.printf(Locale.ROOT, fmt, "total", "", total[0], total[1], total[2], total[3]);
    out.printf(Locale.ROOT, "libtorch %s: %d combinations (%d valid, %d rejected by libtorch), forward and gradient%n",
        libtorch, combinations(), validCombinations(), combinations() - validCombinations());
    for (String b : backends()) {
      accuracyLines(b).forEach(out::println);
    }
    out.flush();
    return sw.toString();
  }

  /**
   * How a backend's error against libtorch float64 compares with libtorch's own, one line for each dtype narrower
   * than float64 that the results hold.
   */
  List<String> accuracyLines(String backend) {
    List<String> lines = new ArrayList<>();
    for (DType dtype : List.of(DType.FLOAT32, DType.FLOAT16, DType.BFLOAT16)) {
      String line = accuracyLine(backend, dtype);
      if (line != null) {
        lines.add(line);
      }
    }
    return lines;
  }

  /**
   * How a backend's error against libtorch float64 compares with libtorch's own at one dtype.
   *
   * @return the line, or null when no result of the backend at that dtype has both errors
   */
  String accuracyLine(String backend, DType dtype) {
    int n = 0;
    int asGood = 0;
    int overflow = 0;
    int alone = 0;
    double worstMine = 0;
    double worstTorch = 0;
    String name = dtype.pytorchName();
    for (CaseResult r : results) {
      if (!r.backend().equals(backend) || r.dtype() != dtype || r.errorVsFloat64() == null
          || r.errorVsFloat64().isNaN()) {
        continue;
      }
      if (r.libtorchErrorVsFloat64() == null || r.libtorchErrorVsFloat64().isNaN()) {
        alone++; // libtorch has no kernel for it: judged against float64 alone
        continue;
      }
      n++;
      if (r.errorVsFloat64() <= r.libtorchErrorVsFloat64()) {
        asGood++;
      }
      if (Double.isInfinite(r.errorVsFloat64()) && Double.isInfinite(r.libtorchErrorVsFloat64())) {
        overflow++; // both overflow the dtype's range where float64 does not: equally far
      } else {
        worstMine = Math.max(worstMine, r.errorVsFloat64());
        worstTorch = Math.max(worstTorch, r.libtorchErrorVsFloat64());
      }
    }
    if (n == 0 && alone == 0) {
      return null;
    }
    return String.format(Locale.ROOT, "%s accuracy, %s: at least as close to libtorch float64 as libtorch %s"
        + " in %d of %d combinations; largest error %s (libtorch %s: %s)%s%s", name, backend, name, asGood, n,
        sci(worstMine), name, sci(worstTorch),
        overflow == 0 ? "" : "; " + overflow + " where both overflow " + name + " and float64 does not",
        alone == 0 ? "" : "; " + alone + " judged against float64 alone (libtorch has no " + name + " kernel)");
  }

  // ---- JSON ----------------------------------------------------------------------------------------------------

  /**
   * Writes {@code conformance.json}: {@code {"libtorch": version, "cases": [...]}}.
   *
   * @param stream where to write
   * @throws IOException when writing fails
   */
  public void writeJson(OutputStream stream) throws IOException {
    Writer w = new OutputStreamWriter(stream, StandardCharsets.UTF_8);
    JsonWriter json = new JsonWriter(w);
    json.setIndent(" ");
    json.beginObject();
    json.name("libtorch").value(libtorch);
    json.name("combinations").value(combinations());
    json.name("valid_combinations").value(validCombinations());
    json.name("cases").beginArray();
    for (CaseResult r : results) {
      json.beginObject();
      json.name("combination").value(r.combination());
      json.name("loss").value(r.loss());
      json.name("backend").value(r.backend());
      json.name("dtype").value(r.dtype().pytorchName());
      json.name("status").value(r.status());
      json.name("valid").value(r.valid());
      number(json.name("max_abs_error"), r.maxAbsError());
      number(json.name("max_rel_error"), r.maxRelError());
      number(json.name("grad_max_abs_error"), r.gradMaxAbsError());
      number(json.name("grad_max_rel_error"), r.gradMaxRelError());
      number(json.name("error_vs_float64"), r.errorVsFloat64());
      number(json.name("libtorch_error_vs_float64"), r.libtorchErrorVsFloat64());
      if (r.reason() == null) {
        json.name("reason").nullValue();
      } else {
        json.name("reason").value(r.reason());
      }
      json.name("axes").beginObject();
      for (Map.Entry<String, String> e : r.axes().entrySet()) {
        json.name(e.getKey()).value(e.getValue());
      }
      json.endObject();
      json.endObject();
    }
    json.endArray().endObject();
    json.flush();
    w.write('\n');
    w.flush();
  }

  private static void number(JsonWriter json, Double v) throws IOException {
    if (v == null) {
      json.nullValue();
    } else if (v.isNaN()) {
      json.value("NaN");
    } else if (v.isInfinite()) {
      json.value(v > 0 ? "Infinity" : "-Infinity");
    } else {
      json.value(v);
    }
  }

  // ---- Markdown ------------------------------------------------------------------------------------------------

  /**
   * Writes {@code conformance.md}: the summary and accuracy tables, and any failure, for a README or a PR.
   *
   * @param stream where to write
   * @throws IOException when writing fails
   */
  public void writeMarkdown(OutputStream stream) throws IOException {
    PrintWriter out = new PrintWriter(new OutputStreamWriter(stream, StandardCharsets.UTF_8));
    out.printf(Locale.ROOT, "## Conformance against libtorch %s%n%n", libtorch);
    out.printf(Locale.ROOT, "%d combinations (%d valid, %d that libtorch rejects and every backend must reject "
        + "too), forward values and gradients.%n%n", combinations(), validCombinations(),
        combinations() - validCombinations());
    out.println("| loss | backend | combinations | passed | failed | skipped |");
    out.println("|---|---|---:|---:|---:|---:|");
    for (Row r : summary()) {
      out.printf(Locale.ROOT, "| %s | %s | %d | %d | %d | %d |%n", r.loss(), r.backend(), r.combinations(),
          r.passed(), r.failed(), r.skipped());
    }
    out.println();
    out.println("Accuracy, measured against libtorch float64 on the same values:");
    out.println();
    for (String b : backends()) {
      accuracyLines(b).forEach(l -> out.println("- " + l));
    }
    List<CaseResult> failed = results.stream().filter(r -> !r.ok()).toList();
    if (!failed.isEmpty()) {
      out.printf(Locale.ROOT, "%n### Failures (%d)%n%n| combination | backend | reason |%n|---|---|---|%n",
          failed.size());
      for (CaseResult r : failed) {
        out.printf(Locale.ROOT, "| `%s` | %s | %s |%n", r.combination(), r.backend(),
            r.reason() == null ? "" : r.reason().replace("|", "\\|"));
      }
    }
    out.flush();
  }

  // ---- HTML ----------------------------------------------------------------------------------------------------

  /**
   * Writes {@code conformance.html}: one self-contained page (no external resources) with the summary, a heat map
   * of error per combination and backend, and filters by text, loss, dtype and status.
   *
   * @param stream where to write
   * @throws IOException when writing fails
   */
  public void writeHtml(OutputStream stream) throws IOException {
    StringWriter data = new StringWriter();
    JsonWriter json = new JsonWriter(data);
    json.beginArray();
    Map<String, List<CaseResult>> byCombination = new LinkedHashMap<>();
    results.forEach(r -> byCombination.computeIfAbsent(r.combination(), k -> new ArrayList<>()).add(r));
    for (List<CaseResult> rs : byCombination.values()) {
      CaseResult first = rs.get(0);
      json.beginObject();
      json.name("id").value(first.combination());
      json.name("loss").value(first.loss());
      json.name("dtype").value(first.dtype().pytorchName());
      json.name("valid").value(first.valid());
      number(json.name("torch"), first.libtorchErrorVsFloat64());
      json.name("cells").beginArray();
      for (CaseResult r : rs) {
        json.beginObject();
        json.name("backend").value(r.backend());
        json.name("status").value(r.status());
        number(json.name("err"), heat(r));
        number(json.name("abs"), r.maxAbsError());
        number(json.name("grad"), r.gradMaxAbsError());
        number(json.name("f64"), r.errorVsFloat64());
        json.name("reason").value(r.reason() == null ? "" : r.reason());
        json.endObject();
      }
      json.endArray();
      json.endObject();
    }
    json.endArray();
    json.flush();

    StringBuilder summary = new StringBuilder();
    for (Row r : summary()) {
      summary.append(String.format(Locale.ROOT,
          "<tr><td>%s</td><td>%s</td><td>%d</td><td>%d</td><td class=\"%s\">%d</td><td>%d</td></tr>%n",
          esc(r.loss()), esc(r.backend()), r.combinations(), r.passed(), r.failed() > 0 ? "bad" : "",
          r.failed(), r.skipped()));
    }
    StringBuilder accuracy = new StringBuilder();
    for (String b : backends()) {
      accuracyLines(b).forEach(l -> accuracy.append("<li>").append(esc(l)).append("</li>\n"));
    }
    String page = HTML
        .replace("$LIBTORCH", esc(libtorch))
        .replace("$HEADLINE", esc(String.format(Locale.ROOT,
            "%d combinations (%d valid, %d rejected by libtorch and required to be rejected), %d failures",
            combinations(), validCombinations(), combinations() - validCombinations(), failures())))
        .replace("$SUMMARY", summary.toString())
        .replace("$ACCURACY", accuracy.toString())
        .replace("$BACKENDS", esc(String.join(",", backends())))
        .replace("$DATA", data.toString().replace("</", "<\\/"));
    Writer w = new OutputStreamWriter(stream, StandardCharsets.UTF_8);
    w.write(page);
    w.flush();
  }

  /** The number a heat-map cell shows: the error against float64 for float32, else against libtorch. */
  private static Double heat(CaseResult r) {
    if (r.errorVsFloat64() != null) {
      return r.errorVsFloat64();
    }
    if (r.maxAbsError() == null) {
      return null;
    }
    return Math.max(r.maxAbsError(), r.gradMaxAbsError());
  }

  private static String esc(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }

  private static String sci(double v) {
    return String.format(Locale.ROOT, "%.2e", v);
  }

  private static final String HTML = """
      <!DOCTYPE html>
      <html lang="en"><head><meta charset="utf-8">
      <meta name="viewport" content="width=device-width, initial-scale=1">
      <title>losskit conformance against libtorch $LIBTORCH</title>
      <style>
      body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2430;background:#fafbfc}
      h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
      .sub{color:#5a6270;margin-bottom:16px}
      table{border-collapse:collapse;background:#fff}
      th,td{padding:4px 10px;border-bottom:1px solid #e6e8eb;text-align:right}
      th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
      .bad{color:#b3261e;font-weight:600}
      .controls{display:flex;gap:12px;flex-wrap:wrap;align-items:center;margin:8px 0 12px}
      .controls input{width:360px;padding:5px 8px;border:1px solid #c8ccd2;border-radius:4px}
      .controls select{padding:4px;border:1px solid #c8ccd2;border-radius:4px}
      #map td{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;text-align:left}
      #map td.cell{width:96px;text-align:center;color:#fff;cursor:default}
      .legend span{display:inline-block;padding:2px 8px;margin-right:4px;border-radius:3px;color:#fff;font-size:12px}
      #count{color:#5a6270}
      </style></head><body>
      <h1>losskit conformance against libtorch $LIBTORCH</h1>
      <div class="sub">$HEADLINE. Forward values and gradients, compared at PyTorch's default tolerances
      (float32 rtol 1.3e-6, atol 1e-5; float64 rtol 1e-7, atol 1e-7; float16 rtol 1e-3, atol 1e-5; bfloat16 rtol 1.6e-2,
      atol 1e-5).</div>
      <table><thead><tr><th>loss</th><th>backend</th><th>combinations</th><th>passed</th><th>failed</th>
      <th>skipped</th></tr></thead><tbody>
      $SUMMARY</tbody></table>
      <h2>Accuracy, against libtorch float64 on the same values</h2><ul>
      $ACCURACY</ul>
      <h2>Heat map: largest absolute error per combination and backend</h2>
      <div class="legend">Each cell shows the largest absolute error, loss and gradient together: for float32, float16 and
      bfloat16, against libtorch float64 on the same values; for float64, against libtorch. Colour: that error as a
      fraction of a scale for the dtype (PyTorch's atol for float32, 1e-5, and float64, 1e-7; its rtol for float16,
      1e-3, and bfloat16, 1.6e-2). <span style="background:#1b7f3b">exact</span><span
      style="background:#3a9d52">&lt; 0.1%</span><span style="background:#7fbf4d">&lt; 10%</span><span
      style="background:#c9b53a">&lt; 100%</span><span style="background:#e08a2e">&ge; atol</span><span
      style="background:#b3261e">fail</span><span style="background:#8a9099">skip</span><span
      style="background:#4a5a7a">both reject</span></div>
      <div class="controls"><input id="q" placeholder="filter, e.g. ls=0.1 or shape=(3,4,2)">
      <select id="loss"><option value="">every loss</option></select>
      <select id="dtype"><option value="">every dtype</option><option>float32</option><option>float64</option><option>float16</option><option>bfloat16</option></select>
      <select id="status"><option value="">every status</option><option>pass</option><option>fail</option>
      <option>skip</option><option value="reject">both reject</option></select><span id="count"></span></div>
      <table id="map"><thead><tr id="head"><th>combination</th></tr></thead><tbody id="rows"></tbody></table>
      <script>
      const DATA = $DATA;
      const BACKENDS = "$BACKENDS".split(",");
      const head = document.getElementById("head");
      for (const b of BACKENDS.concat(["libtorch, same dtype"])) { const th = document.createElement("th"); th.textContent = b; head.appendChild(th); }
      const losses = [...new Set(DATA.map(d => d.loss))];
      const lossSel = document.getElementById("loss");
      for (const l of losses) { const o = document.createElement("option"); o.textContent = l; lossSel.appendChild(o); }
      function num(v) { return typeof v === "string" ? Number(v === "Infinity" ? Infinity : v === "-Infinity" ? -Infinity : NaN) : v; }
      function color(v, dtype) { if (v === null || v === undefined) return "#8a9099"; v = num(v); if (isNaN(v)) return "#e08a2e";
        const r = v / ({float32: 1e-5, float16: 1e-3, bfloat16: 1.6e-2}[dtype] || 1e-7);
        return r === 0 ? "#1b7f3b" : r < 1e-3 ? "#3a9d52" : r < 1e-1 ? "#7fbf4d" : r < 1 ? "#c9b53a" : "#e08a2e"; }
      function fmt(v) { v = num(v); return v === null || v === undefined ? "" : v === 0 ? "0" : isNaN(v) ? "NaN" : v.toExponential(1); }
      function render() {
        const q = document.getElementById("q").value.trim(), loss = lossSel.value,
              dtype = document.getElementById("dtype").value, status = document.getElementById("status").value;
        const rows = document.getElementById("rows"); rows.textContent = ""; let shown = 0;
        for (const d of DATA) {
          if (q && !d.id.includes(q)) continue; if (loss && d.loss !== loss) continue; if (dtype && d.dtype !== dtype) continue;
          if (status === "reject" ? d.valid : status && !d.cells.some(c => c.status === status)) continue;
          if (++shown > 3000) break;
          const tr = document.createElement("tr"); const td = document.createElement("td"); td.textContent = d.id; tr.appendChild(td);
          for (const c of d.cells) {
            const cell = document.createElement("td"); cell.className = "cell";
            const reject = !d.valid && c.status === "pass";
            cell.style.background = c.status === "fail" ? "#b3261e" : c.status === "skip" ? "#8a9099" : reject ? "#4a5a7a" : color(c.err, d.dtype);
            cell.textContent = c.status === "fail" ? "FAIL" : c.status === "skip" ? "skip" : reject ? "reject" : fmt(c.err);
            cell.title = c.backend + ": " + c.status + (c.abs !== null ? "\\nloss abs err vs libtorch " + fmt(c.abs) + "\\ngrad abs err vs libtorch " + fmt(c.grad) : "")
              + (c.f64 !== null ? "\\nerror vs libtorch float64 " + fmt(c.f64) : "") + (c.reason ? "\\n" + c.reason : "");
            tr.appendChild(cell);
          }
          const t = document.createElement("td"); t.className = "cell";
          t.style.background = d.torch === null ? "#c8ccd2" : color(d.torch, d.dtype); t.textContent = d.torch === null ? "n/a" : fmt(d.torch);
          t.title = "libtorch's own error at this dtype against libtorch float64"; tr.appendChild(t);
          rows.appendChild(tr);
        }
        document.getElementById("count").textContent = shown + " of " + DATA.length + " combinations";
      }
      for (const id of ["q", "loss", "dtype", "status"]) document.getElementById(id).addEventListener("input", render);
      render();
      </script></body></html>
      """;
}
