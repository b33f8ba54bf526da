/**
 * Streaming an interaction log (EVAL.md section 3) from disk every epoch, for logs that do not fit
 * in memory: a seeded shuffle buffer, features from the per-entity tables, per-row histories.
 * The format is the reader's business (CSV records, Parquet row groups): this file sees records.
 */
import { mulberry32 } from '@tt/mips';
import { ConfigError, CorruptFileError, EmptyError } from '../errors.js';
import { interactionColumns, LabelStats, newRowValues, parseRow, recordAt, weightsFor, type Columns, type RecordBlock, type RowValues } from './columns.js';
import { gatherRows } from './batches.js';
import { featureTable, readFeatureFile, Vocabulary } from './vocabulary.js';
import type { Batch, BatchSource, DatasetSchema, ItemId } from './types.js';

/**
 * The records of an interaction log in blocks, the header (column names) first. `firstPass` is
 * true for the pass that validates and builds the vocabulary (a reader may report exact
 * positions only then).
 */
export type RecordSource = (firstPass: boolean) => AsyncIterable<RecordBlock>;

/** Options of the streaming sources (`streamingCsvSource`, `streamingParquetSource`). */
export interface StreamingOptions {
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

/** A batch source over a log on disk, with the vocabulary and feature tables the model needs. */
export interface StreamingSource extends BatchSource {
  /** rows of one epoch (the log's rows, less a dropped last batch) */
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
 * A batch source that streams an interaction log from disk on every epoch (see
 * `streamingCsvSource`); `path` names the log in messages.
 */
export async function streamingRecordSource(path: string, records: RecordSource, options: StreamingOptions): Promise<StreamingSource> {
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
  for await (const block of records(true)) {
    for (let b = 0; b < block.size; b++) {
      const rec = block.at(b);
      if (!cols) {
        cols = interactionColumns(path, rec.fields as string[]);
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
  }
  if (!cols) throw new EmptyError(path, 'the log is empty (no header)');
  if (rows === 0) throw new EmptyError(path, 'the log has a header but no rows');
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
      for await (const block of records(false)) {
        for (let b = 0; b < block.size; b++) {
          const rec = block.at(b);
          if (!seenHeader) {
            if (rec.fields.join('\u0000') !== header.join('\u0000')) throw new CorruptFileError(path, 'the header changed since the source was opened');
            seenHeader = true;
            continue;
          }
          parseRow(cols, rec, parsed);
          const u = users.indexOf(parsed.user);
          const it = items.indexOf(parsed.item);
          if (u === undefined || it === undefined) throw new CorruptFileError(path, `${recordAt(cols, rec)}: an id not seen when the source was opened; the log changed`);
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
