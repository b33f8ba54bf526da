import { ShapeError, ValueError } from '../errors.js';
import { Rng } from '../nn/init.js';
import { initBackend } from './backend.js';
import { invertSpdInPlace } from './spd-inverse.js';
import * as tf from './tf.js';

/** A^T A / n + lambda I for a random A: symmetric positive definite. */
function randomSpd(n: number, seed: number, lambda = 0.5): Float32Array {
  const rng = new Rng(seed);
  const m = 2 * n;
  const a = Float64Array.from({ length: m * n }, () => rng.normal());
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let r = 0; r < m; r++) s += a[r * n + i]! * a[r * n + j]!;
      out[i * n + j] = s / m + (i === j ? lambda : 0);
    }
  }
  return out;
}

describe('invertSpdInPlace', () => {
  beforeAll(() => initBackend({ log: false }));

  it.each([[1, 1], [7, 3], [40, 16], [33, 64]])('n %i, block %i: A A^-1 = I', (n, block) => {
    const a = randomSpd(n, n);
    const inv = a.slice();
    const before = tf.memory().numTensors;
    invertSpdInPlace(inv, n, 'a', block);
    expect(tf.memory().numTensors).toBe(before);
    let worst = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += a[i * n + k]! * inv[k * n + j]!;
        worst = Math.max(worst, Math.abs(s - (i === j ? 1 : 0)));
      }
    }
    expect(worst).toBeLessThan(1e-4);
  });

  it('rejects a wrong size and a matrix that is not positive definite', () => {
    expect(() => invertSpdInPlace(new Float32Array(5), 2)).toThrow(ShapeError);
    expect(() => invertSpdInPlace(Float32Array.of(1, 2, 2, 1), 2, 'm', 1)).toThrow(ValueError);
  });
});
