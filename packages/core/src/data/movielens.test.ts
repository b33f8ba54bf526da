import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CorruptFileError, FileSystemError } from '../errors.js';
import { seenItemsByUser } from './batches.js';
import { loadMovieLens } from './movielens.js';
import type { InteractionDataset } from './types.js';

// the shared data folder sits beside the repository (/work/shared) or, in some checkouts, inside
// it (<repo>/shared); the data is never copied into the repo
const ML100K = [resolve(__dirname, '../../../../../shared/data/ml-100k'), resolve(__dirname, '../../../../shared/data/ml-100k')]
  .find((dir) => existsSync(join(dir, 'u.data'))) ?? resolve(__dirname, '../../../../../shared/data/ml-100k');
const have100k = existsSync(join(ML100K, 'u.data'));
if (!have100k) console.warn(`MovieLens-100K not found at ${ML100K}: its tests are skipped`);

/** recall@K of the popularity baseline (train row counts), excluding train items. */
function popularityRecall(d: InteractionDataset, K: number): number {
  const counts = new Float64Array(d.schema.numItems);
  for (let r = 0; r < d.train.size; r++) counts[d.train.item[r]!]!++;
  const ranked = Array.from(counts.keys()).sort((a, b) => counts[b]! - counts[a]! || a - b);
  const seen = seenItemsByUser(d.train, d.schema.numUsers).map((s) => new Set(s));
  let hits = 0;
  for (let r = 0; r < d.test.size; r++) {
    const s = seen[d.test.user[r]!]!;
    const top = ranked.filter((i) => !s.has(i)).slice(0, K);
    if (top.includes(d.test.item[r]!)) hits++;
  }
  return hits / d.test.size;
}

describe('loadMovieLens', () => {
  (have100k ? it : it.skip)('reads MovieLens-100K: 943 users, 1682 items, 942 test users', async () => {
    const d = await loadMovieLens(ML100K);
    expect(d.name).toBe('movielens-100k');
    expect([d.schema.numUsers, d.schema.numItems, d.test.size]).toEqual([943, 1682, 942]);
    expect(d.train.size + d.test.size).toBe(100_000);
    expect(d.validation).toBeUndefined();
    // 21 occupations + age + gender; 19 genres + year
    expect([d.schema.userFeatureDim, d.schema.itemFeatureDim]).toEqual([23, 20]);
    expect(d.userIds.slice(0, 3)).toEqual([1, 2, 3]);
    expect(d.userFeatures.every(Number.isFinite) && d.itemFeatures.every(Number.isFinite)).toBe(true);
    // one test row per user, train in chronological order
    expect(new Set(d.test.user).size).toBe(942);
    expect(d.train.timestamp!.every((t, r, ts) => r === 0 || t >= ts[r - 1]!)).toBe(true);
    // the popularity baseline of EVAL.md section 1
    expect(popularityRecall(d, 10)).toBeCloseTo(0.102, 3);
    expect(popularityRecall(d, 50)).toBeCloseTo(0.254, 3);

    const v = await loadMovieLens(ML100K, { validation: true });
    expect(v.test.item).toEqual(d.test.item);
    expect(v.validation!.size).toBeGreaterThan(900);
    expect(v.train.size + v.validation!.size + v.test.size).toBe(100_000);
  });

  describe('1M format (tiny fixture)', () => {
    let dir = '';
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'tt-ml1m-'));
      writeFileSync(join(dir, 'users.dat'), '1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::10::55117\n');
      writeFileSync(join(dir, 'movies.dat'), '1::Toy Story (1995)::Animation|Comedy\n2::Jumanji (1995)::Adventure\n3::Heat (1995)::Action|Crime\n10::Unknown Year::Comedy\n');
      writeFileSync(join(dir, 'ratings.dat'), '1::1::5::100\n1::2::3::101\n1::3::4::102\n2::1::4::100\n2::3::2::99\n3::10::5::50\n1::10::4::102\n');
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('reads users, movies and ratings, and splits loo-full', async () => {
      const d = await loadMovieLens(dir, { validation: true });
      expect(d.name).toBe('movielens-1m');
      expect(d.itemIds).toEqual([1, 2, 3, 10]);
      // occupations {10, 16} + age + gender; genres {Action, Adventure, Animation, Comedy, Crime} + year
      expect([d.schema.numUsers, d.schema.numItems, d.schema.userFeatureDim, d.schema.itemFeatureDim]).toEqual([3, 4, 4, 6]);
      // user 1: positives item 1 (t100), 3 (t102), 10 (t102, later in the file) -> test 10, validation 3
      // user 2: rows at t99 (2 stars) and t100 (item 1, 4 stars) -> test item 1; user 3: one row
      expect(Array.from(d.test.user)).toEqual([0, 1]);
      expect(Array.from(d.test.item)).toEqual([3, 0]);
      expect(Array.from(d.validation!.item)).toEqual([2]);
      expect(Array.from(d.train.item)).toEqual([3, 2, 0, 1]);
      // Comedy and year of "Toy Story (1995)"; "Unknown Year" gets the mean year (0)
      const row = (i: number) => Array.from(d.itemFeatures.subarray(i * 6, i * 6 + 6));
      expect(row(0).slice(0, 5)).toEqual([0, 0, 1, 1, 0]);
      expect(row(3)).toEqual([0, 0, 0, 1, 0, 0]);
    });

    it('names the file and line of a malformed rating (CorruptFileError)', async () => {
      writeFileSync(join(dir, 'ratings.dat'), '1::1::5::100\n1::2\n');
      const e = await loadMovieLens(dir).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(CorruptFileError);
      expect((e as CorruptFileError).field).toBe(join(dir, 'ratings.dat'));
      expect((e as Error).message).toMatch(/line 2/);
      writeFileSync(join(dir, 'ratings.dat'), '1::1::5::100\n1::x::3::101\n');
      await expect(loadMovieLens(dir)).rejects.toThrow(/line 2: item id must be an integer/);
      writeFileSync(join(dir, 'ratings.dat'), '1::1::5::100\n1::99::3::101\n');
      await expect(loadMovieLens(dir)).rejects.toThrow(/line 2: item 99 is not in movies.dat/);
    });

    it('rejects a directory that is not MovieLens, and a path that is no directory', async () => {
      rmSync(join(dir, 'ratings.dat'));
      await expect(loadMovieLens(dir)).rejects.toThrow(CorruptFileError);
      await expect(loadMovieLens(join(dir, 'nowhere'))).rejects.toThrow(FileSystemError);
      await expect(loadMovieLens(join(dir, 'users.dat'))).rejects.toThrow(/is a file, expected a directory/);
    });
  });
});
