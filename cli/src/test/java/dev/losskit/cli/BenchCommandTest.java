package dev.losskit.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.losskit.benchmarks.Bench;
import dev.losskit.cli.VerifyCommandTest.Run;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code losskit bench}: its arguments and the files it writes, on a synthetic run (nothing here is timed). */
class BenchCommandTest {
  @TempDir Path dir;

  @Test
  void anUnknownCaseExitsTwoListingTheValidOnesBeforeMeasuringAnything() {
    Run r = VerifyCommandTest.run("bench", "--quick", "--case", "small-batch,imagenet");
    assertEquals(2, r.code());
    assertEquals(1, r.err().size(), r.err().toString());
    assertTrue(r.err().get(0).contains("'imagenet'") && r.err().get(0).contains("llm-vocab, llm-vocab-bf16, small-batch"),
        r.err().get(0));
    assertTrue(r.out().isEmpty(), r.out().toString());
  }

  @Test
  void theJsonAndOneChartPerCaseAreWrittenBesideEachOther() throws Exception {
    Bench.Result small = new Bench.Result(Bench.SMALL_BATCH, "ce_fwd_bwd", List.of(32, 10), 32, 10, "float32",
        "libtorch", 2, 60e-6, null, 2.3, null);
    Bench.Result sweep = new Bench.Result(Bench.SWEEP, "ce_fwd_bwd", List.of(13107200, 10), 13107200, 10,
        "float32", "losskit-core", 2, 0.2, 1000L, 2.3, null);
    Bench.Result epoch = new Bench.Result(Bench.MLP_EPOCH, "train_epoch", List.of(60000, 10), 32, 10, "float32",
        "losskit-djl", 2, 9.5, null, null, "train loss 0.3");
    Bench.Report report = new Bench.Report(10, List.of(small, sweep, epoch), "test", List.of(), List.of(
        new Bench.Case(Bench.SMALL_BATCH, "N=32 C=10", "class indices", null, "us"),
        new Bench.Case(Bench.MLP_EPOCH, "MLP", "EasyTrain", "DJL only", "s"),
        new Bench.Case(Bench.SWEEP, "C=10", "class indices", null, "ms")), true);
    Path json = dir.resolve("out/bench.json");
    List<Path> written = BenchCommand.write(report, json);
    assertEquals(List.of(json, dir.resolve("out/bench.svg"), dir.resolve("out/bench-small-batch.svg"),
        dir.resolve("out/bench-mlp-epoch.svg")), written);
    try (Stream<Path> files = Files.list(dir.resolve("out"))) {
      assertEquals(4, files.count(), "no temporary files left behind");
    }
    JsonObject o = JsonParser.parseString(Files.readString(json)).getAsJsonObject();
    List<String> cases = o.getAsJsonArray("results").asList().stream()
        .map(JsonElement::getAsJsonObject).map(x -> x.get("case").getAsString()).collect(Collectors.toList());
    assertEquals(List.of(Bench.SMALL_BATCH, Bench.SWEEP, Bench.MLP_EPOCH), cases);
    assertTrue(Files.readString(dir.resolve("out/bench-small-batch.svg")).contains("60.00 µs"));
  }
}
