import { ItemExposure } from './item-exposure';

/** A small seeded uniform generator (LCG) for the test's impressions. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** `count` impressions over `items` items; each exposure is `itemEffect(item) + noise`. */
function impressions(count: number, items: number, itemEffect: (i: number) => number, seed = 1): { item: Int32Array; exposure: Float32Array } {
  const rand = lcg(seed);
  const item = Int32Array.from({ length: count }, () => Math.floor(rand() * items));
  const exposure = Float32Array.from(item, (i) => itemEffect(i) + 0.2 * (rand() - 0.5));
  return { item, exposure };
}

/** Feeds `data` in batches of 256; returns the last batch's estimates. */
function feed(e: ItemExposure, data: { item: Int32Array; exposure: Float32Array }): Float32Array {
  let last: Float32Array = new Float32Array(0);
  for (let s = 0; s < data.item.length; s += 256) last = e.add(data.item.subarray(s, s + 256), data.exposure.subarray(s, s + 256));
  return last;
}

describe('ItemExposure', () => {
  it('keeps its running sums equal to the statistics computed from scratch', () => {
    const data = impressions(3000, 50, (i) => 0.3 + 0.01 * i);
    const e = new ItemExposure(50);
    const got = feed(e, data);
    // from scratch: per-item means, pooled within variance, between variance net of noise
    const n = new Float64Array(50);
    const sum = new Float64Array(50);
    let sq = 0;
    data.item.forEach((i, r) => { n[i]!++; sum[i]! += data.exposure[r]!; sq += data.exposure[r]! ** 2; });
    const seen = [...n.keys()].filter((i) => n[i]! > 0);
    const means = seen.map((i) => sum[i]! / n[i]!);
    const within = (sq - seen.reduce((a, i) => a + sum[i]! ** 2 / n[i]!, 0)) / (data.item.length - seen.length);
    const meanOfMeans = means.reduce((a, b) => a + b, 0) / seen.length;
    const between = means.reduce((a, m) => a + (m - meanOfMeans) ** 2, 0) / seen.length - within * seen.reduce((a, i) => a + 1 / n[i]!, 0) / seen.length;
    const g = data.exposure.reduce((a, b) => a + b, 0) / data.item.length;
    const lastBatch = data.item.subarray(Math.floor((data.item.length - 1) / 256) * 256);
    lastBatch.forEach((i, r) => {
      const k = (n[i]! * between) / (n[i]! * between + within);
      expect(got[r]).toBeCloseTo(g + k * (sum[i]! / n[i]! - g), 5);
    });
    expect(e.summary()!.itemShare).toBeCloseTo(between / (between + within), 6);
    expect(e.summary()!.impressions).toBe(3000);
    expect(e.summary()!.items).toBe(seen.length);
  });

  it('gives every item the overall mean when the layout does not depend on the item, and says the correction is ~uniform', () => {
    const data = impressions(20_000, 500, () => 0.4);
    const shrunk = new ItemExposure(500);
    const raw = new ItemExposure(500, false);
    const a = feed(shrunk, data);
    const b = feed(raw, data);
    const s = shrunk.summary()!;
    expect(s.itemShare).toBeLessThan(0.01);
    expect(s.correctionSpread).toBeLessThan(0.01);
    a.forEach((v) => expect(Math.abs(v - s.meanExposure)).toBeLessThan(0.01));
    // the raw means carry the sampling noise the shrinkage removes (40 impressions per item: sd ~ 0.058 / sqrt(40))
    expect(raw.summary()!.correctionSpread).toBeGreaterThan(0.015);
    expect(Math.max(...b.map((v) => Math.abs(v - s.meanExposure)))).toBeGreaterThan(0.01);
  });

  it('keeps an item-dependent layout, and an item seen once less of its own mean than one seen often', () => {
    const effect = (i: number) => (i % 2 === 0 ? 0.2 : 0.6);
    const data = impressions(20_000, 200, effect);
    const e = new ItemExposure(202);
    feed(e, data);
    const s = e.summary()!;
    expect(s.itemShare).toBeGreaterThan(0.9);
    expect(s.correctionSpread).toBeGreaterThan(0.3);
    // items 200 and 201: never seen, then seen once at a high exposure
    expect(e.add([200], [0.9])[0]).toBeLessThan(0.9);
    const often = e.add([1], [0.6])[0]!;
    expect(Math.abs(often - 0.6)).toBeLessThan(0.02);
    const once = e.add([201], [0.6])[0]!;
    expect(Math.abs(once - 0.6)).toBeGreaterThan(Math.abs(often - 0.6));
  });

  it('hashes ids beyond its rows the way the item table does', () => {
    const e = new ItemExposure(10);
    e.add([3, 13], [0.2, 0.4]);
    expect(e.summary()!.items).toBe(1);
  });
});
