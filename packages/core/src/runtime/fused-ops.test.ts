import * as tf from './tf.js';
import { initBackend } from './backend.js';
import { denseLayer, l2NormalizeRows, softmaxCrossEntropyRows } from './fused-ops.js';

function seeded(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => (((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5) * scale);
}

function expectClose(actual: tf.Tensor, expected: tf.Tensor, tol: number): void {
  expect(actual.shape).toEqual(expected.shape);
  const a = actual.dataSync();
  const e = expected.dataSync();
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - e[i]!) / Math.max(1, Math.abs(e[i]!)));
  expect(worst).toBeLessThan(tol);
}

/** Values and gradients of `sum(f(...) * r)` for a fixed random projection r. */
function valueAndGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[]): { value: tf.Tensor; grads: tf.Tensor[] } {
  const value = tf.tidy(() => f(...xs));
  const r = tf.tensor(seeded(value.size, 99), value.shape);
  const grads = tf.grads((...ys: tf.Tensor[]) => tf.sum(tf.mul(f(...ys), r)))(xs);
  r.dispose();
  return { value, grads };
}

describe.each(['wasm', 'cpu'] as const)('fused ops on %s', (backend) => {
  beforeAll(async () => {
    await initBackend({ backend, log: false });
  });
  afterAll(async () => {
    await initBackend({ log: false });
  });

  // shapes with remainders in every blocking (6 rows, 8 columns, 4 lanes), and one large enough to split over threads
  it.each([[13, 7, 19], [300, 70, 130], [1, 3, 1]])('denseLayer [%i, %i] x [., %i] matches tf.fused.matMul in value and gradients, relu and linear', (M, K, N) => {
    const x = tf.tensor2d(seeded(M * K, 1), [M, K]);
    const w = tf.tensor2d(seeded(K * N, 2), [K, N]);
    const b = tf.tensor1d(seeded(N, 3));
    for (const activation of ['relu', 'linear'] as const) {
      const ours = valueAndGrads((a, c, d) => denseLayer(a as tf.Tensor2D, c as tf.Tensor2D, d as tf.Tensor1D, activation), [x, w, b]);
      const ref = valueAndGrads((a, c, d) => tf.fused.matMul({ a: a as tf.Tensor2D, b: c as tf.Tensor2D, bias: d, activation }), [x, w, b]);
      expectClose(ours.value, ref.value, 1e-5);
      ours.grads.forEach((g, i) => expectClose(g, ref.grads[i]!, 1e-5));
      tf.dispose([ours.value, ref.value, ...ours.grads, ...ref.grads]);
    }
    tf.dispose([x, w, b]);
  });

  it('denseLayer computes only the gradients the tape needs, and leaks no tensor', async () => {
    const x = tf.tensor2d(seeded(40, 4), [8, 5]);
    const w = tf.variable(tf.tensor2d(seeded(15, 5), [5, 3]));
    const b = tf.variable(tf.zeros([3]));
    const step = () => tf.variableGrads(() => tf.sum(denseLayer(x, w as tf.Tensor2D, b as tf.Tensor1D, 'relu')) as tf.Scalar, [w, b]);
    tf.dispose(Object.values(step().grads)); // warm up
    const before = tf.memory().numTensors;
    const profile = await tf.profile(() => {
      const { value, grads } = step();
      tf.dispose([value, ...Object.values(grads)]);
    });
    expect(tf.memory().numTensors).toBe(before);
    const names = profile.kernels.map((k) => k.name);
    expect(names).toContain('TtDenseGradWeights');
    expect(names).toContain('TtDenseGradBias');
    expect(names).not.toContain('TtDenseGradInput'); // x is data
    tf.dispose([x, w, b]);
  });

  it('l2NormalizeRows matches the tfjs formula in value and gradient, also for a zero row', () => {
    const values = seeded(6 * 5, 7, 4);
    values.fill(0, 10, 15); // row 2 is all zeros
    const x = tf.tensor2d(values, [6, 5]);
    const ours = valueAndGrads((a) => l2NormalizeRows(a as tf.Tensor2D), [x]);
    const ref = valueAndGrads((a) => tf.mul(a, tf.rsqrt(tf.add(tf.sum(tf.square(a), 1, true), 1e-12))), [x]);
    expectClose(ours.value, ref.value, 1e-5);
    expectClose(ours.grads[0]!, ref.grads[0]!, 1e-4);
    tf.dispose([x, ours.value, ref.value, ...ours.grads, ...ref.grads]);
  });

  it.each([[5, 9, 6], [64, 70, 16], [300, 300, 64]])('softmaxCrossEntropyRows (B %i, C %i, D %i) matches logSumExp - positive in value and gradients, with masks and logQ', (B, C, D) => {
    const q = tf.tensor2d(seeded(B * D, 8, 2), [B, D]);
    const c = tf.tensor2d(seeded(C * D, 9, 2), [C, D]);
    const columnBias = seeded(C, 10, 3);
    const masked = Int32Array.from({ length: Math.ceil((B - 1) / 3) }, (_, k) => 3 * k * C + 3 * k + 1); // accidental hits
    const bias = new Float32Array(B * C);
    for (let r = 0; r < B; r++) bias.set(columnBias, r * C);
    for (const k of masked) bias[k] = -1e9;
    const scale = 7;
    const ref = (a: tf.Tensor, b: tf.Tensor) => {
      const logits = tf.add(tf.mul(tf.matMul(a, b, false, true), scale), tf.tensor2d(bias, [B, C]));
      const onehot = tf.oneHot(tf.range(0, B, 1, 'int32'), C);
      return tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, onehot), 1));
    };
    const ours = valueAndGrads((a, b) => softmaxCrossEntropyRows(a as tf.Tensor2D, b as tf.Tensor2D, { columnBias, masked }, scale), [q, c]);
    const want = valueAndGrads(ref, [q, c]);
    expectClose(ours.value, want.value, 1e-4);
    ours.grads.forEach((g, i) => expectClose(g, want.grads[i]!, 1e-4));
    tf.dispose([q, c, ours.value, want.value, ...ours.grads, ...want.grads]);
  });
});
