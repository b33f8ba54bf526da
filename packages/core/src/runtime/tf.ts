/**
 * The tfjs API every module of this package uses. tfjs-core's CommonJS bundle registers no
 * gradients (they ship only as ES modules), while `@tensorflow/tfjs` registers them all on the
 * same engine; loading it once here makes `tf.grad` and optimizers work on every backend.
 */
import '@tensorflow/tfjs';

export * from '@tensorflow/tfjs-core';
