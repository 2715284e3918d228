/**
 * losskit's core: PyTorch's {@code CrossEntropyLoss}, {@code NLLLoss}, {@code BCEWithLogitsLoss} and
 * {@code BCELoss} in pure Java, with libtorch's semantics for every option, forward and gradient.
 *
 * <p>Start from {@link dev.losskit.core.CrossEntropyLoss}, {@link dev.losskit.core.NllLoss},
 * {@link dev.losskit.core.BceWithLogitsLoss} or {@link dev.losskit.core.BceLoss}; data passes in as read-only
 * {@link dev.losskit.core.Tensor} views over arrays or buffers. The package depends on nothing but the JDK.
 *
 * <p>The reference kernels ({@code Reference*} classes) are the executable specification: plain loops in double
 * precision that read like the formulas in their Javadoc.
 *
 * <p>{@link dev.losskit.core.LogLoss} is scikit-learn's {@code sklearn.metrics.log_loss} (1.9.1 semantics): a
 * metric, forward only, with an accumulator for evaluating batch by batch.
 */
package dev.losskit.core;
