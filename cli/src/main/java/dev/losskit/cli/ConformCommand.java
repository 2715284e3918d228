package dev.losskit.cli;

import dev.losskit.conformance.Backend;
import dev.losskit.conformance.Backends;
import dev.losskit.conformance.CaseResult;
import dev.losskit.conformance.ConformanceReport;
import dev.losskit.conformance.ConformanceRunner;
import dev.losskit.conformance.Matrix;
import dev.losskit.conformance.TorchOracle;
import dev.losskit.core.DType;
import dev.losskit.onnx.AtomicFiles;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code losskit conform [--quick] [--losses L,...] [--backends B,...] [--out DIR]}: the parity report. Runs every
 * combination of the matrix through libtorch and each backend, prints a summary table and writes
 * {@code conformance.json}, {@code conformance.md} and {@code conformance.html}. Exit 0 only when nothing fails.
 */
@Command(
    name = "conform",
    mixinStandardHelpOptions = true,
    description = {
        "Cross-checks every option combination against libtorch (through DJL's PyTorch engine), forward values and",
        "gradients, and writes conformance.json, conformance.md and conformance.html.",
        "Exit 0 when nothing fails, 1 on a failure, 2 on bad arguments."})
final class ConformCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--quick", description = "Run a representative third of the combinations.")
  boolean quick;

  @Option(names = "--losses", split = ",", paramLabel = "L",
      description = "Losses to check (default: all): cross_entropy, nll_loss, bce_with_logits, bce.")
  List<String> losses;

  @Option(names = "--dtypes", split = ",", paramLabel = "D",
      description = "Dtypes to check (default: all): float32, float64, float16, bfloat16.")
  List<String> dtypes;

  @Option(names = "--backends", split = ",", paramLabel = "B",
      description = "Backends to check (default: all): core, core-reference, djl-core, djl-engine, onnx-op,"
          + " onnx-primitives.")
  List<String> backends;

  @Option(names = "--out", paramLabel = "DIR", defaultValue = "target/conformance",
      description = "Where to write the reports (default: ${DEFAULT-VALUE}).")
  Path out;

  @Override
  public Integer call() {
    PrintWriter stdout = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    String name = spec.qualifiedName();
    if (losses != null) {
      for (String l : losses) {
        if (!Matrix.LOSSES.contains(l)) {
          err.println(name + ": unknown loss '" + l + "': valid losses are " + String.join(", ", Matrix.LOSSES));
          return Main.EXIT_USAGE;
        }
      }
    }
    List<DType> chosenDtypes = null;
    if (dtypes != null) {
      chosenDtypes = new java.util.ArrayList<>();
      for (String d : dtypes) {
        DType t = Matrix.DTYPES.stream().filter(x -> x.pytorchName().equals(d)).findFirst().orElse(null);
        if (t == null) {
          err.println(name + ": unknown dtype '" + d + "': valid dtypes are " + String.join(", ",
              Matrix.DTYPES.stream().map(DType::pytorchName).toList()));
          return Main.EXIT_USAGE;
        }
        chosenDtypes.add(t);
      }
    }
    List<Backend> chosen;
    try {
      chosen = backends == null ? Backends.all() : Backends.byNames(backends);
    } catch (IllegalArgumentException e) {
      err.println(name + ": " + e.getMessage());
      return Main.EXIT_USAGE;
    }
    try {
      Files.createDirectories(out);
    } catch (IOException | RuntimeException e) {
      err.println(name + ": cannot create output directory " + out + ": " + Main.oneLine(e.getMessage()));
      return Main.EXIT_USAGE;
    }

    List<DType> keep = chosenDtypes;
    List<Matrix.Combination> combos = Matrix.select(Matrix.all(), losses, quick).stream()
        .filter(c -> keep == null || keep.contains(c.dtype())).toList();
    ConformanceReport report;
    try (TorchOracle oracle = TorchOracle.open()) {
      Progress progress = new Progress(err, System.console() != null);
      long start = System.nanoTime();
      List<CaseResult> results = ConformanceRunner.run(oracle, combos, chosen, progress::update);
      progress.done((System.nanoTime() - start) / 1e9);
      report = new ConformanceReport(oracle.libtorchVersion(), results);
    } catch (IOException e) {
      err.println(name + ": cannot load libtorch: " + Main.oneLine(e.getMessage()));
      return Main.EXIT_USAGE;
    }

    stdout.print(report.table());
    try {
      AtomicFiles.write(out.resolve("conformance.json"), report::writeJson);
      AtomicFiles.write(out.resolve("conformance.md"), report::writeMarkdown);
      AtomicFiles.write(out.resolve("conformance.html"), report::writeHtml);
    } catch (IOException e) {
      err.println(name + ": cannot write the reports in " + out + ": " + Main.oneLine(e.getMessage()));
      return Main.EXIT_USAGE;
    }
    stdout.println("reports: " + out.resolve("conformance.json") + ", conformance.md, conformance.html");
    long failures = report.failures();
    if (failures > 0) {
      report.results().stream().filter(r -> !r.ok()).limit(20).forEach(r ->
          stdout.println("FAIL " + r.backend() + ": " + r.combination() + ": " + Main.oneLine(r.reason())));
      stdout.println(failures + " failure(s)" + (failures > 20 ? " (first 20 above; all in conformance.md)" : ""));
      return 1;
    }
    return 0;
  }

  /** A progress bar on a terminal; otherwise a line every tenth of the way, so CI logs stay short. */
  private static final class Progress {
    private final PrintWriter err;
    private final boolean terminal;
    private int lastTenth = -1;

    Progress(PrintWriter err, boolean terminal) {
      this.err = err;
      this.terminal = terminal;
    }

    void update(int done, int total) {
      if (terminal) {
        int width = 40;
        int filled = total == 0 ? width : done * width / total;
        err.print(String.format(Locale.ROOT, "\r[%s%s] %d/%d combinations", "#".repeat(filled),
            ".".repeat(width - filled), done, total));
        err.flush();
      } else {
        int tenth = total == 0 ? 10 : done * 10 / total;
        if (tenth != lastTenth) {
          lastTenth = tenth;
          err.println(String.format(Locale.ROOT, "conform: %d/%d combinations", done, total));
        }
      }
    }

    void done(double seconds) {
      if (terminal) {
        err.println();
      }
      err.println(String.format(Locale.ROOT, "conform: done in %.1f s", seconds));
    }
  }
}
