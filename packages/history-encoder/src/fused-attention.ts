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
  attention_forward(b0: number, b1: number, heads: number, q1: number, Lmax: number, dh: number, scale: number,
    q: number, qs: number, kv: number, kvs: number, vOff: number, bias: number, o: number, p: number, scratch: number, lens: number, offs: number): void;
  attention_backward(b0: number, b1: number, heads: number, q1: number, Lmax: number, dh: number, scale: number,
    q: number, qs: number, kv: number, kvs: number, vOff: number, p: number, dout: number, dq: number, dkv: number, scratch: number, lens: number, offs: number): void;
}

const kernels = new WasmKernelModule<AttentionKernels>(ATTENTION_WASM_BASE64);

/**
 * Row ranges of `parts` parts with about equal work (a row's work grows with its keys squared
 * for full queries, linearly for one); the split changes no result, only who computes it.
 */
function splitByWork(lengths: Int32Array, parts: number, oneQuery: boolean): (part: number) => [number, number] {
  const n = lengths.length;
  const cum = new Float64Array(n + 1);
  for (let r = 0; r < n; r++) cum[r + 1] = cum[r]! + (oneQuery ? lengths[r]! : lengths[r]! * lengths[r]!) + 1;
  const bounds = [0];
  for (let p = 1; p < parts; p++) {
    const target = (cum[n]! * p) / parts;
    let r = bounds[p - 1]!;
    while (r < n && cum[r + 1]! <= target) r++;
    bounds.push(r);
  }
  bounds.push(n);
  return (part) => [bounds[part]!, bounds[part + 1]!];
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
  /** queries per row: `keys` (every position), or 1 (only the first position is read; with `keys` 1 this is what 1 means) */
  readonly queries: number;
  /** keys per row (the longest row's, with `lengths`) */
  readonly keys: number;
  /** added to every score of a key (0, or a large negative for padding); one value per row of `kv` */
  readonly keyBias: Float32Array;
  /**
   * ragged rows: row r has `lengths[r]` keys (0 to `keys`), stored one after another in `kv`
   * (and, with `queries` = keys, in `q`), so padding after a row's keys is neither stored nor
   * computed; with one query, `q` has a row per row and rows without keys give zeros.
   * Default: every row has `keys` keys.
   */
  readonly lengths?: Int32Array;
}

/**
 * `softmax(q k^T / sqrt(dh) + keyBias) v` per head.
 * @param q `[n * queries, D]` (ragged: `[sum(lengths), D]`, or `[n, D]` with one query), each row `heads` blocks of `dh = D / heads`
 * @param kv `[n * keys, 2D]` (ragged: `[sum(lengths), 2D]`): keys in columns `[0, D)`, values in `[D, 2D)`
 * @returns q's shape, heads side by side as in `q`
 * @throws ConfigError for a bad count; ShapeError when q, kv, keyBias or lengths do not fit
 */
export function fusedAttention(q: tf.Tensor2D, kv: tf.Tensor2D, shape: FusedAttentionShape): tf.Tensor2D {
  const { n, heads, queries, keys: L, keyBias } = shape;
  const D = q.shape[1];
  for (const [field, v] of [['n', n], ['heads', heads], ['queries', queries], ['keys', L]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(field, `must be a positive integer, got ${v}`);
  }
  if (queries !== 1 && queries !== L) throw new ConfigError('queries', `must be 1 or keys (${L}), got ${queries}`);
  if (D % heads !== 0) throw new ConfigError('heads', `must divide q's width ${D}, got ${heads}`);
  const lengths = shape.lengths ?? new Int32Array(n).fill(L);
  if (lengths.length !== n) throw new ShapeError('lengths', `${n} values (one per row)`, `${lengths.length}`);
  const offsets = new Int32Array(n);
  let rows = 0;
  for (let r = 0; r < n; r++) {
    const len = lengths[r]!;
    if (!Number.isInteger(len) || len < 0 || len > L) throw new ShapeError(`lengths[${r}]`, `an integer in [0, ${L}]`, `${len}`);
    offsets[r] = rows;
    rows += len;
  }
  const oneQuery = queries === 1;
  const qRows = oneQuery ? n : rows;
  if (q.shape[0] !== qRows) throw new ShapeError('q', `[${qRows}, D] (${oneQuery ? 'one row per row' : 'a row per key'})`, `[${q.shape.join(', ')}]`);
  if (kv.shape[0] !== rows || kv.shape[1] !== 2 * D) throw new ShapeError('kv', `[${rows}, ${2 * D}] (a row per key, keys then values)`, `[${kv.shape.join(', ')}]`);
  if (keyBias.length !== rows) throw new ShapeError('keyBias', `${rows} values (one per key)`, `${keyBias.length}`);
  if (q.dtype !== 'float32' || kv.dtype !== 'float32') throw new ShapeError('q, kv', 'float32', `${q.dtype}, ${kv.dtype}`);
  const dh = D / heads;
  const Lp = (L + 3) & ~3;
  const LqMax = oneQuery ? 1 : L;
  const scale = 1 / Math.sqrt(dh);
  const q1 = oneQuery ? 1 : 0;
  const op = tf.customGrad(((qT: tf.Tensor2D, kvT: tf.Tensor2D, save: (ts: tf.Tensor[]) => void) => {
    const parts = Math.min(kernels.threads, n);
    const split = splitByWork(lengths, parts, oneQuery);
    const scratch = (dh + 1) * Lp;
    const pSize = n * heads * LqMax * Lp;
    const [qo, kvo, bo, oo, po, so, lo, fo] = kernels.layout([qRows * D, rows * 2 * D, rows, qRows * D, pSize, parts * scratch, n, n]);
    put(qo, qT);
    put(kvo, kvT);
    kernels.view(bo, rows).set(keyBias);
    kernels.int32View(lo, n).set(lengths);
    kernels.int32View(fo, n).set(offsets);
    kernels.parallel('attention_forward', parts, (part) => [...split(part), heads, q1, L, dh, scale, qo, D, kvo, 2 * D, D, bo, oo, po, so + part * scratch * 4, lo, fo]);
    // the probabilities stay in plain memory for the backward pass: a saved tensor would be cloned
    const probabilities = kernels.view(po, pSize).slice();
    save([qT, kvT]);
    return {
      value: tensorOf(oo, [qRows, D]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, skv] = saved as [tf.Tensor2D, tf.Tensor2D];
        const scratchB = (dh + LqMax + 1) * Lp;
        const [qb, kvb, pb, gb, dqb, dkvb, sb, lb, fb] = kernels.layout([qRows * D, rows * 2 * D, pSize, qRows * D, qRows * D, rows * 2 * D, parts * scratchB, n, n]);
        put(qb, sq);
        put(kvb, skv);
        kernels.view(pb, pSize).set(probabilities);
        put(gb, dy);
        kernels.int32View(lb, n).set(lengths);
        kernels.int32View(fb, n).set(offsets);
        kernels.parallel('attention_backward', parts, (part) => [...split(part), heads, q1, L, dh, scale, qb, D, kvb, 2 * D, D, pb, gb, dqb, dkvb, sb + part * scratchB * 4, lb, fb]);
        return [tensorOf(dqb, [qRows, D]), tensorOf(dkvb, [rows, 2 * D])];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (op as unknown as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D)(q, kv);
}
