/**
 * MovieLens 100K (`u.data`, `u.user`, `u.item`) and 1M (`ratings.dat`, `users.dat`,
 * `movies.dat`), as EVAL.md section 1 reads them: one task `like` = rating >= 4, every rating a
 * training row (a rating below 4 carries zero value), loo-full split.
 * Features: users = z-scored age, gender, occupation one-hot; items = genre multi-hot and the
 * z-scored release year.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CorruptFileError, ValueError } from '../errors.js';
import { chronologicalOrder, leaveLastOut, sliceLog } from './split.js';
import type { InteractionDataset, InteractionLog } from './types.js';

export interface MovieLensOptions {
  /** hold out each evaluated user's second-to-last positive for early stopping */
  readonly validation?: boolean;
}

interface Raw {
  readonly format: '100k' | '1m';
  readonly ratings: string[][];
  readonly users: string[][];
  readonly items: string[][];
  readonly genres: number;
}

function lines(path: string, sep: string, minFields: number, encoding: BufferEncoding = 'latin1'): string[][] {
  if (!existsSync(path)) throw new CorruptFileError(path, 'missing');
  return readFileSync(path, encoding).split('\n').map((l, i) => {
    const f = l.replace(/\r$/, '').split(sep);
    if (l.trim() && f.length < minFields) throw new CorruptFileError(path, `line ${i + 1} has ${f.length} fields, expected at least ${minFields}`);
    return f;
  }).filter((f) => f.length >= minFields);
}

function readRaw(dir: string): Raw {
  if (existsSync(join(dir, 'u.data'))) {
    return { format: '100k', ratings: lines(join(dir, 'u.data'), '\t', 4), users: lines(join(dir, 'u.user'), '|', 5), items: lines(join(dir, 'u.item'), '|', 24), genres: 19 };
  }
  if (existsSync(join(dir, 'ratings.dat'))) {
    return { format: '1m', ratings: lines(join(dir, 'ratings.dat'), '::', 4), users: lines(join(dir, 'users.dat'), '::', 5), items: lines(join(dir, 'movies.dat'), '::', 3), genres: 0 };
  }
  throw new CorruptFileError(dir, 'is not a MovieLens directory (no u.data or ratings.dat)');
}

function int(field: string, s: string | undefined): number {
  const v = Number(s);
  if (!Number.isInteger(v)) throw new ValueError(field, `expected an integer, got ${JSON.stringify(s)}`);
  return v;
}

function zscore(values: number[]): number[] {
  const ok = values.filter(Number.isFinite);
  const mean = ok.reduce((a, b) => a + b, 0) / Math.max(ok.length, 1);
  const sd = Math.sqrt(ok.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(ok.length, 1)) || 1;
  return values.map((v) => (Number.isFinite(v) ? (v - mean) / sd : 0));
}

/**
 * Loads MovieLens 100K or 1M from `dir` (detected by its files).
 * @throws CorruptFileError for missing files or malformed lines, ValueError for bad numbers
 */
export async function loadMovieLens(dir: string, options: MovieLensOptions = {}): Promise<InteractionDataset> {
  const raw = readRaw(dir);
  const where = (f: string) => join(dir, f);
  const userIds = raw.users.map((f) => int(where(raw.format === '100k' ? 'u.user' : 'users.dat'), f[0])).sort((a, b) => a - b);
  const itemIds = raw.items.map((f) => int(where(raw.format === '100k' ? 'u.item' : 'movies.dat'), f[0])).sort((a, b) => a - b);
  const userIndex = new Map(userIds.map((id, i) => [id, i]));
  const itemIndex = new Map(itemIds.map((id, i) => [id, i]));

  // user features: age (z), gender, occupation one-hot
  const occupations = [...new Set(raw.users.map((f) => (raw.format === '100k' ? f[3]! : f[3]!)))].sort();
  const IU = 2 + occupations.length;
  const userFeatures = new Float32Array(userIds.length * IU);
  const ages = zscore(raw.users.map((f) => Number(raw.format === '100k' ? f[1] : f[2])));
  raw.users.forEach((f, i) => {
    const u = userIndex.get(Number(f[0]))!;
    const gender = raw.format === '100k' ? f[2] : f[1];
    userFeatures[u * IU] = ages[i]!;
    userFeatures[u * IU + 1] = gender === 'M' ? 1 : 0;
    userFeatures[u * IU + 2 + occupations.indexOf(f[3]!)] = 1;
  });

  // item features: genres multi-hot, release year (z)
  const genreNames = raw.format === '1m' ? [...new Set(raw.items.flatMap((f) => f[2]!.split('|')))].sort() : [];
  const G = raw.format === '100k' ? raw.genres : genreNames.length;
  const II = G + 1;
  const itemFeatures = new Float32Array(itemIds.length * II);
  const years = zscore(raw.items.map((f) => {
    const m = raw.format === '100k' ? /(\d{4})$/.exec(f[2] ?? '') : /\((\d{4})\)\s*$/.exec(f[1] ?? '');
    return m ? Number(m[1]) : NaN;
  }));
  raw.items.forEach((f, i) => {
    const it = itemIndex.get(Number(f[0]))!;
    if (raw.format === '100k') for (let g = 0; g < G; g++) itemFeatures[it * II + g] = f[5 + g] === '1' ? 1 : 0;
    else for (const name of f[2]!.split('|')) itemFeatures[it * II + genreNames.indexOf(name)] = 1;
    itemFeatures[it * II + G] = years[i]!;
  });

  const file = where(raw.format === '100k' ? 'u.data' : 'ratings.dat');
  const n = raw.ratings.length;
  const all: InteractionLog = { size: n, user: new Int32Array(n), item: new Int32Array(n), labels: new Float32Array(n), timestamp: new Float64Array(n) };
  raw.ratings.forEach((f, r) => {
    const u = userIndex.get(Number(f[0]));
    const i = itemIndex.get(Number(f[1]));
    if (u === undefined) throw new CorruptFileError(file, `line ${r + 1}: user ${f[0]} is not in the user file`);
    if (i === undefined) throw new CorruptFileError(file, `line ${r + 1}: item ${f[1]} is not in the item file`);
    const rating = Number(f[2]);
    const ts = Number(f[3]);
    if (!Number.isFinite(rating) || !Number.isFinite(ts)) throw new CorruptFileError(file, `line ${r + 1}: rating and timestamp must be numbers, got ${f[2]}, ${f[3]}`);
    all.user[r] = u;
    all.item[r] = i;
    all.labels[r] = rating >= 4 ? 1 : 0;
    all.timestamp![r] = ts;
  });
  const valueWeights = Float32Array.of(1);
  const ordered = sliceLog(all, chronologicalOrder(all), 1);
  const split = leaveLastOut(ordered, userIds.length, valueWeights, options);
  return {
    name: raw.format === '100k' ? 'movielens-100k' : 'movielens-1m',
    schema: {
      numUsers: userIds.length, numItems: itemIds.length, tasks: ['like'], userFeatureDim: IU, itemFeatureDim: II,
      numPositions: 0, hasRankerScores: false, labelMax: [1],
    },
    userIds, itemIds, userFeatures, itemFeatures, valueWeights, ...split,
  };
}
