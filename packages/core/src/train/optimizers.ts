/**
 * Optimizers: Adam for dense variables, and row-sparse Adam ("lazy Adam", as TF's LazyAdam and
 * PyTorch's SparseAdam) or row-wise Adagrad for embedding tables, which touch only the rows a
 * step looked up (RUNTIME.md section 4: ~10 ms per step whatever the table size, where dense
 * Adam over a 1M-row table aborts the wasm heap).
 */
import * as tf from '../runtime/tf.js';
import { storageView, takeValues } from '../runtime/storage.js';
import { adamUpdate, type AdamStep } from '../runtime/linalg.js';
import { ConfigError, ShapeError } from '../errors.js';
import type { Embedding } from '../nn/embedding.js';

/** Adam's constants, shared by the dense and the row-sparse optimizers. */
export interface AdamOptions {
  /** decay of the first-moment average (default 0.9) */
  readonly beta1?: number;
  /** decay of the second-moment average (default 0.999) */
  readonly beta2?: number;
  /** added to the denominator for stability (default 1e-7) */
  readonly epsilon?: number;
}

/**
 * Adam over dense variables, one vectorised kernel call per variable (runtime/linalg.ts): the
 * moments live in typed arrays, the gradient and the weights are read from the backend's storage
 * where it can be reached, and each variable gets its new values as one fresh tensor (a new data
 * id, so no backend cache of the old weights survives). tfjs's ops take ~10 kernels per variable.
 */
export class DenseAdam {
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly state = new Map<tf.Variable, { m: Float32Array; v: Float32Array }>();
  private t = 0;

  constructor(options: AdamOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-7;
  }

  /** One update of every variable in `grads` (the gradients are not disposed here). */
  apply(grads: ReadonlyMap<tf.Variable, tf.Tensor>, learningRate: number): void {
    this.t++;
    const a = adamStep(this.beta1, this.beta2, this.epsilon, learningRate, this.t);
    for (const [variable, gradient] of grads) {
      let s = this.state.get(variable);
      if (!s) {
        s = { m: new Float32Array(variable.size), v: new Float32Array(variable.size) };
        this.state.set(variable, s);
      }
      const updated = adamUpdate(valuesOf(variable), valuesOf(gradient), s.m, s.v, a);
      // wasm copies the values into its heap; other backends keep the array, so they get a copy
      const next = tf.tensor(tf.getBackend() === 'wasm' ? updated : updated.slice(), variable.shape, 'float32');
      variable.assign(next);
      next.dispose();
    }
  }

  /** Frees the moments; the variables are not touched. */
  dispose(): void {
    this.state.clear();
  }

  /** The step count and, per variable updated so far, copies of its two moments (for resuming training). */
  getState(): {
    /** updates applied */
    t: number;
    /** per variable: its moments, row-major */
    moments: Map<tf.Variable, {
      /** first moments */
      m: Float32Array;
      /** second moments */
      v: Float32Array;
    }>;
  } {
    const moments = new Map<tf.Variable, { m: Float32Array; v: Float32Array }>();
    for (const [variable, s] of this.state) moments.set(variable, { m: s.m.slice(), v: s.v.slice() });
    return { t: this.t, moments };
  }

  /**
   * Continues from a state {@link DenseAdam.getState} returned (moments of the variables given).
   * @throws ShapeError for moments that do not fit their variable
   */
  setState(state: { readonly t: number; readonly moments: ReadonlyMap<tf.Variable, { readonly m: Float32Array; readonly v: Float32Array }> }): void {
    this.dispose();
    this.t = state.t;
    for (const [variable, { m, v }] of state.moments) {
      if (m.length !== variable.size || v.length !== variable.size) throw new ShapeError(`adam moments of ${variable.name}`, `${variable.size} values`, `${m.length} and ${v.length}`);
      this.state.set(variable, { m: Float32Array.from(m), v: Float32Array.from(v) });
    }
  }
}

/** Adam's step constants at step `t`: the bias corrections folded into the step size and epsilon. */
function adamStep(beta1: number, beta2: number, epsilon: number, learningRate: number, t: number): AdamStep {
  const c1 = 1 - beta1 ** t;
  const c2 = 1 - beta2 ** t;
  return { beta1, beta2, step: (learningRate * Math.sqrt(c2)) / c1, epsilon: epsilon * Math.sqrt(c2) };
}

/** A float32 tensor's values: its storage where the backend allows, else a copy. */
function valuesOf(t: tf.Tensor): Float32Array {
  return storageView(t) ?? (t.dataSync() as Float32Array);
}

/** Row-sparse optimizer of the embedding tables: lazy Adam, or row-wise Adagrad (one accumulator per row, less memory). */
export type SparseOptimizerKind = 'adam' | 'adagrad';

/** Row-sparse updates of one embedding table from its collected row gradients. */
export class SparseRowOptimizer {
  private readonly m: Float32Array | undefined;
  private readonly v: Float32Array;
  private t = 0;

  constructor(
    /** the table it updates, in place */
    readonly embedding: Embedding,
    /** which update rule it applies */
    readonly kind: SparseOptimizerKind,
    private readonly options: AdamOptions & { initialAccumulator?: number } = {},
  ) {
    if (kind !== 'adam' && kind !== 'adagrad') throw new ConfigError('sparseOptimizer', `must be "adam" or "adagrad", got ${JSON.stringify(kind)}`);
    const { rows, dim } = embedding;
    // Adam keeps two moments per weight; row-wise Adagrad one accumulator per row
    this.m = kind === 'adam' ? new Float32Array(rows * dim) : undefined;
    this.v = kind === 'adam' ? new Float32Array(rows * dim) : new Float32Array(rows).fill(options.initialAccumulator ?? 0.1);
  }

  /** Applies and clears the table's collected row gradients. */
  apply(learningRate: number): void {
    const { rows, grads } = this.embedding.grads.touched;
    if (rows.length === 0) return;
    const d = this.embedding.dim;
    const view = storageView(this.embedding.table);
    // tfjs-node keeps tensors out of reach: read the rows, update, scatter them back
    const idx = view ? undefined : tf.tensor1d(Int32Array.from(rows), 'int32');
    const target = view ?? takeValues(tf.gather(this.embedding.table, idx!));
    const rowOffset = (slot: number) => (view ? rows[slot]! * d : slot * d);
    this.t++;
    if (this.kind === 'adam') this.adam(rows, grads, target, rowOffset, learningRate);
    else this.adagrad(rows, grads, target, rowOffset, learningRate);
    if (!view) {
      tf.tidy(() => {
        const updated = tf.tensorScatterUpdate(this.embedding.table, tf.reshape(idx!, [-1, 1]), tf.tensor2d(target, [rows.length, d]));
        this.embedding.table.assign(updated);
      });
      idx!.dispose();
    }
    this.embedding.grads.clear();
  }

  /** The step count and the moment arrays (views: copy them to keep them past the next step), for resuming training. */
  getState(): {
    /** updates applied */
    t: number;
    /** `[rows * dim]` first moments (Adam only) */
    m: Float32Array | undefined;
    /** `[rows * dim]` second moments (Adam), or `[rows]` accumulators (Adagrad) */
    v: Float32Array;
  } {
    return { t: this.t, m: this.m, v: this.v };
  }

  /**
   * Continues from a state {@link SparseRowOptimizer.getState} returned.
   * @throws ShapeError for arrays that do not fit this table and rule
   */
  setState(state: { readonly t: number; readonly m?: ArrayLike<number>; readonly v: ArrayLike<number> }): void {
    const field = `${this.embedding.name} optimizer state`;
    if (state.v.length !== this.v.length) throw new ShapeError(`${field}.v`, `${this.v.length} values`, `${state.v.length}`);
    if (this.m && state.m?.length !== this.m.length) throw new ShapeError(`${field}.m`, `${this.m.length} values`, `${state.m?.length ?? 'none'}`);
    this.t = state.t;
    this.v.set(state.v);
    if (this.m) this.m.set(state.m!);
  }

  private adam(rows: readonly number[], g: Float32Array, w: Float32Array, rowOffset: (slot: number) => number, lr: number): void {
    // one JS pass over the touched rows: a vectorised kernel would first have to gather the rows'
    // weights and moments into its memory and scatter them back, which costs more than it saves
    const { beta1: b1, beta2: b2, step, epsilon: eps } = adamStep(this.options.beta1 ?? 0.9, this.options.beta2 ?? 0.999, this.options.epsilon ?? 1e-7, lr, this.t);
    const m = this.m!;
    const v = this.v;
    const d = this.embedding.dim;
    for (let s = 0; s < rows.length; s++) {
      const o = rows[s]! * d;
      const wo = rowOffset(s);
      const go = s * d;
      for (let k = 0; k < d; k++) {
        const gk = g[go + k]!;
        const mk = (m[o + k] = b1 * m[o + k]! + (1 - b1) * gk);
        const vk = (v[o + k] = b2 * v[o + k]! + (1 - b2) * gk * gk);
        w[wo + k]! -= (step * mk) / (Math.sqrt(vk) + eps);
      }
    }
  }

  private adagrad(rows: readonly number[], g: Float32Array, w: Float32Array, rowOffset: (slot: number) => number, lr: number): void {
    const eps = this.options.epsilon ?? 1e-7;
    const d = this.embedding.dim;
    const acc = this.v;
    for (let s = 0; s < rows.length; s++) {
      const row = rows[s]!;
      const go = s * d;
      let sq = 0;
      for (let k = 0; k < d; k++) sq += g[go + k]! * g[go + k]!;
      acc[row]! += sq / d;
      const scale = lr / (Math.sqrt(acc[row]!) + eps);
      const wo = rowOffset(s);
      for (let k = 0; k < d; k++) w[wo + k]! -= scale * g[go + k]!;
    }
  }
}
