import { ConfigError, OutOfRangeError } from '../errors.js';
import { initBackend } from '../runtime/backend.js';
import type { InteractionLog } from '../data/types.js';
import { fitEase, fitItemKnn } from './baselines.js';

/** users x items rows; label 0 rows are interactions without value */
function log(rows: ReadonlyArray<readonly [number, number, number]>): InteractionLog {
  return {
    size: rows.length,
    user: Int32Array.from(rows, (r) => r[0]),
    item: Int32Array.from(rows, (r) => r[1]),
    labels: Float32Array.from(rows, (r) => r[2]),
  };
}

// two taste groups: users 0-2 like items 0-2, users 3-5 like items 3-5
const groups = log([
  [0, 0, 1], [0, 1, 1], [1, 1, 1], [1, 2, 1], [2, 0, 1], [2, 2, 1],
  [3, 3, 1], [3, 4, 1], [4, 4, 1], [4, 5, 1], [5, 3, 1], [5, 5, 0],
]);

describe('fitItemKnn', () => {
  it('scores items that co-occur with the user\'s items, by cosine with shrinkage', () => {
    const knn = fitItemKnn(groups, 6, 6, [1], { shrink: 0 });
    const s = knn.score(Int32Array.of(0, 3));
    // user 0 (items 0, 1): item 2 co-occurs with both (users 1, 2); nothing of the other group
    expect(s[2]).toBeCloseTo(1 / Math.sqrt(2 * 2) + 1 / Math.sqrt(2 * 2), 6);
    expect(Array.from(s.subarray(3, 6))).toEqual([0, 0, 0]);
    expect(s[6 + 5]).toBeGreaterThan(0);
    expect(Array.from(s.subarray(6, 9))).toEqual([0, 0, 0]);
  });

  it("'positives' leaves out rows without value; neighbors caps each item's list", () => {
    const pos = fitItemKnn(groups, 6, 6, [1], { rows: 'positives', shrink: 0 });
    expect(pos.score(Int32Array.of(5))[4]).toBeCloseTo(1 / Math.sqrt(2 * 2), 6); // only item 3 counts for user 5
    const one = fitItemKnn(groups, 6, 6, [1], { neighbors: 1 });
    const row = one.score(Int32Array.of(0));
    expect(row.filter((v) => v > 0).length).toBeLessThanOrEqual(2);
  });

  it('names bad options and ids', () => {
    expect(() => fitItemKnn(groups, 6, 6, [1], { neighbors: 0 })).toThrow(ConfigError);
    expect(() => fitItemKnn(groups, 6, 5, [1])).toThrow(OutOfRangeError);
  });
});

describe('fitEase', () => {
  beforeAll(() => initBackend({ log: false }));

  it('equals the closed form B = I - P diag(1/diag(P)) on a small log', () => {
    const lambda = 2;
    const ease = fitEase(groups, 6, 6, [1], { lambda });
    // G = X^T X + lambda I by hand, inverted by Gauss-Jordan in float64
    const N = 6;
    const G = Array.from({ length: N }, () => new Float64Array(N));
    const items: number[][] = [[0, 1], [1, 2], [0, 2], [3, 4], [4, 5], [3, 5]];
    for (const its of items) for (const i of its) for (const j of its) G[i]![j]! += 1;
    for (let i = 0; i < N; i++) G[i]![i]! += lambda;
    const P = Array.from({ length: N }, (_, i) => Float64Array.from({ length: N }, (_, j) => (i === j ? 1 : 0)));
    for (let c = 0; c < N; c++) {
      const p = G[c]![c]!;
      for (let j = 0; j < N; j++) { G[c]![j]! /= p; P[c]![j]! /= p; }
      for (let r = 0; r < N; r++) {
        if (r === c) continue;
        const f = G[r]![c]!;
        for (let j = 0; j < N; j++) { G[r]![j]! -= f * G[c]![j]!; P[r]![j]! -= f * P[c]![j]!; }
      }
    }
    const score = ease.score(Int32Array.of(0));
    for (let j = 0; j < N; j++) {
      const expected = [0, 1].reduce((s, i) => s + (i === j ? 0 : -P[i]![j]! / P[j]![j]!), 0);
      expect(score[j]).toBeCloseTo(expected, 5);
    }
    expect(score[2]).toBeGreaterThan(score[3]!);
  });

  it('refuses a catalogue beyond maxItems, and a bad lambda', () => {
    expect(() => fitEase(groups, 6, 6, [1], { maxItems: 5 })).toThrow(ConfigError);
    expect(() => fitEase(groups, 6, 6, [1], { lambda: 0 })).toThrow(ConfigError);
  });
});
