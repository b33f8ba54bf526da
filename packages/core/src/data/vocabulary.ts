/**
 * External ids <-> dense indices, and the per-entity feature files keyed by id (EVAL.md section 3):
 * shared by every loader.
 */
import { CorruptFileError, DuplicateIdError, EmptyError, OutOfRangeError, ValueError } from '../errors.js';
import type { ItemId } from './types.js';
import { csvRecords } from './csv-records.js';
import { F32_MAX, indexHeader, requireColumn } from './columns.js';

const INTEGER = /^-?\d+$/;

/** External id <-> dense index. Integer ids when every raw id is an integer (see the top). */
export class Vocabulary {
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

export interface FeatureFile {
  readonly path: string;
  readonly ids: string[];
  readonly dim: number;
  /** `[ids.length * dim]` in file order */
  readonly values: Float32Array;
}

export async function readFeatureFile(path: string, idColumn: 'user_id' | 'item_id'): Promise<FeatureFile> {
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
      if (!Number.isFinite(Math.fround(v))) throw new OutOfRangeError(header![j]!, `${path} line ${rec.line}: a feature must fit a float32 (at most ${F32_MAX}), got ${v}`);
      values.push(v);
    });
  }
  if (!header) throw new EmptyError(path, 'the feature file is empty (no header)');
  return { path, ids, dim: header.length - 1, values: Float32Array.from(values) };
}

/** The `[vocab * dim]` feature table of a feature file (zeros for ids it lacks). */
export function featureTable(file: FeatureFile | undefined, vocab: Vocabulary, kind: string, warnings: string[]): Float32Array {
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
