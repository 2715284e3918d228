package dev.losskit.cli;

import dev.losskit.benchmarks.Bench;
import dev.losskit.benchmarks.BenchReport;
import dev.losskit.onnx.AtomicFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code losskit bench [--quick] [--json FILE]}: the performance table, targets and chart. */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description = {"Measures cross-entropy and BCE for losskit's core against libtorch, DJL's built-in loss, the",
        "DJL adapter and ONNX Runtime, with the machine's memory bandwidth; prints a table and the targets.",
        "Needs a large heap for the full sizes (the launcher passes LOSSKIT_JAVA_OPTS, e.g. -Xmx12g)."})
final class BenchCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--quick", description = "Smaller sizes and fewer repetitions.")
  boolean quick;

  @Option(names = "--json", paramLabel = "FILE",
      description = "Write the results as JSON, and the chart as an SVG beside it.")
  Path json;

  @Override
  public Integer call() throws Exception {
    var err = spec.commandLine().getErr();
    var out = spec.commandLine().getOut();
    Bench.Report report = Bench.run(quick, what -> err.println("bench: " + what));
    out.print(BenchReport.table(report));
    out.println();
    BenchReport.targets(report).forEach(out::println);
    if (json != null) {
      Path svg = json.resolveSibling(json.getFileName().toString().replaceAll("\\.json$", "") + ".svg");
      try {
        Path dir = json.toAbsolutePath().getParent();
        if (dir != null) {
          java.nio.file.Files.createDirectories(dir);
        }
        AtomicFiles.write(json, s -> Bench.writeJson(report, s));
        AtomicFiles.write(svg, s -> s.write(BenchReport.svg(report).getBytes(StandardCharsets.UTF_8)));
      } catch (IOException e) {
        err.println(spec.qualifiedName() + ": cannot write " + json + ": " + Main.oneLine(e.getMessage()));
        return Main.EXIT_USAGE;
      }
      out.println("wrote " + json + " and " + svg);
    }
    return 0;
  }
}
