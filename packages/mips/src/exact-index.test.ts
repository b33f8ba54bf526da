import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CorruptFileError,
  DuplicateIdError,
  EmptyError,
  ExactIndex,
  MismatchError,
  OutOfRangeError,
  ShapeError,
  StateError,
  UnknownIdError,
  ValueError,
  loadIndex,
  mulberry32,
  syntheticEmbeddings,
  type ItemId,
} from './index.js';

/** Naive reference: every score, sorted by (score desc, id asc), exclusions removed. */
function naiveTopK(
  corpus: Float32Array,
  ids: number[],
  queries: Float32Array,
  dim: number,
  k: number,
  exclude: Set<number>[] = [],
): { ids: number[]; scores: number[] }[] {
  const out = [];
  for (let q = 0; q < queries.length / dim; q++) {
    const scored = ids
      .map((id, i) => {
        let s = 0;
        for (let d = 0; d < dim; d++) s += (queries[q * dim + d] as number) * (corpus[i * dim + d] as number);
        return { id, s };
      })
      .filter((x) => !exclude[q]?.has(x.id));
    scored.sort((a, b) => b.s - a.s || a.id - b.id);
    out.push({ ids: scored.slice(0, k).map((x) => x.id), scores: scored.slice(0, k).map((x) => x.s) });
  }
  return out;
}

/** Small-integer vectors: every dot product is exact in float32, and ties are frequent. */
function integerVectors(n: number, dim: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n * dim }, () => Math.floor(r() * 5) - 2);
}

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'tt-mips-'));
  tmpDirs.push(d);
  return d;
}
afterAll(() => tmpDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('ExactIndex', () => {
  const dim = 8;
  const n = 3000;
  // ids deliberately out of insertion order, so tie-breaking by id differs from by slot
  const ids = Array.from({ length: n }, (_, i) => (i * 7919) % 10007);
  const corpus = integerVectors(n, dim, 1);
  const queries = integerVectors(40, dim, 2);
  let index: ExactIndex;

  beforeAll(() => {
    // small blocks and two workers exercise the block scan and the cross-worker merge
    index = new ExactIndex({ dim, threads: 2, blockSize: 256, queryBlock: 16 });
    index.add(ids, corpus);
  });
  afterAll(() => index.dispose());

  it('returns the same ids and scores as a naive reference, ties broken by id', async () => {
    const got = await index.search(queries, 25);
    const want = naiveTopK(corpus, ids, queries, dim, 25);
    got.forEach((g, q) => {
      expect(g.ids).toEqual(want[q]!.ids);
      expect(Array.from(g.scores)).toEqual(want[q]!.scores);
    });
  });

  it('matches the reference on float vectors up to float32 rounding', async () => {
    const fc = syntheticEmbeddings({ n: 5000, dim: 16, seed: 3, clusters: 32 });
    const fq = syntheticEmbeddings({ n: 20, dim: 16, seed: 4, clusters: 32 });
    const fids = Array.from({ length: 5000 }, (_, i) => i);
    const fi = new ExactIndex({ dim: 16, threads: 2, blockSize: 1000 });
    fi.add(fids, fc);
    const got = await fi.search(fq, 10);
    const want = naiveTopK(fc, fids, fq, 16, 11);
    got.forEach((g, q) => {
      const w = want[q]!;
      g.scores.forEach((s, i) => expect(s).toBeCloseTo(w.scores[i]!, 4));
      // ids agree wherever the reference has no near-tie at the boundary
      if ((w.scores[9] as number) - (w.scores[10] as number) > 1e-4) expect(new Set(g.ids)).toEqual(new Set(w.ids.slice(0, 10)));
    });
    await fi.dispose();
  });

  it('answers one query at a time like the batch', async () => {
    const batch = await index.search(queries.subarray(0, 3 * dim), 5);
    for (let q = 0; q < 3; q++) {
      const [one] = await index.search(queries.subarray(q * dim, (q + 1) * dim), 5);
      expect(one!.ids).toEqual(batch[q]!.ids);
    }
  });

  it('excludes ids per query and returns the vectors on request', async () => {
    const first = await index.search(queries.subarray(0, 2 * dim), 5);
    const exclude = [new Set(first[0]!.ids.slice(0, 3)), null];
    const got = await index.search(queries.subarray(0, 2 * dim), 5, { exclude, includeVectors: true });
    const want = naiveTopK(corpus, ids, queries.subarray(0, 2 * dim), dim, 5, [
      new Set(first[0]!.ids.slice(0, 3) as number[]),
    ]);
    expect(got[0]!.ids).toEqual(want[0]!.ids);
    expect(got[1]!.ids).toEqual(first[1]!.ids);
    expect(got[0]!.vectors).toEqual(index.getVectors(got[0]!.ids));
    expect(got[0]!.vectors!.length).toBe(5 * dim);
  });

  it('returns fewer than k when exclusions leave fewer items', async () => {
    const small = new ExactIndex({ dim: 2, threads: 1 });
    small.add([1, 2, 3], [[1, 0], [0, 1], [1, 1]]);
    const [r] = await small.search([[1, 1]], 3, { exclude: [[3, 99]] });
    expect(r!.ids).toEqual([1, 2]);
    await small.dispose();
  });

  it('reflects add, update and remove in later searches', async () => {
    const idx = new ExactIndex({ dim: 2, threads: 2, blockSize: 2 });
    idx.add(['a', 'b', 'c'], [[1, 0], [0, 1], [0.5, 0.5]]);
    expect((await idx.search([[1, 0]], 1))[0]!.ids).toEqual(['a']);
    idx.update(['b'], [[5, 0]]);
    expect((await idx.search([[1, 0]], 1))[0]!.ids).toEqual(['b']);
    expect(idx.remove(['b', 'zzz'])).toBe(1);
    expect(idx.has('b')).toBe(false);
    expect((await idx.search([[1, 0]], 2))[0]!.ids).toEqual(['a', 'c']);
    idx.add(['d'], [[9, 9]]); // reuses the freed slot
    expect((await idx.search([[1, 0]], 3))[0]!.ids).toEqual(['d', 'a', 'c']);
    expect(idx.size).toBe(3);
    await idx.dispose();
  });

  it('saves and loads to the same results', async () => {
    const dir = join(tmp(), 'exact');
    await index.save(dir);
    const loaded = await loadIndex(dir);
    expect(loaded.kind).toBe('exact');
    expect(loaded.size).toBe(n);
    const a = await index.search(queries, 10);
    const b = await loaded.search(queries, 10);
    expect(b).toEqual(a);
    await loaded.dispose();
  });

  describe('errors', () => {
    const idx = new ExactIndex({ dim: 3, threads: 1 });
    idx.add([1, 2], [[1, 2, 3], [4, 5, 6]]);
    afterAll(() => idx.dispose());

    it.each([
      ['a vector of the wrong dimension', () => idx.add([3], [[1, 2]]), ShapeError],
      ['a flat array of the wrong length', () => idx.add([3], new Float32Array(4)), ShapeError],
      ['fewer vectors than ids', () => idx.add([3, 4], [[1, 2, 3]]), ShapeError],
      ['NaN', () => idx.add([3], [[1, NaN, 3]]), ValueError],
      ['Infinity', () => idx.add([3], [[1, Infinity, 3]]), ValueError],
      ['an id already present', () => idx.add([2], [[1, 2, 3]]), DuplicateIdError],
      ['an id twice in one call', () => idx.add([7, 7], [[1, 2, 3], [1, 2, 3]]), DuplicateIdError],
      ['a string id in an integer index', () => idx.add(['x' as ItemId], [[1, 2, 3]]), ValueError],
      ['a fractional id', () => idx.add([1.5], [[1, 2, 3]]), ValueError],
      ['an update of an absent id', () => idx.update([42], [[1, 2, 3]]), UnknownIdError],
    ])('rejects %s, changing nothing', (_, act, type) => {
      expect(act).toThrow(type);
      expect(idx.size).toBe(2);
    });

    it.each([
      ['k larger than the corpus', () => idx.search([[1, 1, 1]], 3), OutOfRangeError, 'E_RANGE'],
      ['k of 0', () => idx.search([[1, 1, 1]], 0), OutOfRangeError, 'E_RANGE'],
      ['a query of the wrong dimension', () => idx.search([[1, 1]], 1), ShapeError, 'E_SHAPE'],
      ['a NaN query', () => idx.search([[1, NaN, 1]], 1), ValueError, 'E_VALUE'],
      ['no queries', () => idx.search([], 1), EmptyError, 'E_EMPTY'],
      ['exclusions for a different number of queries', () => idx.search([[1, 1, 1]], 1, { exclude: [[], []] }), ShapeError, 'E_SHAPE'],
      ['an empty index', () => new ExactIndex({ dim: 3, threads: 1 }).search([[1, 1, 1]], 1), EmptyError, 'E_EMPTY'],
    ])('rejects %s', async (_, act, type, code) => {
      await expect(act()).rejects.toBeInstanceOf(type);
      await expect(act()).rejects.toMatchObject({ code });
    });

    it('rejects use after dispose', async () => {
      const d = new ExactIndex({ dim: 2, threads: 1 });
      d.add([1], [[1, 1]]);
      await d.dispose();
      await expect(d.search([[1, 1]], 1)).rejects.toBeInstanceOf(StateError);
      expect(() => d.add([2], [[1, 1]])).toThrow(StateError);
    });
  });

  describe('files', () => {
    async function saved(): Promise<string> {
      const dir = join(tmp(), 'idx');
      await idxSmall.save(dir);
      return dir;
    }
    const idxSmall = new ExactIndex({ dim: 3, threads: 1 });
    idxSmall.add(['x', 'y'], [[1, 2, 3], [4, 5, 6]]);
    afterAll(() => idxSmall.dispose());

    it('rejects a truncated vectors file', async () => {
      const dir = await saved();
      truncateSync(join(dir, 'vectors.npy'), 40);
      await expect(ExactIndex.load(dir)).rejects.toBeInstanceOf(CorruptFileError);
    });

    it('rejects an altered ids file', async () => {
      const dir = await saved();
      const p = join(dir, 'ids.json');
      writeFileSync(p, readFileSync(p, 'utf8').replace('"x"', '"z"'));
      await expect(ExactIndex.load(dir)).rejects.toMatchObject({ code: 'E_CORRUPT' });
    });

    it('rejects a missing or garbled manifest', async () => {
      const dir = await saved();
      writeFileSync(join(dir, 'manifest.json'), '{"format": "tt-mips-ind');
      await expect(loadIndex(dir)).rejects.toBeInstanceOf(CorruptFileError);
      await expect(loadIndex(join(tmp(), 'nothing-here'))).rejects.toBeInstanceOf(CorruptFileError);
    });

    it('rejects a dimension or kind the caller did not expect', async () => {
      const dir = await saved();
      await expect(ExactIndex.load(dir, { dim: 4 })).rejects.toBeInstanceOf(MismatchError);
      const { HnswIndex } = await import('./index.js');
      await expect(HnswIndex.load(dir)).rejects.toBeInstanceOf(MismatchError);
    });

    it('replaces an existing directory atomically and leaves no temporary files', async () => {
      const dir = await saved();
      idxSmall.add(['w'], [[0, 0, 1]]);
      await idxSmall.save(dir);
      const loaded = await ExactIndex.load(dir);
      expect(loaded.size).toBe(3);
      await loaded.dispose();
      idxSmall.remove(['w']);
      expect(readdirSync(join(dir, '..')).filter((f) => f.startsWith('.'))).toEqual([]);
    });

    it('writes nothing when saving fails', async () => {
      const parent = tmp();
      writeFileSync(join(parent, 'file'), 'x');
      await expect(idxSmall.save(join(parent, 'file', 'sub'))).rejects.toThrow();
      expect(readdirSync(parent)).toEqual(['file']);
    });
  });
});
