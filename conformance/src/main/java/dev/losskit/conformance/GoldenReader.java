package dev.losskit.conformance;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import dev.losskit.core.BceLoss;
import dev.losskit.core.BceWithLogitsLoss;
import dev.losskit.core.CrossEntropyLoss;
import dev.losskit.core.DType;
import dev.losskit.core.NllLoss;
import dev.losskit.core.Reduction;
import dev.losskit.core.Tensor;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads golden files: JSON objects with {@code "format": "losskit-goldens"}, {@code "version": 1}, an optional
 * {@code producer} and a list of {@code cases}.
 *
 * <p>A float32 case may also carry {@code "expected_float64": {"loss": ..., "grad_input": ...}}: PyTorch's result
 * in float64 on the same values, the oracle that tells a more accurate result from a wrong one.
 *
 * <p>The losses are {@code cross_entropy}, {@code nll_loss}, {@code bce_with_logits} and {@code bce}. A case written
 * from old code may carry the legacy {@code "size_average"} and {@code "reduce"}: then {@code "reduction"} is
 * optional, and the legacy pair decides it as torch does.
 *
 * <p>A tensor is {@code {"shape": [...], "data": [...], "dtype": optional}}, with non-finite numbers written as
 * the strings {@code "NaN"}, {@code "Infinity"} and {@code "-Infinity"}. Unknown keys are ignored. Missing or
 * contradictory keys are a {@link GoldenFormatException} whose one-line message names the file and the case.
 *
 * <p>A case of scikit-learn's {@code "loss": "log_loss"} has no reduction and no gradient: {@code input} holds the
 * probabilities {@code y_pred}, {@code target} the labels or the indicator matrix {@code y_true}, and the optional
 * keys are {@code sample_weight} (a tensor or null), {@code normalize} (a boolean, default true), {@code labels} (a
 * list of whole numbers, or null) and {@code warns_not_sum_to_one} (a boolean: whether scikit-learn warned that
 * rows of {@code y_pred} do not sum to one). Its {@code expected} holds {@code loss} alone, or {@code error}.
 */
public final class GoldenReader {
  /** The value of the {@code format} key. */
  public static final String FORMAT = "losskit-goldens";
  /** The only version this reader understands. */
  public static final int VERSION = 1;

  private GoldenReader() {}

  /**
   * A parsed golden file.
   *
   * @param path where it was read from
   * @param producer its producer, or null
   * @param cases its cases, in file order
   */
  public record GoldenFile(Path path, String producer, List<GoldenCase> cases) {}

  /**
   * Reads and checks a whole golden file.
   *
   * @param path the file
   * @return its cases
   * @throws GoldenFormatException with a one-line message naming the file (and the case) when it is unreadable,
   *     not JSON, or not in the golden format
   */
  public static GoldenFile read(Path path) throws GoldenFormatException {
    String text;
    try {
      text = Files.readString(path, StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      throw new GoldenFormatException(path + ": no such file");
    } catch (java.nio.charset.MalformedInputException e) {
      throw new GoldenFormatException(path + ": not valid JSON: the file is not UTF-8 text");
    } catch (IOException | SecurityException e) {
      throw new GoldenFormatException(path + ": cannot read: " + oneLine(e.getMessage() == null
          ? e.getClass().getSimpleName() : e.getMessage()));
    }
    if (text.isBlank()) {
      throw new GoldenFormatException(path + ": not valid JSON: the file is empty");
    }
    JsonElement root;
    try {
      JsonReader json = new JsonReader(new java.io.StringReader(text));
      json.setStrictness(Strictness.STRICT);
      root = JsonParser.parseReader(json);
      if (json.peek() != com.google.gson.stream.JsonToken.END_DOCUMENT) {
        throw new JsonParseException("unexpected content after the JSON value");
      }
    } catch (JsonParseException | IllegalStateException | IOException e) {
      throw new GoldenFormatException(path + ": not valid JSON: " + oneLine(rootMessage(e)));
    }
    return parse(path, root);
  }

  /** Checks a parsed JSON value against the golden format. */
  static GoldenFile parse(Path path, JsonElement root) throws GoldenFormatException {
    String where = path.toString();
    try {
      JsonObject top = object(root, "the top level");
      String format = string(top, "format");
      if (!FORMAT.equals(format)) {
        throw new Bad("format is '" + format + "', expected '" + FORMAT + "'");
      }
      long version = integer(top, "version");
      if (version != VERSION) {
        throw new Bad("version " + version + " is not supported (expected " + VERSION + ")");
      }
      String producer = top.has("producer") && !top.get("producer").isJsonNull()
          ? string(top, "producer") : null;
      JsonArray cases = array(top, "cases");
      List<GoldenCase> out = new ArrayList<>(cases.size());
      Set<String> ids = new HashSet<>();
      for (int i = 0; i < cases.size(); i++) {
        String label = "case #" + i;
        try {
          JsonObject c = object(cases.get(i), "case #" + i);
          String id = string(c, "id");
          label = "case '" + id + "'";
          if (!ids.add(id)) {
            throw new Bad("the id is used by an earlier case");
          }
          out.add(isLogLoss(c) ? parseLogLossCase(id, c) : parseCase(id, c));
        } catch (Bad e) {
          throw new Bad(label + ": " + e.getMessage());
        }
      }
      return new GoldenFile(path, producer, List.copyOf(out));
    } catch (Bad e) {
      throw new GoldenFormatException(where + ": " + e.getMessage());
    }
  }

  private static GoldenCase parseCase(String id, JsonObject c) throws Bad {
    String loss = string(c, "loss");
    if (!LossCase.LOSSES.contains(loss)) {
      throw new Bad("unknown loss '" + loss + "', expected one of " + String.join(", ", LossCase.LOSSES) + " or "
          + LogLossCase.NAME);
    }
    DType dtype = parseEnum(c, "dtype", DType::fromPytorchName);
    if (!dtype.isFloating()) {
      throw new Bad("dtype must be float32, float64, float16 or bfloat16, got " + dtype);
    }
    Reduction reduction = reduction(c);
    boolean classLoss = !LossCase.elementwise(loss);

    long ignoreIndex = -100;
    if (present(c, "ignore_index")) {
      if (!classLoss) {
        throw new Bad("ignore_index does not apply to " + loss);
      }
      ignoreIndex = integer(c, "ignore_index");
    }
    double labelSmoothing = 0;
    if (present(c, "label_smoothing")) {
      labelSmoothing = number(c.get("label_smoothing"), "label_smoothing");
      if (!loss.equals(CrossEntropyLoss.NAME) && labelSmoothing != 0) {
        throw new Bad("label_smoothing does not apply to " + loss);
      }
    }
    if (present(c, "pos_weight") && !loss.equals(BceWithLogitsLoss.NAME)) {
      throw new Bad("pos_weight does not apply to " + loss);
    }
    Tensor weight = present(c, "weight") ? tensor(c.get("weight"), "weight", dtype) : null;
    Tensor posWeight = present(c, "pos_weight") ? tensor(c.get("pos_weight"), "pos_weight", dtype) : null;
    Tensor input = tensor(required(c, "input"), "input", dtype);
    if (!input.dtype().isFloating()) {
      throw new Bad("input must be floating, got dtype " + input.dtype());
    }
    Tensor target = tensor(required(c, "target"), "target", dtype);
    Tensor gradOutput = present(c, "grad_output") ? tensor(c.get("grad_output"), "grad_output", dtype) : null;

    LossCase call = new LossCase(loss, dtype, reduction, ignoreIndex, labelSmoothing, weight, posWeight, input,
        target, gradOutput);
    JsonObject expected = object(required(c, "expected"), "expected");
    if (present(expected, "error")) {
      JsonElement e = expected.get("error");
      if (!(e.isJsonPrimitive() && e.getAsJsonPrimitive().isBoolean() && e.getAsBoolean())) {
        throw new Bad("expected.error must be true, got " + e);
      }
      if (present(expected, "loss") || present(expected, "grad_input")) {
        throw new Bad("expected has both error and loss/grad_input");
      }
      return new GoldenCase(id, call, null, null, null, null);
    }
    Tensor expectedLoss = tensor(required(expected, "loss", "expected"), "expected.loss", DType.FLOAT64);
    Tensor expectedGrad = tensor(required(expected, "grad_input", "expected"), "expected.grad_input", DType.FLOAT64);
    Tensor oracleLoss = null;
    Tensor oracleGrad = null;
    if (present(c, "expected_float64")) {
      JsonObject oracle = object(c.get("expected_float64"), "expected_float64");
      oracleLoss = tensor(required(oracle, "loss", "expected_float64"), "expected_float64.loss", DType.FLOAT64);
      oracleGrad = tensor(required(oracle, "grad_input", "expected_float64"), "expected_float64.grad_input",
          DType.FLOAT64);
      if (!oracleLoss.sameShape(expectedLoss) || !oracleGrad.sameShape(expectedGrad)) {
        throw new Bad("expected_float64 and expected have different shapes");
      }
    }
    return new GoldenCase(id, call, expectedLoss, expectedGrad, oracleLoss, oracleGrad);
  }

  // ---- scikit-learn's log_loss cases: no reduction, no gradient ---------------------------------------------------

  /** Keys of PyTorch's losses that a log_loss case must not carry. */
  private static final List<String> NOT_FOR_LOG_LOSS =
      List.of("reduction", "weight", "pos_weight", "ignore_index", "label_smoothing", "grad_output");

  private static boolean isLogLoss(JsonObject c) {
    JsonElement loss = c.get("loss");
    return loss != null && loss.isJsonPrimitive() && loss.getAsJsonPrimitive().isString()
        && LogLossCase.NAME.equals(loss.getAsString());
  }

  private static GoldenCase parseLogLossCase(String id, JsonObject c) throws Bad {
    DType dtype = parseEnum(c, "dtype", DType::fromPytorchName);
    if (dtype != DType.FLOAT32 && dtype != DType.FLOAT64) {
      throw new Bad("dtype must be float32 or float64 for " + LogLossCase.NAME + ", got " + dtype);
    }
    for (String key : NOT_FOR_LOG_LOSS) {
      if (present(c, key)) {
        throw new Bad(key + " does not apply to " + LogLossCase.NAME);
      }
    }
    Tensor yPred = tensor(required(c, "input"), "input", dtype);
    Tensor yTrue = tensor(required(c, "target"), "target", dtype);
    Tensor sampleWeight = present(c, "sample_weight") ? tensor(c.get("sample_weight"), "sample_weight", dtype) : null;
    boolean normalize = !present(c, "normalize") || bool(c, "normalize");
    long[] labels = null;
    if (present(c, "labels")) {
      JsonArray list = array(c, "labels");
      labels = new long[list.size()];
      for (int i = 0; i < labels.length; i++) {
        labels[i] = wholeNumber(list.get(i), "labels[" + i + "]");
      }
    }
    Boolean warns = present(c, "warns_not_sum_to_one") ? bool(c, "warns_not_sum_to_one") : null;
    LogLossCase call = new LogLossCase(dtype, yPred, yTrue, sampleWeight, normalize, labels, warns);

    JsonObject expected = object(required(c, "expected"), "expected");
    if (present(expected, "grad_input") || present(c, "expected_float64")) {
      throw new Bad(LogLossCase.NAME + " has no gradient and no float64 oracle: expected holds loss or error");
    }
    if (present(expected, "error")) {
      JsonElement e = expected.get("error");
      if (!(e.isJsonPrimitive() && e.getAsJsonPrimitive().isBoolean() && e.getAsBoolean())) {
        throw new Bad("expected.error must be true, got " + e);
      }
      if (present(expected, "loss")) {
        throw new Bad("expected has both error and loss");
      }
      return GoldenCase.ofLogLoss(id, call, null);
    }
    Tensor loss = tensor(required(expected, "loss", "expected"), "expected.loss", DType.FLOAT64);
    if (loss.dim() != 0) {
      throw new Bad("expected.loss of " + LogLossCase.NAME + " must be a scalar (shape []), got shape "
          + java.util.Arrays.toString(loss.shape()));
    }
    return GoldenCase.ofLogLoss(id, call, loss);
  }

  private static boolean bool(JsonObject o, String key) throws Bad {
    JsonElement e = required(o, key);
    if (!(e.isJsonPrimitive() && e.getAsJsonPrimitive().isBoolean())) {
      throw new Bad(key + " must be true or false, got " + describe(e));
    }
    return e.getAsBoolean();
  }

  /**
   * The case's reduction: {@code "reduction"}, unless the legacy {@code "size_average"} or {@code "reduce"} is
   * present (a boolean; null counts as absent, as None does in torch). Then the legacy pair decides, mapped as
   * torch's {@code _Reduction.legacy_get_string} maps it (an absent one counts as true: both true give mean, reduce
   * alone sum, reduce false none), and it wins over {@code "reduction"}, as it does in torch's loss modules.
   */
  private static Reduction reduction(JsonObject c) throws Bad {
    Boolean sizeAverage = legacyFlag(c, "size_average");
    Boolean reduce = legacyFlag(c, "reduce");
    if (sizeAverage == null && reduce == null) {
      return parseEnum(c, "reduction", Reduction::fromPytorchName);
    }
    if (present(c, "reduction")) {
      parseEnum(c, "reduction", Reduction::fromPytorchName); // still a valid name, though overridden
    }
    boolean average = sizeAverage == null || sizeAverage;
    boolean reduced = reduce == null || reduce;
    return average && reduced ? Reduction.MEAN : reduced ? Reduction.SUM : Reduction.NONE;
  }

  private static Boolean legacyFlag(JsonObject c, String key) throws Bad {
    if (!present(c, key)) {
      return null;
    }
    JsonElement e = c.get(key);
    if (!(e.isJsonPrimitive() && e.getAsJsonPrimitive().isBoolean())) {
      throw new Bad(key + " must be true, false or null, got " + e);
    }
    return e.getAsBoolean();
  }

  /**
   * Parses a tensor. Floating data becomes the case's dtype (or float64 for expected values, which keeps every
   * digit); {@code "dtype": "int64"} or {@code "int32"} data must be whole numbers.
   */
  private static Tensor tensor(JsonElement e, String name, DType floatType) throws Bad {
    JsonObject t = object(e, name);
    JsonArray shapeJson = array(t, "shape", name);
    int[] shape = new int[shapeJson.size()];
    for (int i = 0; i < shape.length; i++) {
      long d = wholeNumber(shapeJson.get(i), name + ".shape[" + i + "]");
      if (d < 0 || d > Integer.MAX_VALUE) {
        throw new Bad(name + ".shape[" + i + "] is " + d + ", not an extent");
      }
      shape[i] = (int) d;
    }
    int size;
    try {
      size = Tensor.checkedSize(shape);
    } catch (IllegalArgumentException ex) {
      throw new Bad(name + ": " + ex.getMessage());
    }
    JsonArray data = array(t, "data", name);
    if (data.size() != size) {
      throw new Bad(name + " has " + data.size() + " numbers in data but shape "
          + java.util.Arrays.toString(shape) + " needs " + size);
    }
    DType dtype = floatType;
    if (present(t, "dtype")) {
      try {
        dtype = DType.fromPytorchName(string(t, "dtype"));
      } catch (IllegalArgumentException ex) {
        throw new Bad(name + ": " + ex.getMessage());
      }
    }
    switch (dtype) {
      case INT64: {
        long[] v = new long[size];
        for (int i = 0; i < size; i++) {
          v[i] = wholeNumber(data.get(i), name + ".data[" + i + "]");
        }
        return Tensor.of(v, shape);
      }
      case INT32: {
        int[] v = new int[size];
        for (int i = 0; i < size; i++) {
          long x = wholeNumber(data.get(i), name + ".data[" + i + "]");
          if (x != (int) x) {
            throw new Bad(name + ".data[" + i + "] = " + x + " does not fit int32");
          }
          v[i] = (int) x;
        }
        return Tensor.of(v, shape);
      }
      default: {
        // A floating dtype: each number rounded once to it (exact for the values a tensor of that dtype holds, as
        // goldens write them).
        double[] v = new double[size];
        for (int i = 0; i < size; i++) {
          v[i] = number(data.get(i), name + ".data[" + i + "]");
        }
        return Tensor.rounded(v, dtype, shape);
      }
    }
  }

  // ---- JSON helpers: every failure becomes a Bad with a message naming the key ----------------------------------

  /** A format error inside a file; turned into a {@link GoldenFormatException} that names the file. */
  private static final class Bad extends Exception {
    private static final long serialVersionUID = 1L;

    Bad(String message) {
      super(message, null, false, false);
    }
  }

  @FunctionalInterface
  private interface Parser<T> {
    T parse(String s);
  }

  private static <T> T parseEnum(JsonObject o, String key, Parser<T> parser) throws Bad {
    String s = string(o, key);
    try {
      return parser.parse(s);
    } catch (IllegalArgumentException e) {
      throw new Bad(key + ": " + e.getMessage());
    }
  }

  private static boolean present(JsonObject o, String key) {
    return o.has(key) && !o.get(key).isJsonNull();
  }

  private static JsonElement required(JsonObject o, String key) throws Bad {
    return required(o, key, null);
  }

  private static JsonElement required(JsonObject o, String key, String parent) throws Bad {
    if (!present(o, key)) {
      throw new Bad("missing key '" + (parent == null ? key : parent + "." + key) + "'");
    }
    return o.get(key);
  }

  private static JsonObject object(JsonElement e, String what) throws Bad {
    if (e == null || !e.isJsonObject()) {
      throw new Bad(what + " must be a JSON object, got " + describe(e));
    }
    return e.getAsJsonObject();
  }

  private static JsonArray array(JsonObject o, String key) throws Bad {
    return array(o, key, null);
  }

  private static JsonArray array(JsonObject o, String key, String parent) throws Bad {
    JsonElement e = required(o, key, parent);
    if (!e.isJsonArray()) {
      throw new Bad((parent == null ? key : parent + "." + key) + " must be a list, got " + describe(e));
    }
    return e.getAsJsonArray();
  }

  private static String string(JsonObject o, String key) throws Bad {
    JsonElement e = required(o, key);
    if (!(e.isJsonPrimitive() && e.getAsJsonPrimitive().isString())) {
      throw new Bad(key + " must be a string, got " + describe(e));
    }
    return e.getAsString();
  }

  private static long integer(JsonObject o, String key) throws Bad {
    return wholeNumber(required(o, key), key);
  }

  private static long wholeNumber(JsonElement e, String what) throws Bad {
    if (!(e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isNumber())) {
      throw new Bad(what + " must be a whole number, got " + describe(e));
    }
    try {
      return new BigDecimal(e.getAsString()).longValueExact();
    } catch (ArithmeticException | NumberFormatException ex) {
      throw new Bad(what + " must be a whole number, got " + e.getAsString());
    }
  }

  private static double number(JsonElement e, String what) throws Bad {
    if (e != null && e.isJsonPrimitive()) {
      JsonPrimitive p = e.getAsJsonPrimitive();
      if (p.isNumber()) {
        return p.getAsDouble();
      }
      if (p.isString()) {
        switch (p.getAsString()) {
          case "NaN":
            return Double.NaN;
          case "Infinity":
            return Double.POSITIVE_INFINITY;
          case "-Infinity":
            return Double.NEGATIVE_INFINITY;
          default:
            break;
        }
      }
    }
    throw new Bad(what + " must be a number or \"NaN\", \"Infinity\", \"-Infinity\", got " + describe(e));
  }

  private static String describe(JsonElement e) {
    if (e == null || e.isJsonNull()) {
      return "null";
    }
    String s = e.toString();
    return s.length() > 40 ? s.substring(0, 37) + "..." : s;
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    String m = t.getMessage() != null ? t.getMessage() : e.getMessage();
    return m == null ? t.getClass().getSimpleName() : m;
  }

  /** Folds a message onto one line and drops Gson's pointer to its troubleshooting page. */
  static String oneLine(String s) {
    return s.replaceAll("\\s*See https?://\\S+", "")
        .replace("Use JsonReader.setStrictness(Strictness.LENIENT) to accept malformed JSON", "malformed JSON")
        .replaceAll("\\s+", " ").trim();
  }
}
