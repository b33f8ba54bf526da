import { evaluateFunnel, funnelReferences } from './funnel.js';
import { EmptyError, ShapeError, ValueError } from '../errors.js';
import type { GroundTruth } from '../data/types.js';

// 12 items; user 0 values = item index / 10 (best = 11, 10, ...); user 1 values reversed.
const N = 12;
const truth: GroundTruth = {
  valueOfAllItems: (u) => Float32Array.from({ length: N }, (_, i) => (u === 0 ? i : N - 1 - i) / 10),
};
const seen = [Int32Array.of(11), undefined];

describe('evaluateFunnel', () => {
  it('computes alignment@10/100 and value@10 on a hand-made truth', async () => {
    // user 0: true top 10 without seen item 11 = items 10..1 (sum 5.5); retrieval returns 0..10 -> contains 10 of them
    // but the final top 10 = first 10 = 0..9 -> value (0+...+9)/10 / 5.5
    // user 1: true top 10 = items 0..9 (values 1.1 .. 0.2, sum 6.5); retrieval returns 0..4 only -> alignment 0.5;
    // final = 0..4 -> value (1.1+1.0+0.9+0.8+0.7) / 6.5
    const m = await evaluateFunnel({
      truth, users: Int32Array.of(0, 1), seen,
      retrieved: async (users) => Array.from(users, (u) => (u === 0 ? Int32Array.from({ length: 11 }, (_, i) => i) : Int32Array.of(0, 1, 2, 3, 4))),
    });
    expect(m.users).toBe(2);
    expect(m['alignment@10/100']).toBeCloseTo((1 + 0.5) / 2);
    expect(m['value@10']).toBeCloseTo((4.5 / 5.5 + 4.5 / 6.5) / 2);
  });

  it('uses the re-ranked final list for value@10', async () => {
    const m = await evaluateFunnel({
      truth, users: Int32Array.of(0), seen,
      retrieved: async (users) => Array.from(users, () => Int32Array.from({ length: 11 }, (_, i) => i)),
      final: async (_users, retrieved) => retrieved.map((r) => r.slice().reverse().subarray(0, 10)), // 10..1 = the oracle
    });
    expect(m['value@10']).toBeCloseTo(1);
  });

  it('rejects seen or repeated items in the final list and wrong batch sizes', async () => {
    const users = Int32Array.of(0);
    await expect(evaluateFunnel({ truth, users, seen, retrieved: async () => [Int32Array.of(11, 1)] })).rejects.toThrow(ValueError);
    await expect(evaluateFunnel({ truth, users, seen, retrieved: async () => [Int32Array.of(1, 1)] })).rejects.toThrow(ValueError);
    await expect(evaluateFunnel({ truth, users, seen, retrieved: async () => [] })).rejects.toThrow(ShapeError);
    await expect(evaluateFunnel({ truth, users: new Int32Array(0), seen, retrieved: async () => [] })).rejects.toThrow(EmptyError);
  });
});

describe('funnelReferences', () => {
  it('gives the oracle, the exact random expectation and popularity', async () => {
    const pop = Float32Array.from({ length: N }, (_, i) => i); // popularity = user 0's values
    const r = await funnelReferences({ truth, users: Int32Array.of(0, 1), seen, popularity: pop });
    // oracle mean V: user 0 -> items 10..1 = 5.5/10 ; user 1 -> items 0..9 = (11+...+2)/10/10 = 0.65
    expect(r.oracle['meanValue@10']).toBeCloseTo((0.55 + 0.65) / 2);
    // random: all unseen items fit in 100 -> alignment 1 ; value = mean V over unseen / the true top's mean
    expect(r.random['alignment@10/100']).toBeCloseTo(1);
    expect(r.random['value@10']).toBeCloseTo((5.5 / 11 / 0.55 + 6.6 / 12 / 0.65) / 2);
    // popularity final top 10: user 0 gets 10..1 (seen 11 removed) = oracle; user 1 gets 11..2 = (0+...+9)/10 over 6.5
    expect(r.popularity!['value@10']).toBeCloseTo((1 + 4.5 / 6.5) / 2);
    expect(r.popularity!['alignment@10/100']).toBeCloseTo(1);
  });
});
