import { initBackend, tf } from '../index.js';
import { bceWithLogits, maskedMean } from './losses.js';

beforeAll(async () => {
  await initBackend({ backend: 'cpu', log: false });
});

describe('bceWithLogits', () => {
  it('matches -y log p - (1 - y) log(1 - p), also for large logits', () => {
    const z = tf.tensor1d([-3, 0, 2, 40, -40]);
    const y = tf.tensor1d([0, 1, 1, 0, 1]);
    const got = Array.from(bceWithLogits(z, y).dataSync());
    const want = [-3, 0, 2, 40, -40].map((zz, i) => {
      const p = 1 / (1 + Math.exp(-zz));
      const yy = [0, 1, 1, 0, 1][i]!;
      return zz === 40 ? 40 : zz === -40 ? 40 : -(yy * Math.log(p) + (1 - yy) * Math.log(1 - p));
    });
    got.forEach((g, i) => expect(g).toBeCloseTo(want[i]!, 4));
    tf.dispose([z, y]);
  });
});

describe('maskedMean', () => {
  it('averages the entries the mask keeps, and is 0 (not NaN) when it keeps none', () => {
    tf.tidy(() => {
      const v = tf.tensor2d([[1, 2], [3, 40]]);
      expect(maskedMean(v, tf.tensor2d([[1, 0], [1, 0]])).dataSync()[0]).toBeCloseTo(2, 6);
      expect(maskedMean(v, tf.ones([2, 2])).dataSync()[0]).toBeCloseTo(11.5, 6);
      expect(maskedMean(v, tf.zeros([2, 2])).dataSync()[0]).toBe(0);
    });
  });
});
