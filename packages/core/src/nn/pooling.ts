/**
 * Weighted sums over the positions of `[n, L, D]` embeddings, with a hand-written gradient.
 *
 * `tf.sum`'s gradient broadcasts dy back over L with a multiply by ones, which tfjs-wasm runs on
 * its generic (non-SIMD) broadcasting loop; here both directions are plain loops over the
 * backend's storage: O(n L D), no broadcast.
 */
import * as tf from '../runtime/tf.js';
import { storageView } from '../runtime/storage.js';

const view = (t: tf.Tensor): Float32Array => storageView(t) ?? (t.dataSync() as Float32Array);

/**
 * `out[r] = sum_j weights[r, j] * e[r, j]`, `[n, D]`. Fixed `weights` (a `[n * L]` array, e.g.
 * 1 / count on a history's valid positions: masked mean pooling) skip the positions of weight 0;
 * `weights` as a `[n, L]` tensor (e.g. a learned softmax over positions) also get their gradient,
 * `d weights[r, j] = dy[r] . e[r, j]`.
 * @returns a new tensor; the caller disposes it (or calls inside `tf.tidy`)
 */
export function weightedPositionSum(e: tf.Tensor3D, weights: Float32Array | tf.Tensor2D): tf.Tensor2D {
  const [n, L, D] = e.shape;
  const forward = (xs: Float32Array, w: Float32Array): tf.Tensor2D => {
    const out = new Float32Array(n * D);
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < L; j++) {
        const wj = w[r * L + j]!;
        if (wj === 0) continue;
        const at = (r * L + j) * D;
        for (let k = 0; k < D; k++) out[r * D + k]! += wj * xs[at + k]!;
      }
    }
    return tf.tensor2d(out, [n, D]);
  };
  const gradE = (g: Float32Array, w: Float32Array): tf.Tensor3D => {
    const dx = new Float32Array(n * L * D);
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < L; j++) {
        const wj = w[r * L + j]!;
        if (wj === 0) continue;
        const at = (r * L + j) * D;
        for (let k = 0; k < D; k++) dx[at + k] = wj * g[r * D + k]!;
      }
    }
    return tf.tensor3d(dx, [n, L, D]);
  };
  if (weights instanceof Float32Array) {
    const op = tf.customGrad(((x: tf.Tensor3D) => ({
      value: forward(view(x), weights),
      gradFunc: (dy: tf.Tensor) => gradE(view(dy), weights),
    })) as unknown as Parameters<typeof tf.customGrad>[0]);
    return (op as unknown as (x: tf.Tensor3D) => tf.Tensor2D)(e);
  }
  const op = tf.customGrad(((x: tf.Tensor3D, w: tf.Tensor2D, save: (ts: tf.Tensor[]) => void) => {
    save([x, w]);
    return {
      value: forward(view(x), view(w)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const g = view(dy);
        const xs = view(saved[0]!);
        const ws = view(saved[1]!);
        const dw = new Float32Array(n * L);
        for (let r = 0; r < n; r++) {
          for (let j = 0; j < L; j++) {
            const at = (r * L + j) * D;
            let s = 0;
            for (let k = 0; k < D; k++) s += g[r * D + k]! * xs[at + k]!;
            dw[r * L + j] = s;
          }
        }
        return [gradE(g, ws), tf.tensor2d(dw, [n, L])];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (op as unknown as (x: tf.Tensor3D, w: tf.Tensor2D) => tf.Tensor2D)(e, weights);
}
