import { ConfigError } from '../errors.js';
import { inMemorySource } from './batches.js';
import { syntheticWorld } from './synthetic.js';
import type { Batch } from './types.js';
import { validateBatch } from './validate.js';

/** Share of requests whose top item is shown more often overall than their bottom one (10-slot slates, every log of the world). */
function topShownMore(w: ReturnType<typeof syntheticWorld>): number {
  const shows = new Map<number, number>();
  const ends = new Map<number, [number, number]>();
  for (const log of [w.train, w.validation!, w.test]) {
    for (let r = 0; r < log.size; r++) {
      shows.set(log.item[r]!, (shows.get(log.item[r]!) ?? 0) + 1);
      const e = ends.get(log.timestamp![r]!) ?? [-1, -1];
      if (log.position![r] === 0) e[0] = log.item[r]!;
      if (log.position![r] === 9) e[1] = log.item[r]!;
      ends.set(log.timestamp![r]!, e);
    }
  }
  let more = 0;
  for (const [top, bottom] of ends.values()) if (top >= 0 && bottom >= 0 && shows.get(top)! > shows.get(bottom)!) more++;
  return more / ends.size;
}

describe('syntheticWorld', () => {
  const small = { numUsers: 200, numItems: 100, impressions: 3000 };

  it('is deterministic for a seed, and differs between seeds', () => {
    const a = syntheticWorld({ seed: 3, ...small, validation: true });
    const b = syntheticWorld({ seed: 3, ...small, validation: true });
    for (const key of ['user', 'item', 'labels', 'position', 'rankerScores', 'timestamp'] as const) {
      expect(b.train[key]).toEqual(a.train[key]);
      expect(b.test[key]).toEqual(a.test[key]);
      expect(b.validation![key]).toEqual(a.validation![key]);
    }
    expect(b.userFeatures).toEqual(a.userFeatures);
    expect(b.itemFeatures).toEqual(a.itemFeatures);
    expect(b.truth!.valueOfAllItems(5)).toEqual(a.truth!.valueOfAllItems(5));
    expect(syntheticWorld({ seed: 4, ...small }).train.item).not.toEqual(a.train.item);
  });

  it('has the documented shape, and its batches validate', () => {
    const w = syntheticWorld({ seed: 1, ...small, userFeatureDim: 5, itemFeatureDim: 7, slateSize: 6, validation: true });
    expect(w.schema).toEqual({
      numUsers: 200, numItems: 100, tasks: ['click', 'like'], userFeatureDim: 5, itemFeatureDim: 7,
      numPositions: 6, hasRankerScores: true, labelMax: [1, 1],
    });
    expect(Array.from(w.valueWeights)).toEqual([1, 0.5]);
    // requests are held out whole for the funnel monitor (the log has ranker scores; this small one: 20%)
    expect(w.validationRequests!.size).toBeGreaterThan(0);
    expect(w.train.size + w.validation!.size + w.validationRequests!.size + w.test.size).toBe(3000);
    expect([w.userFeatures.length, w.itemFeatures.length]).toEqual([200 * 5, 100 * 7]);
    // a like needs a click
    for (let r = 0; r < w.train.size; r++) expect(w.train.labels[2 * r + 1]! <= w.train.labels[2 * r]!).toBe(true);
    for (const batch of inMemorySource(w, { batchSize: 256, historyLength: 5 }).batches(0) as Iterable<Batch>) validateBatch(batch, w.schema);
    const v = w.truth!.valueOfAllItems(0);
    expect(v).toHaveLength(100);
    expect(v.every((x) => x > 0 && x < 1.5)).toBe(true);
  });

  it('has a position effect in its labels, signal in its log, and positives to evaluate', () => {
    const w = syntheticWorld({ seed: 1 });
    const clicks = new Float64Array(10);
    const shown = new Float64Array(10);
    for (let r = 0; r < w.train.size; r++) {
      shown[w.train.position![r]!]!++;
      clicks[w.train.position![r]!]! += w.train.labels[2 * r]!;
    }
    expect(clicks[0]! / shown[0]!).toBeGreaterThan(1.5 * (clicks[9]! / shown[9]!));
    expect(w.test.size).toBeGreaterThan(1500);
    // held-out items have a higher true value than the average item for their user
    let above = 0;
    for (let r = 0; r < 200; r++) {
      const v = w.truth!.valueOfAllItems(w.test.user[r]!);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      if (v[w.test.item[r]!]! > mean) above++;
    }
    expect(above).toBeGreaterThan(140);
  });

  it('supports other task lists and rejects bad options (ConfigError)', () => {
    const w = syntheticWorld({ seed: 2, ...small, tasks: ['click', 'like', 'share'], valueWeights: [1, 1, 2] });
    expect(w.schema.tasks).toEqual(['click', 'like', 'share']);
    expect(w.train.labels.length).toBe(3 * w.train.size);
    expect(() => syntheticWorld({ ...small, tasks: ['a', 'b'], valueWeights: [1] })).toThrow(ConfigError);
    expect(() => syntheticWorld({ ...small, slateSize: 101 })).toThrow(ConfigError);
    expect(() => syntheticWorld({ ...small, numUsers: 0 })).toThrow(ConfigError);
  });

  it('can flip labels and leave rows unscored (NaN ranker scores), without changing anything else', () => {
    const clean = syntheticWorld({ seed: 5, ...small });
    const noisy = syntheticWorld({ seed: 5, ...small, labelNoise: 0.2, rankerCoverage: 0.6 });
    // same requests and items (the split may differ: positives moved)
    const all = (w: typeof clean) => [w.train, w.test].reduce((n, l) => n + l.size, 0);
    expect(all(noisy)).toBe(all(clean));
    const log = noisy.train;
    const T = noisy.schema.tasks.length;
    let unscored = 0;
    for (let r = 0; r < log.size; r++) {
      const nan = Number.isNaN(log.rankerScores![r * T]!);
      expect(Number.isNaN(log.rankerScores![r * T + 1]!)).toBe(nan); // a row is scored or not, every task alike
      if (nan) unscored++;
    }
    expect(unscored / log.size).toBeGreaterThan(0.35);
    expect(unscored / log.size).toBeLessThan(0.45);
    const rate = (w: typeof clean) => w.train.labels.reduce((a, b) => a + b, 0) / w.train.labels.length;
    expect(rate(noisy)).toBeGreaterThan(rate(clean) + 0.05); // flips add positives to a sparse log
    for (const b of inMemorySource(noisy, { batchSize: 256 }).batches(0) as Iterable<Batch>) validateBatch(b, noisy.schema);
    expect(() => syntheticWorld({ ...small, labelNoise: 0.7 })).toThrow(ConfigError);
    expect(() => syntheticWorld({ ...small, rankerCoverage: 1.5 })).toThrow(ConfigError);
  });

  it('with interest drift, recent positives match the users\' current (true) taste better than old ones', () => {
    const opts = { numUsers: 60, numItems: 200, impressions: 24_000, seed: 7 };
    const still = syntheticWorld(opts);
    expect(syntheticWorld({ ...opts, interestDrift: 0 }).train.labels).toEqual(still.train.labels);
    // true value (at the end of the log) of each user's positives: last quarter of the log against the first
    const lateMinusEarly = (w: typeof still) => {
      const log = w.train;
      const end = log.timestamp![log.size - 1]!;
      let diff = 0;
      let users = 0;
      for (let u = 0; u < 60; u++) {
        const v = w.truth!.valueOfAllItems(u);
        const sums = [0, 0, 0, 0];
        for (let r = 0; r < log.size; r++) {
          if (log.user[r] !== u || log.labels[2 * r] === 0) continue;
          const t = log.timestamp![r]! / end;
          const part = t < 0.25 ? 0 : t >= 0.75 ? 2 : -1;
          if (part >= 0) (sums[part] = sums[part]! + v[log.item[r]!]!), (sums[part + 1] = sums[part + 1]! + 1);
        }
        if (sums[1]! > 0 && sums[3]! > 0) (diff += sums[2]! / sums[3]! - sums[0]! / sums[1]!), users++;
      }
      return diff / users;
    };
    expect(Math.abs(lateMinusEarly(still))).toBeLessThan(0.06); // -0.02 here; 0.24 with drift
    expect(lateMinusEarly(syntheticWorld({ ...opts, interestDrift: 0.3 }))).toBeGreaterThan(0.1);
    expect(() => syntheticWorld({ ...small, interestDrift: 1 })).toThrow(ConfigError);
    expect(() => syntheticWorld({ ...small, interestDrift: -0.1 })).toThrow(ConfigError);
  });

  it('lays the selected slate out by score, popularity, in reverse or at random (slateOrder)', () => {
    const opts = { seed: 8, numUsers: 100, numItems: 300, impressions: 6000, validation: true };
    const byScore = syntheticWorld(opts);
    expect(syntheticWorld({ ...opts, slateOrder: 'score' }).train.item).toEqual(byScore.train.item);
    const logs = (w: typeof byScore) => [w.train, w.validation!, w.test];
    /** mean true value of the items shown at the first and at the last position */
    const valueAtEnds = (w: typeof byScore) => {
      const value = Array.from({ length: 100 }, (_, u) => w.truth!.valueOfAllItems(u));
      const sum = new Float64Array(2);
      const count = new Float64Array(2);
      for (const log of logs(w)) {
        for (let r = 0; r < log.size; r++) {
          const end = log.position![r] === 0 ? 0 : log.position![r] === 9 ? 1 : -1;
          if (end >= 0) (sum[end] = sum[end]! + value[log.user[r]!]![log.item[r]!]!), (count[end] = count[end]! + 1);
        }
      }
      return [sum[0]! / count[0]!, sum[1]! / count[1]!] as const;
    };
    const [scoreTop, scoreBottom] = valueAtEnds(byScore);
    expect(scoreTop - scoreBottom).toBeGreaterThan(0.1); // the policy's best first
    const [reversedTop, reversedBottom] = valueAtEnds(syntheticWorld({ ...opts, slateOrder: 'reversed' }));
    expect(reversedBottom - reversedTop).toBeGreaterThan(0.1); // its best last
    for (const order of ['random', 'popularity'] as const) {
      const [top, bottom] = valueAtEnds(syntheticWorld({ ...opts, slateOrder: order }));
      expect(Math.abs(top - bottom)).toBeLessThan(0.3 * (scoreTop - scoreBottom)); // position says little about value
    }
    // popularity first: the item on top is, more often than not, shown more often overall than the one at the bottom
    expect(topShownMore(syntheticWorld({ ...opts, slateOrder: 'popularity' }))).toBeGreaterThan(topShownMore(byScore) + 0.2);
    expect(() => syntheticWorld({ ...small, slateOrder: 'sideways' as never })).toThrow(ConfigError);
  });

  it("lays out by a stale ranker's order, or by the score plus a popularity bonus and Gumbel noise", () => {
    const opts = { seed: 8, numUsers: 100, numItems: 300, impressions: 6000, validation: true };
    const byScore = syntheticWorld(opts);
    /** mean true value at position 0 minus at position 9, over every log */
    const drop = (w: typeof byScore) => {
      const value = Array.from({ length: 100 }, (_, u) => w.truth!.valueOfAllItems(u));
      const sum = [0, 0];
      const count = [0, 0];
      for (const log of [w.train, w.validation!, w.test]) {
        for (let r = 0; r < log.size; r++) {
          const end = log.position![r] === 0 ? 0 : log.position![r] === 9 ? 1 : -1;
          if (end >= 0) (sum[end]! += value[log.user[r]!]![log.item[r]!]!), count[end]!++;
        }
      }
      return sum[0]! / count[0]! - sum[1]! / count[1]!;
    };
    const best = drop(byScore);
    const stale = drop(syntheticWorld({ ...opts, slateOrder: 'stale' }));
    expect(stale).toBeGreaterThan(0); // a stale ranker still knows something
    expect(stale).toBeLessThan(0.8 * best);
    expect(drop(syntheticWorld({ ...opts, layoutNoise: 3 }))).toBeLessThan(0.8 * best);
    // a popularity bonus puts the more often shown item on top more often
    expect(topShownMore(syntheticWorld({ ...opts, layoutPopularity: 5 }))).toBeGreaterThan(topShownMore(byScore) + 0.1);
    expect(() => syntheticWorld({ ...small, layoutNoise: -1 })).toThrow(ConfigError);
    expect(() => syntheticWorld({ ...small, staleness: 2 })).toThrow(ConfigError);
  });

  it("draws candidates from the policy's own top and orders by value when asked; the ranker's noise is set", () => {
    const opts = { seed: 2, numUsers: 100, numItems: 500, impressions: 5000 };
    /** mean true value of the shown items */
    const shownValue = (w: ReturnType<typeof syntheticWorld>) => {
      const value = Array.from({ length: 100 }, (_, u) => w.truth!.valueOfAllItems(u));
      let sum = 0;
      for (let r = 0; r < w.train.size; r++) sum += value[w.train.user[r]!]![w.train.item[r]!]!;
      return sum / w.train.size;
    };
    const popular = syntheticWorld(opts);
    const policy = syntheticWorld({ ...opts, candidates: 'policy' });
    expect(shownValue(policy)).toBeGreaterThan(shownValue(popular));
    expect(shownValue(syntheticWorld({ ...opts, candidates: 'policy', policyScore: 'value', valueWeights: [1, 3] }))).toBeGreaterThan(0);
    // no logit noise: the logged predictions are the true probabilities, whose value is the truth's
    const exact = syntheticWorld({ ...opts, rankerNoise: 0 });
    for (let r = 0; r < 50; r++) {
      const u = exact.train.user[r]!;
      const v = exact.truth!.valueOfAllItems(u)[exact.train.item[r]!]!;
      const logged = exact.train.rankerScores![2 * r]! * 1 + exact.train.rankerScores![2 * r + 1]! * 0.5;
      expect(logged).toBeCloseTo(v, 4);
    }
    expect(() => syntheticWorld({ ...small, candidates: 'all' as never })).toThrow(ConfigError);
    expect(() => syntheticWorld({ ...small, policyScore: 'clicks' as never })).toThrow(ConfigError);
  });

  it('generates the benchmark shape (generation speed is measured by the benchmarks, not here)', () => {
    const bench = syntheticWorld({ seed: 0, numUsers: 10_000, numItems: 5_000, impressions: 100_000, userFeatureDim: 16, itemFeatureDim: 16 });
    expect(bench.train.size + bench.test.size).toBe(100_000);
  });
});
