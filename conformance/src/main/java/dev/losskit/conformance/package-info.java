/**
 * Parity checks of losskit against PyTorch: the golden-file format ({@link dev.losskit.conformance.GoldenReader}),
 * the comparison at PyTorch's default tolerances ({@link dev.losskit.conformance.Comparison}) and the verifier
 * behind {@code losskit verify} ({@link dev.losskit.conformance.GoldenVerifier}). Golden files may also hold
 * scikit-learn's {@code log_loss} cases ({@link dev.losskit.conformance.LogLossCase}), checked on their value.
 *
 * <p>Depends on the core and Gson.
 */
package dev.losskit.conformance;
