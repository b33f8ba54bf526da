/**
 * The generic interaction schema of EVAL.md section 3, independent of the file format: which
 * column is what (`user_id`, `item_id`, `label_<task>`, `ranker_<task>`, `position`,
 * `timestamp`), one row's values checked against it, and the per-task label statistics.
 * Loaders of any format (CSV, sequences, Parquet) read their rows through these.
 */
import { ConfigError, CorruptFileError, OutOfRangeError, ValueError } from '../errors.js';

/**
 * One cell as a reader hands it over: text from CSV; typed values from Parquet (numbers, bigints
 * for INT64, booleans, Dates for timestamps, bytes for un-annotated BYTE_ARRAY, null for a null).
 */
export type RawValue = string | number | bigint | boolean | Date | Uint8Array | null | undefined;

/** One record of an interaction file: the header (column names) or one row's cells. */
export interface RawRecord {
  readonly fields: readonly RawValue[];
  /** 1-based line (CSV) or row (Parquet, within `file`) of the record, for messages */
  readonly line: number;
  /** the file the record comes from when a source spans several (Parquet part files) */
  readonly file?: string;
}

/**
 * Records in blocks, so readers hand over a row group (or a run of CSV records) per step of an
 * async iteration rather than one promise per row. `at(i)` may return one reused object: it is
 * valid until the next call.
 */
export interface RecordBlock {
  /** records in the block */
  readonly size: number;
  /** record `i` of the block */
  at(i: number): RawRecord;
}

/** Single records grouped into blocks of up to `size` (for the CSV readers). */
export async function* recordBlocks(records: AsyncIterable<RawRecord>, size = 256): AsyncGenerator<RecordBlock> {
  let list: RawRecord[] = [];
  for await (const rec of records) {
    list.push(rec);
    if (list.length === size) {
      const full = list;
      yield { size: full.length, at: (i) => full[i]! };
      list = [];
    }
  }
  if (list.length > 0) yield { size: list.length, at: (i) => list[i]! };
}

/** Where a record is, for messages: `path line N` (CSV) or `file row N` (Parquet). */
export function recordAt(cols: Columns, rec: RawRecord): string {
  return rec.file !== undefined ? `${rec.file} row ${rec.line}` : `${cols.path} line ${rec.line}`;
}

/** Whether a column name has a role in the interaction schema (other columns are ignored). */
export function isInteractionColumn(name: string): boolean {
  return name === 'user_id' || name === 'item_id' || name === 'timestamp' || name === 'position' || name.startsWith('label_') || name.startsWith('ranker_');
}

/** Where each known column of an interaction file is (-1 = absent). */
export interface Columns {
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

export function headerText(header: readonly string[]): string {
  return `found header [${header.join(', ')}]`;
}

export function indexHeader(path: string, header: readonly string[]): Map<string, number> {
  const at = new Map<string, number>();
  header.forEach((name, j) => {
    if (at.has(name)) throw new ValueError(name, `${path}: column ${JSON.stringify(name)} appears twice; ${headerText(header)}`);
    at.set(name, j);
  });
  return at;
}

export function requireColumn(path: string, header: readonly string[], at: Map<string, number>, name: string, why = ''): number {
  const j = at.get(name);
  if (j === undefined) throw new ValueError(name, `${path} has no column ${JSON.stringify(name)}${why}; ${headerText(header)}`);
  return j;
}

/** Reads an interaction file's header. `tasks` (from the training file) pins the label columns. */
export function interactionColumns(path: string, header: readonly string[], tasks?: readonly string[]): Columns {
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
export interface RowValues {
  user: string;
  item: string;
  readonly labels: Float64Array;
  readonly rankers: Float64Array;
  position: number;
  timestamp: number;
}

export function newRowValues(T: number): RowValues {
  return { user: '', item: '', labels: new Float64Array(T), rankers: new Float64Array(T), position: 0, timestamp: 0 };
}

/** The largest finite float32: labels and features are stored as float32. */
export const F32_MAX = 3.4028234663852886e38;

const utf8 = new TextDecoder();

function show(v: RawValue): string {
  return typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `<${v.length} bytes>` : JSON.stringify(v) ?? String(v);
}

/** A cell as a number: numbers as they are, INT64 bigints, booleans as 0/1, text parsed; empty or null: NaN. */
function numeric(v: RawValue): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') return v === '' ? NaN : Number(v);
  return NaN;
}

function number(cols: Columns, rec: RawRecord, j: number): number {
  const v = numeric(rec.fields[j]);
  if (!Number.isFinite(v)) throw new ValueError(cols.header[j]!, `${recordAt(cols, rec)}: must be a finite number, got ${show(rec.fields[j])}`);
  return v;
}

/** An id cell as the text the vocabulary reads ('' when missing): integers print as integers. */
function idText(v: RawValue): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  if (v instanceof Uint8Array) return utf8.decode(v);
  return '';
}

/** Reads one row's cells into `out`, checking each against its column's role. */
export function parseRow(cols: Columns, rec: RawRecord, out: RowValues): void {
  const f = rec.fields;
  if (f.length !== cols.header.length) {
    throw new CorruptFileError(cols.path, `line ${rec.line}: ${f.length} fields, the header has ${cols.header.length}`);
  }
  out.user = idText(f[cols.user]);
  out.item = idText(f[cols.item]);
  if (out.user === '') throw new ValueError('user_id', `${recordAt(cols, rec)}: empty user id`);
  if (out.item === '') throw new ValueError('item_id', `${recordAt(cols, rec)}: empty item id`);
  for (let t = 0; t < cols.labels.length; t++) {
    const j = cols.labels[t]!;
    const v = number(cols, rec, j);
    if (v < 0) throw new OutOfRangeError(cols.header[j]!, `${recordAt(cols, rec)}: a label must be >= 0, got ${v}`);
    if (!Number.isFinite(Math.fround(v))) throw new OutOfRangeError(cols.header[j]!, `${recordAt(cols, rec)}: a label must fit a float32 (at most ${F32_MAX}), got ${v}`);
    out.labels[t] = v;
  }
  for (let t = 0; t < cols.rankers.length; t++) {
    const j = cols.rankers[t]!;
    // an empty cell (or null): the ranker did not score this row (NaN; distillation skips it)
    const cell = f[j];
    const v = cell === '' || cell === null || cell === undefined ? NaN : number(cols, rec, j);
    if (v < 0 || v > 1) throw new OutOfRangeError(cols.header[j]!, `${recordAt(cols, rec)}: a ranker score must be a probability in [0, 1], got ${v}`);
    out.rankers[t] = v;
  }
  if (cols.position >= 0) {
    const v = number(cols, rec, cols.position);
    if (!Number.isInteger(v) || v < 0 || v > 2 ** 31 - 2) throw new OutOfRangeError('position', `${recordAt(cols, rec)}: a position must be an integer in [0, 2^31 - 2], got ${v}`);
    out.position = v;
  }
  if (cols.timestamp >= 0) {
    const s = f[cols.timestamp];
    let v = s instanceof Date ? s.getTime() / 1000 : numeric(s);
    if (!Number.isFinite(v) && typeof s === 'string') v = Date.parse(s) / 1000;
    if (!Number.isFinite(v)) throw new ValueError('timestamp', `${recordAt(cols, rec)}: must be a number or a date, got ${show(s)}`);
    out.timestamp = v;
  }
}

/** Per-task label statistics (for `labelMax`) and the largest position. */
export class LabelStats {
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

/** `w [T]` for `tasks`: the given weights, checked, or all ones. */
export function weightsFor(tasks: readonly string[], valueWeights: readonly number[] | undefined): Float32Array {
  const w = valueWeights ?? new Array<number>(tasks.length).fill(1);
  if (w.length !== tasks.length || !w.every((x) => Number.isFinite(x) && x >= 0)) {
    throw new ConfigError('valueWeights', `needs ${tasks.length} finite non-negative weights (for ${tasks.map((t) => `label_${t}`).join(', ')}), got ${JSON.stringify(w)}`);
  }
  return Float32Array.from(w);
}
