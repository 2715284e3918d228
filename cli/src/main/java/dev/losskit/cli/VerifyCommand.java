package dev.losskit.cli;

import com.google.gson.stream.JsonWriter;
import dev.losskit.conformance.CaseOutcome;
import dev.losskit.conformance.GoldenCase;
import dev.losskit.conformance.GoldenFormatException;
import dev.losskit.conformance.GoldenReader;
import dev.losskit.conformance.GoldenReader.GoldenFile;
import dev.losskit.conformance.GoldenVerifier;
import dev.losskit.conformance.Tolerance;
import dev.losskit.onnx.AtomicFiles;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code losskit verify FILE... [--rtol R] [--atol A] [--report OUT.json]}: checks the core against golden files.
 * Exit 0 when every case passes, 1 on a mismatch, 2 on an unreadable file or bad arguments.
 */
@Command(
    name = "verify",
    mixinStandardHelpOptions = true,
    description = {
        "Checks the core against golden files: cases computed by PyTorch (any version, any hardware),",
        "or by scikit-learn for log_loss (checked on the value alone).",
        "Prints each failure with its worst element, then 'N passed, M failed'.",
        "Exit 0 when all pass, 1 on a mismatch, 2 on an unreadable file or bad arguments."})
final class VerifyCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Parameters(arity = "1..*", paramLabel = "FILE", description = "Golden files (format losskit-goldens, version 1).")
  List<Path> files;

  @Option(names = "--rtol", paramLabel = "R",
      description = "Relative tolerance for every case (default: PyTorch's assert_close default per dtype: "
          + "float32 1.3e-6, float64 1e-7; log_loss: float32 1e-5, float64 1e-12).")
  Double rtol;

  @Option(names = "--atol", paramLabel = "A",
      description = "Absolute tolerance for every case (default: float32 1e-5, float64 1e-7; log_loss: float32 1e-6,"
          + " float64 1e-15).")
  Double atol;

  @Option(names = "--report", paramLabel = "OUT.json",
      description = "Write per-case errors as JSON: {\"cases\": [{id, status, loss_max_abs_error, ...}]}.")
  Path report;

  private record Checked(GoldenFile file, GoldenCase c, CaseOutcome outcome) {}

  @Override
  public Integer call() {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    String name = spec.qualifiedName();
    if (!isTolerance(rtol) || !isTolerance(atol)) {
      String bad = !isTolerance(rtol) ? "--rtol " + rtol : "--atol " + atol;
      err.println(name + ": " + bad + " is not a tolerance: it must be a finite number >= 0");
      return Main.EXIT_USAGE;
    }

    List<GoldenFile> goldens = new ArrayList<>();
    for (Path f : files) {
      try {
        goldens.add(GoldenReader.read(f));
      } catch (GoldenFormatException e) {
        err.println(name + ": " + e.getMessage());
        return Main.EXIT_USAGE;
      }
    }

    GoldenVerifier verifier = new GoldenVerifier(rtol, atol);
    List<Checked> checked = new ArrayList<>();
    int passed = 0;
    int failed = 0;
    int moreAccurate = 0;
    for (GoldenFile g : goldens) {
      out.println(g.path() + ": " + g.cases().size() + (g.cases().size() == 1 ? " case" : " cases")
          + (g.producer() == null ? "" : " (producer: " + g.producer() + ")"));
      for (GoldenCase c : g.cases()) {
        CaseOutcome o = verifier.check(c);
        checked.add(new Checked(g, c, o));
        if (o.passed()) {
          passed++;
          if (moreAccurate(o) > 0) {
            moreAccurate++;
          }
        } else {
          failed++;
          out.println("FAIL " + g.path() + ": " + c.id() + ": " + Main.oneLine(o.message()));
        }
      }
    }

    if (report != null) {
      try {
        AtomicFiles.write(report, stream -> writeReport(stream, checked, verifier));
      } catch (IOException e) {
        err.println(name + ": cannot write report " + report + ": " + Main.oneLine(e.getMessage()));
        return Main.EXIT_USAGE;
      }
    }
    if (moreAccurate > 0) {
      out.println("note: " + moreAccurate + " case(s) passed with elements outside the tolerance of PyTorch's"
          + " float32 or half-precision result but at least as close to PyTorch's float64 result (more accurate than"
          + " PyTorch)");
    }
    out.println(passed + " passed, " + failed + " failed");
    return failed == 0 ? 0 : 1;
  }

  private static void writeReport(java.io.OutputStream stream, List<Checked> checked, GoldenVerifier verifier)
      throws IOException {
    Writer w = new OutputStreamWriter(stream, StandardCharsets.UTF_8);
    JsonWriter json = new JsonWriter(w);
    json.setIndent(" ");
    json.beginObject().name("cases").beginArray();
    for (Checked k : checked) {
      CaseOutcome o = k.outcome();
      Tolerance tol = verifier.toleranceFor(k.c());
      json.beginObject();
      json.name("file").value(k.file().path().toString());
      json.name("id").value(o.id());
      json.name("status").value(o.status());
      json.name("expects_error").value(k.c().expectsError());
      number(json.name("loss_max_abs_error"), o.loss() == null ? null : o.loss().maxAbsError());
      number(json.name("loss_max_rel_error"), o.loss() == null ? null : o.loss().maxRelError());
      number(json.name("grad_max_abs_error"), o.grad() == null ? null : o.grad().maxAbsError());
      number(json.name("grad_max_rel_error"), o.grad() == null ? null : o.grad().maxRelError());
      if (k.c().oracleLoss() != null && o.loss() != null) {
        number(json.name("loss_error_vs_float64"), o.loss().errorVsOracle());
        number(json.name("torch_loss_error_vs_float64"), o.loss().expectedErrorVsOracle());
        number(json.name("grad_error_vs_float64"), o.grad().errorVsOracle());
        number(json.name("torch_grad_error_vs_float64"), o.grad().expectedErrorVsOracle());
        json.name("more_accurate_elements").value(moreAccurate(o));
      }
      json.name("rtol").value(tol.rtol());
      json.name("atol").value(tol.atol());
      if (o.message() != null) {
        json.name("message").value(Main.oneLine(o.message()));
      }
      json.endObject();
    }
    json.endArray().endObject();
    json.flush();
    w.write('\n');
    w.flush();
  }

  private static int moreAccurate(CaseOutcome o) {
    return (o.loss() == null ? 0 : o.loss().moreAccurate()) + (o.grad() == null ? 0 : o.grad().moreAccurate());
  }

  private static boolean isTolerance(Double v) {
    return v == null || (v >= 0 && v < Double.POSITIVE_INFINITY);
  }

  /** Writes a number, with non-finite values as the strings the golden format uses, or null. */
  private static void number(JsonWriter json, Double v) throws IOException {
    if (v == null) {
      json.nullValue();
    } else if (Double.isNaN(v)) {
      json.value("NaN");
    } else if (Double.isInfinite(v)) {
      json.value(v > 0 ? "Infinity" : "-Infinity");
    } else {
      json.value(v);
    }
  }

}
