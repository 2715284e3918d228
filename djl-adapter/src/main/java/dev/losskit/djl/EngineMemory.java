package dev.losskit.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Writable access to an engine tensor's own memory. DJL's {@code NDArray.toByteBuffer(true)} returns the engine's
 * memory itself where the engine allows it (PyTorch on the CPU does) and a copy otherwise, and says nothing about
 * which. So each engine and device is probed once: a write through the buffer must show up in the array. Where it
 * does not, callers fall back to creating the array from a buffer of their own.
 */
final class EngineMemory {
  private static final Map<String, Boolean> SHARES = new ConcurrentHashMap<>();

  private EngineMemory() {}

  /**
   * @param array a contiguous array freshly created by its manager
   * @return the array's own memory in native byte order, or null when the engine does not share it
   */
  static ByteBuffer writable(NDArray array) {
    NDManager m = array.getManager();
    String key = m.getEngine().getEngineName() + "/" + array.getDevice();
    if (!SHARES.computeIfAbsent(key, k -> probe(m))) {
      return null;
    }
    ByteBuffer b = array.toByteBuffer(true);
    long bytes = array.size() * array.getDataType().getNumOfBytes();
    if (!b.isDirect() || b.isReadOnly() || b.capacity() != bytes) {
      return null;
    }
    return b.order(ByteOrder.nativeOrder());
  }

  private static boolean probe(NDManager m) {
    try (NDManager scope = m.newSubManager()) {
      NDArray a = scope.zeros(new ai.djl.ndarray.types.Shape(4));
      ByteBuffer b = a.toByteBuffer(true);
      if (!b.isDirect() || b.isReadOnly()) {
        return false;
      }
      b.order(ByteOrder.nativeOrder()).asFloatBuffer().put(2, 42f);
      return a.toFloatArray()[2] == 42f;
    } catch (RuntimeException e) {
      return false;
    }
  }
}
