import { ConfigError, initBackend, ShapeError, tf } from '@tt/core';
import { fusedAttention } from './fused-attention.js';

const MASK = -1e9;

/** The same attention in tfjs ops: batched matMul, softmax over the keys. */
function reference(q: tf.Tensor2D, kv: tf.Tensor2D, n: number, heads: number, Lq: number, L: number, keyBias: Float32Array): tf.Tensor2D {
  const D = q.shape[1];
  const dh = D / heads;
  const toHeads = (t: tf.Tensor2D, len: number) => tf.reshape(tf.transpose(tf.reshape(t, [n, len, heads, dh]), [0, 2, 1, 3]), [n * heads, len, dh]) as tf.Tensor3D;
  const [k, v] = tf.split(kv, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
  const s = tf.matMul(toHeads(tf.mul(q, 1 / Math.sqrt(dh)) as tf.Tensor2D, Lq), toHeads(k, L), false, true);
  const p = tf.softmax(tf.add(tf.reshape(s, [n, heads, Lq, L]), tf.tensor4d(keyBias, [n, 1, 1, L])));
  const o = tf.matMul(tf.reshape(p, [n * heads, Lq, L]) as tf.Tensor3D, toHeads(v, L));
  return tf.reshape(tf.transpose(tf.reshape(o, [n, heads, Lq, dh]), [0, 2, 1, 3]), [n * Lq, D]) as tf.Tensor2D;
}

/** Key padding: row r keeps its first 1 + (3r mod L) keys; the last row keeps none. */
function padding(n: number, L: number): Float32Array {
  const bias = new Float32Array(n * L);
  for (let r = 0; r < n; r++) for (let j = 0; j < L; j++) if (r === n - 1 || j > (3 * r) % L) bias[r * L + j] = MASK;
  return bias;
}

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

describe.each(['wasm', 'cpu'] as const)('fused attention on %s', (backend) => {
  beforeAll(() => initBackend({ backend, log: false }));
  afterAll(() => initBackend({ backend: 'wasm', log: false }));

  // dh 16 runs the kernel's SIMD blocks, dh 6 its remainders; L 11 is not a multiple of 4;
  // one query per row is the encoder's last layer
  test.each([
    { n: 5, heads: 4, D: 64, L: 11, Lq: 11 },
    { n: 7, heads: 2, D: 12, L: 11, Lq: 11 },
    { n: 7, heads: 2, D: 12, L: 11, Lq: 1 },
    { n: 3, heads: 1, D: 20, L: 37, Lq: 37 },
  ])('equals tfjs ops, value and both gradients (%o)', ({ n, heads, D, L, Lq }) => {
    const keyBias = padding(n, L);
    const q = tf.randomNormal([n * Lq, D], 0, 2, 'float32', 1) as tf.Tensor2D;
    const kv = tf.randomNormal([n * L, 2 * D], 0, 2, 'float32', 2) as tf.Tensor2D;
    const w = tf.randomNormal([n * Lq, D], 0, 1, 'float32', 3);
    const run = (f: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D) => {
      const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor2D, b as tf.Tensor2D), w)))([q, kv]);
      return { out: tf.tidy(() => f(q, kv)), value, grads };
    };
    const got = run((a, b) => fusedAttention(a, b, { n, heads, queries: Lq, keys: L, keyBias }));
    const want = run((a, b) => reference(a, b, n, heads, Lq, L, keyBias));
    expect(got.out.shape).toEqual([n * Lq, D]);
    expect(maxDiff(got.out, want.out)).toBeLessThan(1e-5);
    expect(maxDiff(got.grads[0]!, want.grads[0]!)).toBeLessThan(1e-4);
    expect(maxDiff(got.grads[1]!, want.grads[1]!)).toBeLessThan(1e-4);
    // a row whose keys are all padding attends uniformly (as the softmax of equal scores), finite
    expect(got.out.dataSync().every(Number.isFinite)).toBe(true);
    tf.dispose([q, kv, w, got.out, got.value, ...got.grads, want.out, want.value, ...want.grads]);
  });

  test('padded keys get no weight: their keys and values change nothing', () => {
    const [n, heads, D, L] = [4, 2, 8, 9];
    const keyBias = padding(n, L);
    const q = tf.randomNormal([n * L, D], 0, 1, 'float32', 4) as tf.Tensor2D;
    const kv = tf.randomNormal([n * L, 2 * D], 0, 1, 'float32', 5) as tf.Tensor2D;
    const noise = tf.tidy(() => tf.mul(tf.randomNormal([n * L, 2 * D], 0, 100, 'float32', 6), tf.tensor2d(Array.from(keyBias, (b) => (b < 0 ? 1 : 0)), [n * L, 1])));
    const kv2 = tf.add(kv, noise) as tf.Tensor2D;
    const a = fusedAttention(q, kv, { n, heads, queries: L, keys: L, keyBias });
    const b = fusedAttention(q, kv2, { n, heads, queries: L, keys: L, keyBias });
    // the last row has no valid key, so padding is all it sees: compare the others
    const rows = (n - 1) * L;
    expect(maxDiff(tf.slice(a, [0, 0], [rows, D]), tf.slice(b, [0, 0], [rows, D]))).toBeLessThan(1e-5);
    tf.dispose([q, kv, noise, kv2, a, b]);
  });

  test.each([{ Lq: 7 }, { Lq: 1 }])('ragged rows (padding neither stored nor computed) equal the padded layout with masks, value and gradients (%o)', ({ Lq }) => {
    const [n, heads, D, L] = [5, 2, 12, 7];
    const lengths = Int32Array.from([7, 0, 3, 1, 5]);
    const oneQuery = Lq === 1;
    // padded layout: keys after a row's length masked; a hole inside row 4's prefix, masked in both
    const padded = new Float32Array(n * L);
    const offsets: number[] = [];
    let rows = 0;
    for (let r = 0; r < n; r++) {
      offsets.push(rows);
      rows += lengths[r]!;
      for (let j = lengths[r]!; j < L; j++) padded[r * L + j] = MASK;
    }
    padded[4 * L + 1] = MASK;
    const ragged = new Float32Array(rows);
    ragged[offsets[4]! + 1] = MASK;
    const slots = Array.from({ length: n }, (_, r) => Array.from({ length: lengths[r]! }, (_, j) => r * L + j)).flat();
    const qRows = oneQuery ? Array.from({ length: n }, (_, r) => r) : slots;
    const qFull = tf.randomNormal([n * Lq, D], 0, 2, 'float32', 7) as tf.Tensor2D;
    const kvFull = tf.randomNormal([n * L, 2 * D], 0, 2, 'float32', 8) as tf.Tensor2D;
    const w = tf.randomNormal([n * Lq, D], 0, 1, 'float32', 9) as tf.Tensor2D;
    const qIdx = tf.tensor1d(qRows, 'int32');
    const kvIdx = tf.tensor1d(slots, 'int32');
    // rows with keys only: a row without any gives zeros ragged, uniform attention padded
    const kept = tf.tensor2d(qRows.map((i) => (lengths[Math.floor(i / Lq)]! > 0 ? 1 : 0)), [qRows.length, 1]);
    const loss = (f: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.mul(f(a as tf.Tensor2D, b as tf.Tensor2D), tf.gather(w, qIdx)), kept));
    const raggedOut = (a: tf.Tensor2D, b: tf.Tensor2D) => fusedAttention(tf.gather(a, qIdx), tf.gather(b, kvIdx), { n, heads, queries: Lq, keys: L, keyBias: ragged, lengths });
    const paddedOut = (a: tf.Tensor2D, b: tf.Tensor2D) => tf.gather(fusedAttention(a, b, { n, heads, queries: Lq, keys: L, keyBias: padded }), qIdx);
    const got = tf.valueAndGrads(loss(raggedOut))([qFull, kvFull]);
    const want = tf.valueAndGrads(loss(paddedOut))([qFull, kvFull]);
    expect(Math.abs(got.value.dataSync()[0]! - want.value.dataSync()[0]!)).toBeLessThan(1e-4);
    expect(maxDiff(got.grads[0]!, want.grads[0]!)).toBeLessThan(1e-4);
    expect(maxDiff(got.grads[1]!, want.grads[1]!)).toBeLessThan(1e-4);
    const zeroRow = tf.tidy(() => raggedOut(qFull, kvFull));
    if (oneQuery) expect(Array.from(zeroRow.dataSync().subarray(D, 2 * D))).toEqual(new Array(D).fill(0)); // row 1 has no keys
    tf.dispose([qFull, kvFull, w, qIdx, kvIdx, kept, got.value, ...got.grads, want.value, ...want.grads, zeroRow]);
  });

  test('no tensors leak across forward and backward passes', () => {
    const [n, heads, D, L] = [3, 2, 8, 6];
    const keyBias = padding(n, L);
    const q = tf.randomNormal([n * L, D]) as tf.Tensor2D;
    const kv = tf.randomNormal([n * L, 2 * D]) as tf.Tensor2D;
    const step = () => tf.tidy(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(fusedAttention(a as tf.Tensor2D, b as tf.Tensor2D, { n, heads, queries: L, keys: L, keyBias })))([q, kv]));
    tf.dispose(step());
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(step());
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([q, kv]);
  });

  test('wrong shapes are typed errors naming the field', () => {
    const q = tf.zeros([6, 8]) as tf.Tensor2D;
    const kv = tf.zeros([6, 16]) as tf.Tensor2D;
    const shape = { n: 2, heads: 2, queries: 3, keys: 3, keyBias: new Float32Array(6) };
    expect(fusedAttention(q, kv, shape).shape).toEqual([6, 8]);
    expect(() => fusedAttention(q, kv, { ...shape, queries: 2 })).toThrow(ConfigError);
    expect(() => fusedAttention(q, kv, { ...shape, lengths: Int32Array.from([3, 4]) })).toThrow(expect.objectContaining({ field: 'lengths[1]' }));
    expect(() => fusedAttention(q, kv, { ...shape, lengths: Int32Array.from([3, 2]) })).toThrow(ShapeError);
    expect(() => fusedAttention(q, tf.zeros([6, 8]) as tf.Tensor2D, shape)).toThrow(expect.objectContaining({ field: 'kv' }));
    expect(() => fusedAttention(q, kv, { ...shape, keyBias: new Float32Array(5) })).toThrow(expect.objectContaining({ field: 'keyBias' }));
    expect(() => fusedAttention(q, kv, { ...shape, heads: 3 })).toThrow(ConfigError);
    tf.dispose([q, kv]);
  });
});
