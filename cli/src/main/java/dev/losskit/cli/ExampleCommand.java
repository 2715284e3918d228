package dev.losskit.cli;

import dev.losskit.examples.ImbalancedClassification;
import dev.losskit.examples.MultiLabel;
import dev.losskit.examples.SequenceTagging;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code losskit example NAME}: runs one of the runnable examples of the {@code examples} module. */
@Command(
    name = "example",
    mixinStandardHelpOptions = true,
    description = {"Runs an example: training in DJL with losskit's losses.",
        "imbalanced  an MLP on imbalanced classes, with class weights and label smoothing",
        "tagging     sequence tagging with ignore_index padding, logits (N, C, T)",
        "multilabel  multi-label classification with BCEWithLogitsLoss and pos_weight",
        "onnx        a smoothed, weighted CrossEntropyLoss attached to an ONNX classifier, run in ONNX Runtime"})
final class ExampleCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Parameters(paramLabel = "NAME", description = "imbalanced, tagging, multilabel or onnx")
  String name;

  /** A runnable example. */
  @FunctionalInterface
  interface Example {
    void run(String[] args) throws Exception;
  }

  static final Map<String, Example> EXAMPLES = new LinkedHashMap<>();

  static {
    EXAMPLES.put("imbalanced", ImbalancedClassification::main);
    EXAMPLES.put("tagging", SequenceTagging::main);
    EXAMPLES.put("multilabel", MultiLabel::main);
    EXAMPLES.put("onnx", dev.losskit.examples.OnnxAttach::main);
  }

  @Override
  public Integer call() throws Exception {
    Example e = EXAMPLES.get(name);
    if (e == null) {
      spec.commandLine().getErr().println(spec.qualifiedName() + ": unknown example '" + name
          + "': valid examples are " + String.join(", ", EXAMPLES.keySet()));
      return Main.EXIT_USAGE;
    }
    e.run(new String[0]);
    return 0;
  }
}
