import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  CorruptFileError,
  DuplicateIdError,
  EmptyError,
  ExactIndex,
  HnswIndex,
  OutOfRangeError,
  ShapeError,
  StateError,
  ValueError,
  loadIndex,
  syntheticEmbeddings,
} from './index.js';

const dim = 32;
const n = 20000;
const corpus = syntheticEmbeddings({ n, dim, seed: 11, clusters: 64 });
const queries = syntheticEmbeddings({ n: 200, dim, seed: 12, clusters: 64 });
const ids = Array.from({ length: n }, (_, i) => `item-${i}`);
const dir = mkdtempSync(join(tmpdir(), 'tt-hnsw-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function recall(got: { ids: unknown[] }[], want: { ids: unknown[] }[]): number {
  let hit = 0;
  let total = 0;
  got.forEach((g, q) => {
    const w = new Set(want[q]!.ids);
    hit += g.ids.filter((id) => w.has(id)).length;
    total += w.size;
  });
  return hit / total;
}

describe('HnswIndex', () => {
  let hnsw: HnswIndex;
  let exact: ExactIndex;
  beforeAll(() => {
    hnsw = new HnswIndex({ dim, connectivity: 16, expansionAdd: 128, expansionSearch: 64 });
    hnsw.add(ids, corpus);
    exact = new ExactIndex({ dim, threads: 2 });
    exact.add(ids, corpus);
  });
  afterAll(async () => {
    await hnsw.dispose();
    await exact.dispose();
  });

  it('reaches recall@10 >= 0.95 against ExactIndex, with inner-product scores', async () => {
    const got = await hnsw.search(queries, 10);
    const want = await exact.search(queries, 10);
    expect(recall(got, want)).toBeGreaterThanOrEqual(0.95);
    // scores are inner products of the returned vectors
    const [first] = got;
    const v = hnsw.getVectors([first!.ids[0]!]);
    const dot = Array.from(v).reduce((s, x, d) => s + x * (queries[d] as number), 0);
    expect(first!.scores[0]).toBeCloseTo(dot, 4);
  });

  it('recall grows with expansionSearch', async () => {
    const want = await exact.search(queries, 10);
    const low = new HnswIndex({ dim, connectivity: 4, expansionAdd: 8, expansionSearch: 1 });
    low.add(ids.slice(0, 5000), corpus.subarray(0, 5000 * dim));
    const wantSmall = await (async () => {
      const e = new ExactIndex({ dim, threads: 1 });
      e.add(ids.slice(0, 5000), corpus.subarray(0, 5000 * dim));
      const r = await e.search(queries, 10);
      await e.dispose();
      return r;
    })();
    const r1 = recall(await low.search(queries, 10), wantSmall);
    low.setExpansionSearch(256);
    expect(low.params.expansionSearch).toBe(256);
    const r2 = recall(await low.search(queries, 10), wantSmall);
    expect(r2).toBeGreaterThan(r1);
    expect(want.length).toBe(200);
    await low.dispose();
  });

  it('widens its search with k (searchWidening): recall@500 and @1000 of unit vectors >= 0.98, above a beam of ef = k', async () => {
    const unit = (m: Float32Array) => {
      for (let i = 0; i < m.length / dim; i++) {
        const row = m.subarray(i * dim, (i + 1) * dim);
        const norm = Math.hypot(...row);
        row.forEach((x, j) => (row[j] = x / norm));
      }
      return m;
    };
    const items = unit(corpus.slice());
    const users = unit(queries.slice(0, 50 * dim));
    const truth = new ExactIndex({ dim, threads: 2 });
    truth.add(ids, items);
    const widened = new HnswIndex({ dim });
    widened.add(ids, items);
    // the same graph searched with ef = k: searchWidening is a search-time setting, given at load
    await widened.save(join(dir, 'widening'));
    const narrow = await HnswIndex.load(join(dir, 'widening'), { searchWidening: 1 });
    expect(widened.params.searchWidening).toBe(2);
    for (const k of [500, 1000]) {
      const want = await truth.search(users, k);
      const wide = recall(await widened.search(users, k), want);
      expect(wide).toBeGreaterThanOrEqual(0.98);
      expect(wide).toBeGreaterThan(recall(await narrow.search(users, k), want));
    }
    expect(() => new HnswIndex({ dim, searchWidening: 0.5 })).toThrow(ConfigError);
    await Promise.all([truth.dispose(), widened.dispose(), narrow.dispose()]);
  });

  it('excludes ids per query and still returns k', async () => {
    const [first] = await hnsw.search(queries.subarray(0, dim), 10);
    const [r] = await hnsw.search(queries.subarray(0, dim), 10, { exclude: [first!.ids.slice(0, 5)], includeVectors: true });
    expect(r!.ids).toHaveLength(10);
    expect(r!.ids.some((id) => first!.ids.slice(0, 5).includes(id))).toBe(false);
    expect(r!.vectors).toEqual(hnsw.getVectors(r!.ids));
  });

  it('reflects update and remove', async () => {
    const idx = new HnswIndex({ dim: 2 });
    idx.add([10, 20, 30], [[1, 0], [0, 1], [0.5, 0.5]]);
    idx.update([20], [[3, 0]]);
    expect((await idx.search([[1, 0]], 1))[0]!.ids).toEqual([20]);
    expect(idx.remove([20])).toBe(1);
    expect((await idx.search([[1, 0]], 2))[0]!.ids).toEqual([10, 30]);
    idx.add([40], [[2, 2]]);
    expect((await idx.search([[1, 1]], 1))[0]!.ids).toEqual([40]);
    await idx.dispose();
  });

  it('saves and loads the graph to the same results', async () => {
    const path = join(dir, 'hnsw');
    await hnsw.save(path);
    const loaded = await loadIndex(path);
    expect(loaded.kind).toBe('hnsw');
    expect(await loaded.search(queries, 10)).toEqual(await hnsw.search(queries, 10));
    await loaded.dispose();
  });

  it('rejects an altered graph file', async () => {
    const path = join(dir, 'hnsw-bad');
    await hnsw.save(path);
    writeFileSync(join(path, 'graph.usearch'), 'garbage');
    await expect(HnswIndex.load(path)).rejects.toBeInstanceOf(CorruptFileError);
  });

  it('validates like every index', async () => {
    const idx = new HnswIndex({ dim: 3 });
    await expect(idx.search([[1, 1, 1]], 1)).rejects.toBeInstanceOf(EmptyError);
    idx.add([1], [[1, 2, 3]]);
    expect(() => idx.add([1], [[1, 2, 3]])).toThrow(DuplicateIdError);
    expect(() => idx.add([2], [[1, NaN, 3]])).toThrow(ValueError);
    expect(() => idx.add([2], [[1, 3]])).toThrow(ShapeError);
    await expect(idx.search([[1, 1, 1]], 2)).rejects.toBeInstanceOf(OutOfRangeError);
    expect(() => new HnswIndex({ dim: 3, connectivity: 0 })).toThrow(ConfigError);
    await idx.dispose();
    await expect(idx.search([[1, 1, 1]], 1)).rejects.toBeInstanceOf(StateError);
  });
});
