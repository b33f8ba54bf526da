import { ConfigError, syntheticEmbeddings } from './index.js';

describe('syntheticEmbeddings', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const a = syntheticEmbeddings({ n: 100, dim: 8, seed: 1 });
    expect(syntheticEmbeddings({ n: 100, dim: 8, seed: 1 })).toEqual(a);
    expect(syntheticEmbeddings({ n: 100, dim: 8, seed: 2 })).not.toEqual(a);
    expect(a.every(Number.isFinite)).toBe(true);
  });

  it('varies norms across items', () => {
    const x = syntheticEmbeddings({ n: 2000, dim: 16, seed: 3 });
    const norms = Array.from({ length: 2000 }, (_, i) => Math.hypot(...x.subarray(i * 16, (i + 1) * 16)));
    const sorted = norms.sort((p, q) => p - q);
    expect(sorted[1900]! / sorted[100]!).toBeGreaterThan(1.5);
  });

  it('rejects bad sizes', () => {
    expect(() => syntheticEmbeddings({ n: 10, dim: 0 })).toThrow(ConfigError);
  });
});
