/**
 * Losses shared by stage packages (call inside `tf.tidy` / a gradient function).
 */
import * as tf from '../runtime/tf.js';

/** Binary cross-entropy of logits `z` against targets `y` in [0, 1], one value per entry. */
export function bceWithLogits(z: tf.Tensor, y: tf.Tensor): tf.Tensor {
  // max(z, 0) - z y + log(1 + exp(-|z|)): stable for large |z|
  return tf.add(tf.sub(tf.relu(z), tf.mul(z, y)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
}

/**
 * Mean of `values` over the entries where `mask` is 1 (e.g. the ranker scores that were logged);
 * 0, not NaN, when none is.
 */
export function maskedMean(values: tf.Tensor, mask: tf.Tensor): tf.Scalar {
  return tf.div(tf.sum(tf.mul(values, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
}
