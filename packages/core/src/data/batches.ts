/**
 * In-memory batches: a seeded shuffle per epoch over a log's rows, features gathered from the
 * per-entity tables, and (when asked) each row's history of earlier positives.
 */
import { mulberry32 } from '@tt/mips';
import { ConfigError } from '../errors.js';
import type { Batch, BatchSource, InteractionDataset, InteractionLog } from './types.js';

export interface InMemorySourceOptions {
  readonly batchSize: number;
  /** shuffle seed; epoch e shuffles with seed + e */
  readonly seed?: number;
  readonly shuffle?: boolean;
  /** H: earlier positive items per row (0 = no history) */
  readonly historyLength?: number;
  /** drop a last, smaller batch */
  readonly dropLast?: boolean;
  /** rows to iterate (default: the dataset's train log) */
  readonly log?: InteractionLog;
}

/** nuv = labels . w of one row. */
export function rowValue(log: InteractionLog, row: number, valueWeights: ArrayLike<number>): number {
  const T = valueWeights.length;
  let v = 0;
  for (let t = 0; t < T; t++) v += log.labels[row * T + t]! * valueWeights[t]!;
  return v;
}

/**
 * Per row: the items of the same user's earlier positive rows (log order), newest first,
 * -1 padded: `[log.size * H]`.
 */
export function historiesOf(log: InteractionLog, valueWeights: ArrayLike<number>, H: number): Int32Array {
  const out = new Int32Array(log.size * H).fill(-1);
  if (H === 0) return out;
  const recent = new Map<number, number[]>(); // user -> newest-first ring of up to H items
  for (let r = 0; r < log.size; r++) {
    const u = log.user[r]!;
    const list = recent.get(u);
    if (list) out.set(list, r * H);
    if (rowValue(log, r, valueWeights) > 0) {
      const next = [log.item[r]!, ...(list ?? [])];
      if (next.length > H) next.length = H;
      recent.set(u, next);
    }
  }
  return out;
}

function gatherRows(table: Float32Array, width: number, rows: ArrayLike<number>, out: Float32Array): void {
  if (width === 0) return;
  for (let i = 0; i < rows.length; i++) out.set(table.subarray(rows[i]! * width, rows[i]! * width + width), i * width);
}

/** Batches of a dataset's log, shuffled per epoch. */
export function inMemorySource(dataset: InteractionDataset, options: InMemorySourceOptions): BatchSource {
  const { schema } = dataset;
  const log = options.log ?? dataset.train;
  const B = options.batchSize;
  if (!Number.isInteger(B) || B < 1) throw new ConfigError('batchSize', `must be a positive integer, got ${B}`);
  const H = options.historyLength ?? 0;
  const histories = H > 0 ? historiesOf(log, dataset.valueWeights, H) : undefined;
  const T = schema.tasks.length;
  const IU = schema.userFeatureDim;
  const II = schema.itemFeatureDim;
  const seed = options.seed ?? 0;
  const rowsPerEpoch = options.dropLast ? Math.floor(log.size / B) * B : log.size;
  return {
    schema,
    rowsPerEpoch,
    *batches(epoch: number): Iterable<Batch> {
      const order = Int32Array.from({ length: log.size }, (_, i) => i);
      if (options.shuffle ?? true) {
        const rand = mulberry32((seed * 1_000_003 + epoch) >>> 0);
        for (let i = order.length - 1; i > 0; i--) {
          const j = Math.floor(rand() * (i + 1));
          const t = order[i]!;
          order[i] = order[j]!;
          order[j] = t;
        }
      }
      for (let start = 0; start < rowsPerEpoch; start += B) {
        const rows = order.subarray(start, Math.min(start + B, rowsPerEpoch));
        const n = rows.length;
        const user = new Int32Array(n);
        const item = new Int32Array(n);
        const labels = new Float32Array(n * T);
        const position = log.position ? new Int32Array(n) : undefined;
        const rankerScores = log.rankerScores ? new Float32Array(n * T) : undefined;
        const history = histories ? new Int32Array(n * H) : undefined;
        for (let i = 0; i < n; i++) {
          const r = rows[i]!;
          user[i] = log.user[r]!;
          item[i] = log.item[r]!;
          labels.set(log.labels.subarray(r * T, r * T + T), i * T);
          if (position) position[i] = log.position![r]!;
          if (rankerScores) rankerScores.set(log.rankerScores!.subarray(r * T, r * T + T), i * T);
          if (history) history.set(histories!.subarray(r * H, r * H + H), i * H);
        }
        const userFeatures = new Float32Array(n * IU);
        const itemFeatures = new Float32Array(n * II);
        gatherRows(dataset.userFeatures, IU, user, userFeatures);
        gatherRows(dataset.itemFeatures, II, item, itemFeatures);
        yield { size: n, user, item, userFeatures, itemFeatures, labels, position, rankerScores, history, historyLength: H };
      }
    },
  };
}
