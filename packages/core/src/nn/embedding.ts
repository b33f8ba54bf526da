/**
 * Embedding tables with row-sparse gradients.
 *
 * A lookup is a `gather`; its gradient is not a dense `[rows, dim]` tensor (which costs
 * O(table) per step and at 1M rows exhausts the wasm heap) but the `[ids, dim]` rows that were
 * touched, collected into {@link RowGradients} while the tape runs backwards. A sparse optimizer
 * then updates just those rows in place. Lookups link to the tape through a scalar `anchor`
 * variable, so the table itself never enters a dense gradient.
 */
import * as tf from '../runtime/tf.js';
import { storageView } from '../runtime/storage.js';
import { OutOfRangeError, ShapeError } from '../errors.js';

/** Row gradients of one table, summed per row, for one step. */
export class RowGradients {
  /** gradients are collected only while true (set by the trainer around the backward pass) */
  recording = false;
  private slotOf: Int32Array;
  private rowsTouched: number[] = [];
  private data: Float32Array;

  constructor(
    /** rows of the table */
    readonly rows: number,
    /** width of each row */
    readonly dim: number,
  ) {
    this.slotOf = new Int32Array(rows).fill(-1);
    this.data = new Float32Array(dim * 1024);
  }

  /** Adds `grad [ids.length, dim]` to the rows `ids`; negative ids (padding) are skipped. */
  add(ids: Int32Array, grad: ArrayLike<number>): void {
    const d = this.dim;
    for (let r = 0; r < ids.length; r++) {
      const id = ids[r]!;
      if (id < 0) continue;
      let slot = this.slotOf[id]!;
      if (slot < 0) {
        slot = this.rowsTouched.length;
        this.slotOf[id] = slot;
        this.rowsTouched.push(id);
        if ((slot + 1) * d > this.data.length) {
          const grown = new Float32Array(this.data.length * 2);
          grown.set(this.data);
          this.data = grown;
        }
        this.data.fill(0, slot * d, slot * d + d);
      }
      const o = slot * d;
      const g = r * d;
      for (let k = 0; k < d; k++) this.data[o + k]! += grad[g + k]!;
    }
  }

  /** The touched rows and their summed gradients (`[rows.length, dim]`, valid until clear). */
  get touched(): {
    /** the table rows touched this step, in first-touch order */
    rows: readonly number[];
    /** their summed gradients, row-aligned with `rows` (longer than needed: read `rows.length * dim`) */
    grads: Float32Array;
  } {
    return { rows: this.rowsTouched, grads: this.data };
  }

  /** Forgets the touched rows, ready for the next step. */
  clear(): void {
    for (const id of this.rowsTouched) this.slotOf[id] = -1;
    this.rowsTouched = [];
  }
}

/** A variable holding `t`'s values; `t` itself is released (tf.variable keeps its own handle). */
export function variableOf(t: tf.Tensor, trainable: boolean): tf.Variable {
  const v = tf.variable(t, trainable);
  t.dispose();
  return v;
}

/** 32-bit integer mix (murmur3 finaliser): spreads ids before the modulo. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A `[rows, dim]` table read through lookups; ids at or beyond `rows` are hashed into it. */
export class Embedding {
  /** the `[rows, dim]` values, not trainable by tfjs: sparse optimizers update it in place */
  readonly table: tf.Variable;
  /** the row gradients the backward pass of lookups collects */
  readonly grads: RowGradients;
  /** links lookups to the tape; its own gradient is always zero */
  readonly anchor: tf.Variable;

  constructor(
    /** the parameter name (`user.embedding`), used in errors and checkpoints */
    readonly name: string,
    /** rows of the table */
    readonly rows: number,
    /** width of each row */
    readonly dim: number,
    values: Float32Array,
  ) {
    if (values.length !== rows * dim) throw new ShapeError(name, `[${rows}, ${dim}] values`, `${values.length} values`);
    // a private copy: on cpu the tensor aliases its array and we write into it in place
    this.table = variableOf(tf.tensor2d(values.slice(), [rows, dim]), false);
    this.anchor = variableOf(tf.scalar(0), true);
    this.grads = new RowGradients(rows, dim);
  }

  /** Table rows of `ids`: identity below `rows`, a hash above; -1 (padding) stays -1. */
  rowIndices(ids: ArrayLike<number>): Int32Array {
    const out = new Int32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id < 0) {
        if (id !== -1) throw new OutOfRangeError(this.name, `ids must be >= 0 (or -1 for padding), got ${id} at ${i}`);
        out[i] = -1;
      } else out[i] = id < this.rows ? id : mix32(id) % this.rows;
    }
    return out;
  }

  /**
   * Rows of `ids` as a `[...shape, dim]` tensor. Padding (-1) reads row 0: mask it downstream.
   * While `grads.recording`, the backward pass adds the rows' gradients to `grads`.
   */
  lookup(ids: ArrayLike<number>, shape: readonly number[] = [ids.length]): tf.Tensor {
    const rows = this.rowIndices(ids);
    const gatherRows = rows.some((r) => r < 0) ? rows.map((r) => (r < 0 ? 0 : r)) : rows;
    const outShape = [...shape, this.dim];
    const read = () => tf.reshape(tf.gather(this.table, tf.tensor1d(gatherRows, 'int32')), outShape);
    if (!this.grads.recording) return tf.tidy(read);
    const grads = this.grads;
    const dim = this.dim;
    const f = tf.customGrad(((anchor: tf.Tensor) => ({
      value: read(),
      gradFunc: (dy: tf.Tensor) => {
        // the backend's storage where it can be read in place: a copy per lookup is garbage to collect
        grads.add(rows, storageView(dy) ?? tf.reshape(dy, [rows.length, dim]).dataSync());
        return [tf.zerosLike(anchor)];
      },
    })) as unknown as Parameters<typeof tf.customGrad>[0]);
    return f(this.anchor);
  }

  /** Frees the table and its anchor. */
  dispose(): void {
    this.table.dispose();
    this.anchor.dispose();
  }
}
