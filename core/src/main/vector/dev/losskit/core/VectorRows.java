package dev.losskit.core;

import jdk.incubator.vector.FloatVector;

/**
 * The float lane count of the vector kernels ({@link VectorCrossEntropy}, {@link VectorProbabilities},
 * {@link VectorBce}), for {@link Kernels#describe()}. Loaded only when {@link VectorSupport#AVAILABLE}.
 */
final class VectorRows {
  private VectorRows() {}

  /** {@return the number of float lanes of the preferred species} */
  static int lanes() {
    return FloatVector.SPECIES_PREFERRED.length();
  }
}
