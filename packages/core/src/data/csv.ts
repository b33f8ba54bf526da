/**
 * The generic interaction CSV of EVAL.md section 3.
 *
 * Header row; `user_id`, `item_id` (strings or integers), optional `timestamp` and `position`,
 * one or more `label_<task>` (0/1 or a non-negative value), optional `ranker_<task>` (the main
 * ranker's probabilities, one per label), optional feature files keyed by `user_id` / `item_id`
 * with numeric columns. With a separate test file the split is given (test = its rows with
 * positive value; rows of unknown users or items are skipped and counted); without one, loo-full.
 */
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { parse as parseStream } from 'csv-parse';
import { parse } from 'csv-parse/sync';
import { mulberry32, type ItemId } from '@tt/mips';
import { ConfigError, CorruptFileError, ValueError } from '../errors.js';
import { chronologicalOrder, leaveLastOut, sliceLog } from './split.js';
import { rowValue } from './batches.js';
import type { Batch, BatchSource, DatasetSchema, InteractionDataset, InteractionLog } from './types.js';

export interface InteractionCsvOptions {
  readonly train: string;
  readonly test?: string;
  readonly userFeatures?: string;
  readonly itemFeatures?: string;
  /** hold out each evaluated user's second-to-last positive (loo-full split only) */
  readonly validation?: boolean;
}

/** Column positions of an interaction CSV header. */
interface Columns {
  readonly user: number;
  readonly item: number;
  readonly timestamp: number;
  readonly position: number;
  readonly tasks: string[];
  readonly labels: number[];
  readonly ranker: number[];
}

function columnsOf(header: string[], file: string): Columns {
  const at = (name: string) => header.indexOf(name);
  for (const required of ['user_id', 'item_id']) {
    if (at(required) < 0) throw new ValueError(required, `${file} has no "${required}" column (header: ${header.join(', ')})`);
  }
  const tasks = header.filter((h) => h.startsWith('label_')).map((h) => h.slice(6));
  if (tasks.length === 0) throw new ValueError('label_<task>', `${file} needs at least one label_<task> column (header: ${header.join(', ')})`);
  const rankerNames = header.filter((h) => h.startsWith('ranker_')).map((h) => h.slice(7));
  if (rankerNames.length && rankerNames.sort().join() !== [...tasks].sort().join()) {
    throw new ValueError('ranker_<task>', `${file}: ranker columns (${rankerNames.join(', ')}) must match the label columns (${tasks.join(', ')})`);
  }
  return {
    user: at('user_id'), item: at('item_id'), timestamp: at('timestamp'), position: at('position'), tasks,
    labels: tasks.map((t) => at(`label_${t}`)), ranker: rankerNames.length ? tasks.map((t) => at(`ranker_${t}`)) : [],
  };
}

function readTable(path: string): string[][] {
  if (!existsSync(path)) throw new CorruptFileError(path, 'missing');
  try {
    return parse(readFileSync(path, 'utf8'), { skip_empty_lines: true, trim: true }) as string[][];
  } catch (e) {
    throw new CorruptFileError(path, `is not valid CSV: ${(e as Error).message}`, { cause: e });
  }
}

const idOf = (s: string): ItemId => (/^-?\d+$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : s);

function number(file: string, line: number, column: string, s: string | undefined): number {
  const v = Number(s);
  if (s === undefined || s === '' || !Number.isFinite(v)) throw new ValueError(column, `${file} line ${line}: expected a number, got ${JSON.stringify(s)}`);
  return v;
}

/** Parsed rows of one interaction file, with external ids. */
interface ParsedRows {
  users: ItemId[];
  items: ItemId[];
  labels: number[];
  ranker: number[];
  positions: number[];
  timestamps: number[];
}

function parseRows(path: string, expectTasks?: string[]): { cols: Columns; rows: ParsedRows } {
  const table = readTable(path);
  if (table.length === 0) throw new ValueError('header', `${path} is empty (needs a header row)`);
  const cols = columnsOf(table[0]!, path);
  if (expectTasks && cols.tasks.join() !== expectTasks.join()) {
    throw new ValueError('label_<task>', `${path} has labels (${cols.tasks.join(', ')}), the training file (${expectTasks.join(', ')})`);
  }
  const rows: ParsedRows = { users: [], items: [], labels: [], ranker: [], positions: [], timestamps: [] };
  for (let r = 1; r < table.length; r++) {
    const f = table[r]!;
    const line = r + 1;
    if (!f[cols.user] || !f[cols.item]) throw new ValueError(f[cols.user] ? 'item_id' : 'user_id', `${path} line ${line}: empty id`);
    rows.users.push(idOf(f[cols.user]!));
    rows.items.push(idOf(f[cols.item]!));
    cols.labels.forEach((c, t) => {
      const v = number(path, line, `label_${cols.tasks[t]}`, f[c]);
      if (v < 0) throw new ValueError(`label_${cols.tasks[t]}`, `${path} line ${line}: labels must be >= 0, got ${v}`);
      rows.labels.push(v);
    });
    cols.ranker.forEach((c, t) => {
      const v = number(path, line, `ranker_${cols.tasks[t]}`, f[c]);
      if (v < 0 || v > 1) throw new ValueError(`ranker_${cols.tasks[t]}`, `${path} line ${line}: a probability must be in [0, 1], got ${v}`);
      rows.ranker.push(v);
    });
    if (cols.position >= 0) {
      const p = number(path, line, 'position', f[cols.position]);
      if (!Number.isInteger(p) || p < 0) throw new ValueError('position', `${path} line ${line}: must be an integer >= 0, got ${p}`);
      rows.positions.push(p);
    }
    if (cols.timestamp >= 0) rows.timestamps.push(number(path, line, 'timestamp', f[cols.timestamp]));
  }
  return { cols, rows };
}

function featureTable(path: string | undefined, key: 'user_id' | 'item_id', ids: readonly ItemId[]): { dim: number; values: Float32Array } {
  if (!path) return { dim: 0, values: new Float32Array(0) };
  const table = readTable(path);
  const header = table[0] ?? [];
  const k = header.indexOf(key);
  if (k < 0) throw new ValueError(key, `${path} has no "${key}" column (header: ${header.join(', ')})`);
  const dim = header.length - 1;
  const index = new Map(ids.map((id, i) => [id, i]));
  const values = new Float32Array(ids.length * dim);
  for (let r = 1; r < table.length; r++) {
    const i = index.get(idOf(table[r]![k]!));
    if (i === undefined) continue; // features of ids without interactions are not needed
    let j = 0;
    header.forEach((name, c) => {
      if (c !== k) values[i * dim + j++] = number(path, r + 1, name, table[r]![c]);
    });
  }
  return { dim, values };
}

function toLog(rows: ParsedRows, userIndex: Map<ItemId, number>, itemIndex: Map<ItemId, number>, T: number, keep: (r: number) => boolean): InteractionLog {
  const kept = rows.users.map((_, r) => r).filter(keep);
  const n = kept.length;
  const log = {
    size: n, user: new Int32Array(n), item: new Int32Array(n), labels: new Float32Array(n * T),
    position: rows.positions.length ? new Int32Array(n) : undefined,
    rankerScores: rows.ranker.length ? new Float32Array(n * T) : undefined,
    timestamp: rows.timestamps.length ? new Float64Array(n) : undefined,
  };
  kept.forEach((r, i) => {
    log.user[i] = userIndex.get(rows.users[r]!)!;
    log.item[i] = itemIndex.get(rows.items[r]!)!;
    for (let t = 0; t < T; t++) log.labels[i * T + t] = rows.labels[r * T + t]!;
    if (log.rankerScores) for (let t = 0; t < T; t++) log.rankerScores[i * T + t] = rows.ranker[r * T + t]!;
    if (log.position) log.position[i] = rows.positions[r]!;
    if (log.timestamp) log.timestamp[i] = rows.timestamps[r]!;
  });
  return log;
}

/**
 * Loads an interaction CSV (and optional test and feature files).
 * @throws ValueError naming a missing column or a bad value (file and line), CorruptFileError
 */
export async function loadInteractionCsv(options: InteractionCsvOptions): Promise<InteractionDataset> {
  const { cols, rows } = parseRows(options.train);
  const T = cols.tasks.length;
  const uniq = (xs: ItemId[]) => [...new Set(xs)];
  const userIds = uniq(rows.users);
  const itemIds = uniq(rows.items);
  const userIndex = new Map(userIds.map((id, i) => [id, i]));
  const itemIndex = new Map(itemIds.map((id, i) => [id, i]));
  const labelMax = cols.tasks.map((_, t) => {
    let max = 0;
    let binary = true;
    for (let r = 0; r < rows.users.length; r++) {
      const v = rows.labels[r * T + t]!;
      if (v > max) max = v;
      if (v !== 0 && v !== 1) binary = false;
    }
    return binary ? 1 : max;
  });
  const valueWeights = new Float32Array(T).fill(1);
  const all = toLog(rows, userIndex, itemIndex, T, () => true);
  const ordered = sliceLog(all, chronologicalOrder(all), T);
  const uf = featureTable(options.userFeatures, 'user_id', userIds);
  const itf = featureTable(options.itemFeatures, 'item_id', itemIds);
  const schema: DatasetSchema = {
    numUsers: userIds.length, numItems: itemIds.length, tasks: cols.tasks, userFeatureDim: uf.dim, itemFeatureDim: itf.dim,
    numPositions: rows.positions.length ? Math.max(...rows.positions) + 1 : 0, hasRankerScores: rows.ranker.length > 0, labelMax,
  };
  let split: { train: InteractionLog; validation?: InteractionLog; test: InteractionLog };
  if (options.test) {
    const test = parseRows(options.test, cols.tasks).rows;
    const testLog = toLog(test, userIndex, itemIndex, T, (r) => userIndex.has(test.users[r]!) && itemIndex.has(test.items[r]!));
    const positives = Array.from({ length: testLog.size }, (_, r) => r).filter((r) => rowValue(testLog, r, valueWeights) > 0);
    split = { train: ordered, test: sliceLog(testLog, positives, T) };
    if (options.validation) split = { ...split, ...leaveLastOut(ordered, userIds.length, valueWeights, { validation: true }), test: split.test };
  } else {
    split = leaveLastOut(ordered, userIds.length, valueWeights, options);
  }
  return { name: `csv:${options.train}`, schema, userIds, itemIds, userFeatures: uf.values, itemFeatures: itf.values, valueWeights, ...split };
}

export interface StreamingCsvOptions {
  readonly batchSize: number;
  readonly seed?: number;
  /** rows held for shuffling (default 65,536) */
  readonly shuffleBuffer?: number;
}

/**
 * Batches streamed from an interaction CSV on every epoch, for logs that do not fit in memory.
 * The vocabulary, schema and feature tables come from `catalogue` (e.g. a dataset loaded from a
 * sample, or built by the caller); rows with ids outside it are errors.
 */
export function streamingCsvSource(path: string, catalogue: Pick<InteractionDataset, 'schema' | 'userIds' | 'itemIds' | 'userFeatures' | 'itemFeatures'>, options: StreamingCsvOptions): BatchSource {
  const { schema } = catalogue;
  const B = options.batchSize;
  if (!Number.isInteger(B) || B < 1) throw new ConfigError('batchSize', `must be a positive integer, got ${B}`);
  const capacity = Math.max(B, options.shuffleBuffer ?? 65_536);
  const userIndex = new Map(catalogue.userIds.map((id, i) => [id, i]));
  const itemIndex = new Map(catalogue.itemIds.map((id, i) => [id, i]));
  const T = schema.tasks.length;
  const IU = schema.userFeatureDim;
  const II = schema.itemFeatureDim;
  type Row = { u: number; i: number; labels: number[]; ranker: number[]; position: number };
  const toBatch = (rows: Row[]): Batch => {
    const n = rows.length;
    const batch = {
      size: n, user: new Int32Array(n), item: new Int32Array(n), labels: new Float32Array(n * T),
      userFeatures: new Float32Array(n * IU), itemFeatures: new Float32Array(n * II),
      position: schema.numPositions > 0 ? new Int32Array(n) : undefined,
      rankerScores: schema.hasRankerScores ? new Float32Array(n * T) : undefined, historyLength: 0,
    };
    rows.forEach((r, k) => {
      batch.user[k] = r.u;
      batch.item[k] = r.i;
      batch.labels.set(r.labels, k * T);
      batch.rankerScores?.set(r.ranker, k * T);
      if (batch.position) batch.position[k] = r.position;
      batch.userFeatures.set(catalogue.userFeatures.subarray(r.u * IU, r.u * IU + IU), k * IU);
      batch.itemFeatures.set(catalogue.itemFeatures.subarray(r.i * II, r.i * II + II), k * II);
    });
    return batch;
  };
  return {
    schema,
    async *batches(epoch: number): AsyncIterable<Batch> {
      if (!existsSync(path)) throw new CorruptFileError(path, 'missing');
      const rand = mulberry32(((options.seed ?? 0) * 1_000_003 + epoch) >>> 0);
      const buffer: Row[] = [];
      let cols: Columns | undefined;
      let line = 0;
      const parser = createReadStream(path).pipe(parseStream({ skip_empty_lines: true, trim: true }));
      for await (const f of parser as AsyncIterable<string[]>) {
        line++;
        if (!cols) {
          cols = columnsOf(f, path);
          if (cols.tasks.join() !== schema.tasks.join()) throw new ValueError('label_<task>', `${path} has labels (${cols.tasks.join(', ')}), the schema (${schema.tasks.join(', ')})`);
          continue;
        }
        const u = userIndex.get(idOf(f[cols.user] ?? ''));
        const i = itemIndex.get(idOf(f[cols.item] ?? ''));
        if (u === undefined) throw new ValueError('user_id', `${path} line ${line}: ${f[cols.user]} is not in the catalogue's users`);
        if (i === undefined) throw new ValueError('item_id', `${path} line ${line}: ${f[cols.item]} is not in the catalogue's items`);
        const c = cols;
        buffer.push({
          u, i,
          labels: c.labels.map((k, t) => number(path, line, `label_${c.tasks[t]}`, f[k])),
          ranker: c.ranker.map((k, t) => number(path, line, `ranker_${c.tasks[t]}`, f[k])),
          position: c.position >= 0 ? number(path, line, 'position', f[c.position]) : 0,
        });
        if (buffer.length >= capacity) yield toBatch(drawBatch(buffer, B, rand));
      }
      while (buffer.length > 0) yield toBatch(drawBatch(buffer, B, rand));
    },
  };
}

/** Removes and returns `n` random rows of `buffer` (swap-remove). */
function drawBatch<R>(buffer: R[], n: number, rand: () => number): R[] {
  const out: R[] = [];
  while (out.length < n && buffer.length > 0) {
    const j = Math.floor(rand() * buffer.length);
    out.push(buffer[j]!);
    buffer[j] = buffer[buffer.length - 1]!;
    buffer.pop();
  }
  return out;
}
