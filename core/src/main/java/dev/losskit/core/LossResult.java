package dev.losskit.core;

/**
 * The result of a fused forward and backward call.
 *
 * @param loss the loss: a scalar (shape {@code []}) for {@code mean} and {@code sum}, the per-position tensor for
 *     {@code none}; in the input's dtype
 * @param gradInput the gradient of the loss with respect to the input, in the input's shape and dtype
 */
public record LossResult(Tensor loss, Tensor gradInput) {}
