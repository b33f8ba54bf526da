/**
 * The generic interaction schema of EVAL.md section 3, independent of the file format: which
 * column is what (`user_id`, `item_id`, `label_<task>`, `ranker_<task>`, `position`,
 * `timestamp`), one row's values checked against it, and the per-task label statistics.
 * Loaders of any format (CSV, sequences, Parquet) read their rows through these.
 */
import { ConfigError, CorruptFileError, OutOfRangeError, ValueError } from '../errors.js';
import type { CsvRecord } from './csv-records.js';

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

function number(cols: Columns, rec: CsvRecord, j: number): number {
  const s = rec.fields[j]!;
  const v = s === '' ? NaN : Number(s);
  if (!Number.isFinite(v)) throw new ValueError(cols.header[j]!, `${cols.path} line ${rec.line}: must be a finite number, got ${JSON.stringify(s)}`);
  return v;
}

export function parseRow(cols: Columns, rec: CsvRecord, out: RowValues): void {
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
    if (!Number.isFinite(Math.fround(v))) throw new OutOfRangeError(cols.header[j]!, `${cols.path} line ${rec.line}: a label must fit a float32 (at most ${F32_MAX}), got ${v}`);
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
    if (!Number.isInteger(v) || v < 0 || v > 2 ** 31 - 2) throw new OutOfRangeError('position', `${cols.path} line ${rec.line}: a position must be an integer in [0, 2^31 - 2], got ${v}`);
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
