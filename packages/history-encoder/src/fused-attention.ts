/**
 * Multi-head attention as one fused WebAssembly SIMD kernel per direction (kernels/attention.c),
 * for the backends where tfjs's own batched products are slow (wasm, cpu).
 *
 * tfjs-wasm runs a batched product `[batch*heads, L, dh] x [..., dh, L]` on a scalar loop, and the
 * layout changes around it (heads out of the projection, softmax axis, back) are slow transposes.
 * The kernel reads the projections in place (`[n, L, heads, dh]`, keys and values side by side in
 * one `[n*L, 2D]` projection), and per (user, head) block does scores, masked softmax and the
 * value product in cache; the backward pass does its four products from the saved probabilities.
 * Forward and backward are wrapped in a `tf.customGrad`, so the rest of the model differentiates
 * through it as usual.
 */
import { storageView, tf, WasmKernelModule } from '@tt/core';
import { ATTENTION_WASM_BASE64 } from './attention-wasm.js';

interface AttentionKernels {
  attention_forward(n: number, heads: number, Lq: number, L: number, dh: number, scale: number,
    q: number, qs: number, kv: number, kvs: number, vOff: number, bias: number, o: number, p: number, scratch: number): void;
  attention_backward(n: number, heads: number, Lq: number, L: number, dh: number, scale: number,
    q: number, qs: number, kv: number, kvs: number, vOff: number, p: number, dout: number, dq: number, dkv: number, scratch: number): void;
}

const kernels = new WasmKernelModule<AttentionKernels>(ATTENTION_WASM_BASE64);

/** Copies `t` into the kernel module at `offset` (straight from the backend's storage where it can). */
function put(offset: number, t: tf.Tensor): void {
  kernels.view(offset, t.size).set(storageView(t) ?? (t.dataSync() as Float32Array));
}

function take(offset: number, size: number): Float32Array {
  return kernels.view(offset, size).slice();
}

/** Shapes of one attention call. */
export interface FusedAttentionShape {
  /** rows (users) */
  readonly n: number;
  readonly heads: number;
  /** queries per row (the keys' length, or 1 where only the first position is read) */
  readonly queries: number;
  /** keys per row */
  readonly keys: number;
  /** key padding: `[n * keys]`, added to every score of that key (0, or a large negative) */
  readonly keyBias: Float32Array;
}

/**
 * `softmax(q k^T / sqrt(dh) + keyBias) v` per head.
 * @param q `[n * queries, D]`, each row `heads` blocks of `dh = D / heads`
 * @param kv `[n * keys, 2D]`: keys in columns `[0, D)`, values in `[D, 2D)`
 * @returns `[n * queries, D]`, heads side by side as in `q`
 */
export function fusedAttention(q: tf.Tensor2D, kv: tf.Tensor2D, shape: FusedAttentionShape): tf.Tensor2D {
  const { n, heads, queries: Lq, keys: L, keyBias } = shape;
  const D = q.shape[1];
  const dh = D / heads;
  const Lp = (L + 3) & ~3;
  const scale = 1 / Math.sqrt(dh);
  const op = tf.customGrad(((qT: tf.Tensor2D, kvT: tf.Tensor2D, save: (ts: tf.Tensor[]) => void) => {
    const [qo, kvo, bo, oo, po, so] = kernels.layout([n * Lq * D, n * L * 2 * D, n * L, n * Lq * D, n * heads * Lq * Lp, (dh + 1) * Lp]);
    put(qo, qT);
    put(kvo, kvT);
    kernels.view(bo, n * L).set(keyBias);
    kernels.exports.attention_forward(n, heads, Lq, L, dh, scale, qo, D, kvo, 2 * D, D, bo, oo, po, so);
    const p = tf.tensor1d(take(po, n * heads * Lq * Lp));
    save([qT, kvT, p]);
    return {
      value: tf.tensor2d(take(oo, n * Lq * D), [n * Lq, D]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, skv, sp] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
        const [qb, kvb, pb, gb, dqb, dkvb, sb] = kernels.layout([n * Lq * D, n * L * 2 * D, n * heads * Lq * Lp, n * Lq * D, n * Lq * D, n * L * 2 * D, (dh + Lq + 1) * Lp]);
        put(qb, sq);
        put(kvb, skv);
        put(pb, sp);
        put(gb, dy);
        kernels.exports.attention_backward(n, heads, Lq, L, dh, scale, qb, D, kvb, 2 * D, D, pb, gb, dqb, dkvb, sb);
        return [tf.tensor2d(take(dqb, n * Lq * D), [n * Lq, D]), tf.tensor2d(take(dkvb, n * L * 2 * D), [n * L, 2 * D])];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (op as unknown as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D)(q, kv);
}
