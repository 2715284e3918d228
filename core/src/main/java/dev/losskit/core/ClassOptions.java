package dev.losskit.core;

/**
 * The options of a loss with a class dimension ({@link CrossEntropyLoss}, {@link NllLoss}), as the kernels read
 * them.
 *
 * @param reduction the reduction
 * @param weight the per-class weights as the user gave them, or null for none (kernels round them to the input's
 *     dtype with {@link ReferenceKernels#weightsFor})
 * @param ignoreIndex the ignored class index
 * @param labelSmoothing \( \varepsilon \), 0 for NLL
 */
record ClassOptions(Reduction reduction, double[] weight, long ignoreIndex, double labelSmoothing) {}
