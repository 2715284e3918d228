package dev.losskit.onnx;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * Writes output files atomically: into a temporary file beside the target, then renamed over it. A reader sees
 * either the old file or the whole new one, and a failed write leaves no partial file behind.
 *
 * <p>{@link OnnxLoss#export(Path)} and {@link OnnxLoss.Attached#write(Path)} write through it, and so does every
 * file the {@code losskit} command writes: one implementation for both.
 */
public final class AtomicFiles {
  private AtomicFiles() {}

  /** Writes the content of an output file. */
  @FunctionalInterface
  public interface Content {
    /**
     * Writes the content.
     *
     * @param out where to write; closed by the caller
     * @throws IOException when writing fails
     */
    void writeTo(OutputStream out) throws IOException;
  }

  /**
   * Gives the new file the permissions of the one it replaces, or ordinary ones ({@code rw-r--r--}) for a new
   * file, rather than the owner-only permissions of a temporary file.
   */
  private static void permissions(Path tmp, Path target) throws IOException {
    if (!tmp.getFileSystem().supportedFileAttributeViews().contains("posix")) {
      return;
    }
    Set<PosixFilePermission> perms = Files.exists(target)
        ? Files.getPosixFilePermissions(target)
        : PosixFilePermissions.fromString("rw-r--r--");
    Files.setPosixFilePermissions(tmp, perms);
  }

  /**
   * Writes a file atomically.
   *
   * @param target the file to create or replace
   * @param content what to write
   * @throws IOException when the file cannot be written; the target is then unchanged and no temporary remains
   */
  public static void write(Path target, Content content) throws IOException {
    Path absolute = target.toAbsolutePath();
    Path dir = absolute.getParent();
    if (Files.isDirectory(absolute)) {
      throw new IOException(target + " is a directory");
    }
    if (dir != null && Files.exists(dir) && !Files.isDirectory(dir)) {
      throw new IOException(dir + " is not a directory");
    }
    if (dir == null || !Files.isDirectory(dir)) {
      throw new IOException("directory " + (dir == null ? target : dir) + " does not exist");
    }
    Path tmp = Files.createTempFile(dir, "." + absolute.getFileName() + ".", ".tmp");
    boolean moved = false;
    try {
      try (OutputStream out = Files.newOutputStream(tmp)) {
        content.writeTo(out);
      }
      permissions(tmp, absolute);
      try {
        Files.move(tmp, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, absolute, StandardCopyOption.REPLACE_EXISTING);
      }
      moved = true;
    } finally {
      if (!moved) {
        Files.deleteIfExists(tmp);
      }
    }
  }
}
