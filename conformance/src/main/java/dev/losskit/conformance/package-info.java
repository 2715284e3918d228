/**
 * Parity checks of losskit against PyTorch: the golden-file format ({@link dev.losskit.conformance.GoldenReader}),
 * the comparison at PyTorch's default tolerances ({@link dev.losskit.conformance.Comparison}) and the verifier
 * behind {@code losskit verify} ({@link dev.losskit.conformance.GoldenVerifier}).
 *
 * <p>Depends on the core and Gson.
 */
package dev.losskit.conformance;
