package dev.losskit.cli;

import dev.losskit.core.Kernels;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * The {@code losskit} command. Every error is one line on standard error and a non-zero exit: 2 for bad arguments
 * or unreadable inputs, 1 for a failed check, never a stack trace.
 */
@Command(
    name = "losskit",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "PyTorch-exact classification losses for the JVM.",
    subcommands = {ConformCommand.class, VerifyCommand.class, ExportCommand.class, AttachCommand.class,
        BenchCommand.class, ExampleCommand.class})
public final class Main implements Runnable {
  /** Exit code for bad arguments and unreadable input files. */
  public static final int EXIT_USAGE = 2;
  /** Exit code for an unexpected internal error. */
  public static final int EXIT_INTERNAL = 3;

  @Spec CommandSpec spec;

  /** Creates the top-level command; {@link #run(String[], PrintStream, PrintStream)} runs it. */
  public Main() {}

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "a command is required: conform, verify, export, attach, bench or example");
  }

  /**
   * Runs the command line as the launcher does.
   *
   * @param args the arguments
   */
  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  /**
   * Runs the command line with the given streams; this is the library entry point the tests use.
   *
   * @param args the arguments
   * @param out standard output
   * @param err standard error
   * @return the exit code
   */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    PrintWriter outWriter = new PrintWriter(new java.io.OutputStreamWriter(out, StandardCharsets.UTF_8), true);
    PrintWriter errWriter = new PrintWriter(new java.io.OutputStreamWriter(err, StandardCharsets.UTF_8), true);
    CommandLine cl = new CommandLine(new Main());
    cl.setOut(outWriter);
    cl.setErr(errWriter);
    cl.setParameterExceptionHandler((ex, a) -> {
      CommandLine c = ex.getCommandLine();
      errWriter.println(c.getCommandSpec().qualifiedName() + ": " + oneLine(ex.getMessage())
          + " (see '" + c.getCommandSpec().qualifiedName() + " --help')");
      return EXIT_USAGE;
    });
    cl.setExecutionExceptionHandler((ex, c, parsed) -> {
      errWriter.println(c.getCommandSpec().qualifiedName() + ": internal error: " + ex.getClass().getSimpleName()
          + (ex.getMessage() == null ? "" : ": " + oneLine(ex.getMessage())));
      return EXIT_INTERNAL;
    });
    int code = cl.execute(args);
    outWriter.flush();
    errWriter.flush();
    return code;
  }

  /** Folds a message onto one line. */
  static String oneLine(String s) {
    return s == null ? "" : s.replaceAll("\\s+", " ").trim();
  }

  /** Reads the version from the jar's manifest, and says which kernels the core runs in this JVM. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Main.class.getPackage().getImplementationVersion();
      return new String[] {"losskit " + (v == null ? "(development build)" : v),
          "kernels: " + Kernels.describe()};
    }
  }
}
