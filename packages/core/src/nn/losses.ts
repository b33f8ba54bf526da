/**
 * Losses shared by stage packages (call inside `tf.tidy` / a gradient function).
 */
import * as tf from '../runtime/tf.js';

/** Binary cross-entropy of logits `z` against targets `y` in [0, 1], one value per entry. */
export function bceWithLogits(z: tf.Tensor, y: tf.Tensor): tf.Tensor {
  // max(z, 0) - z y + log(1 + exp(-|z|)): stable for large |z|
  return tf.add(tf.sub(tf.relu(z), tf.mul(z, y)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
}
