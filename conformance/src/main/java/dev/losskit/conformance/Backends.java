package dev.losskit.conformance;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/** The backends the conformance matrix can run, by name. */
public final class Backends {
  private Backends() {}

  /** {@return every available backend, in report order} */
  public static List<Backend> all() {
    return List.of(Backend.CORE, Backend.CORE_REFERENCE, DjlBackend.CORE, DjlBackend.ENGINE, OnnxBackend.OP,
        OnnxBackend.PRIMITIVES);
  }

  /** {@return the names of every available backend} */
  public static List<String> names() {
    return all().stream().map(Backend::name).collect(Collectors.toList());
  }

  /**
   * Looks backends up by name.
   *
   * @param names backend names
   * @return those backends, in the given order
   * @throws IllegalArgumentException naming the first unknown name and listing the valid ones
   */
  public static List<Backend> byNames(List<String> names) {
    List<Backend> out = new ArrayList<>();
    for (String n : names) {
      out.add(all().stream().filter(b -> b.name().equals(n)).findFirst().orElseThrow(() ->
          new IllegalArgumentException("unknown backend '" + n + "': valid backends are "
              + String.join(", ", names()))));
    }
    return out;
  }
}
