/**
 * MovieLens 100K (`u.data`, `u.user`, `u.item`) and 1M (`ratings.dat`, `users.dat`,
 * `movies.dat`), read as EVAL.md section 1 says: one task `like` = rating >= 4, every rating a
 * training row (a rating below 4 carries zero value), loo-full split.
 *
 * Ids: the files' integer ids are the external ids; indices follow ascending id order.
 * Features: users = z-scored age (1M: the age-bucket code), gender (M = 1), occupation one-hot
 * (distinct values, sorted); items = genre multi-hot (100K: the 19 flags; 1M: the distinct genre
 * names, sorted) and, when any release year parses, the z-scored year (0 where unknown).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptFileError } from '../errors.js';
import { checkInputPath } from './input-file.js';
import { chronologicalOrder, sliceLog, splitDataset } from './split.js';
import type { InteractionDataset, InteractionLog } from './types.js';

/** Options of {@link loadMovieLens}. */
export interface MovieLensOptions {
  /** hold out each evaluated user's positive before the test row for early stopping (default false) */
  readonly validation?: boolean;
}

/** One non-blank line of a file, split, with its 1-based line number. */
interface Line {
  readonly no: number;
  readonly f: string[];
}

async function readLines(path: string, sep: string, fields: number): Promise<Line[]> {
  if (!existsSync(path)) throw new CorruptFileError(path, 'file is missing');
  // MovieLens files are latin1 (titles with accents); reading as utf8 would mangle them
  const text = await readFile(path, 'latin1');
  const out: Line[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line.trim() === '') continue;
    const f = line.split(sep);
    if (f.length < fields) throw new CorruptFileError(path, `line ${i + 1}: expected ${fields} fields separated by ${JSON.stringify(sep)}, got ${f.length}: ${JSON.stringify(line.slice(0, 80))}`);
    out.push({ no: i + 1, f });
  }
  if (out.length === 0) throw new CorruptFileError(path, 'file has no data lines');
  return out;
}

function intField(path: string, line: Line, col: number, what: string): number {
  const s = line.f[col]!.trim();
  const v = /^-?\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(v)) throw new CorruptFileError(path, `line ${line.no}: ${what} must be an integer, got ${JSON.stringify(s)}`);
  return v;
}

function numField(path: string, line: Line, col: number, what: string): number {
  const s = line.f[col]!.trim();
  const v = s === '' ? NaN : Number(s);
  if (!Number.isFinite(v)) throw new CorruptFileError(path, `line ${line.no}: ${what} must be a number, got ${JSON.stringify(s)}`);
  return v;
}

/** z-scores the finite values in place of themselves; non-finite values become 0 (the mean). */
function zscore(values: readonly number[]): number[] {
  const ok = values.filter(Number.isFinite);
  const mean = ok.reduce((a, b) => a + b, 0) / Math.max(ok.length, 1);
  const sd = Math.sqrt(ok.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(ok.length, 1)) || 1;
  return values.map((v) => (Number.isFinite(v) ? (v - mean) / sd : 0));
}

/** Id -> index in ascending id order; duplicate ids are a corrupt file. */
function vocabulary(path: string, lines: readonly Line[], ids: readonly number[]): { ids: number[]; index: Map<number, number> } {
  const seen = new Map<number, number>();
  ids.forEach((id, k) => {
    if (seen.has(id)) throw new CorruptFileError(path, `line ${lines[k]!.no}: id ${id} already appears on line ${lines[seen.get(id)!]!.no}`);
    seen.set(id, k);
  });
  const sorted = [...ids].sort((a, b) => a - b);
  return { ids: sorted, index: new Map(sorted.map((id, i) => [id, i])) };
}

interface Layout {
  readonly name: string;
  readonly ratings: string;
  readonly users: string;
  readonly items: string;
  readonly sep: string;
  /** columns of id, age, gender, occupation in the user file */
  readonly userCols: readonly [number, number, number, number];
  readonly itemFields: number;
}

const ML100K: Layout = { name: 'movielens-100k', ratings: 'u.data', users: 'u.user', items: 'u.item', sep: '|', userCols: [0, 1, 2, 3], itemFields: 24 };
const ML1M: Layout = { name: 'movielens-1m', ratings: 'ratings.dat', users: 'users.dat', items: 'movies.dat', sep: '::', userCols: [0, 2, 1, 3], itemFields: 3 };

/**
 * Loads MovieLens 100K or 1M from `dir` (detected by `u.data` or `ratings.dat`).
 * @throws FileSystemError when `dir` is missing or not a directory; CorruptFileError (field = the
 *   file's path) for a file of the dataset missing from it, a malformed line (with
 *   its line number), a duplicate id, or a rating of an unknown user or item
 */
export async function loadMovieLens(dir: string, options: MovieLensOptions = {}): Promise<InteractionDataset> {
  checkInputPath(dir, 'directory');
  const layout = existsSync(join(dir, ML100K.ratings)) ? ML100K : existsSync(join(dir, ML1M.ratings)) ? ML1M : undefined;
  if (!layout) throw new CorruptFileError(dir, `is not a MovieLens directory: found neither ${ML100K.ratings} (100K) nor ${ML1M.ratings} (1M)`);
  const is100k = layout === ML100K;
  const usersPath = join(dir, layout.users);
  const itemsPath = join(dir, layout.items);
  const ratingsPath = join(dir, layout.ratings);
  const [userLines, itemLines, ratingLines] = await Promise.all([
    readLines(usersPath, layout.sep, 5),
    readLines(itemsPath, layout.sep, layout.itemFields),
    readLines(ratingsPath, is100k ? '\t' : '::', 4),
  ]);

  // users: z-scored age, gender, occupation one-hot
  const [idCol, ageCol, genderCol, occCol] = layout.userCols;
  const users = vocabulary(usersPath, userLines, userLines.map((l) => intField(usersPath, l, idCol, 'user id')));
  const ages = zscore(userLines.map((l) => numField(usersPath, l, ageCol, 'age')));
  const occupations = [...new Set(userLines.map((l) => l.f[occCol]!.trim()))].sort();
  const IU = 2 + occupations.length;
  const userFeatures = new Float32Array(users.ids.length * IU);
  userLines.forEach((l, k) => {
    const u = users.index.get(intField(usersPath, l, idCol, 'user id'))!;
    const gender = l.f[genderCol]!.trim();
    if (gender !== 'M' && gender !== 'F') throw new CorruptFileError(usersPath, `line ${l.no}: gender must be M or F, got ${JSON.stringify(gender)}`);
    userFeatures[u * IU] = ages[k]!;
    userFeatures[u * IU + 1] = gender === 'M' ? 1 : 0;
    userFeatures[u * IU + 2 + occupations.indexOf(l.f[occCol]!.trim())] = 1;
  });

  // items: genre multi-hot, release year
  const items = vocabulary(itemsPath, itemLines, itemLines.map((l) => intField(itemsPath, l, 0, 'item id')));
  // 1M titles could in principle contain the separator: the genres are the last field
  const genresOf = (l: Line) => l.f[l.f.length - 1]!.trim().split('|').filter((g) => g !== '');
  const genreNames = is100k ? [] : [...new Set(itemLines.flatMap(genresOf))].sort();
  const G = is100k ? 19 : genreNames.length;
  const years = itemLines.map((l) => {
    const title = is100k ? l.f[1]! : l.f.slice(1, -1).join(layout.sep);
    const m = (is100k ? /(\d{4})\s*$/.exec(l.f[2]!) : null) ?? /\((\d{4})\)\s*$/.exec(title);
    return m ? Number(m[1]) : NaN;
  });
  const hasYear = years.some(Number.isFinite);
  const II = G + (hasYear ? 1 : 0);
  const yearZ = zscore(years);
  const itemFeatures = new Float32Array(items.ids.length * II);
  itemLines.forEach((l, k) => {
    const it = items.index.get(intField(itemsPath, l, 0, 'item id'))!;
    if (is100k) {
      for (let g = 0; g < G; g++) {
        const flag = l.f[5 + g]!.trim();
        if (flag !== '0' && flag !== '1') throw new CorruptFileError(itemsPath, `line ${l.no}: genre flag ${g} must be 0 or 1, got ${JSON.stringify(flag)}`);
        itemFeatures[it * II + g] = flag === '1' ? 1 : 0;
      }
    } else {
      for (const name of genresOf(l)) itemFeatures[it * II + genreNames.indexOf(name)] = 1;
    }
    if (hasYear) itemFeatures[it * II + G] = yearZ[k]!;
  });

  // ratings, in file order, then stably by timestamp
  const n = ratingLines.length;
  const all: InteractionLog = { size: n, user: new Int32Array(n), item: new Int32Array(n), labels: new Float32Array(n), timestamp: new Float64Array(n) };
  ratingLines.forEach((l, r) => {
    const userId = intField(ratingsPath, l, 0, 'user id');
    const itemId = intField(ratingsPath, l, 1, 'item id');
    const u = users.index.get(userId);
    const i = items.index.get(itemId);
    if (u === undefined) throw new CorruptFileError(ratingsPath, `line ${l.no}: user ${userId} is not in ${layout.users}`);
    if (i === undefined) throw new CorruptFileError(ratingsPath, `line ${l.no}: item ${itemId} is not in ${layout.items}`);
    all.user[r] = u;
    all.item[r] = i;
    all.labels[r] = numField(ratingsPath, l, 2, 'rating') >= 4 ? 1 : 0;
    all.timestamp![r] = numField(ratingsPath, l, 3, 'timestamp');
  });
  const valueWeights = Float32Array.of(1);
  const chronological = sliceLog(all, chronologicalOrder(all), 1);
  const { description, ...split } = splitDataset(chronological, users.ids.length, valueWeights, undefined, { validation: options.validation });
  return {
    name: layout.name,
    schema: {
      numUsers: users.ids.length, numItems: items.ids.length, tasks: ['like'], userFeatureDim: IU, itemFeatureDim: II,
      numPositions: 0, hasRankerScores: false, labelMax: [1],
    },
    userIds: users.ids, itemIds: items.ids, userFeatures, itemFeatures, valueWeights, ...split, split: description,
  };
}
