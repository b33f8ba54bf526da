/**
 * The user-history encoder of MODEL.md section 2, as a `@tt/core` user-input stage.
 *
 * history ids `[n, H]` (newest first, -1 padded) -> shared item table -> `E [n, H, D]`
 * - `m`: mean of E over the valid positions (zeros for a user without history)
 * - `x = E + P`, P sinusoidal with its rows reversed (index 0, the newest item, gets the
 *   encoding of position H - 1); then `layers` multi-head self-attention layers with padded keys
 *   masked (-1e9), either the sketch's plain stack (`x = MHA(x)`) or pre-norm residual blocks
 *   with a feed-forward (SASRec-style: `x += MHA(LN(x)); x += FFN(LN(x))`, final LN)
 * - output `[x[:, 0], m]`, `[n, 2D]`; a row without history gives zeros
 *
 * Cost: each row's slots after its last item are padding; they are neither stored nor computed
 * (rows are ragged: every projection, the attention and the pooling run over the kept slots only,
 * exact, since padded keys are masked and their queries unused); the last layer computes only the
 * query at each row's first slot, the one the output reads; the plain stack's first layer projects
 * each distinct item once and gathers; attention runs as one fused kernel (fused-attention.ts)
 * except on tfjs-node, where tfjs ops run on the rows padded back to the longest.
 */
import { ConfigError, denseLayer, StageOptions, tf, type Rng, type Stage, type StageContext, type StageDefinition, type UserInput, type UserInputEncoder } from '@tt/core';
import { fusedAttention } from './fused-attention.js';
import { weightedRowSum } from './pooling.js';

/** Options of the `history` stage. */
export interface HistoryEncoderOptions {
  /** H: history items read per user, newest first (default 20) */
  readonly maxLength?: number;
  /** attention heads; must divide the model dim (default 4) */
  readonly heads?: number;
  /** attention layers (default 1; the sketch's setting is 3) */
  readonly layers?: number;
  /** dropout rate on the attention and feed-forward outputs while training (default 0) */
  readonly dropout?: number;
  /** `plain` (default): the sketch's stack of attention layers; `prenorm`: SASRec-style residual blocks */
  readonly block?: 'plain' | 'prenorm';
  /**
   * how attention is computed: `fused`, our WebAssembly SIMD kernel (fast on wasm and cpu);
   * `matmul`, tfjs ops (batched `tf.matMul`, softmax); `auto` (default): `matmul` on tfjs-node, else `fused`
   */
  readonly attention?: 'auto' | 'fused' | 'matmul';
}

/** The defaults of every {@link HistoryEncoderOptions} field. */
export const HISTORY_DEFAULTS = {
  /** history items read per user */
  maxLength: 20,
  /** attention heads */
  heads: 4,
  /** attention layers */
  layers: 1,
  /** no dropout */
  dropout: 0,
  /** the sketch's plain attention stack */
  block: 'plain',
  /** `matmul` on tfjs-node, else `fused` */
  attention: 'auto',
} as const satisfies Required<HistoryEncoderOptions>;

const MASK = -1e9; // finite: -Infinity turns a fully masked row into NaN

function glorot(rng: Rng, fanIn: number, fanOut: number): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const out = new Float32Array(fanIn * fanOut);
  for (let i = 0; i < out.length; i++) out[i] = (2 * rng.uniform() - 1) * limit;
  return out;
}

/**
 * The sinusoidal table of the sketch, `[H, D]`: column j has angle `pos / 10000^(2j/D)`, even
 * columns sin, odd cos; rows reversed, so row i holds the encoding of position `H - 1 - i`.
 */
export function positionalTable(H: number, D: number): Float32Array {
  const out = new Float32Array(H * D);
  for (let i = 0; i < H; i++) {
    const pos = H - 1 - i;
    for (let j = 0; j < D; j++) {
      const angle = pos / Math.pow(10000, (2 * j) / D);
      out[i * D + j] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return out;
}

class Linear {
  readonly w: tf.Variable;
  readonly b: tf.Variable;
  constructor(ctx: StageContext, name: string, inDim: number, outDim: number, readonly activation: 'linear' | 'relu' = 'linear') {
    this.w = ctx.params.addDense(`${name}.w`, [inDim, outDim], glorot(ctx.rng, inDim, outDim));
    this.b = ctx.params.addDense(`${name}.b`, [outDim], new Float32Array(outDim));
  }
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return denseLayer(x, this.w as tf.Tensor2D, this.b as tf.Tensor1D, this.activation);
  }
}

class LayerNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  constructor(ctx: StageContext, name: string, dim: number) {
    this.gamma = ctx.params.addDense(`${name}.gamma`, [dim], new Float32Array(dim).fill(1));
    this.beta = ctx.params.addDense(`${name}.beta`, [dim], new Float32Array(dim));
  }
  apply(x: tf.Tensor2D): tf.Tensor2D {
    const { mean, variance } = tf.moments(x, 1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-6))), this.gamma), this.beta) as tf.Tensor2D;
  }
}

interface Layer {
  readonly q: Linear;
  readonly kv: Linear;
  readonly out: Linear;
  readonly norm1?: LayerNorm;
  readonly norm2?: LayerNorm;
  readonly ff1?: Linear;
  readonly ff2?: Linear;
}

/**
 * The `history` stage's options with defaults filled in, checked against the model dim.
 * @throws ConfigError for an unknown key or a bad value (e.g. `heads` not dividing `dim`)
 */
export function resolveHistoryOptions(options: Readonly<Record<string, unknown>>, dim: number): Required<HistoryEncoderOptions> {
  const o = new StageOptions('history', options, Object.keys(HISTORY_DEFAULTS));
  const maxLength = o.number('maxLength', HISTORY_DEFAULTS.maxLength, { integer: true, min: 1 });
  const heads = o.number('heads', HISTORY_DEFAULTS.heads, { integer: true, min: 1 });
  const layers = o.number('layers', HISTORY_DEFAULTS.layers, { integer: true, min: 0 });
  if (dim % heads !== 0) throw new ConfigError(o.field('heads'), `must divide the model dim ${dim}, got ${heads}`);
  const dropout = o.number('dropout', HISTORY_DEFAULTS.dropout, { min: 0 });
  if (dropout >= 1) throw new ConfigError(o.field('dropout'), `must be in [0, 1), got ${dropout}`);
  const block = o.oneOf('block', ['plain', 'prenorm'] as const, HISTORY_DEFAULTS.block);
  const attention = o.oneOf('attention', ['auto', 'fused', 'matmul'] as const, HISTORY_DEFAULTS.attention);
  return { maxLength, heads, layers, dropout, block, attention };
}

/** The encoder itself (what the stage's `userInput` is). */
export class HistoryEncoder implements UserInputEncoder {
  readonly dim: number;
  readonly historyLength: number;
  private readonly D: number;
  private readonly layers: Layer[] = [];
  private readonly finalNorm?: LayerNorm;
  private readonly positions: Float32Array;

  constructor(
    /** the resolved options (see {@link resolveHistoryOptions}) */
    readonly options: Required<HistoryEncoderOptions>,
    private readonly ctx: StageContext,
  ) {
    const D = ctx.itemEmbedding.dim;
    this.D = D;
    this.dim = 2 * D;
    this.historyLength = options.maxLength;
    this.positions = positionalTable(options.maxLength, D);
    const prenorm = options.block === 'prenorm';
    for (let l = 0; l < options.layers; l++) {
      const p = `stages.history.layers.${l}`;
      this.layers.push({
        q: new Linear(ctx, `${p}.attention.q`, D, D),
        kv: new Linear(ctx, `${p}.attention.kv`, D, 2 * D),
        out: new Linear(ctx, `${p}.attention.out`, D, D),
        ...(prenorm ? {
          norm1: new LayerNorm(ctx, `${p}.norm1`, D),
          norm2: new LayerNorm(ctx, `${p}.norm2`, D),
          ff1: new Linear(ctx, `${p}.ff.0`, D, D, 'relu'),
          ff2: new Linear(ctx, `${p}.ff.1`, D, D),
        } : {}),
      });
    }
    if (prenorm && options.layers > 0) this.finalNorm = new LayerNorm(ctx, 'stages.history.norm', D);
  }

  encode(input: UserInput, training: boolean): tf.Tensor2D {
    const n = input.size;
    const H = this.historyLength;
    const D = this.D;
    const history = input.history;
    // the batch may carry longer histories (another encoder reads more): this one reads the newest H
    const stride = input.historyLength;
    if (!history || stride < H) {
      throw new ConfigError('history', `the history stage needs ${H} history items per user (newest first, -1 padded), got ${history ? stride : 'none'}`);
    }
    const slots = raggedSlots(history, n, H, stride);
    if (slots.count === 0) return tf.zeros([n, 2 * D]);
    const { lengths, offsets, ids, position, valid, L } = slots;
    const e = this.ctx.itemEmbedding.lookup(ids, [slots.count]) as tf.Tensor2D;
    const weights = new Float32Array(slots.count);
    const has = new Float32Array(n);
    for (let r = 0; r < n; r++) {
      let c = 0;
      for (let s = offsets[r]!; s < offsets[r]! + lengths[r]!; s++) c += valid[s]!;
      for (let s = offsets[r]!; s < offsets[r]! + lengths[r]!; s++) weights[s] = c > 0 ? valid[s]! / c : 0;
      has[r] = c > 0 ? 1 : 0;
    }
    const mean = weightedRowSum(e, weights, offsets, lengths);
    const positions = tf.tensor2d(this.positions.subarray(0, L * D), [L, D]);
    const positionIndex = tf.tensor1d(position, 'int32');
    const prenorm = this.options.block === 'prenorm';
    // each row's first slot (its newest item); a row without slots reads slot 0, zeroed by `has`
    const firstSlot = tf.tensor1d(Int32Array.from(offsets, (o, r) => (lengths[r]! > 0 ? o : 0)), 'int32');
    const firstRow = (t: tf.Tensor2D) => tf.gather(t, firstSlot) as tf.Tensor2D;
    // the plain stack's first layer projects E[id] + P[position]: per distinct item, then gathered
    const byItem = !prenorm && this.layers.length > 0 ? this.distinctItems(ids, slots.count) : undefined;
    let x = byItem ? undefined : (tf.add(tf.mul(e, tf.tensor2d(valid, [slots.count, 1])), tf.gather(positions, positionIndex)) as tf.Tensor2D);
    let first: tf.Tensor2D | undefined;
    for (let l = 0; l < this.layers.length; l++) {
      const layer = this.layers[l]!;
      const last = l === this.layers.length - 1;
      let q: tf.Tensor2D;
      let kv: tf.Tensor2D;
      if (x === undefined) {
        // the last layer only needs the query at each row's first slot
        q = last ? layer.q.apply(this.newestInput(ids, valid, offsets, lengths, positions)) : this.projectByItem(layer.q, byItem!, positions, positionIndex);
        kv = this.projectByItem(layer.kv, byItem!, positions, positionIndex);
      } else {
        const h = prenorm ? layer.norm1!.apply(x) : x;
        q = layer.q.apply(last ? firstRow(h) : h);
        kv = layer.kv.apply(h);
      }
      let a = layer.out.apply(this.attention(q, kv, slots, last));
      if (training && this.options.dropout > 0) a = tf.dropout(a, this.options.dropout) as tf.Tensor2D;
      let y: tf.Tensor2D;
      if (prenorm) {
        y = tf.add(last ? firstRow(x!) : x!, a) as tf.Tensor2D;
        let f = layer.ff2!.apply(layer.ff1!.apply(layer.norm2!.apply(y)));
        if (training && this.options.dropout > 0) f = tf.dropout(f, this.options.dropout) as tf.Tensor2D;
        y = tf.add(y, f) as tf.Tensor2D;
      } else y = a;
      if (last) first = y;
      else x = y;
    }
    if (!first) first = firstRow(x!); // no layers
    let out = this.finalNorm ? this.finalNorm.apply(first) : first;
    out = tf.mul(out, tf.tensor2d(has, [n, 1])) as tf.Tensor2D; // no history: zeros
    return tf.concat([out, mean], 1);
  }

  /**
   * The history's distinct items and each slot's index among them (padding: one past the last),
   * when there are few enough for projecting per item to pay (at most 3/4 of the slots).
   */
  private distinctItems(ids: Int32Array, slots: number): { readonly items: Int32Array; readonly slot: Int32Array } | undefined {
    const index = new Map<number, number>();
    const slot = new Int32Array(slots);
    for (let r = 0; r < slots; r++) {
      const id = ids[r]!;
      if (id < 0) continue;
      let k = index.get(id);
      if (k === undefined) index.set(id, (k = index.size));
      slot[r] = k;
    }
    if (index.size > 0.75 * slots) return undefined;
    for (let r = 0; r < slots; r++) if (ids[r]! < 0) slot[r] = index.size;
    return { items: Int32Array.from(index.keys()), slot };
  }

  /**
   * The first layer's input at each row's first slot, `E[newest] + P[0]` (zero embedding at a
   * hole, and for a row without history), `[n, D]`: a lookup of its own, so its gradient does not
   * pad back to every slot.
   */
  private newestInput(ids: Int32Array, valid: Float32Array, offsets: Int32Array, lengths: Int32Array, positions: tf.Tensor2D): tf.Tensor2D {
    const n = offsets.length;
    const newest = Int32Array.from({ length: n }, (_, r) => (lengths[r]! > 0 ? ids[offsets[r]!]! : -1));
    const e0 = this.ctx.itemEmbedding.lookup(newest, [n]);
    const keep = Float32Array.from({ length: n }, (_, r) => (lengths[r]! > 0 ? valid[offsets[r]!]! : 0));
    return tf.add(tf.mul(e0, tf.tensor2d(keep, [n, 1])), tf.slice(positions, [0, 0], [1, this.D])) as tf.Tensor2D;
  }

  /**
   * `linear(E[id] + P[position])` for every slot (zero embedding at a hole) as
   * `gather(E_distinct W) + gather(P W + b)`: the product runs over the distinct items, not every slot.
   */
  private projectByItem(linear: Linear, byItem: { readonly items: Int32Array; readonly slot: Int32Array }, positions: tf.Tensor2D, positionIndex: tf.Tensor1D): tf.Tensor2D {
    const width = linear.w.shape[1]!;
    const rows = byItem.items.length + 1; // the last row, for holes, is zeroed
    const distinct = this.ctx.itemEmbedding.lookup([...byItem.items, -1], [rows]) as tf.Tensor2D;
    const keep = tf.tensor2d(Float32Array.from({ length: rows }, (_, r) => (r < rows - 1 ? 1 : 0)), [rows, 1]);
    const table = denseLayer(tf.mul(distinct, keep) as tf.Tensor2D, linear.w as tf.Tensor2D, tf.zeros([width]) as tf.Tensor1D, 'linear');
    const perSlot = tf.gather(table, tf.tensor1d(byItem.slot, 'int32'));
    return tf.add(perSlot, tf.gather(linear.apply(positions), positionIndex)) as tf.Tensor2D;
  }

  /**
   * Multi-head attention over ragged rows: queries `q` (a row per slot, or per row in the last
   * layer) over keys and values `kv [slots, 2D]`; returns q's shape (before the output projection).
   * The fused kernel reads the ragged rows as they are; tfjs ops get them padded to `[n, L]`.
   */
  private attention(q: tf.Tensor2D, kv: tf.Tensor2D, slots: RaggedSlots, last: boolean): tf.Tensor2D {
    const { n, L, lengths, keyBias } = slots;
    const fused = this.options.attention === 'fused' || (this.options.attention === 'auto' && tf.getBackend() !== 'tensorflow');
    const heads = this.options.heads;
    // keys at least 2, so that `queries` tells a query per key from one per row also when L is 1
    const keys = Math.max(L, 2);
    if (fused) return fusedAttention(q, kv, { n, heads, queries: last ? 1 : keys, keys, keyBias, lengths });
    const D = this.D;
    const dh = D / heads;
    const Lq = last ? 1 : L;
    // padded layout: slot (r, j) -> its ragged row, or the zero row appended at the end
    const { padIndex, padBias } = slots.padded();
    const pad = (t: tf.Tensor2D) => tf.gather(tf.concat([t, tf.zeros([1, t.shape[1]])], 0), padIndex) as tf.Tensor2D;
    const qPadded = last ? q : pad(q);
    const toHeads = (t: tf.Tensor2D, len: number) => tf.reshape(tf.transpose(tf.reshape(t, [n, len, heads, dh]), [0, 2, 1, 3]), [n * heads, len, dh]) as tf.Tensor3D;
    const [k, v] = tf.split(pad(kv), 2, 1) as [tf.Tensor2D, tf.Tensor2D];
    const scores = tf.matMul(toHeads(tf.mul(qPadded, 1 / Math.sqrt(dh)) as tf.Tensor2D, Lq), toHeads(k, L), false, true);
    const p = tf.softmax(tf.add(tf.reshape(scores, [n, heads, Lq, L]), tf.tensor4d(padBias, [n, 1, 1, L]))) as tf.Tensor4D;
    const o = tf.matMul(tf.reshape(p, [n * heads, Lq, L]) as tf.Tensor3D, toHeads(v, L));
    const out = tf.reshape(tf.transpose(tf.reshape(o, [n, heads, Lq, dh]), [0, 2, 1, 3]), [n * Lq, D]) as tf.Tensor2D;
    return last ? out : (tf.gather(out, tf.tensor1d(slots.slotIndex, 'int32')) as tf.Tensor2D);
  }
}

/** A batch's histories as ragged rows: each row's slots up to its last item, stored one after another. */
interface RaggedSlots {
  /** rows */
  readonly n: number;
  /** slots kept in all */
  readonly count: number;
  /** the longest row's slots (later positions are padding everywhere) */
  readonly L: number;
  /** `[n]` slots of each row: up to and including its last item (0 without history) */
  readonly lengths: Int32Array;
  /** `[n]` each row's first slot */
  readonly offsets: Int32Array;
  /** `[count]` item id per slot (-1 at a hole) */
  readonly ids: Int32Array;
  /** `[count]` the slot's position in its row (0 = newest) */
  readonly position: Int32Array;
  /** `[count]` 1 for an item, 0 for a hole */
  readonly valid: Float32Array;
  /** `[count]` 0 for an item, -1e9 for a hole (masked as a key) */
  readonly keyBias: Float32Array;
  /** `[count]` each slot's index in the padded `[n, L]` layout */
  readonly slotIndex: Int32Array;
  /** The padded `[n, L]` layout: per padded slot its ragged row (`count` = a zero row), and the key bias. */
  padded(): { padIndex: Int32Array; padBias: Float32Array };
}

/** The ragged slots of histories `[n * H]` (newest first, -1 padded). */
function raggedSlots(history: Int32Array, n: number, H: number, stride: number): RaggedSlots {
  const lengths = new Int32Array(n);
  const offsets = new Int32Array(n);
  let count = 0;
  let L = 0;
  for (let r = 0; r < n; r++) {
    let len = 0;
    for (let j = H - 1; j >= 0; j--) {
      if (history[r * stride + j]! >= 0) {
        len = j + 1;
        break;
      }
    }
    lengths[r] = len;
    offsets[r] = count;
    count += len;
    if (len > L) L = len;
  }
  const ids = new Int32Array(count);
  const position = new Int32Array(count);
  const valid = new Float32Array(count);
  const keyBias = new Float32Array(count);
  const slotIndex = new Int32Array(count);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < lengths[r]!; j++) {
      const s = offsets[r]! + j;
      const id = history[r * stride + j]!;
      ids[s] = id;
      position[s] = j;
      slotIndex[s] = r * L + j;
      if (id >= 0) valid[s] = 1;
      else keyBias[s] = MASK;
    }
  }
  return {
    n, count, L, lengths, offsets, ids, position, valid, keyBias, slotIndex,
    padded() {
      const padIndex = new Int32Array(n * L).fill(count);
      const padBias = new Float32Array(n * L).fill(MASK);
      for (let s = 0; s < count; s++) {
        padIndex[slotIndex[s]!] = s;
        padBias[slotIndex[s]!] = keyBias[s]!;
      }
      return { padIndex, padBias };
    },
  };
}

/** The `history` stage: `stages: [historyEncoder]`, `model.stages: [{ name: 'history', options }]`. */
export const historyEncoder: StageDefinition = {
  name: 'history',
  create(options: Readonly<Record<string, unknown>>, ctx: StageContext): Stage {
    const resolved = resolveHistoryOptions(options, ctx.itemEmbedding.dim);
    return { name: 'history', userInput: new HistoryEncoder(resolved, ctx) };
  },
};
