/**
 * In-memory batches: a seeded shuffle per epoch over a log's rows, features gathered from the
 * per-entity tables, and (when asked) each row's history of earlier positives.
 */
import { mulberry32 } from '@tt/mips';
import { ConfigError, OutOfRangeError } from '../errors.js';
import type { Batch, BatchSource, InteractionDataset, InteractionLog } from './types.js';

/** Options of {@link inMemorySource}. */
export interface InMemorySourceOptions {
  /** rows per batch (the last batch may be smaller unless `dropLast`) */
  readonly batchSize: number;
  /** shuffle seed; epoch e shuffles with `seed + e` (default 0) */
  readonly seed?: number;
  /** shuffle the rows every epoch (default true); false keeps log order */
  readonly shuffle?: boolean;
  /** H: earlier positive items per row, newest first (default 0 = no history) */
  readonly historyLength?: number;
  /** drop a last, smaller batch (default false) */
  readonly dropLast?: boolean;
  /** rows to iterate (default: the dataset's train log) */
  readonly log?: InteractionLog;
  /**
   * shuffle whole requests instead of rows, so a request's rows stay next to each other (one
   * batch, unless it straddles a batch's end); see {@link requestStarts}. Default false
   */
  readonly wholeRequests?: boolean;
  /** how histories are made (see {@link HistoryOrder}); default `'time'` when the log has timestamps, else `'set'` */
  readonly historyOrder?: HistoryOrder;
}

/**
 * How a row's history is made: `'time'`, the user's earlier positives, newest first (the log's
 * order is its clock); `'set'`, a random sample of the user's other positives, drawn anew each
 * epoch (a log without timestamps: no item is "earlier" than another, and a row never sees its
 * own item).
 */
export type HistoryOrder = 'time' | 'set';

/** Each user's distinct positive items as compressed rows: user u's are `items[start[u] .. start[u + 1])`, ascending. */
export interface UserPositives {
  /** `[numUsers + 1]` offsets into `items` */
  readonly start: Int32Array;
  /** the items, user after user */
  readonly items: Int32Array;
}

/** Each user's distinct positive items (`labels . w > 0`), as compressed rows. */
export function positivesByUser(log: InteractionLog, numUsers: number, valueWeights: ArrayLike<number>): UserPositives {
  const lists = Array.from({ length: numUsers }, () => new Set<number>());
  for (let r = 0; r < log.size; r++) if (rowValue(log, r, valueWeights) > 0) lists[log.user[r]!]!.add(log.item[r]!);
  const start = new Int32Array(numUsers + 1);
  lists.forEach((l, u) => (start[u + 1] = start[u]! + l.size));
  const items = new Int32Array(start[numUsers]!);
  lists.forEach((l, u) => items.set([...l].sort((a, b) => a - b), start[u]!));
  return { start, items };
}

/**
 * Writes up to `H` of `user`'s positives other than `exclude` into `out` (at `offset`), drawn
 * without replacement by `rand`, -1 padded. `scratch` holds at least the user's positive count.
 */
export function sampleHistory(p: UserPositives, user: number, exclude: number, H: number, rand: () => number, out: Int32Array, offset: number, scratch: Int32Array): void {
  let n = 0;
  for (let k = p.start[user]!; k < p.start[user + 1]!; k++) if (p.items[k] !== exclude) scratch[n++] = p.items[k]!;
  const m = Math.min(H, n);
  for (let j = 0; j < m; j++) {
    const pick = j + Math.floor(rand() * (n - j));
    const t = scratch[j]!;
    scratch[j] = scratch[pick]!;
    scratch[pick] = t;
    out[offset + j] = scratch[j]!;
  }
  for (let j = m; j < H; j++) out[offset + j] = -1;
}

/**
 * Each user's distinct training items, `[numUsers]`: the items of positive rows (`labels . w > 0`),
 * and with `countScored` also those of rows with a ranker score (any task), which train the user
 * when a stage fits the ranker's values.
 */
export function trainingItemsPerUser(log: InteractionLog, numUsers: number, valueWeights: ArrayLike<number>, countScored: boolean): Int32Array {
  const T = valueWeights.length;
  const scores = countScored ? log.rankerScores : undefined;
  const lists = Array.from({ length: numUsers }, () => new Set<number>());
  for (let r = 0; r < log.size; r++) {
    let counts = rowValue(log, r, valueWeights) > 0;
    for (let t = 0; scores && !counts && t < T; t++) counts = !Number.isNaN(scores[r * T + t]!);
    if (counts) lists[log.user[r]!]!.add(log.item[r]!);
  }
  return Int32Array.from(lists, (l) => l.size);
}

/** nuv = labels . w of one row of a log with `T = valueWeights.length` tasks. */
export function rowValue(log: InteractionLog, row: number, valueWeights: ArrayLike<number>): number {
  const T = valueWeights.length;
  let v = 0;
  for (let t = 0; t < T; t++) v += log.labels[row * T + t]! * valueWeights[t]!;
  return v;
}

function checkH(H: number): void {
  if (!Number.isInteger(H) || H < 0) throw new ConfigError('historyLength', `must be a non-negative integer, got ${H}`);
}

/**
 * Per row of `log` (taken to be chronological): the items of the same user's earlier positive
 * rows (`nuv = labels . valueWeights > 0`), newest first, padded with -1. `[log.size * H]`.
 * A row never sees itself, so a positive's own item is not in its history.
 */
export function historiesOf(log: InteractionLog, valueWeights: ArrayLike<number>, T: number, H: number): Int32Array {
  checkH(H);
  if (valueWeights.length !== T) throw new ConfigError('valueWeights', `needs one weight per task (${T}), got ${valueWeights.length}`);
  const n = log.size;
  const out = new Int32Array(n * H).fill(-1);
  if (H === 0 || n === 0) return out;
  let numUsers = 0;
  for (let r = 0; r < n; r++) numUsers = Math.max(numUsers, log.user[r]! + 1);
  // one ring of the H newest positives per user: ring[u*H + (head[u] - 1 - j) mod H] is the j-th newest
  const ring = new Int32Array(numUsers * H);
  const head = new Int32Array(numUsers);
  const count = new Int32Array(numUsers);
  for (let r = 0; r < n; r++) {
    const u = log.user[r]!;
    const base = u * H;
    const c = count[u]!;
    let slot = head[u]!;
    for (let j = 0; j < c; j++) {
      slot = slot === 0 ? H - 1 : slot - 1;
      out[r * H + j] = ring[base + slot]!;
    }
    let v = 0;
    for (let t = 0; t < T; t++) v += log.labels[r * T + t]! * valueWeights[t]!;
    if (v > 0) {
      ring[base + head[u]!] = log.item[r]!;
      head[u] = head[u]! + 1 === H ? 0 : head[u]! + 1;
      if (c < H) count[u] = c + 1;
    }
  }
  return out;
}

/**
 * The distinct items of each user in `log`, ascending: `[numUsers]` arrays, for excluding seen
 * items at evaluation and serving time.
 */
export function seenItemsByUser(log: InteractionLog, numUsers: number): Int32Array[] {
  const counts = new Int32Array(numUsers);
  for (let r = 0; r < log.size; r++) {
    const u = log.user[r]!;
    if (u < 0 || u >= numUsers) throw new OutOfRangeError('log.user', `user index must be in [0, ${numUsers}), got ${u} at row ${r}`);
    counts[u]!++;
  }
  const all = Array.from(counts, (c) => new Int32Array(c));
  const fill = new Int32Array(numUsers);
  for (let r = 0; r < log.size; r++) {
    const u = log.user[r]!;
    all[u]![fill[u]!++] = log.item[r]!;
  }
  return all.map((items) => {
    items.sort();
    let k = 0;
    for (let j = 0; j < items.length; j++) if (j === 0 || items[j] !== items[j - 1]) items[k++] = items[j]!;
    return items.slice(0, k);
  });
}

/**
 * First row of each logged request, plus `log.size` at the end: a request is a run of
 * consecutive rows with the same user and timestamp (with no timestamps: the same user).
 */
export function requestStarts(log: InteractionLog): Int32Array {
  const starts: number[] = [];
  const ts = log.timestamp;
  for (let r = 0; r < log.size; r++) {
    if (r === 0 || log.user[r] !== log.user[r - 1] || (ts !== undefined && ts[r] !== ts[r - 1])) starts.push(r);
  }
  starts.push(log.size);
  return Int32Array.from(starts);
}

/** A batch's requests, for listwise losses: see {@link requestGroups}. */
export interface RequestGroups {
  /** `[B * B]` 0 where row r and column c are in one request (and on the diagonal), -1e9 elsewhere: add to `[B, B]` logits */
  readonly outside: Float32Array;
  /** `[B]` 1 for rows in a request of two or more included rows */
  readonly inRequest: Float32Array;
  /** how many rows that is */
  readonly rows: number;
}

/**
 * The requests of a batch whose rows keep requests whole (`wholeRequests`): runs of consecutive
 * rows of one user, restricted to the rows `include` accepts (default all).
 */
export function requestGroups(users: Int32Array, include: (row: number) => boolean = () => true): RequestGroups {
  const B = users.length;
  const outside = new Float32Array(B * B).fill(-1e9);
  const inRequest = new Float32Array(B);
  let rows = 0;
  for (let start = 0; start < B;) {
    let end = start + 1;
    while (end < B && users[end] === users[start]) end++;
    const members: number[] = [];
    for (let r = start; r < end; r++) {
      outside[r * B + r] = 0;
      if (include(r)) members.push(r);
    }
    if (members.length >= 2) {
      for (const r of members) {
        inRequest[r] = 1;
        for (const c of members) outside[r * B + c] = 0;
      }
      rows += members.length;
    }
    start = end;
  }
  return { outside, inRequest, rows };
}

/** Rows of `log` request by request, the requests in a seeded random order. */
function requestOrder(starts: Int32Array, n: number, seed: number): Int32Array {
  const requests = shuffledOrder(starts.length - 1, seed);
  const order = new Int32Array(n);
  let k = 0;
  for (let j = 0; j < requests.length; j++) {
    const q = requests[j]!;
    for (let r = starts[q]!; r < starts[q + 1]!; r++) order[k++] = r;
  }
  return order;
}

/** Fisher-Yates shuffle of `0..n-1` with mulberry32(seed). */
export function shuffledOrder(n: number, seed: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rand = mulberry32(seed >>> 0);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/**
 * Rows `rows` of a row-major `[n, width]` table, as a new `[rows.length, width]` array: per-entity
 * features into a batch, stored histories into a request.
 */
export function gatherRows<A extends Float32Array | Int32Array>(table: A, width: number, rows: ArrayLike<number>): A {
  const out = new (table.constructor as new (n: number) => A)(rows.length * width);
  if (width === 0) return out;
  for (let i = 0; i < rows.length; i++) out.set(table.subarray(rows[i]! * width, rows[i]! * width + width), i * width);
  return out;
}

/**
 * Batches of a dataset's log (default: `dataset.train`), shuffled per epoch with `seed + epoch`.
 * Each batch carries fresh arrays (the trainer may keep them). Histories are computed once, over
 * the log in its own (chronological) order, before any shuffling.
 */
export function inMemorySource(dataset: InteractionDataset, options: InMemorySourceOptions): BatchSource {
  const { schema } = dataset;
  const log = options.log ?? dataset.train;
  const B = options.batchSize;
  if (!Number.isInteger(B) || B < 1) throw new ConfigError('batchSize', `must be a positive integer, got ${B}`);
  const H = options.historyLength ?? 0;
  checkH(H);
  const T = schema.tasks.length;
  const order = options.historyOrder ?? (log.timestamp ? 'time' : 'set');
  const histories = H > 0 && order === 'time' ? historiesOf(log, dataset.valueWeights, T, H) : undefined;
  const sets = H > 0 && order === 'set' ? positivesByUser(log, schema.numUsers, dataset.valueWeights) : undefined;
  let longest = 0;
  if (sets) for (let u = 0; u < schema.numUsers; u++) longest = Math.max(longest, sets.start[u + 1]! - sets.start[u]!);
  const IU = schema.userFeatureDim;
  const II = schema.itemFeatureDim;
  const seed = options.seed ?? 0;
  const shuffle = options.shuffle ?? true;
  const rowsPerEpoch = options.dropLast ? Math.floor(log.size / B) * B : log.size;
  const position = schema.numPositions > 0 ? log.position : undefined;
  const rankerScores = schema.hasRankerScores ? log.rankerScores : undefined;
  const starts = options.wholeRequests ? requestStarts(log) : undefined;
  return {
    schema,
    rowsPerEpoch,
    *batches(epoch: number): Iterable<Batch> {
      const rowOrder = !shuffle
        ? Int32Array.from({ length: log.size }, (_, i) => i)
        : starts ? requestOrder(starts, log.size, seed + epoch) : shuffledOrder(log.size, seed + epoch);
      const rand = sets ? mulberry32((Math.imul(seed + epoch, 0x2545f491) ^ 0x68e31da4) >>> 0) : undefined;
      const scratch = new Int32Array(longest);
      for (let start = 0; start < rowsPerEpoch; start += B) {
        const rows = rowOrder.subarray(start, Math.min(start + B, rowsPerEpoch));
        const n = rows.length;
        const b = {
          size: n,
          user: new Int32Array(n),
          item: new Int32Array(n),
          labels: new Float32Array(n * T),
          position: position ? new Int32Array(n) : undefined,
          rankerScores: rankerScores ? new Float32Array(n * T) : undefined,
          history: H > 0 ? new Int32Array(n * H) : undefined,
          historyLength: H,
        };
        for (let i = 0; i < n; i++) {
          const r = rows[i]!;
          b.user[i] = log.user[r]!;
          b.item[i] = log.item[r]!;
          for (let t = 0; t < T; t++) b.labels[i * T + t] = log.labels[r * T + t]!;
          if (position) b.position![i] = position[r]!;
          if (rankerScores) for (let t = 0; t < T; t++) b.rankerScores![i * T + t] = rankerScores[r * T + t]!;
          if (histories) for (let j = 0; j < H; j++) b.history![i * H + j] = histories[r * H + j]!;
          else if (sets) sampleHistory(sets, log.user[r]!, log.item[r]!, H, rand!, b.history!, i * H, scratch);
        }
        yield { ...b, userFeatures: gatherRows(dataset.userFeatures, IU, b.user), itemFeatures: gatherRows(dataset.itemFeatures, II, b.item) };
      }
    },
  };
}
