/**
 * The generic interaction CSV of EVAL.md section 3.
 *
 * Interaction files: a header row, then one impression per row. Columns (names exact, any order):
 * - `user_id`, `item_id` (required): strings or integers. When every id of a kind (across the
 *   interaction and feature files) is an integer, the ids are numbers and indices follow ascending
 *   id; otherwise they are strings and indices follow first appearance.
 * - `label_<name>` (one or more, required): the reward of task `<name>`, a number >= 0.
 *   `labelMax` is 1 when every value of the task is 0 or 1, else the largest value seen.
 * - `ranker_<name>` (optional): the main ranker's logged probability for task `<name>`, in [0, 1]
 *   (an empty cell: the row was not scored);
 *   when present there must be one per label.
 * - `position` (optional): the slate position, an integer >= 0 (numPositions = max + 1).
 * - `timestamp` (optional): a number, or a date `Date.parse` reads (then seconds since 1970).
 *   Rows are ordered by it, stably; without it file order is the chronological order.
 * Other columns are ignored (and named in `warnings`).
 *
 * Feature files: header `user_id` (or `item_id`) plus numeric columns, one row per id, used as
 * given (scale them yourself). Ids of a feature file join the vocabulary (items with features but
 * no interaction are still in the catalogue); ids without a feature row get zeros (counted in
 * `warnings`).
 *
 * Split: without a test file, loo-full as for MovieLens (EVAL.md section 1). With a test file, the
 * dataset is pre-split: the test log is the test file's rows with a positive value
 * (`labels . valueWeights > 0`); a test row whose user or item is in neither the training file nor
 * the feature files cannot be scored, so it is skipped and counted in `warnings` (never an error:
 * held-out files routinely contain new items). `validation: true` with a test file holds out each
 * user's last positive training row.
 */
import { createReadStream, existsSync } from 'node:fs';
import { basename } from 'node:path';
import { parse } from 'csv-parse';
import { mulberry32 } from '@tt/mips';
import { ConfigError, CorruptFileError, DuplicateIdError, EmptyError, OutOfRangeError, TtError, ValueError } from '../errors.js';
import { chronologicalOrder, leaveLastOut, sliceLog } from './split.js';
import { gatherRows } from './batches.js';
import type { Batch, BatchSource, DatasetSchema, InteractionDataset, InteractionLog, ItemId } from './types.js';

/** Options of {@link loadInteractionCsv}: the files to read and how to split them. */
export interface InteractionCsvOptions {
  /** the interaction CSV to train on */
  readonly train: string;
  /** a held-out interaction CSV (pre-split dataset); without it, loo-full split of `train` */
  readonly test?: string;
  /** CSV `user_id, <numeric columns...>` */
  readonly userFeatures?: string;
  /** CSV `item_id, <numeric columns...>` */
  readonly itemFeatures?: string;
  /** hold out each evaluated user's positive before the test row (default false) */
  readonly validation?: boolean;
  /** `w [T]` in the order of the `label_` columns (default all ones) */
  readonly valueWeights?: readonly number[];
}

/** A dataset read from CSV, with what the loader skipped or assumed. */
export interface CsvDataset extends InteractionDataset {
  /** human-readable notes: skipped test rows, ids without features, ignored columns */
  readonly warnings: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// reading

interface CsvRecord {
  readonly fields: string[];
  /** 1-based line number of the record in its file */
  readonly line: number;
}

/**
 * The records of a CSV file (the header included), streamed. Exact line numbers (`info`) double
 * csv-parse's cost; without `exactLines` the line is the record number + 1, which is the line
 * unless the file has blank lines or quoted newlines (used by epoch passes over a file that the
 * first pass already checked).
 */
async function* csvRecords(path: string, exactLines = true): AsyncGenerator<CsvRecord> {
  if (!existsSync(path)) throw new CorruptFileError(path, 'file is missing');
  const parser = parse({ bom: true, trim: true, skip_empty_lines: true, info: exactLines });
  const input = createReadStream(path);
  // pipe() does not forward a source error: hand it to the parser, which ends the iteration
  input.on('error', (e) => parser.destroy(e));
  input.pipe(parser);
  try {
    if (exactLines) {
      for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
        yield { fields: record, line: info.lines };
      }
    } else {
      let line = 0;
      for await (const record of parser as AsyncIterable<string[]>) yield { fields: record, line: ++line };
    }
  } catch (e) {
    if (e instanceof TtError) throw e;
    throw new CorruptFileError(path, `cannot be read as CSV: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  } finally {
    input.destroy();
  }
}

/** Where each known column of an interaction file is (-1 = absent). */
interface Columns {
  readonly path: string;
  readonly header: readonly string[];
  readonly user: number;
  readonly item: number;
  readonly timestamp: number;
  readonly position: number;
  readonly tasks: readonly string[];
  readonly labels: readonly number[];
  /** aligned with `labels`; empty when the file has no ranker columns */
  readonly rankers: readonly number[];
  readonly ignored: readonly string[];
}

function headerText(header: readonly string[]): string {
  return `found header [${header.join(', ')}]`;
}

function indexHeader(path: string, header: readonly string[]): Map<string, number> {
  const at = new Map<string, number>();
  header.forEach((name, j) => {
    if (at.has(name)) throw new ValueError(name, `${path}: column ${JSON.stringify(name)} appears twice; ${headerText(header)}`);
    at.set(name, j);
  });
  return at;
}

function requireColumn(path: string, header: readonly string[], at: Map<string, number>, name: string, why = ''): number {
  const j = at.get(name);
  if (j === undefined) throw new ValueError(name, `${path} has no column ${JSON.stringify(name)}${why}; ${headerText(header)}`);
  return j;
}

/** Reads an interaction file's header. `tasks` (from the training file) pins the label columns. */
function interactionColumns(path: string, header: readonly string[], tasks?: readonly string[]): Columns {
  const at = indexHeader(path, header);
  const user = requireColumn(path, header, at, 'user_id');
  const item = requireColumn(path, header, at, 'item_id');
  const found = header.filter((h) => h.startsWith('label_') && h.length > 'label_'.length).map((h) => h.slice('label_'.length));
  if (!tasks && found.length === 0) {
    throw new ValueError('label_<name>', `${path} needs at least one label column (label_<name>, e.g. label_click); ${headerText(header)}`);
  }
  const names = tasks ?? found;
  const labels = names.map((t) => requireColumn(path, header, at, `label_${t}`, tasks ? ' (the training file has it)' : ''));
  const rankerNames = header.filter((h) => h.startsWith('ranker_')).map((h) => h.slice('ranker_'.length));
  for (const r of rankerNames) {
    if (!names.includes(r)) throw new ValueError(`ranker_${r}`, `${path}: ranker_${r} has no matching label_${r}; ranker columns must match the labels [${names.map((t) => `label_${t}`).join(', ')}]; ${headerText(header)}`);
  }
  const rankers = rankerNames.length ? names.map((t) => requireColumn(path, header, at, `ranker_${t}`, ' (every label needs a ranker column when any is given)')) : [];
  const known = new Set(['user_id', 'item_id', 'timestamp', 'position', ...names.map((t) => `label_${t}`), ...rankerNames.map((t) => `ranker_${t}`)]);
  return {
    path, header, user, item, tasks: names, labels, rankers,
    timestamp: at.get('timestamp') ?? -1,
    position: at.get('position') ?? -1,
    ignored: header.filter((h) => !known.has(h)),
  };
}

/** One parsed interaction row (reused between rows). */
interface RowValues {
  user: string;
  item: string;
  readonly labels: Float64Array;
  readonly rankers: Float64Array;
  position: number;
  timestamp: number;
}

function newRowValues(T: number): RowValues {
  return { user: '', item: '', labels: new Float64Array(T), rankers: new Float64Array(T), position: 0, timestamp: 0 };
}

function number(cols: Columns, rec: CsvRecord, j: number): number {
  const s = rec.fields[j]!;
  const v = s === '' ? NaN : Number(s);
  if (!Number.isFinite(v)) throw new ValueError(cols.header[j]!, `${cols.path} line ${rec.line}: must be a finite number, got ${JSON.stringify(s)}`);
  return v;
}

function parseRow(cols: Columns, rec: CsvRecord, out: RowValues): void {
  const f = rec.fields;
  if (f.length !== cols.header.length) {
    throw new CorruptFileError(cols.path, `line ${rec.line}: ${f.length} fields, the header has ${cols.header.length}`);
  }
  out.user = f[cols.user]!;
  out.item = f[cols.item]!;
  if (out.user === '') throw new ValueError('user_id', `${cols.path} line ${rec.line}: empty user id`);
  if (out.item === '') throw new ValueError('item_id', `${cols.path} line ${rec.line}: empty item id`);
  for (let t = 0; t < cols.labels.length; t++) {
    const j = cols.labels[t]!;
    const v = number(cols, rec, j);
    if (v < 0) throw new OutOfRangeError(cols.header[j]!, `${cols.path} line ${rec.line}: a label must be >= 0, got ${v}`);
    out.labels[t] = v;
  }
  for (let t = 0; t < cols.rankers.length; t++) {
    const j = cols.rankers[t]!;
    // an empty cell: the ranker did not score this row (NaN; distillation skips it)
    const v = f[j] === '' ? NaN : number(cols, rec, j);
    if (v < 0 || v > 1) throw new OutOfRangeError(cols.header[j]!, `${cols.path} line ${rec.line}: a ranker score must be a probability in [0, 1], got ${v}`);
    out.rankers[t] = v;
  }
  if (cols.position >= 0) {
    const v = number(cols, rec, cols.position);
    if (!Number.isInteger(v) || v < 0) throw new OutOfRangeError('position', `${cols.path} line ${rec.line}: a position must be an integer >= 0, got ${v}`);
    out.position = v;
  }
  if (cols.timestamp >= 0) {
    const s = f[cols.timestamp]!;
    let v = s === '' ? NaN : Number(s);
    if (!Number.isFinite(v)) v = Date.parse(s) / 1000;
    if (!Number.isFinite(v)) throw new ValueError('timestamp', `${cols.path} line ${rec.line}: must be a number or a date, got ${JSON.stringify(s)}`);
    out.timestamp = v;
  }
}

/** Per-task label statistics (for `labelMax`) and the largest position. */
class LabelStats {
  readonly binary: boolean[];
  readonly max: number[];
  maxPosition = -1;
  constructor(T: number) {
    this.binary = new Array<boolean>(T).fill(true);
    this.max = new Array<number>(T).fill(0);
  }
  add(row: RowValues, hasPosition: boolean): void {
    for (let t = 0; t < this.max.length; t++) {
      const v = row.labels[t]!;
      if (v !== 0 && v !== 1) this.binary[t] = false;
      if (v > this.max[t]!) this.max[t] = v;
    }
    if (hasPosition && row.position > this.maxPosition) this.maxPosition = row.position;
  }
  labelMax(): number[] {
    return this.max.map((m, t) => (this.binary[t] || m === 0 ? 1 : m));
  }
}

// ---------------------------------------------------------------------------------------------
// vocabularies and feature files

const INTEGER = /^-?\d+$/;

/** External id <-> dense index. Integer ids when every raw id is an integer (see the top). */
class Vocabulary {
  readonly ids: ItemId[];
  private readonly index = new Map<ItemId, number>();
  private readonly integers: boolean;

  constructor(rawInOrder: Iterable<string>) {
    const distinct = [...new Set(rawInOrder)];
    this.integers = distinct.length > 0 && distinct.every((s) => INTEGER.test(s) && Number.isSafeInteger(Number(s)));
    this.ids = this.integers ? [...new Set(distinct.map(Number))].sort((a, b) => a - b) : distinct;
    this.ids.forEach((id, i) => this.index.set(id, i));
  }

  indexOf(raw: string): number | undefined {
    return this.index.get(this.integers ? Number(raw) : raw);
  }
}

interface FeatureFile {
  readonly path: string;
  readonly ids: string[];
  readonly dim: number;
  /** `[ids.length * dim]` in file order */
  readonly values: Float32Array;
}

async function readFeatureFile(path: string, idColumn: 'user_id' | 'item_id'): Promise<FeatureFile> {
  let header: string[] | undefined;
  let idAt = 0;
  const ids: string[] = [];
  const values: number[] = [];
  const seen = new Set<string>();
  for await (const rec of csvRecords(path)) {
    if (!header) {
      header = rec.fields;
      idAt = requireColumn(path, header, indexHeader(path, header), idColumn);
      continue;
    }
    if (rec.fields.length !== header.length) throw new CorruptFileError(path, `line ${rec.line}: ${rec.fields.length} fields, the header has ${header.length}`);
    const id = rec.fields[idAt]!;
    if (id === '') throw new ValueError(idColumn, `${path} line ${rec.line}: empty id`);
    if (seen.has(id)) throw new DuplicateIdError(idColumn, id);
    seen.add(id);
    ids.push(id);
    rec.fields.forEach((s, j) => {
      if (j === idAt) return;
      const v = s === '' ? NaN : Number(s);
      if (!Number.isFinite(v)) throw new ValueError(header![j]!, `${path} line ${rec.line}: a feature must be a finite number, got ${JSON.stringify(s)}`);
      values.push(v);
    });
  }
  if (!header) throw new EmptyError(path, 'the feature file is empty (no header)');
  return { path, ids, dim: header.length - 1, values: Float32Array.from(values) };
}

/** The `[vocab * dim]` feature table of a feature file (zeros for ids it lacks). */
function featureTable(file: FeatureFile | undefined, vocab: Vocabulary, kind: string, warnings: string[]): Float32Array {
  if (!file) return new Float32Array(0);
  const { dim } = file;
  const out = new Float32Array(vocab.ids.length * dim);
  const covered = new Uint8Array(vocab.ids.length);
  file.ids.forEach((raw, k) => {
    const i = vocab.indexOf(raw)!;
    covered[i] = 1;
    out.set(file.values.subarray(k * dim, k * dim + dim), i * dim);
  });
  const missing = covered.length - covered.reduce((a, b) => a + b, 0);
  if (missing > 0) warnings.push(`${missing} of ${covered.length} ${kind}s have no row in ${file.path}; their features are 0`);
  return out;
}

function weightsFor(tasks: readonly string[], valueWeights: readonly number[] | undefined): Float32Array {
  const w = valueWeights ?? new Array<number>(tasks.length).fill(1);
  if (w.length !== tasks.length || !w.every((x) => Number.isFinite(x) && x >= 0)) {
    throw new ConfigError('valueWeights', `needs ${tasks.length} finite non-negative weights (for ${tasks.map((t) => `label_${t}`).join(', ')}), got ${JSON.stringify(w)}`);
  }
  return Float32Array.from(w);
}

// ---------------------------------------------------------------------------------------------
// in-memory loading

/** An interaction file held as columns, ids still raw. */
interface RawLog {
  readonly cols: Columns;
  readonly users: string[];
  readonly items: string[];
  readonly labels: number[];
  readonly rankers: number[];
  readonly positions: number[];
  readonly timestamps: number[];
  /** label and position statistics, shared with the files read after this one */
  readonly stats: LabelStats;
}

async function readInteractions(path: string, stats: LabelStats | undefined, tasks?: readonly string[]): Promise<RawLog> {
  let raw: RawLog | undefined;
  let row: RowValues | undefined;
  for await (const rec of csvRecords(path)) {
    if (!raw) {
      const cols = interactionColumns(path, rec.fields, tasks);
      raw = { cols, users: [], items: [], labels: [], rankers: [], positions: [], timestamps: [], stats: stats ?? new LabelStats(cols.tasks.length) };
      row = newRowValues(cols.tasks.length);
      continue;
    }
    parseRow(raw.cols, rec, row!);
    raw.stats.add(row!, raw.cols.position >= 0);
    raw.users.push(row!.user);
    raw.items.push(row!.item);
    for (const v of row!.labels) raw.labels.push(v);
    if (raw.cols.rankers.length) for (const v of row!.rankers) raw.rankers.push(v);
    if (raw.cols.position >= 0) raw.positions.push(row!.position);
    if (raw.cols.timestamp >= 0) raw.timestamps.push(row!.timestamp);
  }
  if (!raw) throw new EmptyError(path, 'the file is empty (no header)');
  if (raw.users.length === 0) throw new EmptyError(path, 'the file has a header but no rows');
  return raw;
}

/**
 * The rows of `raw` whose user and item are known, as a log in file order; `keep` may drop more.
 * Returns the log and how many rows had an unknown user or item.
 */
function toLog(raw: RawLog, users: Vocabulary, items: Vocabulary, T: number, keep: (labels: number[], r: number) => boolean = () => true): { log: InteractionLog; unknown: number } {
  const rows: number[] = [];
  const u: number[] = [];
  const it: number[] = [];
  let unknown = 0;
  for (let r = 0; r < raw.users.length; r++) {
    const ui = users.indexOf(raw.users[r]!);
    const ii = items.indexOf(raw.items[r]!);
    if (ui === undefined || ii === undefined) {
      unknown++;
      continue;
    }
    if (!keep(raw.labels, r)) continue;
    rows.push(r);
    u.push(ui);
    it.push(ii);
  }
  const pick = (src: number[], width: number) => {
    const out = new Float64Array(rows.length * width);
    rows.forEach((r, k) => {
      for (let j = 0; j < width; j++) out[k * width + j] = src[r * width + j]!;
    });
    return out;
  };
  const log: InteractionLog = {
    size: rows.length,
    user: Int32Array.from(u),
    item: Int32Array.from(it),
    labels: Float32Array.from(pick(raw.labels, T)),
    position: raw.cols.position >= 0 ? Int32Array.from(pick(raw.positions, 1)) : undefined,
    rankerScores: raw.cols.rankers.length ? Float32Array.from(pick(raw.rankers, T)) : undefined,
    timestamp: raw.cols.timestamp >= 0 ? pick(raw.timestamps, 1) : undefined,
  };
  return { log, unknown };
}

/**
 * Loads an interaction CSV (and optionally a test file and feature files) into memory.
 * @throws ValueError a required column is missing (field = the column name; the message lists the
 *   header found) or a value is not a number (field = its column, message = file and line)
 * @throws OutOfRangeError a negative label, a ranker score outside [0, 1], a bad position
 * @throws CorruptFileError a missing or malformed file (field = its path)
 * @throws EmptyError a file without rows; DuplicateIdError an id twice in a feature file
 */
export async function loadInteractionCsv(options: InteractionCsvOptions): Promise<CsvDataset> {
  const warnings: string[] = [];
  const train = await readInteractions(options.train, undefined);
  const { tasks } = train.cols;
  const T = tasks.length;
  const { stats } = train;
  const test = options.test ? await readInteractions(options.test, stats, tasks) : undefined;
  const userFile = options.userFeatures ? await readFeatureFile(options.userFeatures, 'user_id') : undefined;
  const itemFile = options.itemFeatures ? await readFeatureFile(options.itemFeatures, 'item_id') : undefined;
  for (const f of [train, test]) if (f?.cols.ignored.length) warnings.push(`${f.cols.path}: ignored columns ${f.cols.ignored.join(', ')}`);

  const users = new Vocabulary([...train.users, ...(userFile?.ids ?? [])]);
  const items = new Vocabulary([...train.items, ...(itemFile?.ids ?? [])]);
  const valueWeights = weightsFor(tasks, options.valueWeights);
  const positive = (labels: number[], r: number) => {
    let v = 0;
    for (let t = 0; t < T; t++) v += labels[r * T + t]! * valueWeights[t]!;
    return v > 0;
  };

  const all = toLog(train, users, items, T).log;
  const chronological = all.timestamp ? sliceLog(all, chronologicalOrder(all), T) : all;
  let split: { train: InteractionLog; validation?: InteractionLog; test: InteractionLog };
  if (test) {
    const held = toLog(test, users, items, T, positive);
    if (held.unknown > 0) warnings.push(`${options.test}: skipped ${held.unknown} of ${test.users.length} rows whose user or item is not in the training or feature files`);
    const testLog = held.log.timestamp ? sliceLog(held.log, chronologicalOrder(held.log), T) : held.log;
    if (options.validation) {
      const loo = leaveLastOut(chronological, users.ids.length, valueWeights, { validation: false });
      split = { train: loo.train, validation: loo.test, test: testLog };
    } else {
      split = { train: chronological, test: testLog };
    }
  } else {
    split = leaveLastOut(chronological, users.ids.length, valueWeights, { validation: options.validation ?? false });
  }
  if (split.test.size === 0) warnings.push('the test log is empty: no user has a positive row to hold out');

  const hasPosition = train.cols.position >= 0;
  const schema: DatasetSchema = {
    numUsers: users.ids.length,
    numItems: items.ids.length,
    tasks: [...tasks],
    userFeatureDim: userFile?.dim ?? 0,
    itemFeatureDim: itemFile?.dim ?? 0,
    numPositions: hasPosition ? stats.maxPosition + 1 : 0,
    hasRankerScores: train.cols.rankers.length > 0,
    labelMax: stats.labelMax(),
  };
  return {
    name: `csv:${basename(options.train)}`,
    schema,
    userIds: users.ids,
    itemIds: items.ids,
    userFeatures: featureTable(userFile, users, 'user', warnings),
    itemFeatures: featureTable(itemFile, items, 'item', warnings),
    valueWeights,
    ...split,
    warnings,
  };
}

// ---------------------------------------------------------------------------------------------
// streaming

/** Options of {@link streamingCsvSource}. */
export interface StreamingCsvOptions {
  /** rows per batch */
  readonly batchSize: number;
  /** epoch e shuffles with `seed + e` (default 0) */
  readonly seed?: number;
  /** shuffle through a buffer (default true); false keeps file order */
  readonly shuffle?: boolean;
  /** rows held by the shuffle buffer (default 65536): larger = closer to a full shuffle */
  readonly shuffleBuffer?: number;
  /** drop a last, smaller batch (default false) */
  readonly dropLast?: boolean;
  /**
   * H: each row's earlier positive items, newest first (default 0). The file's own order is taken
   * as chronological here (no sort is possible while streaming).
   */
  readonly historyLength?: number;
  /** CSV `user_id, <numeric columns...>` */
  readonly userFeatures?: string;
  /** CSV `item_id, <numeric columns...>` */
  readonly itemFeatures?: string;
  /** `w [T]` in the order of the `label_` columns (default all ones) */
  readonly valueWeights?: readonly number[];
}

/** A batch source over a CSV on disk, with the vocabulary and feature tables the model needs. */
export interface StreamingCsvSource extends BatchSource {
  readonly rowsPerEpoch: number;
  /** user index -> the file's own user id */
  readonly userIds: readonly ItemId[];
  /** item index -> the catalogue's item id */
  readonly itemIds: readonly ItemId[];
  /** `[numUsers * userFeatureDim]`, zeros for users without a feature row */
  readonly userFeatures: Float32Array;
  /** `[numItems * itemFeatureDim]`, zeros for items without a feature row */
  readonly itemFeatures: Float32Array;
  /** value weights `w [T]` of `nuv = labels . w` */
  readonly valueWeights: Float32Array;
  /** human-readable notes: ignored columns, ids without features */
  readonly warnings: readonly string[];
}

/** Columnar rows: a batch under construction, the shuffle buffer, or one parsed row. */
class RowStore {
  readonly user: Int32Array;
  readonly item: Int32Array;
  readonly labels: Float32Array;
  readonly position: Int32Array | undefined;
  readonly rankerScores: Float32Array | undefined;
  readonly history: Int32Array | undefined;
  constructor(readonly capacity: number, readonly T: number, readonly H: number, hasPosition: boolean, hasRanker: boolean) {
    this.user = new Int32Array(capacity);
    this.item = new Int32Array(capacity);
    this.labels = new Float32Array(capacity * T);
    this.position = hasPosition ? new Int32Array(capacity) : undefined;
    this.rankerScores = hasRanker ? new Float32Array(capacity * T) : undefined;
    this.history = H > 0 ? new Int32Array(capacity * H) : undefined;
  }
  copyTo(i: number, to: RowStore, j: number): void {
    const { T, H } = this;
    to.user[j] = this.user[i]!;
    to.item[j] = this.item[i]!;
    for (let t = 0; t < T; t++) to.labels[j * T + t] = this.labels[i * T + t]!;
    if (this.position) to.position![j] = this.position[i]!;
    if (this.rankerScores) for (let t = 0; t < T; t++) to.rankerScores![j * T + t] = this.rankerScores[i * T + t]!;
    if (this.history) for (let h = 0; h < H; h++) to.history![j * H + h] = this.history[i * H + h]!;
  }
}

/**
 * A batch source that streams an interaction CSV from disk on every epoch, for logs that do not
 * fit in memory. A first streaming pass validates every row and builds the vocabularies, label
 * ranges and row count; each epoch then re-reads the file and shuffles through a seeded buffer of
 * `shuffleBuffer` rows (reservoir-style: a full buffer emits a random row for every row read).
 * Memory: the buffer, the vocabularies and feature tables, and `numUsers * H` history slots.
 * There is no split: pass the training file.
 */
export async function streamingCsvSource(path: string, options: StreamingCsvOptions): Promise<StreamingCsvSource> {
  const B = options.batchSize;
  if (!Number.isInteger(B) || B < 1) throw new ConfigError('batchSize', `must be a positive integer, got ${B}`);
  const H = options.historyLength ?? 0;
  if (!Number.isInteger(H) || H < 0) throw new ConfigError('historyLength', `must be a non-negative integer, got ${H}`);
  const capacity = options.shuffle === false ? 0 : (options.shuffleBuffer ?? 65_536);
  if (!Number.isInteger(capacity) || capacity < 0) throw new ConfigError('shuffleBuffer', `must be a non-negative integer, got ${capacity}`);
  const seed = options.seed ?? 0;

  // first pass: columns, validation, vocabulary, label ranges
  let cols: Columns | undefined;
  let row: RowValues | undefined;
  let stats: LabelStats | undefined;
  const userRaw = new Set<string>();
  const itemRaw = new Set<string>();
  let rows = 0;
  for await (const rec of csvRecords(path)) {
    if (!cols) {
      cols = interactionColumns(path, rec.fields);
      row = newRowValues(cols.tasks.length);
      stats = new LabelStats(cols.tasks.length);
      continue;
    }
    parseRow(cols, rec, row!);
    stats!.add(row!, cols.position >= 0);
    userRaw.add(row!.user);
    itemRaw.add(row!.item);
    rows++;
  }
  if (!cols) throw new EmptyError(path, 'the file is empty (no header)');
  if (rows === 0) throw new EmptyError(path, 'the file has a header but no rows');
  const header = cols.header;
  const T = cols.tasks.length;
  const warnings: string[] = [];
  if (cols.ignored.length) warnings.push(`${path}: ignored columns ${cols.ignored.join(', ')}`);
  const userFile = options.userFeatures ? await readFeatureFile(options.userFeatures, 'user_id') : undefined;
  const itemFile = options.itemFeatures ? await readFeatureFile(options.itemFeatures, 'item_id') : undefined;
  const users = new Vocabulary([...userRaw, ...(userFile?.ids ?? [])]);
  const items = new Vocabulary([...itemRaw, ...(itemFile?.ids ?? [])]);
  const userFeatures = featureTable(userFile, users, 'user', warnings);
  const itemFeatures = featureTable(itemFile, items, 'item', warnings);
  const valueWeights = weightsFor(cols.tasks, options.valueWeights);
  const hasPosition = cols.position >= 0;
  const hasRanker = cols.rankers.length > 0;
  const schema: DatasetSchema = {
    numUsers: users.ids.length,
    numItems: items.ids.length,
    tasks: [...cols.tasks],
    userFeatureDim: userFile?.dim ?? 0,
    itemFeatureDim: itemFile?.dim ?? 0,
    numPositions: hasPosition ? stats!.maxPosition + 1 : 0,
    hasRankerScores: hasRanker,
    labelMax: stats!.labelMax(),
  };
  const IU = schema.userFeatureDim;
  const II = schema.itemFeatureDim;
  const rowsPerEpoch = options.dropLast ? Math.floor(rows / B) * B : rows;
  const store = (n: number) => new RowStore(n, T, H, hasPosition, hasRanker);

  function finish(b: RowStore, n: number): Batch {
    const userF = gatherRows(userFeatures, IU, b.user.subarray(0, n));
    const itemF = gatherRows(itemFeatures, II, b.item.subarray(0, n));
    const cut = <A extends Int32Array | Float32Array>(a: A | undefined, w: number): A | undefined => (a ? (a.slice(0, n * w) as A) : undefined);
    return {
      size: n, user: cut(b.user, 1)!, item: cut(b.item, 1)!, userFeatures: userF, itemFeatures: itemF,
      labels: cut(b.labels, T)!, position: cut(b.position, 1), rankerScores: cut(b.rankerScores, T),
      history: cut(b.history, H), historyLength: H,
    };
  }

  return {
    schema, rowsPerEpoch, userIds: users.ids, itemIds: items.ids, userFeatures, itemFeatures, valueWeights, warnings,
    async *batches(epoch: number): AsyncIterable<Batch> {
      const rand = mulberry32((seed + epoch) >>> 0);
      const parsed = newRowValues(T);
      const one = store(1);
      const buffer = store(capacity);
      let buffered = 0;
      let batch = store(B);
      let inBatch = 0;
      // per-user ring of the H newest positive items (file order = time order)
      const ring = H > 0 ? new Int32Array(schema.numUsers * H) : undefined;
      const head = new Int32Array(H > 0 ? schema.numUsers : 0);
      const count = new Int32Array(H > 0 ? schema.numUsers : 0);
      let seenHeader = false;
      for await (const rec of csvRecords(path, false)) {
        if (!seenHeader) {
          if (rec.fields.join('\u0000') !== header.join('\u0000')) throw new CorruptFileError(path, 'the header changed since the source was opened');
          seenHeader = true;
          continue;
        }
        parseRow(cols, rec, parsed);
        const u = users.indexOf(parsed.user);
        const it = items.indexOf(parsed.item);
        if (u === undefined || it === undefined) throw new CorruptFileError(path, `line ${rec.line}: an id not seen when the source was opened; the file changed`);
        one.user[0] = u;
        one.item[0] = it;
        let value = 0;
        for (let t = 0; t < T; t++) {
          one.labels[t] = parsed.labels[t]!;
          value += parsed.labels[t]! * valueWeights[t]!;
          if (hasRanker) one.rankerScores![t] = parsed.rankers[t]!;
        }
        if (hasPosition) one.position![0] = parsed.position;
        if (ring) {
          const base = u * H;
          let slot = head[u]!;
          for (let j = 0; j < H; j++) {
            if (j < count[u]!) {
              slot = slot === 0 ? H - 1 : slot - 1;
              one.history![j] = ring[base + slot]!;
            } else one.history![j] = -1;
          }
          if (value > 0) {
            ring[base + head[u]!] = it;
            head[u] = (head[u]! + 1) % H;
            count[u] = Math.min(H, count[u]! + 1);
          }
        }
        // route the row: straight into the batch, into a free buffer slot, or swap with a random slot
        if (buffered < capacity) {
          one.copyTo(0, buffer, buffered++);
          continue;
        }
        if (capacity === 0) one.copyTo(0, batch, inBatch++);
        else {
          const j = Math.floor(rand() * capacity);
          buffer.copyTo(j, batch, inBatch++);
          one.copyTo(0, buffer, j);
        }
        if (inBatch === B) {
          yield finish(batch, B);
          batch = store(B);
          inBatch = 0;
        }
      }
      // drain the buffer in a random order
      for (let i = buffered - 1; i >= 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        buffer.copyTo(j, batch, inBatch++);
        if (j !== i) buffer.copyTo(i, buffer, j);
        if (inBatch === B) {
          yield finish(batch, B);
          batch = store(B);
          inBatch = 0;
        }
      }
      if (inBatch > 0 && !options.dropLast) yield finish(batch, inBatch);
    },
  };
}
