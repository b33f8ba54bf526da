import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CorruptFileError } from '../errors.js';
import { evaluateRetrieval, popularityScores } from '../eval/retrieval.js';
import { itemsByUser } from '../eval/model-eval.js';
import { loadMovieLens } from './movielens.js';

const ML100K = resolve(__dirname, '../../../../../shared/data/ml-100k');
const haveData = existsSync(join(ML100K, 'u.data'));

describe('loadMovieLens', () => {
  (haveData ? it : it.skip)('reads MovieLens-100K: 943 users, 1682 items, 942 test users, popularity as EVAL.md', async () => {
    const d = await loadMovieLens(ML100K);
    expect([d.schema.numUsers, d.schema.numItems, d.test.size]).toEqual([943, 1682, 942]);
    expect(d.train.size + d.test.size).toBe(100_000);
    const pop = popularityScores(d.train, d.schema.numItems, d.valueWeights, 1);
    const m = await evaluateRetrieval({
      numItems: d.schema.numItems, test: d.test, valueWeights: d.valueWeights, numTasks: 1, seen: itemsByUser(d.train, d.schema.numUsers),
      score: (users) => { const out = new Float32Array(users.length * pop.length); users.forEach((_, r) => out.set(pop, r * pop.length)); return out; },
    });
    expect(m['recall@10']).toBeCloseTo(0.102, 3);
    expect(m['recall@50']).toBeCloseTo(0.254, 3);
    expect(m['ndcg@10']).toBeCloseTo(0.054, 3);
    const v = await loadMovieLens(ML100K, { validation: true });
    expect(v.validation!.size).toBeGreaterThan(900);
    expect(v.train.size + v.validation!.size + v.test.size).toBe(100_000);
  });

  it('reads the 1M format, and names a malformed line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tt-ml1m-'));
    writeFileSync(join(dir, 'users.dat'), '1::F::1::10::48067\n2::M::56::16::70072\n');
    writeFileSync(join(dir, 'movies.dat'), '1::Toy Story (1995)::Animation|Comedy\n2::Jumanji (1995)::Adventure\n3::Heat (1995)::Action|Crime\n');
    writeFileSync(join(dir, 'ratings.dat'), '1::1::5::100\n1::2::3::101\n1::3::4::102\n2::1::4::100\n2::3::2::99\n');
    const d = await loadMovieLens(dir);
    expect(d.name).toBe('movielens-1m');
    expect([d.schema.numUsers, d.schema.numItems, d.schema.itemFeatureDim]).toEqual([2, 3, 6]);
    // user 1: last positive is item 3 (t=102); user 2: one positive (item 1) among 2 rows
    expect(Array.from(d.test.item)).toEqual([2, 0]);
    writeFileSync(join(dir, 'ratings.dat'), '1::1::5::100\n1::2\n');
    await expect(loadMovieLens(dir)).rejects.toThrow(CorruptFileError);
    rmSync(dir, { recursive: true, force: true });
  });
});
