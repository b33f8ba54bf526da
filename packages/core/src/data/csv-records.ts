/**
 * Streaming CSV records (csv-parse) with their line numbers: the one CSV reader of the
 * interaction, feature and streaming loaders.
 */
import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import { CorruptFileError, TtError } from '../errors.js';
import { checkInputPath } from './input-file.js';

/** One CSV record: its fields and where it is. */
export interface CsvRecord {
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
export async function* csvRecords(path: string, exactLines = true): AsyncGenerator<CsvRecord> {
  checkInputPath(path);
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

