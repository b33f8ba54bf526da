import * as tf from '../runtime/tf.js';
import * as storage from '../runtime/storage.js';

// tfjs-node keeps tensor storage out of reach: the optimizers then read copies and write back by
// scatter; tests here run that path on wasm/cpu by hiding the storage (see 'without storage views')
jest.mock('../runtime/storage.js', () => {
  const actual = jest.requireActual('../runtime/storage.js');
  return { ...actual, storageView: jest.fn(actual.storageView) };
});

import { initBackend, type BackendName } from '../runtime/backend.js';
import { Embedding, variableOf } from '../nn/embedding.js';
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

describe('DenseAdam', () => {
  afterAll(async () => {
    await initBackend({ log: false });
  });

  it.each<BackendName>(['wasm', 'cpu'])('follows tf.train.adam step for step, and keeps the tensor count (%s)', async (backend) => {
    await initBackend({ backend, log: false });
    const init = [Float32Array.from({ length: 12 }, (_, i) => Math.sin(i)), Float32Array.from({ length: 3 }, (_, i) => Math.cos(i))];
    const x = tf.tensor2d(Float32Array.from({ length: 20 }, (_, i) => Math.cos(3 * i)), [5, 4]);
    const run = (update: (vars: tf.Variable[], grads: tf.NamedTensorMap) => void) => {
      const vars = [variableOf(tf.tensor2d(init[0]!, [4, 3]), true), variableOf(tf.tensor1d(init[1]!), true)];
      for (let s = 0; s < 4; s++) {
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.add(tf.matMul(x, vars[0]!), vars[1]!))) as tf.Scalar, vars);
        update(vars, grads);
        tf.dispose([value, ...Object.values(grads)]);
      }
      const out = vars.map((v) => v.dataSync().slice());
      tf.dispose(vars);
      return out;
    };
    const ref = tf.train.adam(0.05, 0.9, 0.999, 1e-7);
    const want = run((vars, grads) => ref.applyGradients(vars.map((v) => ({ name: v.name, tensor: grads[v.name]! }))));
    ref.dispose();
    const ours = new DenseAdam();
    const before = tf.memory().numTensors;
    const got = run((vars, grads) => ours.apply(new Map(vars.map((v) => [v, grads[v.name]!])), 0.05));
    expect(tf.memory().numTensors).toBe(before);
    got.forEach((g, i) => g.forEach((v, j) => expect(Math.abs(v - want[i]![j]!)).toBeLessThan(1e-5)));
    ours.dispose();
    x.dispose();
  });
});

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

describe('without storage views (the tfjs-node path)', () => {
  const view = storage.storageView as jest.MockedFunction<typeof storage.storageView>;
  afterEach(() => view.mockImplementation(jest.requireActual('../runtime/storage.js').storageView));

  it.each<'adam' | 'adagrad'>(['adam', 'adagrad'])('%s gives the same rows through copies and keeps the tensor count', async (kind) => {
    await initBackend({ backend: 'cpu', log: false });
    const ids = [0, 2, 2, 5];
    const withViews = sparseRun(ids, kind);
    view.mockReturnValue(undefined);
    sparseRun(ids, kind); // warm-up: the first run allocates the backend's own one-off tensors
    const before = tf.memory().numTensors;
    const copied = sparseRun(ids, kind);
    expect(tf.memory().numTensors).toBe(before);
    expect(view).toHaveBeenCalled();
    withViews.forEach((v, i) => expect(Math.abs(copied[i]! - v)).toBeLessThan(1e-6));
  });
});
