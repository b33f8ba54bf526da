/**
 * loo-full retrieval metrics (EVAL.md section 1): every item in the catalogue is scored, the
 * user's training items are removed, and the top K is compared with the user's held-out positives.
 */
import { EmptyError, OutOfRangeError, ShapeError, ValueError } from '../errors.js';
import type { InteractionLog } from '../data/types.js';
import { topKExcluding } from './topk.js';

/**
 * Metrics of one evaluation. `recall@10/20/50` and `ndcg@10` are always present; extra cutoffs
 * requested through `ks` appear as further `recall@K` keys.
 */
export interface RetrievalMetrics {
  /** hits in the top 10 / the user's test positives, averaged over users */
  readonly 'recall@10': number;
  /** the same at a cutoff of 20 */
  readonly 'recall@20': number;
  /** the same at a cutoff of 50 */
  readonly 'recall@50': number;
  /** binary-relevance NDCG of the top 10, averaged over users */
  readonly 'ndcg@10': number;
  /** users evaluated (those with at least one test positive) */
  readonly users: number;
  readonly [metric: string]: number;
}

/** Arguments of {@link evaluateRetrieval}: the test log, what each user has seen, and a scorer. */
export interface EvaluateRetrievalArgs {
  /** items in the catalogue; scores rows have this length */
  readonly numItems: number;
  /** held-out rows; the positives (`labels . valueWeights > 0`) are the relevant items */
  readonly test: InteractionLog;
  /** `w [T]` of `nuv = labels . w` */
  readonly valueWeights: Float32Array;
  /** T */
  readonly numTasks: number;
  /**
   * Per user index, the items removed from that user's ranking (the training items). A test item
   * that also appears here is removed too, so it can never be hit: it stays in the denominator
   * (the usual protocol; loo-full splits never produce such overlaps for distinct user/item rows).
   */
  readonly seen: readonly (Int32Array | undefined)[];
  /** scores of `users` against the whole catalogue: `[users.length * numItems]`, row-major */
  readonly score: (users: Int32Array) => Promise<Float32Array> | Float32Array;
  /** recall cutoffs in addition to 10, 20 and 50 (default `[10, 20, 50]`) */
  readonly ks?: readonly number[];
  /** users per `score` call (default 256) */
  readonly usersPerCall?: number;
}

/** The users with at least one positive test row and each one's distinct positive items. */
export function testPositives(test: InteractionLog, valueWeights: ArrayLike<number>, numTasks: number, numItems: number): Map<number, Int32Array> {
  if (valueWeights.length !== numTasks) throw new ShapeError('valueWeights', `[${numTasks}]`, `[${valueWeights.length}]`);
  if (test.user.length !== test.size || test.item.length !== test.size) {
    throw new ShapeError('test', `user and item of length ${test.size}`, `${test.user.length} and ${test.item.length}`);
  }
  if (test.labels.length !== test.size * numTasks) throw new ShapeError('test.labels', `[${test.size} * ${numTasks}]`, `[${test.labels.length}]`);
  const byUser = new Map<number, Set<number>>();
  for (let r = 0; r < test.size; r++) {
    let v = 0;
    for (let t = 0; t < numTasks; t++) v += test.labels[r * numTasks + t]! * valueWeights[t]!;
    if (!(v > 0)) continue;
    const u = test.user[r]!;
    const i = test.item[r]!;
    if (u < 0) throw new OutOfRangeError('test.user', `row ${r}: user index ${u} is negative`);
    if (i < 0 || i >= numItems) throw new OutOfRangeError('test.item', `row ${r}: item index ${i} is outside 0..${numItems - 1}`);
    let s = byUser.get(u);
    if (!s) byUser.set(u, (s = new Set()));
    s.add(i);
  }
  const out = new Map<number, Int32Array>();
  for (const [u, s] of [...byUser].sort((a, b) => a[0] - b[0])) out.set(u, Int32Array.from(s));
  return out;
}

/**
 * loo-full metrics: `recall@K` = hits in the top K / the user's test positives, averaged over
 * users with at least one test positive (equal to the hit rate with one positive per user);
 * binary-relevance `ndcg@10` with the ideal DCG over min(|positives|, 10) hits.
 *
 * @throws EmptyError when no user has a positive test row; ShapeError / OutOfRangeError on
 *   inconsistent inputs or a score array of the wrong length
 */
export async function evaluateRetrieval(args: EvaluateRetrievalArgs): Promise<RetrievalMetrics> {
  const { numItems, test, valueWeights, numTasks, seen, score } = args;
  if (!Number.isInteger(numItems) || numItems < 1) throw new OutOfRangeError('numItems', `must be a positive integer, got ${numItems}`);
  const usersPerCall = args.usersPerCall ?? 256;
  if (!Number.isInteger(usersPerCall) || usersPerCall < 1) throw new OutOfRangeError('usersPerCall', `must be a positive integer, got ${usersPerCall}`);
  for (const k of args.ks ?? []) {
    if (!Number.isInteger(k) || k < 1) throw new OutOfRangeError('ks', `cutoffs must be positive integers, got ${k}`);
  }
  const ks = [...new Set([10, 20, 50, ...(args.ks ?? [])])].sort((a, b) => a - b);
  const maxK = ks[ks.length - 1]!;
  const ndcgK = 10;

  const positives = testPositives(test, valueWeights, numTasks, numItems);
  if (positives.size === 0) throw new EmptyError('test', 'no user has a positive test row');
  const users = Int32Array.from(positives.keys());

  const recallSum = new Float64Array(ks.length);
  let ndcgSum = 0;
  const discount = Float64Array.from({ length: ndcgK }, (_, r) => 1 / Math.log2(r + 2));
  const idealPrefix = new Float64Array(ndcgK + 1);
  for (let r = 0; r < ndcgK; r++) idealPrefix[r + 1] = idealPrefix[r]! + discount[r]!;
  const top = new Int32Array(maxK);
  const relevant = new Uint8Array(numItems);

  for (let start = 0; start < users.length; start += usersPerCall) {
    // a turn of the event loop per call: a long evaluation (or a baseline's epochs around it) stays interruptible by SIGINT/SIGTERM
    if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const batch = users.subarray(start, Math.min(start + usersPerCall, users.length));
    const scores = await score(batch);
    if (scores.length !== batch.length * numItems) {
      throw new ShapeError('score(users)', `[${batch.length} * ${numItems}]`, `[${scores.length}]`);
    }
    for (let b = 0; b < batch.length; b++) {
      const u = batch[b]!;
      const pos = positives.get(u)!;
      const ranked = topKExcluding(scores.subarray(b * numItems, (b + 1) * numItems), maxK, seen[u], top);
      for (let j = 0; j < pos.length; j++) relevant[pos[j]!] = 1;
      let hits = 0;
      let dcg = 0;
      let next = 0; // index into ks
      for (let r = 0; r < ranked.length; r++) {
        while (next < ks.length && r === ks[next]!) recallSum[next++]! += hits / pos.length;
        if (relevant[ranked[r]!] === 1) {
          hits++;
          if (r < ndcgK) dcg += discount[r]!;
        }
      }
      while (next < ks.length) recallSum[next++]! += hits / pos.length;
      ndcgSum += dcg / idealPrefix[Math.min(pos.length, ndcgK)]!;
      for (let j = 0; j < pos.length; j++) relevant[pos[j]!] = 0;
    }
  }

  const n = users.length;
  const out: Record<string, number> = {};
  ks.forEach((k, j) => (out[`recall@${k}`] = recallSum[j]! / n));
  out['ndcg@10'] = ndcgSum / n;
  out['users'] = n;
  return out as unknown as RetrievalMetrics;
}

/**
 * Popularity scores from training counts, the baseline EVAL.md asks for beside every figure.
 *
 * - `'rows'` (default): every training row counts once (impressions; for MovieLens, every rating
 *   whatever its value). This is the count that reproduces EVAL.md's popularity reference on
 *   MovieLens-100K (recall@10 0.102, recall@20 0.159, recall@50 0.254, ndcg@10 0.054).
 * - `'positives'`: only rows with `labels . valueWeights > 0` count, once each.
 */
export function popularityScores(
  train: InteractionLog,
  numItems: number,
  valueWeights: ArrayLike<number>,
  numTasks: number,
  mode: 'rows' | 'positives' = 'rows',
): Float32Array {
  if (!Number.isInteger(numItems) || numItems < 1) throw new OutOfRangeError('numItems', `must be a positive integer, got ${numItems}`);
  if (mode !== 'rows' && mode !== 'positives') throw new ValueError('mode', `must be 'rows' or 'positives', got ${String(mode)}`);
  if (valueWeights.length !== numTasks) throw new ShapeError('valueWeights', `[${numTasks}]`, `[${valueWeights.length}]`);
  if (train.labels.length !== train.size * numTasks) throw new ShapeError('train.labels', `[${train.size} * ${numTasks}]`, `[${train.labels.length}]`);
  const counts = new Float32Array(numItems);
  for (let r = 0; r < train.size; r++) {
    const i = train.item[r]!;
    if (i < 0 || i >= numItems) throw new OutOfRangeError('train.item', `row ${r}: item index ${i} is outside 0..${numItems - 1}`);
    if (mode === 'positives') {
      let v = 0;
      for (let t = 0; t < numTasks; t++) v += train.labels[r * numTasks + t]! * valueWeights[t]!;
      if (!(v > 0)) continue;
    }
    counts[i]! += 1;
  }
  return counts;
}
