import * as tf from '../runtime/tf.js';
import { initBackend, type BackendName } from '../runtime/backend.js';
import { Embedding } from '../nn/embedding.js';
import { DenseAdam, SparseRowOptimizer } from './optimizers.js';

/** Three steps of sum(rows(ids) * w) through a lookup, updated row-sparsely. */
function sparseRun(ids: number[], kind: 'adam' | 'adagrad'): Float32Array {
  const e = new Embedding('t', 6, 4, Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)));
  const opt = new SparseRowOptimizer(e, kind);
  const w = tf.tensor2d(Float32Array.from({ length: ids.length * 4 }, (_, i) => Math.cos(i)), [ids.length, 4]);
  for (let s = 0; s < 3; s++) {
    e.grads.recording = true;
    const { grads, value } = tf.variableGrads(() => tf.sum(tf.mul(e.lookup(ids), w)) as tf.Scalar, [e.anchor]);
    e.grads.recording = false;
    tf.dispose([value, ...Object.values(grads)]);
    opt.apply(0.1);
  }
  const out = e.table.dataSync() as Float32Array;
  w.dispose();
  e.dispose();
  return out;
}

describe('row-sparse optimizers', () => {
  afterAll(async () => {
    await initBackend({ log: false });
  });

  it.each<BackendName>(['wasm', 'cpu'])('lazy Adam equals dense Adam on touched rows, leaves the others alone, sums duplicates (%s)', async (backend) => {
    await initBackend({ backend, log: false });
    const ids = [1, 3, 3, 4];
    const sparse = sparseRun(ids, 'adam');
    // dense reference: the same loss through a one-hot product, tables as dense variables
    const table = tf.variable(tf.tensor2d(Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)), [6, 4]));
    const w = tf.tensor2d(Float32Array.from({ length: ids.length * 4 }, (_, i) => Math.cos(i)), [ids.length, 4]);
    const onehot = tf.oneHot(tf.tensor1d(ids, 'int32'), 6).toFloat();
    const adam = new DenseAdam();
    for (let s = 0; s < 3; s++) {
      const { grads, value } = tf.variableGrads(() => tf.sum(tf.mul(tf.matMul(onehot, table), w)) as tf.Scalar, [table]);
      adam.apply(new Map([[table, grads[table.name]!]]), 0.1);
      tf.dispose([value, ...Object.values(grads)]);
    }
    const dense = table.dataSync();
    const init = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i));
    for (let r = 0; r < 6; r++) {
      for (let k = 0; k < 4; k++) {
        const i = r * 4 + k;
        if (ids.includes(r)) expect(Math.abs(sparse[i]! - dense[i]!)).toBeLessThan(1e-5);
        else expect(sparse[i]).toBe(init[i]);
      }
    }
    adam.dispose();
    tf.dispose([table, w, onehot]);
  });

  it('row-wise Adagrad moves touched rows against the gradient', async () => {
    await initBackend({ backend: 'wasm', log: false });
    const before = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i));
    const after = sparseRun([2], 'adagrad');
    // d(sum(row2 * w0))/d(row2) = w0 = cos(0..3): each weight moves opposite to it
    for (let k = 0; k < 4; k++) expect(Math.sign(after[8 + k]! - before[8 + k]!)).toBe(-Math.sign(Math.cos(k)));
    expect(after.subarray(0, 8)).toEqual(before.subarray(0, 8));
  });
});
