package dev.losskit.cli;

import dev.losskit.onnx.OnnxLoss;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code losskit export --loss ... -o OUT.onnx}: a loss as a standalone ONNX graph. */
@Command(
    name = "export",
    mixinStandardHelpOptions = true,
    description = {"Writes a loss as a standalone ONNX graph: inputs 'input', 'target' (and 'grad_output' for",
        "reduction none with --with-gradient); outputs 'loss' (and 'grad_input')."})
final class ExportCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin LossOptions options;

  @Option(names = {"-o", "--output-file"}, required = true, paramLabel = "OUT.onnx", description = "Where to write.")
  Path out;

  @Override
  public Integer call() {
    OnnxLoss exporter;
    try {
      exporter = options.exporter();
      exporter.export(out);
    } catch (IllegalArgumentException e) {
      spec.commandLine().getErr().println(spec.qualifiedName() + ": " + Main.oneLine(e.getMessage()));
      return Main.EXIT_USAGE;
    } catch (IOException e) {
      spec.commandLine().getErr().println(spec.qualifiedName() + ": cannot write " + out + ": "
          + Main.oneLine(e.getMessage()));
      return Main.EXIT_USAGE;
    }
    spec.commandLine().getOut().println("wrote " + out + ": " + options.loss + " (" + options.dtype + ", rank "
        + options.rank + ", opset " + exporter.opset() + ")");
    return 0;
  }
}
