package dev.losskit.core;

import jdk.incubator.vector.FloatVector;

/**
 * The width of the vectors the Vector API kernels use ({@link VectorRows} takes {@code FloatVector}'s preferred
 * species). Loaded only when {@link VectorSupport#AVAILABLE}, like every class in this source root.
 */
final class VectorShape {
  private VectorShape() {}

  /** @return the preferred float vector's size in bits on this CPU, e.g. 256 with AVX2 */
  static int bits() {
    return FloatVector.SPECIES_PREFERRED.vectorBitSize();
  }
}
