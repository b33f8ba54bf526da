/**
 * Weighted sums over the positions of `[n, L, D]` embeddings, with a hand-written gradient.
 *
 * `tf.sum`'s gradient broadcasts dy back over L with a multiply by ones, which tfjs-wasm runs on
 * its generic (non-SIMD) broadcasting loop; here both directions are plain loops over the
 * backend's storage: O(n L D), no broadcast.
 */
import * as tf from '../runtime/tf.js';
import { storageView } from '../runtime/storage.js';

/**
 * `out[r] = sum_j weights[r * L + j] * e[r, j]`, `[n, D]`; positions of weight 0 are skipped
 * (masked mean pooling of histories: weights 1 / count on the valid positions).
 * @returns a new tensor; the caller disposes it (or calls inside `tf.tidy`)
 */
export function weightedPositionSum(e: tf.Tensor3D, weights: Float32Array): tf.Tensor2D {
  const [n, L, D] = e.shape;
  const op = tf.customGrad(((x: tf.Tensor3D) => {
    const xs = storageView(x) ?? (x.dataSync() as Float32Array);
    const out = new Float32Array(n * D);
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < L; j++) {
        const w = weights[r * L + j]!;
        if (w === 0) continue;
        const at = (r * L + j) * D;
        for (let k = 0; k < D; k++) out[r * D + k]! += w * xs[at + k]!;
      }
    }
    return {
      value: tf.tensor2d(out, [n, D]),
      gradFunc: (dy: tf.Tensor) => {
        const g = storageView(dy) ?? (dy.dataSync() as Float32Array);
        const dx = new Float32Array(n * L * D);
        for (let r = 0; r < n; r++) {
          for (let j = 0; j < L; j++) {
            const w = weights[r * L + j]!;
            if (w === 0) continue;
            const at = (r * L + j) * D;
            for (let k = 0; k < D; k++) dx[at + k] = w * g[r * D + k]!;
          }
        }
        return tf.tensor3d(dx, [n, L, D]);
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (op as unknown as (x: tf.Tensor3D) => tf.Tensor2D)(e);
}
