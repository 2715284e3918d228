package dev.losskit.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

class TensorTest {
  @Test
  void scalarsHaveShapeEmptyAndOneElement() {
    Tensor s = Tensor.scalar(2.5);
    assertEquals(0, s.dim());
    assertEquals(1, s.numel());
    assertEquals(2.5, s.getDouble(0));
  }

  @Test
  void byteBufferViewsReadInTheBuffersOrder() {
    ByteBuffer big = ByteBuffer.allocate(16).order(ByteOrder.BIG_ENDIAN);
    big.putDouble(1.5).putDouble(-2.0);
    assertArrayEquals(new double[] {1.5, -2.0}, Tensor.view(big, DType.FLOAT64, 2).toDoubleArray());
    ByteBuffer little = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
    little.putLong(7).putLong(-3);
    Tensor t = Tensor.view(little, DType.INT64, 2);
    assertEquals(7, t.getLong(0));
    assertEquals(-3, t.getLong(1));
  }

  @Test
  void viewsMustFitTheirStore() {
    assertThrows(IllegalArgumentException.class, () -> Tensor.view(new float[4], 2, 3));
    assertThrows(IllegalArgumentException.class, () -> Tensor.view(new float[4], -1, 2));
    assertEquals(0, Tensor.of(new float[0], 0, 1 << 30).numel());
  }

  @Test
  void viewsDoNotCopy() {
    float[] data = {1, 2, 3};
    Tensor t = Tensor.of(data, 3);
    data[1] = 9;
    assertEquals(9.0, t.getDouble(1));
  }
}
