import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  ConfigError, EmptyError, ExactIndex, MismatchError, OutOfRangeError, ShapeError, StateError, TtError, ValueError, syntheticEmbeddings,
  type ItemId, type SearchResult,
} from '@tt/mips';
import { LanceIndex, sqlLiteral } from './lance-index.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tt-lancedb-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function errorOf(p: Promise<unknown>): Promise<TtError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  if (e instanceof TtError) return e;
  throw new Error(`expected a TtError, got ${String(e)}`);
}

const dim = 16;
const n = 600;
const corpus = syntheticEmbeddings({ n, dim, seed: 1 });
const queries = syntheticEmbeddings({ n: 12, dim, seed: 2 });
const intIds = Array.from({ length: n }, (_, i) => 10 * i + 3);
const category = intIds.map((_, i) => (i % 3 === 0 ? 'shoes' : i % 3 === 1 ? 'hats' : null));

async function exactResults(ids: readonly ItemId[], vectors: Float32Array, k: number, exclude?: ItemId[][]): Promise<SearchResult[]> {
  const exact = new ExactIndex({ dim, threads: 1 });
  try {
    exact.add(ids, vectors);
    return await exact.search(queries, k, { exclude });
  } finally {
    await exact.dispose();
  }
}

function expectSame(actual: readonly SearchResult[], expected: readonly SearchResult[]): void {
  expect(actual.map((r) => r.ids)).toEqual(expected.map((r) => r.ids));
  actual.forEach((r, q) => r.scores.forEach((s, i) => expect(Math.abs(s - expected[q]!.scores[i]!)).toBeLessThan(1e-5)));
}

function rows(from: Float32Array, picks: readonly number[]): Float32Array {
  const out = new Float32Array(picks.length * dim);
  picks.forEach((p, i) => out.set(from.subarray(p * dim, (p + 1) * dim), i * dim));
  return out;
}

describe('LanceIndex', () => {
  it('upserts by id and searches like ExactIndex, with exclusions and result vectors', async () => {
    const index = await LanceIndex.open({ uri: join(dir, 'db'), dim, columns: { category: 'string' } });
    expect(index.size).toBe(0);
    expect(await index.upsert(intIds.slice(0, 400), corpus.subarray(0, 400 * dim), { columns: { category: category.slice(0, 400) } })).toEqual({ inserted: 400, updated: 0 });
    // 200 new rows and 100 replaced vectors, in one upsert
    const changed = corpus.slice(300 * dim, 400 * dim).map((x) => -x);
    const upsertVectors = new Float32Array(300 * dim);
    upsertVectors.set(changed);
    upsertVectors.set(corpus.subarray(400 * dim), 100 * dim);
    expect(await index.upsert(intIds.slice(300), upsertVectors, { columns: { category: category.slice(300) } })).toEqual({ inserted: 200, updated: 100 });
    expect(index.size).toBe(n);
    expect(index.idKind).toBe('int');
    const current = corpus.slice();
    current.set(changed, 300 * dim);

    const exclude: number[][] = Array.from({ length: 12 }, (_, q) => intIds.filter((_, i) => (i + q) % 7 === 0));
    const found = await index.search(queries, 10, { exclude, includeVectors: true });
    expectSame(found, await exactResults(intIds, current, 10, exclude));
    for (const [q, r] of found.entries()) {
      expect(r.ids.some((id) => exclude[q]!.includes(id as number))).toBe(false);
      r.ids.forEach((id, i) => expect(Array.from(r.vectors!.subarray(i * dim, (i + 1) * dim))).toEqual(Array.from(rows(current, [intIds.indexOf(id as number)]))));
    }
    const { vectors, found: present } = await index.getVectors([3, 3003, 99999]);
    expect(present).toEqual([true, true, false]);
    expect(Array.from(vectors.subarray(dim, 2 * dim))).toEqual(Array.from(rows(current, [300])));
    expect(await index.remove([3, 99999])).toBe(1);
    expect(index.size).toBe(n - 1);
    await index.dispose();
  });

  it('filters on metadata (a category) before the top k, combined with exclusions', async () => {
    const ids = intIds.map((i) => `item-${i}`);
    const index = await LanceIndex.open({ uri: join(dir, 'db'), dim, columns: { category: 'string', price: 'float' } });
    await index.upsert(ids, corpus, { columns: { category, price: ids.map((_, i) => i / 10) } });
    const shoes = ids.flatMap((id, i) => (category[i] === 'shoes' ? [i] : []));
    const exclude = Array.from({ length: 12 }, (_, q) => [ids[shoes[q]!]!]);
    const found = await index.search(queries, 5, { where: `category = ${sqlLiteral('shoes')}`, exclude });
    expectSame(found, await exactResults(shoes.map((i) => ids[i]!), rows(corpus, shoes), 5, exclude));
    const cheapShoes = await index.filtered("category = 'shoes'").search(queries, 5, { where: 'price < 20' } as never);
    for (const r of cheapShoes) for (const id of r.ids) expect(shoes.includes(ids.indexOf(id as string)) && ids.indexOf(id as string) < 200).toBe(true);
    // a filter that leaves fewer rows than k
    const few = await index.search(queries.subarray(0, dim), 5, { where: "category = 'shoes' AND price < 0.5" });
    expect([...few[0]!.ids].sort()).toEqual(['item-3', 'item-33']);
    expect(await errorOf(index.search(queries, 5, { where: 'no_such_column = 1' }))).toBeInstanceOf(ConfigError);
    expect(sqlLiteral("it's")).toBe("'it''s'");
    await index.dispose();
  });

  it('builds ANN indexes whose knobs trade recall for speed, and reads them back after a restart', async () => {
    const big = 4000;
    const vectors = syntheticEmbeddings({ n: big, dim, seed: 5 });
    const ids = Array.from({ length: big }, (_, i) => i);
    const uri = join(dir, 'db');
    const index = await LanceIndex.open({ uri, dim });
    await index.upsert(ids, vectors);
    const exact = await exactResults(ids, vectors, 10);
    const recall = (rs: readonly SearchResult[]) => rs.reduce((s, r, q) => s + r.ids.filter((id) => exact[q]!.ids.includes(id)).length, 0) / (10 * rs.length);
    expect(recall(await index.search(queries, 10))).toBe(1); // no index yet: brute force
    await index.createAnnIndex({ type: 'ivf_pq', numPartitions: 32, numSubVectors: 4 });
    const narrow = recall(await index.search(queries, 10, { ann: { nprobes: 1 } }));
    const wide = recall(await index.search(queries, 10, { ann: { nprobes: 32, refineFactor: 10 } }));
    expect(wide).toBeGreaterThanOrEqual(0.95);
    expect(wide).toBeGreaterThan(narrow);
    expectSame(await index.search(queries, 10, { ann: { exact: true } }), exact);
    await index.createAnnIndex({ type: 'hnsw_pq', m: 16, efConstruction: 100, numSubVectors: 4 });
    expect(recall(await index.search(queries, 10, { ann: { ef: 200, refineFactor: 10 } }))).toBeGreaterThanOrEqual(0.95);
    const before = await index.search(queries, 10, { ann: { ef: 200, refineFactor: 10 } });
    // cosine (for hnsw_sq) only over unit vectors
    expect((await errorOf(index.createAnnIndex({ type: 'hnsw_sq', distance: 'cosine' }))).field).toBe('distance');
    await index.dispose();
    await expect(index.search(queries, 10)).rejects.toBeInstanceOf(StateError);

    // a restart: a new connection finds the rows, the id type and the ANN index
    const reopened = await LanceIndex.open({ uri, dim, search: { ef: 200, refineFactor: 10 } });
    expect(reopened.size).toBe(big);
    expect(reopened.idKind).toBe('int');
    const kinds = (await reopened.indexes()).map((i) => `${i.columns.join(',')}:${i.type}`).sort();
    expect(kinds).toEqual(['id:BTree', 'vector:IvfHnswPq']);
    expectSame(await reopened.search(queries, 10), before);
    // rows added after the index was built are searched too, then folded in by optimize
    await reopened.upsert([big], [Array.from(queries.subarray(0, dim), (x) => 10 * x)]);
    expect((await reopened.search(queries.subarray(0, dim), 1))[0]!.ids).toEqual([big]);
    await reopened.optimize();
    expect((await reopened.indexes()).find((i) => i.columns[0] === 'vector')!.unindexedRows).toBe(0);
    await reopened.dispose();

    // hnsw_sq with cosine over unit vectors (what tt's normalised models give)
    const unit = vectors.slice();
    for (let i = 0; i < big; i++) {
      const row = unit.subarray(i * dim, (i + 1) * dim);
      const norm = Math.hypot(...row);
      row.forEach((x, d) => (row[d] = x / norm));
    }
    const normed = await LanceIndex.open({ uri, dim, table: 'unit' });
    await normed.upsert(ids, unit);
    await normed.createAnnIndex({ type: 'hnsw_sq', distance: 'cosine', m: 16, efConstruction: 100 });
    const unitExact = await exactResults(ids, unit, 10);
    const got = await normed.search(queries, 10, { ann: { ef: 200 } });
    expect(got.reduce((s, r, q) => s + r.ids.filter((id) => unitExact[q]!.ids.includes(id)).length, 0) / 120).toBeGreaterThanOrEqual(0.9);
    await normed.dispose();
  });

  it('serves concurrent readers, in this process and another, while a writer upserts', async () => {
    const uri = join(dir, 'db');
    const writer = await LanceIndex.open({ uri, dim, table: 'catalogue' });
    await writer.upsert(intIds.slice(0, 500), corpus.subarray(0, 500 * dim));
    const readers = await Promise.all([0, 1, 2].map(() => LanceIndex.open({ uri, dim, table: 'catalogue' })));
    const before = await exactResults(intIds.slice(0, 500), corpus.subarray(0, 500 * dim), 10);
    const after = await exactResults(intIds, corpus, 10);
    // another process reads the same table with LanceDB's own client while this one reads and writes
    const script = `
      const lancedb = require('@lancedb/lancedb');
      (async () => {
        const t = await (await lancedb.connect(process.argv[1])).openTable('catalogue');
        const q = Float32Array.from(JSON.parse(process.argv[2]));
        let n = 0;
        for (let i = 0; i < 20; i++) n += (await t.vectorSearch(q).distanceType('dot').limit(10).toArray()).length;
        console.log(JSON.stringify({ results: n, rows: await t.countRows() }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const child = promisify(execFile)(process.execPath, ['-e', script, uri, JSON.stringify(Array.from(queries.subarray(0, dim)))], { cwd: __dirname });
    const reads = readers.flatMap((r) => [0, 1, 2].map(() => r.search(queries, 10)));
    const write = writer.upsert(intIds.slice(500), corpus.subarray(500 * dim));
    const results = await Promise.all(reads);
    await write;
    // each read saw one consistent version of the table: all rows before the write or after it
    for (const r of results) {
      const same = (ref: readonly SearchResult[]) => r.every((x, q) => x.ids.join() === ref[q]!.ids.join());
      expect(same(before) || same(after)).toBe(true);
    }
    const other = JSON.parse((await child).stdout) as { results: number; rows: number };
    expect(other.results).toBe(200);
    expect([500, n]).toContain(other.rows);
    for (const r of readers) {
      await r.refresh();
      expect(r.size).toBe(n);
      expectSame(await r.search(queries, 10), after);
      await r.dispose();
    }
    await writer.dispose();
  });

  it('rejects a table of another dimension, other ids and bad queries with typed errors', async () => {
    const uri = join(dir, 'db');
    const index = await LanceIndex.open({ uri, dim, columns: { category: 'string' } });
    expect(await errorOf(index.search(queries, 1))).toBeInstanceOf(EmptyError);
    await index.upsert(intIds.slice(0, 20), corpus.subarray(0, 20 * dim));
    const wrongDim = await errorOf(LanceIndex.open({ uri, dim: 32 }));
    expect(wrongDim).toBeInstanceOf(MismatchError);
    expect(wrongDim.field).toBe('vector');
    const missingColumn = await errorOf(LanceIndex.open({ uri, dim, columns: { brand: 'string' } }));
    expect(missingColumn).toBeInstanceOf(MismatchError);
    expect(missingColumn.field).toBe('brand');
    const otherIds = await errorOf(index.upsert(['a'], corpus.subarray(0, dim)));
    expect(otherIds).toBeInstanceOf(MismatchError);
    expect(otherIds.field).toBe('ids[0]');
    expect((await errorOf(index.upsert([1, 1], corpus.subarray(0, 2 * dim)))).field).toBe('ids[1]');
    expect(await errorOf(index.upsert([1], corpus.subarray(0, 2 * dim)))).toBeInstanceOf(ShapeError);
    expect(await errorOf(index.upsert([1], [new Array(dim).fill(NaN)]))).toBeInstanceOf(ValueError);
    expect((await errorOf(index.upsert([1], corpus.subarray(0, dim), { columns: { category: [3] } }))).field).toBe('category[0]');
    expect(await errorOf(index.search(queries, 21))).toBeInstanceOf(OutOfRangeError);
    expect(await errorOf(index.search(new Float32Array(dim + 1), 1))).toBeInstanceOf(ShapeError);
    expect(await errorOf(LanceIndex.open({ uri, dim: 0 }))).toBeInstanceOf(ConfigError);
    // overwrite starts a new table of the new dimension
    const fresh = await LanceIndex.open({ uri, dim: 4, mode: 'overwrite' });
    expect(fresh.size).toBe(0);
    await fresh.upsert(['a'], [[1, 0, 0, 0]]);
    expect((await fresh.search([[1, 1, 1, 1]], 1))[0]!.ids).toEqual(['a']);
    await Promise.all([index.dispose(), fresh.dispose()]);
  });
});
