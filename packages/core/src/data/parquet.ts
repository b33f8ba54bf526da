/**
 * The generic interaction log of EVAL.md section 3 read from Parquet: one file, a directory of
 * part files (what Spark, BigQuery, Snowflake and DuckDB export), or a glob. Columns and their
 * roles are the CSV loader's (columns.ts); Parquet's types are read as they are (INT64 ids,
 * TIMESTAMP columns as dates, BOOLEAN labels as 0/1, null ranker scores as "not scored").
 *
 * Reading goes one row group at a time, only the columns with a role, through hyparquet's
 * byte-range reads: memory holds one row group's columns of one file, whatever the log's length.
 * Not read: nested columns (lists, structs) and hive partition values in directory names (put
 * them in the files); they are ignored like any column without a role.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, type AsyncBuffer, type DecodedArray, type FileMetaData } from 'hyparquet';
import { CorruptFileError, EmptyError, FileSystemError, TtError, ValueError } from '../errors.js';
import { headerText, isInteractionColumn, type RawRecord, type RawValue, type RecordBlock } from './columns.js';
import { loadInteractionRecords, type CsvDataset, type InteractionCsvOptions } from './csv.js';
import { streamingRecordSource, type StreamingOptions, type StreamingSource } from './stream.js';

/**
 * Options of {@link loadInteractionParquet}: those of the CSV loader, with `train` and `test`
 * naming a Parquet file, a directory of part files or a glob; feature files stay CSV.
 */
export type InteractionParquetOptions = InteractionCsvOptions;

const GLOB = /[*?[]/;

function isDataFile(name: string): boolean {
  // Spark and Hadoop write _SUCCESS, _metadata and .crc files beside the parts
  return !name.startsWith('.') && !name.startsWith('_') && /\.(parquet|parq|pq)$/i.test(name);
}

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.') || name.startsWith('_')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
}

function globRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      // `**/` matches any number of directories, including none
      re += pattern[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += pattern[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * The Parquet files a spec names, in path order: the file itself; every `*.parquet` under a
 * directory (recursively, skipping `_SUCCESS`, `_metadata`, hidden and `.crc` files); or the files
 * a glob matches (`*`, `?`, `[...]` within a name, `**` across directories).
 * @throws FileSystemError (path = the spec) when nothing exists there; EmptyError when a
 *   directory or glob holds no Parquet file
 */
export function parquetFiles(spec: string): string[] {
  if (GLOB.test(spec)) {
    const parts = spec.split(/[\\/]/);
    const fixed = parts.findIndex((p) => GLOB.test(p));
    const base = parts.slice(0, fixed).join('/') || (spec.startsWith('/') ? '/' : '.');
    if (!existsSync(base)) throw new FileSystemError(base, 'read', 'directory is missing', { systemCode: 'ENOENT' });
    const match = globRegExp(parts.slice(fixed).join('/'));
    const all: string[] = [];
    walk(base, all);
    const files = all.filter((p) => match.test(relative(base, p).split(sep).join('/')));
    if (files.length === 0) throw new EmptyError(spec, 'no file matches the pattern');
    return files;
  }
  if (!existsSync(spec)) throw new FileSystemError(spec, 'read', 'file or directory is missing', { systemCode: 'ENOENT' });
  if (!statSync(spec).isDirectory()) return [spec];
  const all: string[] = [];
  walk(spec, all);
  const files = all.filter((p) => isDataFile(basename(p)));
  if (files.length === 0) throw new EmptyError(spec, 'the directory holds no .parquet file');
  return files;
}

interface OpenFile {
  readonly path: string;
  readonly buffer: AsyncBuffer;
  readonly metadata: FileMetaData;
  /** top-level scalar columns, in schema order */
  readonly names: string[];
}

async function openParquet(path: string): Promise<OpenFile> {
  try {
    const buffer = await asyncBufferFromFile(path);
    const metadata = await parquetMetadataAsync(buffer);
    // the flattened schema: [root, ...]; a top-level column with children is a list or struct
    const names: string[] = [];
    const schema = metadata.schema;
    let i = 1;
    const skip = (at: number): number => {
      let next = at + 1;
      for (let c = 0; c < (schema[at]!.num_children ?? 0); c++) next = skip(next);
      return next;
    };
    for (let c = 0; c < (schema[0]?.num_children ?? 0); c++) {
      if (!schema[i]!.num_children) names.push(schema[i]!.name);
      i = skip(i);
    }
    return { path, buffer, metadata, names };
  } catch (e) {
    throw new CorruptFileError(path, `cannot be read as Parquet: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** One column of a row group: values from `offset` on. */
interface ColumnView {
  readonly data: DecodedArray;
  readonly offset: number;
}

async function readRowGroup(f: OpenFile, columns: readonly string[], rowStart: number, rowEnd: number): Promise<Map<string, ColumnView>> {
  const chunks = new Map<string, { data: DecodedArray; rowStart: number; rowEnd: number }[]>();
  try {
    await parquetRead({
      file: f.buffer, metadata: f.metadata, columns: [...columns], rowStart, rowEnd,
      onChunk: (c) => {
        const list = chunks.get(c.columnName) ?? [];
        list.push({ data: c.columnData, rowStart: c.rowStart, rowEnd: c.rowEnd });
        chunks.set(c.columnName, list);
      },
    });
  } catch (e) {
    throw new CorruptFileError(f.path, `rows ${rowStart + 1}-${rowEnd}: cannot be decoded: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const out = new Map<string, ColumnView>();
  for (const name of columns) {
    const list = chunks.get(name) ?? [];
    const whole = list.find((c) => c.rowStart <= rowStart && c.rowEnd >= rowEnd);
    if (whole) {
      out.set(name, { data: whole.data, offset: rowStart - whole.rowStart });
      continue;
    }
    // several chunks (pages): copy the requested rows into one array
    const data: unknown[] = new Array(rowEnd - rowStart);
    let filled = 0;
    for (const c of list) {
      for (let r = Math.max(rowStart, c.rowStart); r < Math.min(rowEnd, c.rowEnd); r++, filled++) data[r - rowStart] = c.data[r - c.rowStart];
    }
    if (filled !== rowEnd - rowStart) throw new CorruptFileError(f.path, `column ${name}: ${filled} of the ${rowEnd - rowStart} rows of rows ${rowStart + 1}-${rowEnd} decoded`);
    out.set(name, { data: data as DecodedArray, offset: 0 });
  }
  return out;
}

/**
 * The records of a Parquet log in blocks: the header (the first file's top-level columns), then
 * one block per row group of every file (a record's `line` is its 1-based row in `file`). Only
 * the columns with a role are decoded; the others stay undefined in `fields`.
 * @throws ValueError a later file lacks a column of the first (field = the column);
 *   CorruptFileError a file that is not Parquet (field = its path)
 */
export async function* parquetRecords(spec: string, files: readonly string[] = parquetFiles(spec)): AsyncGenerator<RecordBlock> {
  let header: string[] | undefined;
  let wanted: string[] = [];
  let slots: number[] = [];
  for (const path of files) {
    const f = await openParquet(path);
    if (!header) {
      header = f.names;
      wanted = header.filter(isInteractionColumn);
      slots = wanted.map((c) => header!.indexOf(c));
      const headerRecord: RawRecord = { fields: header, line: 0, file: path };
      yield { size: 1, at: () => headerRecord };
    } else {
      const has = new Set(f.names);
      const missing = wanted.find((c) => !has.has(c));
      if (missing !== undefined) throw new ValueError(missing, `${path} has no column ${JSON.stringify(missing)}, which ${files[0]} has; ${headerText(f.names)}`);
    }
    // one record object, refilled for each row the consumer asks for
    const fields: RawValue[] = new Array<RawValue>(header.length);
    const record = { fields, line: 0, file: path };
    let start = 0;
    for (const group of f.metadata.row_groups) {
      const n = Number(group.num_rows);
      if (n === 0) continue;
      const columns = await readRowGroup(f, wanted, start, start + n);
      const views = wanted.map((c) => columns.get(c)!);
      const first = start;
      yield {
        size: n,
        at: (r: number) => {
          for (let k = 0; k < views.length; k++) {
            const v = views[k]!;
            fields[slots[k]!] = v.data[v.offset + r] as RawValue;
          }
          record.line = first + r + 1;
          return record;
        },
      };
      start += n;
    }
  }
}

/**
 * Loads a Parquet interaction log (and optionally a held-out test log and CSV feature files) into
 * memory: the same dataset, split and checks as {@link loadInteractionCsv}.
 * @throws ValueError a required column is missing (field = the column, e.g. `user_id`; the message
 *   lists the columns found) or a value is not a number (field = its column; message = file and row)
 * @throws CorruptFileError a missing path or a file that is not Parquet (field = the path);
 *   EmptyError no Parquet file, or no rows
 */
export async function loadInteractionParquet(options: InteractionParquetOptions): Promise<CsvDataset> {
  return loadInteractionRecords(`parquet:${basename(options.train)}`, (spec) => parquetRecords(spec), options);
}

/**
 * A batch source streaming a Parquet log (file, directory of part files or glob) from disk on
 * every epoch, one row group at a time: a first pass validates every row and builds the
 * vocabularies; each epoch re-reads the files in path order through a seeded shuffle buffer.
 * Memory: one row group's columns, the shuffle buffer, the vocabularies and feature tables, and
 * `numUsers * H` history slots, none of which grows with the number of rows.
 * @throws the errors of {@link loadInteractionParquet}; CorruptFileError when the files change
 *   between epochs
 */
export async function streamingParquetSource(spec: string, options: StreamingOptions): Promise<StreamingSource> {
  const files = parquetFiles(spec);
  return streamingRecordSource(spec, () => checkedRecords(spec, files), options);
}

async function* checkedRecords(spec: string, files: readonly string[]): AsyncGenerator<RecordBlock> {
  for (const f of files) if (!existsSync(f)) throw new CorruptFileError(f, `missing: ${spec} changed since the source was opened`);
  try {
    yield* parquetRecords(spec, files);
  } catch (e) {
    if (e instanceof TtError) throw e;
    throw new CorruptFileError(spec, `cannot be read: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
