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
 * held-out files routinely contain new items).
 *
 * Validation (for early stopping): each user's positive before the test row when the file has
 * timestamps; without them one random positive training row per user (seeded), since file order
 * may be anything (e.g. sorted by item id). See {@link splitDataset}.
 */
import { basename } from 'node:path';
import { EmptyError } from '../errors.js';
import { csvRecords } from './csv-records.js';
import { interactionColumns, LabelStats, newRowValues, parseRow, recordBlocks, weightsFor, type Columns, type RecordBlock, type RowValues } from './columns.js';
import { chronologicalOrder, sliceLog, splitDataset, type ValidationHoldout } from './split.js';
import { featureTable, readFeatureFile, Vocabulary } from './vocabulary.js';
import type { DatasetSchema, InteractionDataset, InteractionLog, SourceFacts } from './types.js';

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
  /** hold out a validation row per user for early stopping (default false) */
  readonly validation?: boolean;
  /**
   * how the validation row is chosen (see {@link ValidationHoldout}); default `'previous'` when the
   * file has timestamps, else `'random'` (file order is not trusted as a clock)
   */
  readonly validationHoldout?: ValidationHoldout;
  /** seed of a random validation holdout (default 0) */
  readonly seed?: number;
  /** `w [T]` in the order of the `label_` columns (default all ones) */
  readonly valueWeights?: readonly number[];
}

/** A dataset read from CSV, with what the loader skipped or assumed. */
export interface CsvDataset extends InteractionDataset {
  /** human-readable notes: skipped test rows, ids without features, ignored columns */
  readonly warnings: readonly string[];
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

async function readInteractions(path: string, blocks: AsyncIterable<RecordBlock>, stats: LabelStats | undefined, tasks?: readonly string[]): Promise<RawLog> {
  let raw: RawLog | undefined;
  let row: RowValues | undefined;
  for await (const block of blocks) for (let b = 0; b < block.size; b++) {
    const rec = block.at(b);
    if (!raw) {
      const cols = interactionColumns(path, rec.fields as string[], tasks);
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
  if (!raw) throw new EmptyError(path, 'the log is empty (no header)');
  if (raw.users.length === 0) throw new EmptyError(path, 'the log has a header but no rows');
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
 * @throws FileSystemError a missing file or a directory (field = its path); CorruptFileError a malformed file
 * @throws EmptyError a file without rows; DuplicateIdError an id twice in a feature file
 */
export async function loadInteractionCsv(options: InteractionCsvOptions): Promise<CsvDataset> {
  return loadInteractionRecords(`csv:${basename(options.train)}`, (path) => recordBlocks(csvRecords(path)), options);
}

/**
 * The in-memory loader over any record reader (`open(path)` yields the header, then the rows, in
 * blocks): {@link loadInteractionCsv} and the Parquet loader share it.
 */
export async function loadInteractionRecords(name: string, open: (path: string) => AsyncIterable<RecordBlock>, options: InteractionCsvOptions): Promise<CsvDataset> {
  const warnings: string[] = [];
  const train = await readInteractions(options.train, open(options.train), undefined);
  const { tasks } = train.cols;
  const T = tasks.length;
  const { stats } = train;
  const test = options.test ? await readInteractions(options.test, open(options.test), stats, tasks) : undefined;
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
  let testLog: InteractionLog | undefined;
  let testFile: SourceFacts['testFile'];
  if (test) {
    const held = toLog(test, users, items, T, positive);
    if (held.unknown > 0) warnings.push(`${options.test}: skipped ${held.unknown} of ${test.users.length} rows whose user or item is not in the training or feature files`);
    testLog = held.log.timestamp ? sliceLog(held.log, chronologicalOrder(held.log), T) : held.log;
    testFile = unknownIds(options.test!, test, users, items);
  }
  // without timestamps the file's order is not trusted as a clock for the validation row
  const split = splitDataset(chronological, users.ids.length, valueWeights, testLog, {
    validation: options.validation, seed: options.seed, validationHoldout: options.validationHoldout ?? (all.timestamp ? 'previous' : 'random'),
  });
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
    name,
    schema,
    userIds: users.ids,
    itemIds: items.ids,
    userFeatures: featureTable(userFile, users, 'user', warnings),
    itemFeatures: featureTable(itemFile, items, 'item', warnings),
    valueWeights,
    train: split.train, validation: split.validation, validationRequests: split.validationRequests, test: split.test,
    split: split.description,
    sourceFacts: { outOfOrderTimestamps: train.cols.timestamp >= 0 ? outOfOrder(train.timestamps) : undefined, testFile },
    warnings,
  };
}

/** Rows whose timestamp is below the previous row's. */
function outOfOrder(timestamps: readonly number[]): number {
  let n = 0;
  for (let r = 1; r < timestamps.length; r++) if (timestamps[r]! < timestamps[r - 1]!) n++;
  return n;
}

/** A test file's rows and distinct users, and those the vocabularies do not know. */
function unknownIds(path: string, raw: RawLog, users: Vocabulary, items: Vocabulary): NonNullable<SourceFacts['testFile']> {
  let unknownUserRows = 0;
  let unknownItemRows = 0;
  const unknownUsers = new Set<string>();
  const unknownItems = new Set<string>();
  for (let r = 0; r < raw.users.length; r++) {
    if (users.indexOf(raw.users[r]!) === undefined) {
      unknownUserRows++;
      unknownUsers.add(raw.users[r]!);
    } else if (items.indexOf(raw.items[r]!) === undefined) {
      unknownItemRows++;
      unknownItems.add(raw.items[r]!);
    }
  }
  return { path, rows: raw.users.length, users: new Set(raw.users).size, unknownUserRows, unknownUsers: unknownUsers.size, unknownItemRows, unknownItems: unknownItems.size };
}
