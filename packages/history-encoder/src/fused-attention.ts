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
import { ConfigError, ShapeError, storageView, tf, WasmKernelModule } from '@tt/core';
import { ATTENTION_WASM_BASE64 } from './attention-wasm.js';

interface AttentionKernels {
  attention_forward(b0: number, b1: number, heads: number, Lq: number, L: number, dh: number, scale: number,
    q: number, qs: number, kv: number, kvs: number, vOff: number, bias: number, o: number, p: number, scratch: number): void;
  attention_backward(b0: number, b1: number, heads: number, Lq: number, L: number, dh: number, scale: number,
    q: number, qs: number, kv: number, kvs: number, vOff: number, p: number, dout: number, dq: number, dkv: number, scratch: number): void;
}

const kernels = new WasmKernelModule<AttentionKernels>(ATTENTION_WASM_BASE64);

/** Rows `[b0, b1)` of part `part` of `parts`. */
function rows(part: number, parts: number, n: number): [number, number] {
  return [Math.floor((part * n) / parts), Math.floor(((part + 1) * n) / parts)];
}

/** Copies `t` into the kernel module at `offset` (straight from the backend's storage where it can). */
function put(offset: number, t: tf.Tensor): void {
  kernels.view(offset, t.size).set(storageView(t) ?? (t.dataSync() as Float32Array));
}

/** A tensor of a kernel buffer: wasm copies the values into its heap, other backends keep the array, so they get a copy. */
function tensorOf(offset: number, shape: [number, number]): tf.Tensor2D {
  const values = kernels.view(offset, shape[0] * shape[1]);
  return tf.tensor2d(tf.getBackend() === 'wasm' ? values : values.slice(), shape);
}

/** Shapes of one attention call. */
export interface FusedAttentionShape {
  /** rows (users) */
  readonly n: number;
  /** attention heads: `q`, keys and values split into `heads` blocks of `dh = D / heads` */
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
  for (const [field, v] of [['n', n], ['heads', heads], ['queries', Lq], ['keys', L]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(field, `must be a positive integer, got ${v}`);
  }
  if (D % heads !== 0) throw new ConfigError('heads', `must divide q's width ${D}, got ${heads}`);
  if (q.shape[0] !== n * Lq) throw new ShapeError('q', `[${n * Lq}, D] (n x queries rows)`, `[${q.shape.join(', ')}]`);
  if (kv.shape[0] !== n * L || kv.shape[1] !== 2 * D) throw new ShapeError('kv', `[${n * L}, ${2 * D}] (n x keys rows, keys then values)`, `[${kv.shape.join(', ')}]`);
  if (keyBias.length !== n * L) throw new ShapeError('keyBias', `${n * L} values (n x keys)`, `${keyBias.length}`);
  if (q.dtype !== 'float32' || kv.dtype !== 'float32') throw new ShapeError('q, kv', 'float32', `${q.dtype}, ${kv.dtype}`);
  const dh = D / heads;
  const Lp = (L + 3) & ~3;
  const scale = 1 / Math.sqrt(dh);
  const op = tf.customGrad(((qT: tf.Tensor2D, kvT: tf.Tensor2D, save: (ts: tf.Tensor[]) => void) => {
    const parts = Math.min(kernels.threads, n);
    const scratch = (dh + 1) * Lp;
    const [qo, kvo, bo, oo, po, so] = kernels.layout([n * Lq * D, n * L * 2 * D, n * L, n * Lq * D, n * heads * Lq * Lp, parts * scratch]);
    put(qo, qT);
    put(kvo, kvT);
    kernels.view(bo, n * L).set(keyBias);
    kernels.parallel('attention_forward', parts, (part) => [...rows(part, parts, n), heads, Lq, L, dh, scale, qo, D, kvo, 2 * D, D, bo, oo, po, so + part * scratch * 4]);
    // the probabilities stay in plain memory for the backward pass: a saved tensor would be cloned
    const probabilities = kernels.view(po, n * heads * Lq * Lp).slice();
    save([qT, kvT]);
    return {
      value: tensorOf(oo, [n * Lq, D]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, skv] = saved as [tf.Tensor2D, tf.Tensor2D];
        const scratchB = (dh + Lq + 1) * Lp;
        const [qb, kvb, pb, gb, dqb, dkvb, sb] = kernels.layout([n * Lq * D, n * L * 2 * D, n * heads * Lq * Lp, n * Lq * D, n * Lq * D, n * L * 2 * D, parts * scratchB]);
        put(qb, sq);
        put(kvb, skv);
        kernels.view(pb, probabilities.length).set(probabilities);
        put(gb, dy);
        kernels.parallel('attention_backward', parts, (part) => [...rows(part, parts, n), heads, Lq, L, dh, scale, qb, D, kvb, 2 * D, D, pb, gb, dqb, dkvb, sb + part * scratchB * 4]);
        return [tensorOf(dqb, [n * Lq, D]), tensorOf(dkvb, [n * L, 2 * D])];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (op as unknown as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D)(q, kv);
}
