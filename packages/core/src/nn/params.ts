/**
 * The named parameters of a model: dense variables (trained by a dense optimizer) and embedding
 * tables (trained row-sparsely). Names are the model's own (`user.mlp.0.w`); tfjs variable names
 * are left unique per process, so several models can live side by side.
 */
import * as tf from '../runtime/tf.js';
import { ConfigError, MismatchError } from '../errors.js';
import { Embedding, variableOf } from './embedding.js';
import { normalValues, type Rng } from './init.js';

/** A named tensor's values, as stored in checkpoints. */
export interface NamedValues {
  /** dimensions, outermost first */
  readonly shape: readonly number[];
  /** the elements, row-major */
  readonly values: Float32Array;
}

/** Every parameter of a model, by name: what optimizers train and checkpoints save. */
export class ParameterStore {
  /** dense variables by name, trained by the dense optimizer */
  readonly dense = new Map<string, tf.Variable>();
  /** embedding tables by name, trained row-sparsely */
  readonly embeddings = new Map<string, Embedding>();

  constructor(
    /** the source of initial values (seeded by the model config) */
    readonly rng: Rng,
  ) {}

  /**
   * A trainable dense variable of `shape` holding `values`.
   * @throws ConfigError when the name is taken
   */
  addDense(name: string, shape: readonly number[], values: Float32Array): tf.Variable {
    this.assertNew(name);
    const v = variableOf(tf.tensor(values, shape as number[], 'float32'), true);
    this.dense.set(name, v);
    return v;
  }

  /** A `[rows, dim]` table initialised N(0, std^2). */
  addEmbedding(name: string, rows: number, dim: number, std = 0.05): Embedding {
    this.assertNew(name);
    const e = new Embedding(name, rows, dim, normalValues(this.rng, rows * dim, std));
    this.embeddings.set(name, e);
    return e;
  }

  /** Every parameter by name (tables included), for saving. Reads values synchronously. */
  snapshot(): Map<string, NamedValues> {
    const out = new Map<string, NamedValues>();
    const put = (name: string, t: tf.Tensor) => out.set(name, { shape: t.shape, values: t.dataSync() as Float32Array });
    for (const [name, v] of this.dense) put(name, v);
    for (const [name, e] of this.embeddings) put(name, e.table);
    return out;
  }

  /**
   * Overwrites every parameter from `values` (names and shapes must match exactly).
   * @throws MismatchError naming the parameter
   */
  restore(values: ReadonlyMap<string, NamedValues>, source: string): void {
    const expected = new Set([...this.dense.keys(), ...this.embeddings.keys()]);
    for (const name of values.keys()) {
      if (!expected.has(name)) throw new MismatchError(source, `only this model's parameters`, `parameter "${name}" it does not have`);
    }
    const assign = (name: string, v: tf.Variable) => {
      const src = values.get(name);
      if (!src) throw new MismatchError(source, `parameter "${name}"`, 'none');
      if (src.shape.join() !== v.shape.join()) throw new MismatchError(`${source}: ${name}`, `shape [${v.shape.join(', ')}]`, `[${src.shape.join(', ')}]`);
      tf.tidy(() => v.assign(tf.tensor(src.values.slice(), v.shape, 'float32')));
    };
    for (const [name, v] of this.dense) assign(name, v);
    for (const [name, e] of this.embeddings) assign(name, e.table);
  }

  /** Total number of scalar parameters, tables included. */
  get size(): number {
    let n = 0;
    for (const v of this.dense.values()) n += v.size;
    for (const e of this.embeddings.values()) n += e.table.size;
    return n;
  }

  /** Frees every parameter and empties the store. */
  dispose(): void {
    for (const v of this.dense.values()) v.dispose();
    for (const e of this.embeddings.values()) e.dispose();
    this.dense.clear();
    this.embeddings.clear();
  }

  private assertNew(name: string): void {
    if (this.dense.has(name) || this.embeddings.has(name)) throw new ConfigError(name, 'a parameter of this name already exists');
  }
}
