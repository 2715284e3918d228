/**
 * losskit's losses for DJL: PyTorch's {@code CrossEntropyLoss}, {@code NLLLoss} and {@code BCEWithLogitsLoss} as
 * DJL {@link ai.djl.training.loss.Loss} implementations that train in DJL's {@code Trainer} and
 * {@code EasyTrain.fit}, with {@code ignore_index}, per-class weights, {@code label_smoothing}, {@code pos_weight},
 * every reduction and K-dimensional inputs.
 *
 * <p>Two execution paths give the same numbers ({@link dev.losskit.djl.Execution}): core-backed (losskit's Java
 * core on the CPU, its gradient handed to DJL's autograd) and engine-native (NDArray operations, any device).
 * Depends on losskit's core and DJL's engine-agnostic API.
 */
package dev.losskit.djl;
