import { syntheticWorld } from './synthetic.js';
import { validateBatch } from './validate.js';
import { inMemorySource } from './batches.js';
import type { Batch } from './types.js';

describe('syntheticWorld', () => {
  it('is deterministic for a seed, and its batches validate', () => {
    const a = syntheticWorld({ seed: 3, numUsers: 200, numItems: 100, impressions: 3000 });
    const b = syntheticWorld({ seed: 3, numUsers: 200, numItems: 100, impressions: 3000 });
    expect(a.train.item).toEqual(b.train.item);
    expect(a.train.labels).toEqual(b.train.labels);
    expect(a.userFeatures).toEqual(b.userFeatures);
    expect(a.truth!.valueOfAllItems(5)).toEqual(b.truth!.valueOfAllItems(5));
    expect(syntheticWorld({ seed: 4, numUsers: 200, numItems: 100, impressions: 3000 }).train.item).not.toEqual(a.train.item);
    for (const batch of inMemorySource(a, { batchSize: 256, historyLength: 5 }).batches(0) as Iterable<Batch>) validateBatch(batch, a.schema);
  });

  it('has a position effect in its labels and positives to evaluate', () => {
    const w = syntheticWorld({ seed: 1 });
    const clicks = new Float64Array(10);
    const shown = new Float64Array(10);
    for (let r = 0; r < w.train.size; r++) {
      shown[w.train.position![r]!]!++;
      clicks[w.train.position![r]!]! += w.train.labels[2 * r]!;
    }
    expect(clicks[0]! / shown[0]!).toBeGreaterThan(1.5 * (clicks[9]! / shown[9]!));
    expect(w.test.size).toBeGreaterThan(1500);
  });
});
