package dev.losskit.cli;

import dev.losskit.core.LossArgumentException;
import dev.losskit.onnx.ModelAttachment;
import dev.losskit.onnx.OnnxLoss;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code losskit attach MODEL.onnx --output NAME --loss ... -o OUT.onnx}: a loss attached to a model's output. */
@Command(
    name = "attach",
    mixinStandardHelpOptions = true,
    description = {"Attaches a loss to one of a model's outputs: adds a labels input and a 'loss' output (and",
        "'grad_NAME' with --with-gradient), keeping the original inputs, outputs, nodes, initializers, opsets",
        "and metadata. The loss is emitted at the model's own opset (11 to 26), in the output's own dtype",
        "(float, double, float16 or bfloat16; half losses compute in float32 inside). Tensors in external data files",
        "(locations inside the model's directory only) are written inline, or above 2 GiB into",
        "OUT.onnx.<sha256 prefix>.data beside the output.",
        "The output is written atomically, so -o may name the input itself."})
final class AttachCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Parameters(paramLabel = "MODEL.onnx", description = "The model, e.g. from torch.onnx.export.")
  Path model;

  @Option(names = "--output", required = true, paramLabel = "NAME", description = "The output the loss reads.")
  String output;

  @Option(names = "--labels-name", paramLabel = "NAME", description = "The new labels input (default: labels).")
  String labelsName = "labels";

  @Mixin LossOptions options;

  @Option(names = {"-o", "--output-file"}, required = true, paramLabel = "OUT.onnx", description = "Where to write.")
  Path out;

  @Override
  public Integer call() {
    String name = spec.qualifiedName();
    OnnxLoss.Attached attached;
    try {
      if (options.opset != null) {
        throw new IllegalArgumentException("--opset " + options.opset
            + " does not apply to attach: the loss is emitted at the model's own opset (its default-domain import),"
            + " which attach never changes; a model without one gets " + dev.losskit.onnx.OnnxLoss.DEFAULT_OPSET);
      }
      attached = ModelAttachment.attach(options.exporter(), model, output, labelsName);
    } catch (LossArgumentException e) {
      // A problem with the model names the model's file.
      String where = e.cause() == LossArgumentException.Cause.MODEL ? model + ": " : "";
      spec.commandLine().getErr().println(name + ": " + where + Main.oneLine(e.getMessage()));
      return Main.EXIT_USAGE;
    } catch (IllegalArgumentException | IOException e) {
      spec.commandLine().getErr().println(name + ": " + Main.oneLine(e.getMessage()));
      return Main.EXIT_USAGE;
    }
    try {
      attached.write(out);
    } catch (IOException e) {
      spec.commandLine().getErr().println(name + ": cannot write " + out + ": " + Main.oneLine(e.getMessage()));
      return Main.EXIT_USAGE;
    }
    // Notes only once the output exists, so that a failure is always exactly one line.
    attached.notes().forEach(n -> spec.commandLine().getErr().println(name + ": note: " + Main.oneLine(n)));
    spec.commandLine().getOut().println("wrote " + out + ": " + options.loss + " on output '" + output
        + "', labels input '" + labelsName + "'");
    return 0;
  }
}
