import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fitTwoTower, initBackend, MismatchError, Retriever, syntheticWorld, tf, TtError, type InteractionDataset, type TwoTowerModel } from '@tt/core';
import { LanceIndex } from './lance-index.js';
import { lanceRetriever, syncCatalogue } from './catalogue.js';

let dir = '';
let world: InteractionDataset;
let first: TwoTowerModel;
let retrained: TwoTowerModel;

beforeAll(async () => {
  await initBackend({ backend: 'wasm', log: false });
  world = syntheticWorld({ seed: 3, numUsers: 120, numItems: 90, impressions: 3000, validation: false });
  const fit = (epochs: number) => fitTwoTower(world, { epochs, model: { dim: 16, hidden: 16, historyPooling: 0 }, progress: 'none', log: () => undefined });
  first = (await fit(1)).model;
  retrained = (await fit(3)).model;
});
afterAll(() => {
  first.dispose();
  retrained.dispose();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tt-lancedb-catalogue-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function errorOf(p: Promise<unknown>): Promise<TtError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  if (e instanceof TtError) return e;
  throw new Error(`expected a TtError, got ${String(e)}`);
}

async function stored(index: LanceIndex, model: TwoTowerModel): Promise<Float32Array> {
  const { vectors, found } = await index.getVectors(model.data.itemIds);
  expect(found.every(Boolean)).toBe(true);
  return vectors;
}

describe('syncCatalogue', () => {
  it('writes the catalogue, then after retraining rewrites only the items that moved', async () => {
    const index = await LanceIndex.open({ uri: join(dir, 'db'), dim: 16, columns: { category: 'string' } });
    const category = first.data.itemIds.map((_, i) => (i % 2 ? 'odd' : 'even'));
    const n = first.data.itemIds.length;
    expect(await syncCatalogue(first, index, { columns: { category } })).toEqual({ written: n, inserted: n, unchanged: 0, removed: 0 });
    expect(Array.from(await stored(index, first))).toEqual(Array.from(first.catalogueEmbeddings()));
    // the same model again: nothing moved
    expect(await syncCatalogue(first, index, { tolerance: 0 })).toEqual({ written: 0, inserted: 0, unchanged: n, removed: 0 });
    // retrained: every vector moved; metadata stays
    const r = await syncCatalogue(retrained, index, { tolerance: 1e-6, batchSize: 32 });
    expect(r.written + r.unchanged).toBe(n);
    expect(r.written).toBeGreaterThan(n / 2);
    expect(r.inserted).toBe(0);
    expect(Array.from(await stored(index, retrained))).toEqual(Array.from(retrained.catalogueEmbeddings()));
    expect(await index.lanceTable!.countRows("category = 'odd'")).toBe(Math.floor(n / 2));
    // a few items only, and pruning rows the catalogue no longer has
    await index.upsert([999_999], [new Array(16).fill(0.25)]);
    const some = await syncCatalogue(first, index, { items: first.data.itemIds.slice(0, 5), prune: true });
    expect(some).toEqual({ written: 5, inserted: 0, unchanged: 0, removed: 1 });
    expect(index.size).toBe(n);
    await index.dispose();
  });

  it('rejects a table of another dimension with a typed error naming the field', async () => {
    const index = await LanceIndex.open({ uri: join(dir, 'db'), dim: 8 });
    const e = await errorOf(syncCatalogue(first, index));
    expect(e).toBeInstanceOf(MismatchError);
    expect(e.field).toBe('vector');
    await index.dispose();
  });
});

describe('lanceRetriever', () => {
  it('serves what a Retriever over an exact index serves, with seen items excluded and a category filter', async () => {
    const index = await LanceIndex.open({ uri: join(dir, 'db'), dim: 16, columns: { category: 'string' } });
    const category = retrained.data.itemIds.map((_, i) => (i % 3 === 0 ? 'a' : 'b'));
    await syncCatalogue(retrained, index, { columns: { category } });
    await index.createAnnIndex({ type: 'ivf_flat', numPartitions: 4 });
    const users = Int32Array.from({ length: 20 }, (_, i) => i * 5);
    const seen = Array.from(users, (u) => Int32Array.from({ length: 6 }, (_, j) => (u + 7 * j) % retrained.data.itemIds.length));
    const exact = await Retriever.build(retrained, { index: 'exact', threads: 1 });
    const expected = await exact.retrieve(users, 10, { exclude: seen });
    await exact.dispose();
    // exact search through LanceDB: the same items in the same order
    const served = lanceRetriever(retrained, await LanceIndex.open({ uri: join(dir, 'db'), dim: 16, search: { exact: true } }));
    const got = await served.retrieve(users, 10, { exclude: seen });
    expect(got.map((r) => r.items)).toEqual(expected.map((r) => r.items));
    got.forEach((r, u) => r.scores.forEach((s, i) => expect(Math.abs(s - expected[u]!.scores[i]!)).toBeLessThan(1e-5)));
    await served.dispose();
    // only category a, through the ANN index (all partitions probed)
    const onlyA = lanceRetriever(retrained, index, { where: "category = 'a'" });
    const tensors = tf.memory().numTensors;
    const a = await onlyA.retrieve(users, 5, { exclude: seen });
    expect(tf.memory().numTensors).toBe(tensors);
    for (const r of a) {
      expect(r.items).toHaveLength(5);
      for (const id of r.items) expect(category[retrained.itemIndex(id)!]).toBe('a');
    }
    await onlyA.dispose();
  });
});
