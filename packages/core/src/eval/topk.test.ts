import { topKExcluding } from './topk.js';
import { OutOfRangeError, ShapeError } from '../errors.js';

/** Reference: full sort by (score desc, index asc), NaN as -Infinity, exclusions removed. */
function naive(scores: Float32Array, k: number, exclude: Set<number>): number[] {
  const key = (i: number) => (Number.isNaN(scores[i]!) ? -Infinity : scores[i]!);
  return Array.from(scores.keys())
    .filter((i) => !exclude.has(i))
    .sort((a, b) => key(b) - key(a) || a - b)
    .slice(0, k);
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('topKExcluding', () => {
  it('matches a full sort on random rows with many ties and exclusions (array and set)', () => {
    const rand = rng(7);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(rand() * 300);
      const levels = 1 + Math.floor(rand() * 20); // few distinct values: lots of ties
      const scores = Float32Array.from({ length: n }, () => Math.floor(rand() * levels) - levels / 2);
      if (trial % 5 === 0) scores[Math.floor(rand() * n)] = -Infinity;
      const ex = new Set<number>();
      const nEx = Math.floor(rand() * n * 0.5);
      for (let j = 0; j < nEx; j++) ex.add(Math.floor(rand() * n));
      const k = Math.floor(rand() * (n + 5));
      const want = naive(scores, k, ex);
      // array form with duplicates and out-of-range entries (ignored)
      const arr = Int32Array.from([...ex, ...ex, -1, n + 3]);
      expect(Array.from(topKExcluding(scores, k, arr))).toEqual(want);
      expect(Array.from(topKExcluding(scores, k, ex))).toEqual(want);
      if (ex.size === 0) expect(Array.from(topKExcluding(scores, k))).toEqual(want);
    }
  });

  it('breaks ties by lower index and keeps the best first', () => {
    const s = Float32Array.of(1, 3, 3, 2, 3, 0);
    expect(Array.from(topKExcluding(s, 4))).toEqual([1, 2, 4, 3]);
    expect(Array.from(topKExcluding(s, 2, Int32Array.of(1)))).toEqual([2, 4]);
  });

  it('ranks NaN as -Infinity', () => {
    const s = Float32Array.of(NaN, -Infinity, 0, NaN, 1);
    expect(Array.from(topKExcluding(s, 5))).toEqual(naive(s, 5, new Set()));
    expect(Array.from(topKExcluding(s, 3))).toEqual([4, 2, 0]);
  });

  it('returns fewer than k when exclusions leave fewer items, and handles k = 0', () => {
    const s = Float32Array.of(5, 4, 3);
    expect(Array.from(topKExcluding(s, 10, new Set([1])))).toEqual([0, 2]);
    expect(topKExcluding(s, 0).length).toBe(0);
    expect(topKExcluding(new Float32Array(0), 3).length).toBe(0);
  });

  it('writes into out and leaves no exclusion state behind between calls', () => {
    const s = Float32Array.of(1, 2, 3, 4);
    const out = new Int32Array(8).fill(-7);
    const r = topKExcluding(s, 2, Int32Array.of(3), out);
    expect(r.buffer).toBe(out.buffer);
    expect(Array.from(r)).toEqual([2, 1]);
    expect(Array.from(topKExcluding(s, 2))).toEqual([3, 2]); // the mask of the previous call is cleared
  });

  it('rejects a bad k and a short out', () => {
    const s = Float32Array.of(1, 2);
    expect(() => topKExcluding(s, -1)).toThrow(OutOfRangeError);
    expect(() => topKExcluding(s, 1.5)).toThrow(OutOfRangeError);
    expect(() => topKExcluding(s, 2, undefined, new Int32Array(1))).toThrow(ShapeError);
  });

  it('is fast enough for full-catalogue evaluation (1000 rows x 10,000 items, k = 100)', () => {
    const rand = rng(3);
    const n = 10_000;
    const scores = Float32Array.from({ length: n * 50 }, () => rand());
    const ex = Int32Array.from({ length: 100 }, () => Math.floor(rand() * n));
    const out = new Int32Array(100);
    const t0 = performance.now();
    for (let u = 0; u < 1000; u++) topKExcluding(scores.subarray((u % 50) * n, (u % 50 + 1) * n), 100, ex, out);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(2000); // ~30-60 ms on a laptop; generous for CI
  });
});
