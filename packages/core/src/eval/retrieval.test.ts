import { evaluateRetrieval, popularityScores, testPositives } from './retrieval.js';
import { EmptyError, OutOfRangeError, ShapeError } from '../errors.js';
import type { InteractionLog } from '../data/types.js';

function log(rows: Array<[user: number, item: number, ...labels: number[]]>, T = 1): InteractionLog {
  return {
    size: rows.length,
    user: Int32Array.from(rows, (r) => r[0]),
    item: Int32Array.from(rows, (r) => r[1]),
    labels: Float32Array.from(rows.flatMap((r) => r.slice(2, 2 + T))),
  };
}

describe('evaluateRetrieval', () => {
  // 6 items; fixed scores per user so the rankings are hand-computable.
  const numItems = 6;
  const scores: Record<number, number[]> = {
    // user 0: ranking (item 0 seen, removed) 1, 2, 3, 4, 5 -> test item 3 at rank 2 (0-based)
    0: [9, 8, 7, 6, 5, 4],
    // user 1: ranking 5, 4, 3, 2, 1, 0 ; positives {0, 4}: 4 at rank 1, 0 at rank 5
    1: [0, 1, 2, 3, 4, 5],
    // user 2: test row has label 0 -> not evaluated
    2: [1, 1, 1, 1, 1, 1],
  };
  const test = log([
    [0, 3, 1],
    [1, 4, 1],
    [1, 0, 1],
    [1, 0, 1], // duplicate positive: counted once
    [2, 1, 0],
  ]);
  const seen = [Int32Array.of(0), undefined, undefined];
  const score = (users: Int32Array) => Float32Array.from([...users].flatMap((u) => scores[u]!));

  it('gives the event loop a turn between calls (signal handlers run during a long evaluation)', async () => {
    let calls = 0;
    let ranAfter = -1;
    setImmediate(() => (ranAfter = calls));
    await evaluateRetrieval({ numItems, test, valueWeights: Float32Array.of(1), numTasks: 1, seen, score: (u) => (calls++, score(u)), usersPerCall: 1 });
    expect(calls).toBe(2);
    expect(ranAfter).toBe(1); // between the first call and the second
  });

  it('computes recall@K and binary ndcg@10 on a hand-computed case', async () => {
    const m = await evaluateRetrieval({ numItems, test, valueWeights: Float32Array.of(1), numTasks: 1, seen, score, ks: [1, 2, 5], usersPerCall: 1 });
    expect(m.users).toBe(2);
    // user 0: hit at rank 2 (0-based) -> recall@1 0, @2 0, @5 1 ; user 1: 0 at @1, 1/2 at @2 and @5 (item 0 is 6th), 2/2 at @10
    expect(m['recall@1']).toBeCloseTo((0 + 0) / 2);
    expect(m['recall@2']).toBeCloseTo((0 + 0.5) / 2);
    expect(m['recall@5']).toBeCloseTo((1 + 0.5) / 2);
    expect(m['recall@10']).toBeCloseTo(1);
    expect(m['recall@20']).toBeCloseTo(1);
    expect(m['recall@50']).toBeCloseTo(1);
    const d = (r: number) => 1 / Math.log2(r + 2);
    const ndcg0 = d(2) / d(0);
    const ndcg1 = (d(1) + d(5)) / (d(0) + d(1));
    expect(m['ndcg@10']).toBeCloseTo((ndcg0 + ndcg1) / 2, 10);
  });

  it('removes seen items even when they are test positives (they stay in the denominator)', async () => {
    const m = await evaluateRetrieval({ numItems, test: log([[0, 0, 1]]), valueWeights: Float32Array.of(1), numTasks: 1, seen, score });
    expect(m['recall@50']).toBe(0);
    expect(m.users).toBe(1);
  });

  it('uses labels . valueWeights over several tasks to pick positives', () => {
    const t = log([[0, 1, 1, 0], [0, 2, 0, 1], [1, 3, 1, 0]], 2);
    const pos = testPositives(t, Float32Array.of(0, 1), 2, numItems);
    expect([...pos.keys()]).toEqual([0]);
    expect(Array.from(pos.get(0)!)).toEqual([2]);
  });

  it('validates its inputs', async () => {
    const base = { numItems, test, valueWeights: Float32Array.of(1), numTasks: 1, seen, score };
    await expect(evaluateRetrieval({ ...base, score: () => new Float32Array(3) })).rejects.toThrow(ShapeError);
    await expect(evaluateRetrieval({ ...base, test: log([[0, 1, 0]]) })).rejects.toThrow(EmptyError);
    await expect(evaluateRetrieval({ ...base, test: log([[0, 9, 1]]) })).rejects.toThrow(OutOfRangeError);
    await expect(evaluateRetrieval({ ...base, valueWeights: Float32Array.of(1, 1) })).rejects.toThrow(ShapeError);
    await expect(evaluateRetrieval({ ...base, ks: [0] })).rejects.toThrow(OutOfRangeError);
  });
});

describe('popularityScores', () => {
  const train = log([[0, 1, 1], [1, 1, 0], [2, 2, 1], [0, 2, 0], [1, 2, 0]]);
  it('counts every training row by default, or only positives', () => {
    expect(Array.from(popularityScores(train, 4, Float32Array.of(1), 1))).toEqual([0, 2, 3, 0]);
    expect(Array.from(popularityScores(train, 4, Float32Array.of(1), 1, 'positives'))).toEqual([0, 1, 1, 0]);
  });
  it('rejects out-of-range items', () => {
    expect(() => popularityScores(train, 2, Float32Array.of(1), 1)).toThrow(OutOfRangeError);
  });
});
