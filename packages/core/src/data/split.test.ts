import { chronologicalOrder, leaveLastOut, sliceLog, splitDataset } from './split.js';
import type { InteractionLog } from './types.js';

// [user, item, label, timestamp], in file order
const rows: readonly (readonly [number, number, number, number])[] = [
  [0, 10, 1, 5],
  [0, 11, 1, 9],
  [0, 12, 1, 9], // same time as the row above: file order breaks the tie, so item 12 is last
  [0, 13, 0, 10], // later but not positive
  [1, 20, 1, 1], // user 1: a single row -> not evaluated
  [2, 30, 0, 2], // user 2: no positive -> not evaluated
  [2, 31, 0, 3],
  [3, 40, 1, 8], // user 3: positives at t = 8 and t = 4 (file order is not time order)
  [3, 41, 1, 4],
  [0, 14, 1, 1], // user 0's earliest row comes last in the file
];

const log: InteractionLog = {
  size: rows.length,
  user: Int32Array.from(rows, (r) => r[0]),
  item: Int32Array.from(rows, (r) => r[1]),
  labels: Float32Array.from(rows, (r) => r[2]),
  timestamp: Float64Array.from(rows, (r) => r[3]),
};

describe('loo-full split', () => {
  const chronological = sliceLog(log, chronologicalOrder(log), 1);

  it('orders by timestamp, ties by file order', () => {
    expect(Array.from(chronological.item)).toEqual([20, 14, 30, 31, 41, 10, 40, 11, 12, 13]);
  });

  it("tests each evaluated user's last positive; users with one row or no positive stay in train", () => {
    const split = leaveLastOut(chronological, 4, [1]);
    expect(Array.from(split.test.user)).toEqual([0, 3]);
    expect(Array.from(split.test.item)).toEqual([12, 40]);
    expect(Array.from(split.train.item)).toEqual([20, 14, 30, 31, 41, 10, 11, 13]);
    expect(Array.from(split.train.timestamp!)).toEqual([1, 1, 2, 3, 4, 5, 9, 10]);
    expect(split.validation).toBeUndefined();
  });

  it('holds out the positive before the test row as validation', () => {
    const split = leaveLastOut(chronological, 4, [1], { validation: true });
    expect(Array.from(split.test.item)).toEqual([12, 40]);
    expect(Array.from(split.validation!.item)).toEqual([11, 41]);
    expect(Array.from(split.train.item)).toEqual([20, 14, 30, 31, 10, 13]);
    expect(split.train.size + split.validation!.size + split.test.size).toBe(rows.length);
  });
});

describe('splitDataset', () => {
  const chronological = sliceLog(log, chronologicalOrder(log), 1);

  it("'previous' is loo-full with the positive before the test row", () => {
    const split = splitDataset(chronological, 4, [1], undefined, { validation: true });
    const loo = leaveLastOut(chronological, 4, [1], { validation: true });
    expect(Array.from(split.validation!.item)).toEqual(Array.from(loo.validation!.item));
    expect(Array.from(split.test.item)).toEqual([12, 40]);
  });

  it("'random' draws from the training positives of users with two or more, leaving the test rows alone", () => {
    const split = splitDataset(chronological, 4, [1], undefined, { validation: true, validationHoldout: 'random', seed: 3 });
    expect(Array.from(split.test.item)).toEqual([12, 40]);
    // user 0 has training positives 14, 10, 11; user 3 only 41 (kept); users 1 and 2 have too few
    expect(Array.from(split.validation!.user)).toEqual([0]);
    expect([14, 10, 11]).toContain(split.validation!.item[0]);
    expect(split.train.size + split.validation!.size + split.test.size).toBe(log.size);
    expect(split.description).toMatch(/seed 3/);
  });

  describe('requests held out for the funnel monitor', () => {
    // one request per user: user u has 3 rows at timestamp 0 (positives), ranker-scored
    const scoredLog = (users: number): InteractionLog => {
      const n = users * 3;
      return {
        size: n,
        user: Int32Array.from({ length: n }, (_, r) => Math.floor(r / 3)),
        item: Int32Array.from({ length: n }, (_, r) => r % 3),
        labels: new Float32Array(n).fill(1),
        timestamp: new Float64Array(n),
        rankerScores: new Float32Array(n).fill(0.5),
      };
    };
    const heldRequests = (users: number): number => {
      const split = splitDataset(scoredLog(users), users, [1], undefined, { validation: true, seed: 1 });
      return new Set(split.validationRequests!.user).size;
    };

    it('holds out 5% of a large log but about 250 requests of a small one, at most 20%', () => {
      expect(heldRequests(20_000) / 20_000).toBeCloseTo(0.05, 2);
      expect(heldRequests(2_000)).toBeGreaterThan(200); // 5% would be 100
      expect(heldRequests(2_000)).toBeLessThan(300);
      expect(heldRequests(500) / 500).toBeLessThan(0.26); // capped at 20%
      expect(heldRequests(500) / 500).toBeGreaterThan(0.14);
    });

    it('an explicit requestShare wins, and rows are never lost', () => {
      const all = scoredLog(2_000);
      const split = splitDataset(all, 2_000, [1], undefined, { validation: true, requestShare: 0.05, seed: 1 });
      expect(new Set(split.validationRequests!.user).size).toBeLessThan(150);
      expect(split.train.size + split.validation!.size + split.validationRequests!.size + split.test.size).toBe(all.size);
    });

    it('are the same requests whatever the seed (part of the split, like the test rows)', () => {
      const held = (seed: number) => Array.from(splitDataset(scoredLog(2_000), 2_000, [1], undefined, { validation: true, seed }).validationRequests!.user);
      expect(held(7)).toEqual(held(0));
    });
  });
});
