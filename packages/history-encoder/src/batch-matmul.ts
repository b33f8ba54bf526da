/**
 * Batched small matrix products `[N, M, K] x [N, K, P] -> [N, M, P]` (N = batch x heads) for
 * attention, fast on the wasm backend.
 *
 * wasm's `BatchMatMul` runs every batched product on a scalar loop (~2 GFLOP/s, RUNTIME.md 2.1).
 * A batched product is a depthwise convolution in disguise: with the batch as channels,
 * `a` as a `[M, K, 1, N]` image batch (the contraction over the filter's height) and `b` as a
 * `[K, 1, N, P]` filter (channel multiplier P), `depthwiseConv2d(a, b)` is `[M, 1, 1, N*P]`,
 * i.e. `out[m, n, p] = sum_k a[n, m, k] b[n, k, p]`. wasm runs depthwise convolutions through
 * XNNPACK, 2.5-3x faster than the loop. The gradients are batched products again
 * (`da = dy b^T`, `db = a^T dy`), run the same way inside a `tf.customGrad`, since wasm has no
 * depthwise backprop kernels.
 *
 * On other backends (`tensorflow`, `cpu`) this is plain `tf.matMul`.
 */
import { tf } from '@tt/core';

/**
 * `op(a) x op(b)` as one depthwise convolution (no gradient): `a` is `[N, M, K]` (or `[N, K, M]`
 * when `transA`), `b` is `[N, K, P]` (or `[N, P, K]` when `transB`).
 */
function viaDepthwise(a: tf.Tensor3D, b: tf.Tensor3D, transA: boolean, transB: boolean): tf.Tensor3D {
  return tf.tidy(() => {
    const N = a.shape[0];
    const [M, K] = transA ? [a.shape[2], a.shape[1]] : [a.shape[1], a.shape[2]];
    const P = transB ? b.shape[1] : b.shape[2];
    const x = tf.reshape(tf.transpose(a, transA ? [2, 1, 0] : [1, 2, 0]), [M, K, 1, N]) as tf.Tensor4D;
    const f = tf.reshape(tf.transpose(b, transB ? [2, 0, 1] : [1, 0, 2]), [K, 1, N, P]) as tf.Tensor4D;
    const y = tf.depthwiseConv2d(x, f, 1, 'valid');
    return tf.transpose(tf.reshape(y, [M, N, P]), [1, 0, 2]) as tf.Tensor3D;
  });
}

type Product = (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D;

/** `a b` with its gradient (`da = dy b^T`, `db = a^T dy`). */
const depthwiseProduct = tf.customGrad(((a: tf.Tensor3D, b: tf.Tensor3D, save: (ts: tf.Tensor[]) => void) => {
  save([a, b]);
  return {
    value: viaDepthwise(a, b, false, false),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
      viaDepthwise(dy as tf.Tensor3D, saved[1] as tf.Tensor3D, false, true),
      viaDepthwise(saved[0] as tf.Tensor3D, dy as tf.Tensor3D, true, false),
    ],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as Product;

/** `a b^T` with its gradient (`da = dy b`, `db = dy^T a`). */
const depthwiseProductT = tf.customGrad(((a: tf.Tensor3D, b: tf.Tensor3D, save: (ts: tf.Tensor[]) => void) => {
  save([a, b]);
  return {
    value: viaDepthwise(a, b, false, true),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
      viaDepthwise(dy as tf.Tensor3D, saved[1] as tf.Tensor3D, false, false),
      viaDepthwise(dy as tf.Tensor3D, saved[0] as tf.Tensor3D, true, false),
    ],
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as Product;

/** How batched products are computed: `auto` = depthwise on wasm, `tf.matMul` elsewhere. */
export type BatchMatMulMode = 'auto' | 'depthwise' | 'matmul';

/**
 * `a [N, M, K] x b [N, K, P] -> [N, M, P]` (`b` is `[N, P, K]` when `transposeB`), differentiable.
 * @param mode `auto` picks the depthwise formulation on the wasm backend only
 */
export function batchMatMul(a: tf.Tensor3D, b: tf.Tensor3D, transposeB = false, mode: BatchMatMulMode = 'auto'): tf.Tensor3D {
  const useDepthwise = mode === 'depthwise' || (mode === 'auto' && tf.getBackend() === 'wasm');
  if (!useDepthwise) return tf.matMul(a, b, false, transposeB) as tf.Tensor3D;
  return transposeB ? depthwiseProductT(a, b) : depthwiseProduct(a, b);
}
