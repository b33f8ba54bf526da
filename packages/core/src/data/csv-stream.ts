/**
 * Streaming an interaction CSV (EVAL.md section 3) from disk every epoch: the CSV reader under
 * the format-independent streaming source of stream.ts.
 */
import { recordBlocks } from './columns.js';
import { csvRecords } from './csv-records.js';
import { streamingRecordSource, type StreamingOptions, type StreamingSource } from './stream.js';

/** Options of {@link streamingCsvSource} (the same as every streaming source's). */
export type StreamingCsvOptions = StreamingOptions;
/** What {@link streamingCsvSource} returns (the same as every streaming source). */
export type StreamingCsvSource = StreamingSource;

/**
 * A batch source that streams an interaction CSV from disk on every epoch, for logs that do not
 * fit in memory. A first streaming pass validates every row and builds the vocabularies, label
 * ranges and row count; each epoch then re-reads the file and shuffles through a seeded buffer of
 * `shuffleBuffer` rows (reservoir-style: a full buffer emits a random row for every row read).
 * Memory: the buffer, the vocabularies and feature tables, and `numUsers * H` history slots.
 * There is no split: pass the training file.
 */
export async function streamingCsvSource(path: string, options: StreamingCsvOptions): Promise<StreamingCsvSource> {
  // exact line numbers on the validating pass only (they double csv-parse's cost)
  return streamingRecordSource(path, (firstPass) => recordBlocks(csvRecords(path, firstPass)), options);
}
