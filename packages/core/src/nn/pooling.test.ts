import { initBackend } from '../runtime/backend.js';
import * as tf from '../runtime/tf.js';
import { weightedPositionSum } from './pooling.js';

describe('weightedPositionSum', () => {
  beforeAll(() => initBackend({ backend: 'wasm', log: false }));

  const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

  it('equals sum(e * w) with both gradients when the weights are a tensor', () => {
    const [n, L, D] = [3, 4, 5];
    const e = tf.randomNormal([n, L, D], 0, 1, 'float32', 1) as tf.Tensor3D;
    const w = tf.softmax(tf.randomNormal([n, L], 0, 1, 'float32', 2)) as tf.Tensor2D;
    const proj = tf.randomNormal([n, D], 0, 1, 'float32', 3);
    const ours = (x: tf.Tensor3D, ww: tf.Tensor2D) => tf.sum(tf.mul(weightedPositionSum(x, ww), proj));
    const reference = (x: tf.Tensor3D, ww: tf.Tensor2D) => tf.sum(tf.mul(tf.sum(tf.mul(x, tf.expandDims(ww, 2)), 1), proj));
    const a = tf.grads(ours as (...args: tf.Tensor[]) => tf.Tensor)([e, w]);
    const b = tf.grads(reference as (...args: tf.Tensor[]) => tf.Tensor)([e, w]);
    expect(maxDiff(tf.tidy(() => ours(e, w)), tf.tidy(() => reference(e, w)))).toBeLessThan(1e-5);
    expect(maxDiff(a[0]!, b[0]!)).toBeLessThan(1e-5);
    expect(maxDiff(a[1]!, b[1]!)).toBeLessThan(1e-5);
    const before = tf.memory().numTensors;
    tf.dispose(tf.tidy(() => weightedPositionSum(e, w)));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([e, w, proj, ...a, ...b]);
  });

  it('skips positions of fixed weight 0 (padding) and gives them no gradient', () => {
    const e = tf.tensor3d([1, 2, 3, 4, 100, 200], [1, 3, 2]);
    const out = weightedPositionSum(e, Float32Array.of(0.5, 0.5, 0));
    expect(Array.from(out.dataSync())).toEqual([2, 3]);
    const g = tf.grad((x: tf.Tensor) => tf.sum(weightedPositionSum(x as tf.Tensor3D, Float32Array.of(0.5, 0.5, 0))))(e);
    expect(Array.from(g.dataSync())).toEqual([0.5, 0.5, 0.5, 0.5, 0, 0]);
    tf.dispose([e, out, g]);
  });
});
