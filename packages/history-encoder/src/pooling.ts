/**
 * Weighted sums of ragged rows of embeddings, with a hand-written gradient.
 *
 * `tf.sum`'s gradient broadcasts dy back with a multiply by ones, which tfjs-wasm runs on its
 * generic (non-SIMD) broadcasting loop; here both directions are plain loops over the backend's
 * storage: O(slots D), no broadcast.
 */
import { storageView, tf } from '@tt/core';

/**
 * `out[r] = sum_j weights[offsets[r] + j] * e[offsets[r] + j]` over the `lengths[r]` slots of row r,
 * `[n, D]` for `e [slots, D]` (row r's slots stored one after another); slots of weight 0 are skipped.
 */
export function weightedRowSum(e: tf.Tensor2D, weights: Float32Array, offsets: Int32Array, lengths: Int32Array): tf.Tensor2D {
  const [slots, D] = e.shape;
  const n = offsets.length;
  const op = tf.customGrad(((x: tf.Tensor2D) => {
    const xs = storageView(x) ?? (x.dataSync() as Float32Array);
    const out = new Float32Array(n * D);
    for (let r = 0; r < n; r++) {
      for (let s = offsets[r]!; s < offsets[r]! + lengths[r]!; s++) {
        const w = weights[s]!;
        if (w === 0) continue;
        for (let k = 0; k < D; k++) out[r * D + k]! += w * xs[s * D + k]!;
      }
    }
    return {
      value: tf.tensor2d(out, [n, D]),
      gradFunc: (dy: tf.Tensor) => {
        const g = storageView(dy) ?? (dy.dataSync() as Float32Array);
        const dx = new Float32Array(slots * D);
        for (let r = 0; r < n; r++) {
          for (let s = offsets[r]!; s < offsets[r]! + lengths[r]!; s++) {
            const w = weights[s]!;
            if (w === 0) continue;
            for (let k = 0; k < D; k++) dx[s * D + k] = w * g[r * D + k]!;
          }
        }
        return tf.tensor2d(dx, [slots, D]);
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (op as unknown as (x: tf.Tensor2D) => tf.Tensor2D)(e);
}
