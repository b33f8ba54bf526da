/**
 * The loo-full split of EVAL.md section 1, shared by every loader: rows in chronological order
 * (ties by file order); each user's last positive row is the test row, the positive before it
 * optionally the validation row; users with fewer than 2 rows or no positive are not evaluated
 * (all their rows stay in train).
 */
import { mulberry32 } from '@tt/mips';
import { ConfigError } from '../errors.js';
import { requestStarts } from './batches.js';
import type { InteractionLog } from './types.js';

/** The rows `rows` of `log`, in that order (`T` = values per row of labels / rankerScores). */
export function sliceLog(log: InteractionLog, rows: ArrayLike<number>, T: number): InteractionLog {
  const n = rows.length;
  function pick<A extends Int32Array | Float32Array | Float64Array>(src: A | undefined, width: number, out: A): A | undefined {
    if (!src) return undefined;
    for (let i = 0; i < n; i++) {
      const r = rows[i]! * width;
      for (let j = 0; j < width; j++) out[i * width + j] = src[r + j]!;
    }
    return out;
  }
  return {
    size: n,
    user: pick(log.user, 1, new Int32Array(n))!,
    item: pick(log.item, 1, new Int32Array(n))!,
    labels: pick(log.labels, T, new Float32Array(n * T))!,
    position: log.position && pick(log.position, 1, new Int32Array(n)),
    rankerScores: log.rankerScores && pick(log.rankerScores, T, new Float32Array(n * T)),
    timestamp: log.timestamp && pick(log.timestamp, 1, new Float64Array(n)),
  };
}

/** Row order by timestamp, stable (ties keep file order); identity without timestamps. */
export function chronologicalOrder(log: InteractionLog): Int32Array {
  const order = Int32Array.from({ length: log.size }, (_, i) => i);
  const ts = log.timestamp;
  if (!ts) return order;
  // typed-array sort with a comparator is not guaranteed stable everywhere: break ties explicitly
  return order.sort((a, b) => ts[a]! - ts[b]! || a - b);
}

/** The train / validation / test logs of a split. */
export interface LooSplit {
  /** the rows to train on */
  readonly train: InteractionLog;
  /** held-out positives for early stopping, when asked for */
  readonly validation?: InteractionLog;
  /** held-out positives to evaluate on */
  readonly test: InteractionLog;
}

/**
 * Splits a chronologically ordered log (loo-full). Train keeps log order; test and validation
 * rows are ordered by user index (at most one row per user each).
 * @param valueWeights `w [T]`; a row is positive when `labels . w > 0`
 */
export function leaveLastOut(log: InteractionLog, numUsers: number, valueWeights: ArrayLike<number>, options: { validation?: boolean } = {}): LooSplit {
  const T = valueWeights.length;
  const rowsOfUser = new Int32Array(numUsers);
  const lastPositive = new Int32Array(numUsers).fill(-1);
  const previousPositive = new Int32Array(numUsers).fill(-1);
  for (let r = 0; r < log.size; r++) {
    const u = log.user[r]!;
    rowsOfUser[u]!++;
    let v = 0;
    for (let t = 0; t < T; t++) v += log.labels[r * T + t]! * valueWeights[t]!;
    if (v > 0) {
      previousPositive[u] = lastPositive[u]!;
      lastPositive[u] = r;
    }
  }
  const ROLE_TEST = 1;
  const ROLE_VALIDATION = 2;
  const role = new Int8Array(log.size); // 0 = train
  const test: number[] = [];
  const validation: number[] = [];
  for (let u = 0; u < numUsers; u++) {
    const last = lastPositive[u]!;
    if (rowsOfUser[u]! < 2 || last < 0) continue;
    role[last] = ROLE_TEST;
    test.push(last);
    const previous = previousPositive[u]!;
    if (options.validation && previous >= 0) {
      role[previous] = ROLE_VALIDATION;
      validation.push(previous);
    }
  }
  const train: number[] = [];
  for (let r = 0; r < log.size; r++) if (role[r] === 0) train.push(r);
  return {
    train: sliceLog(log, train, T),
    test: sliceLog(log, test, T),
    validation: options.validation ? sliceLog(log, validation, T) : undefined,
  };
}

/** The rows of several logs, one after the other (optional columns kept only when all have them). */
export function concatLogs(logs: readonly InteractionLog[], T: number): InteractionLog {
  const size = logs.reduce((n, l) => n + l.size, 0);
  const join = <A extends Int32Array | Float32Array | Float64Array>(get: (l: InteractionLog) => A | undefined, make: (n: number) => A, width: number): A | undefined => {
    if (logs.some((l) => !get(l))) return undefined;
    const out = make(size * width);
    let at = 0;
    for (const l of logs) {
      out.set(get(l)!, at);
      at += l.size * width;
    }
    return out;
  };
  return {
    size,
    user: join((l) => l.user, (n) => new Int32Array(n), 1)!,
    item: join((l) => l.item, (n) => new Int32Array(n), 1)!,
    labels: join((l) => l.labels, (n) => new Float32Array(n), T)!,
    position: join((l) => l.position, (n) => new Int32Array(n), 1),
    rankerScores: join((l) => l.rankerScores, (n) => new Float32Array(n), T),
    timestamp: join((l) => l.timestamp, (n) => new Float64Array(n), 1),
  };
}

/**
 * How the validation row of a user is chosen: `'previous'`, the positive just before the test row
 * (the log's order is its clock); `'random'`, one positive training row drawn at random (seeded),
 * for logs whose order is not a clock (no timestamps: file order may be by item id, or anything).
 */
export type ValidationHoldout = 'previous' | 'random';

/** Options of {@link splitDataset}. */
export interface SplitOptions {
  /** hold out a validation row per user (default false) */
  readonly validation?: boolean;
  /** how (default: `'previous'`) */
  readonly validationHoldout?: ValidationHoldout;
  /** seed of the `'random'` holdout (default 0); the held-out requests are drawn the same for every seed */
  readonly seed?: number;
  /**
   * share of the training requests (runs of one user's rows at one timestamp) held out whole as
   * `validationRequests`, for the funnel monitor (`ranker-agreement`); default 0.05 when the log
   * carries ranker scores and a validation split is asked for, else 0
   */
  readonly requestShare?: number;
}

/** What {@link splitDataset} made, and a line saying how. */
export interface DatasetSplit extends LooSplit {
  /** whole logged requests held out of training for the funnel monitor (see `requestShare`) */
  readonly validationRequests?: InteractionLog;
  /** e.g. `validation: each user's positive before the test row` */
  readonly description: string;
}

/**
 * The split every loader uses. Without `test` (loo-full): each user's last positive row of `log`
 * (chronological) is the test row. With `test` (a pre-split dataset): `log` is all training.
 * Validation (when asked): `'previous'` holds out the positive before the test row (pre-split: the
 * last positive training row); `'random'` one positive training row drawn with `seed`, from users
 * with at least two positive training rows, so each keeps one to learn from. Test rows are never
 * touched by the validation draw.
 */
export function splitDataset(log: InteractionLog, numUsers: number, valueWeights: ArrayLike<number>, test: InteractionLog | undefined, options: SplitOptions = {}): DatasetSplit {
  const split = splitRows(log, numUsers, valueWeights, test, options);
  if (options.requestShare === undefined && !(options.validation && log.rankerScores)) return split;
  const starts = requestStarts(split.train);
  const share = options.requestShare ?? defaultRequestShare(starts.length - 1);
  if (!(share >= 0 && share < 1)) throw new ConfigError('requestShare', `must be in [0, 1), got ${share}`);
  if (share === 0) return split;
  const { kept, held } = holdOutRequests(split.train, starts, share, valueWeights.length);
  return { ...split, train: kept, validationRequests: held, description: `${split.description}; ${held.size} rows of ${Math.round(share * 100)}% of the requests held out for the funnel monitor` };
}

/**
 * The funnel monitor's default share of the requests: 5%, or enough for about
 * {@link MIN_MONITOR_REQUESTS} requests on a smaller log, at most 20%. A request's rank correlation
 * over a slate of ten has an sd near 0.33, so 5% of a 1,800-request log (90 requests) measures the
 * mean to about +-0.035, more than the model moves between epochs: early stopping then ranks noise.
 */
function defaultRequestShare(requests: number): number {
  return Math.min(MAX_REQUEST_SHARE, Math.max(REQUEST_SHARE, MIN_MONITOR_REQUESTS / Math.max(requests, 1)));
}
const REQUEST_SHARE = 0.05;
const MAX_REQUEST_SHARE = 0.2;
/** about +-0.02 on the mean rank correlation; 5% of a log of 5,000 requests or more */
const MIN_MONITOR_REQUESTS = 250;

/**
 * Splits whole requests (`starts`: {@link requestStarts} of `log`) off `log` with probability `share`
 * each, from one fixed random stream: like the test rows, the held-out requests are part of the log's
 * split, the same for every model seed, and the same for a synthetic world and its CSV export.
 */
function holdOutRequests(log: InteractionLog, starts: Int32Array, share: number, T: number): { kept: InteractionLog; held: InteractionLog } {
  const rand = mulberry32(0x27d4eb2f);
  const kept: number[] = [];
  const held: number[] = [];
  for (let q = 0; q + 1 < starts.length; q++) {
    const into = rand() < share ? held : kept;
    for (let r = starts[q]!; r < starts[q + 1]!; r++) into.push(r);
  }
  return { kept: sliceLog(log, kept, T), held: sliceLog(log, held, T) };
}

function splitRows(log: InteractionLog, numUsers: number, valueWeights: ArrayLike<number>, test: InteractionLog | undefined, options: SplitOptions): DatasetSplit {
  const holdout = options.validationHoldout ?? 'previous';
  const what = test ? 'pre-split test file' : "test: each user's last positive";
  if (!options.validation) {
    const split = test ? { train: log, test } : leaveLastOut(log, numUsers, valueWeights);
    return { ...split, description: `${what}; no validation split` };
  }
  if (holdout === 'previous') {
    if (test) {
      const loo = leaveLastOut(log, numUsers, valueWeights);
      return { train: loo.train, validation: loo.test, test, description: `${what}; validation: each user's last positive training row` };
    }
    return { ...leaveLastOut(log, numUsers, valueWeights, { validation: true }), description: `${what}; validation: each user's positive before it` };
  }
  const base = test ? { train: log, test } : leaveLastOut(log, numUsers, valueWeights);
  const held = randomPositivePerUser(base.train, numUsers, valueWeights, options.seed ?? 0);
  const isHeld = new Uint8Array(base.train.size);
  for (const r of held) isHeld[r] = 1;
  const keep: number[] = [];
  for (let r = 0; r < base.train.size; r++) if (!isHeld[r]) keep.push(r);
  const T = valueWeights.length;
  return {
    train: sliceLog(base.train, keep, T),
    validation: sliceLog(base.train, held, T),
    test: base.test,
    description: `${what}; validation: one random positive training row per user with two or more (seed ${options.seed ?? 0}; the log's order is not a clock)`,
  };
}

/** One positive row per user with at least two, drawn uniformly (seeded); rows ascending by user. */
function randomPositivePerUser(log: InteractionLog, numUsers: number, valueWeights: ArrayLike<number>, seed: number): number[] {
  const T = valueWeights.length;
  const count = new Int32Array(numUsers);
  const positive = new Uint8Array(log.size);
  for (let r = 0; r < log.size; r++) {
    let v = 0;
    for (let t = 0; t < T; t++) v += log.labels[r * T + t]! * valueWeights[t]!;
    if (v > 0) {
      positive[r] = 1;
      count[log.user[r]!]!++;
    }
  }
  // each user's pick is its k-th positive, k drawn in user order: independent of the row order
  const rand = mulberry32((Math.imul(seed | 0, 0x9e3779b1) ^ 0x5bd1e995) >>> 0);
  const pick = new Int32Array(numUsers).fill(-1);
  for (let u = 0; u < numUsers; u++) if (count[u]! >= 2) pick[u] = Math.floor(rand() * count[u]!);
  const rowOf = new Int32Array(numUsers).fill(-1);
  const seen = new Int32Array(numUsers);
  for (let r = 0; r < log.size; r++) {
    if (!positive[r]) continue;
    const u = log.user[r]!;
    if (seen[u]!++ === pick[u]) rowOf[u] = r;
  }
  return Array.from(rowOf).filter((r) => r >= 0);
}
