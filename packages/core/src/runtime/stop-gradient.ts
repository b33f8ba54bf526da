/**
 * tfjs-core has no StopGradient op (the converter maps it to identity). This one passes values
 * through and gives a zero gradient, for weights and targets that must stay constants of a loss
 * (MODEL.md sections 3 and 6).
 */
import * as tf from './tf.js';

const stop = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => [tf.zerosLike(dy)],
})) as unknown as Parameters<typeof tf.customGrad>[0]);

/**
 * The same values as `x`, with no gradient flowing back into `x`.
 * @returns a new tensor; the caller owns it
 * @example const w = stopGradient(estimate); // loss = mean(l * w) does not train the estimator
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return stop(x) as T;
}
