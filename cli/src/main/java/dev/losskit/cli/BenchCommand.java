package dev.losskit.cli;

import dev.losskit.benchmarks.Bench;
import dev.losskit.benchmarks.BenchReport;
import dev.losskit.onnx.AtomicFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code losskit bench [--quick] [--case NAME,...] [--json FILE]}: the performance table, targets and charts. */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description = {"Measures named cases (llm-vocab, llm-vocab-bf16, small-batch, segmentation, distillation,",
        "multilabel, tagging, mlp-epoch, and a sweep over C) for losskit's core against libtorch, DJL's built-in",
        "losses, the DJL adapter",
        "and ONNX Runtime, with the machine's memory bandwidth; prints a table and the targets.",
        "Needs a large heap for the full sizes (the launcher passes LOSSKIT_JAVA_OPTS, e.g. -Xmx16g)."})
final class BenchCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--quick", description = "Smaller sizes and fewer repetitions.")
  boolean quick;

  @Option(names = "--case", split = ",", paramLabel = "NAME",
      description = "Cases to run (default: all): llm-vocab, llm-vocab-bf16, small-batch, segmentation,"
          + " distillation, multilabel, tagging, mlp-epoch, sweep.")
  List<String> cases;

  @Option(names = "--json", paramLabel = "FILE",
      description = "Write the results as JSON, and beside it the charts: the sweep's as FILE.svg (e.g."
          + " bench.svg), each case's as bench-CASE.svg.")
  Path json;

  @Override
  public Integer call() throws Exception {
    var err = spec.commandLine().getErr();
    var out = spec.commandLine().getOut();
    String name = spec.qualifiedName();
    if (cases != null) {
      for (String c : cases) {
        if (!Bench.CASES.contains(c)) {
          err.println(name + ": unknown case '" + c + "': valid cases are " + String.join(", ", Bench.CASES));
          return Main.EXIT_USAGE;
        }
      }
    }
    Bench.Report report = Bench.run(quick, cases == null ? Bench.CASES : cases, what -> err.println("bench: " + what));
    out.print(BenchReport.table(report));
    out.println();
    out.println("targets:");
    BenchReport.targets(report).forEach(out::println);
    if (json != null) {
      List<Path> written;
      try {
        written = write(report, json);
      } catch (IOException e) {
        err.println(name + ": cannot write " + json + ": " + Main.oneLine(e.getMessage()));
        return Main.EXIT_USAGE;
      }
      out.println("wrote " + written.get(0) + " and " + (written.size() - 1) + " charts beside it: "
          + String.join(", ", written.subList(1, written.size()).stream().map(p -> p.getFileName().toString())
          .toArray(String[]::new)));
    }
    return 0;
  }

  /**
   * Writes a run's JSON, the sweep's chart beside it as the JSON's name with {@code .svg} (when the run has a sweep)
   * and each other case's chart as {@code <name>-<case>.svg}, each file atomically.
   *
   * @return the files written, the JSON first
   */
  static List<Path> write(Bench.Report report, Path json) throws IOException {
    Path dir = json.toAbsolutePath().getParent();
    if (dir != null) {
      Files.createDirectories(dir);
    }
    String stem = json.getFileName().toString().replaceAll("\\.json$", "");
    List<Path> written = new ArrayList<>();
    AtomicFiles.write(json, s -> Bench.writeJson(report, s));
    written.add(json);
    String sweep = BenchReport.svg(report);
    if (sweep != null) {
      Path svg = json.resolveSibling(stem + ".svg");
      AtomicFiles.write(svg, s -> s.write(sweep.getBytes(StandardCharsets.UTF_8)));
      written.add(svg);
    }
    for (Bench.Case c : report.cases()) {
      if (c.name().equals(Bench.SWEEP)) {
        continue;
      }
      Path svg = json.resolveSibling(stem + "-" + c.name() + ".svg");
      String chart = BenchReport.caseSvg(report, c);
      AtomicFiles.write(svg, s -> s.write(chart.getBytes(StandardCharsets.UTF_8)));
      written.add(svg);
    }
    return written;
  }
}
