/**
 * Funnel metrics on a synthetic world whose true value `V(u, i)` is known (EVAL.md section 2),
 * over the whole catalogue minus the items each user has already seen.
 */
import { EmptyError, OutOfRangeError, ShapeError, ValueError } from '../errors.js';
import type { GroundTruth } from '../data/types.js';
import { topKExcluding } from './topk.js';

/** Size of the true-value top list and of the final list. */
const TOP = 10;
/** Size of the retrieved list that alignment looks into. */
const RETRIEVED = 100;

/**
 * What {@link evaluateFunnel} measures: how well retrieval and the final list serve the true value.
 */
export interface FunnelMetrics {
  /** share of the true-value top 10 (unseen items) that retrieval's top 100 contains */
  readonly 'alignment@10/100': number;
  /** true value `V` of the final top 10 over that of the ideal top 10 (unseen items): 1 is perfect */
  readonly 'value@10': number;
  /** users evaluated */
  readonly users: number;
}

/** Arguments of {@link evaluateFunnel}: the world's truth, the users, and the model's lists. */
export interface EvaluateFunnelArgs {
  /** the synthetic world's true value `V(u, i)` */
  readonly truth: GroundTruth;
  /** users to evaluate (each once) */
  readonly users: Int32Array;
  /** per user index, the items already seen (removed from every list, the true top 10 included) */
  readonly seen: readonly (Int32Array | undefined)[];
  /** per user of the batch, the retrieval model's top 100 item indices, best first, seen excluded */
  readonly retrieved: (users: Int32Array) => Promise<Int32Array[]> | Int32Array[];
  /**
   * per user of the batch, the final top 10 after any re-ranking of `retrieved` (default: the
   * first 10 of `retrieved`)
   */
  readonly final?: (users: Int32Array, retrieved: Int32Array[]) => Promise<Int32Array[]> | Int32Array[];
  /** users per call (default 256) */
  readonly usersPerCall?: number;
}

/** Per-user scratch shared by the metric and the references. */
class UserView {
  readonly mark: Uint8Array;
  constructor(readonly numItems: number) {
    this.mark = new Uint8Array(numItems);
  }
}

function checkUsers(users: Int32Array, usersPerCall: number): void {
  if (users.length === 0) throw new EmptyError('users', 'no user to evaluate');
  if (!Number.isInteger(usersPerCall) || usersPerCall < 1) throw new OutOfRangeError('usersPerCall', `must be a positive integer, got ${usersPerCall}`);
  for (let j = 0; j < users.length; j++) if (users[j]! < 0) throw new OutOfRangeError('users', `user index ${users[j]} is negative`);
}

function valuesOf(truth: GroundTruth, user: number, numItems: number | undefined): Float32Array {
  const v = truth.valueOfAllItems(user);
  if (numItems !== undefined && v.length !== numItems) throw new ShapeError('truth.valueOfAllItems', `[${numItems}]`, `[${v.length}]`);
  return v;
}

/** Checks a list of item indices: in range, no repeats (uses and clears `mark`). */
function checkList(list: Int32Array, field: string, user: number, view: UserView): void {
  const { mark, numItems } = view;
  let bad: string | undefined;
  let j = 0;
  for (; j < list.length; j++) {
    const i = list[j]!;
    if (i < 0 || i >= numItems) {
      bad = `user ${user}: item index ${i} is outside 0..${numItems - 1}`;
      break;
    }
    if (mark[i] === 1) {
      bad = `user ${user}: item ${i} appears twice`;
      break;
    }
    mark[i] = 1;
  }
  for (let q = 0; q < j; q++) mark[list[q]!] = 0;
  if (bad) throw (bad.includes('outside') ? new OutOfRangeError(field, bad) : new ValueError(field, bad));
}

/**
 * alignment@10/100 and value@10 averaged over `users`.
 *
 * The true top 10 is taken over the catalogue minus the user's seen items (fewer when fewer
 * remain); value@10 divides by the size of that true top list, so a final list shorter than it
 * is not rewarded. Items of the final list that the user has already seen are an error.
 *
 * @throws EmptyError (no users), ShapeError (a callback answering for the wrong number of users,
 *   truth rows of varying length), OutOfRangeError / ValueError (bad item indices, repeats, seen
 *   items in the final list)
 */
export async function evaluateFunnel(args: EvaluateFunnelArgs): Promise<FunnelMetrics> {
  const { truth, users, seen } = args;
  const usersPerCall = args.usersPerCall ?? 256;
  checkUsers(users, usersPerCall);
  let view: UserView | undefined;
  let alignmentSum = 0;
  let valueSum = 0;
  const trueTop = new Int32Array(TOP);

  for (let start = 0; start < users.length; start += usersPerCall) {
    const batch = users.slice(start, Math.min(start + usersPerCall, users.length));
    const retrieved = await args.retrieved(batch);
    if (retrieved.length !== batch.length) throw new ShapeError('retrieved(users)', `${batch.length} lists`, `${retrieved.length}`);
    const finals = args.final ? await args.final(batch, retrieved) : retrieved.map((r) => r.subarray(0, TOP));
    if (finals.length !== batch.length) throw new ShapeError('final(users)', `${batch.length} lists`, `${finals.length}`);

    for (let b = 0; b < batch.length; b++) {
      const u = batch[b]!;
      const values = valuesOf(truth, u, view?.numItems);
      view ??= new UserView(values.length);
      const { mark } = view;
      const s = seen[u];
      const top = topKExcluding(values, TOP, s, trueTop);

      const ret = retrieved[b]!.subarray(0, RETRIEVED);
      checkList(ret, 'retrieved', u, view);
      const fin = finals[b]!;
      if (fin.length > TOP) throw new ShapeError('final', `at most ${TOP} items per user`, `${fin.length} for user ${u}`);
      checkList(fin, 'final', u, view);

      if (top.length === 0) continue; // nothing unseen: counts as 0 for both metrics
      for (let j = 0; j < ret.length; j++) mark[ret[j]!] = 1;
      let found = 0;
      let ideal = 0;
      for (let j = 0; j < top.length; j++) {
        found += mark[top[j]!]!;
        ideal += values[top[j]!]!;
      }
      for (let j = 0; j < ret.length; j++) mark[ret[j]!] = 0;
      alignmentSum += found / top.length;

      if (s) for (let j = 0; j < s.length; j++) if (s[j]! >= 0 && s[j]! < mark.length) mark[s[j]!] = 1;
      let v = 0;
      let seenHit = -1;
      for (let j = 0; j < fin.length; j++) {
        const i = fin[j]!;
        if (mark[i] === 1) seenHit = i;
        v += values[i]!;
      }
      if (s) for (let j = 0; j < s.length; j++) if (s[j]! >= 0 && s[j]! < mark.length) mark[s[j]!] = 0;
      if (seenHit >= 0) throw new ValueError('final', `user ${u}: item ${seenHit} was already seen`);
      if (ideal > 0) valueSum += v / ideal;
    }
  }
  return { 'alignment@10/100': alignmentSum / users.length, 'value@10': valueSum / users.length, users: users.length };
}

/** Reference points that put funnel metrics in context. */
export interface FunnelReferences {
  /** the true top 10 itself (the upper bound: alignment and value@10 are 1) */
  readonly oracle: {
    /** mean true value `V` of each user's true top 10 (the scale value@10 divides by) */
    readonly 'meanValue@10': number;
  };
  /**
   * the expectation under a uniformly random ranking of the unseen items (exact, no sampling):
   * alignment = min(100, unseen) / unseen, value@10 = the mean V of the unseen items over the
   * mean V of the true top 10
   */
  readonly random: FunnelMetrics;
  /** the funnel metrics of ranking by `popularity` (when given) */
  readonly popularity?: FunnelMetrics;
  /** users evaluated */
  readonly users: number;
}

/**
 * Oracle (upper bound), random (expected) and optionally popularity references for the funnel
 * metrics over the same users and seen items as {@link evaluateFunnel}.
 *
 * @param args.popularity one score per item (e.g. {@link popularityScores}); its top 100 unseen items
 *   are the retrieved list and its top 10 the final list
 */
export async function funnelReferences(args: {
  readonly truth: GroundTruth;
  readonly users: Int32Array;
  readonly seen: readonly (Int32Array | undefined)[];
  readonly popularity?: Float32Array;
}): Promise<FunnelReferences> {
  const { truth, users, seen, popularity } = args;
  checkUsers(users, 1);
  let numItems: number | undefined;
  let mark: Uint8Array | undefined;
  let oracle = 0;
  let randomAlignment = 0;
  let randomValue = 0;
  const trueTop = new Int32Array(TOP);
  for (let b = 0; b < users.length; b++) {
    const u = users[b]!;
    const values = valuesOf(truth, u, numItems);
    numItems ??= values.length;
    mark ??= new Uint8Array(numItems);
    const s = seen[u];
    const top = topKExcluding(values, TOP, s, trueTop);
    if (top.length === 0) continue;
    let best = 0;
    for (let j = 0; j < top.length; j++) best += values[top[j]!]!;
    oracle += best / top.length;
    const idealMean = best / top.length;

    let seenCount = 0;
    let seenValue = 0;
    if (s) {
      for (let j = 0; j < s.length; j++) {
        const i = s[j]!;
        if (i < 0 || i >= numItems || mark[i] === 1) continue;
        mark[i] = 1;
        seenCount++;
        seenValue += values[i]!;
      }
      for (let j = 0; j < s.length; j++) if (s[j]! >= 0 && s[j]! < numItems) mark[s[j]!] = 0;
    }
    let total = 0;
    for (let i = 0; i < numItems; i++) total += values[i]!;
    const unseen = numItems - seenCount;
    randomAlignment += Math.min(RETRIEVED, unseen) / unseen;
    // E[value@10] of a random list of min(10, unseen) items: the mean unseen V over the true top's mean
    if (idealMean > 0) randomValue += (total - seenValue) / unseen / idealMean;
  }
  const n = users.length;
  const popularityMetrics = popularity
    ? await evaluateFunnel({ truth, users, seen, retrieved: (batch) => Array.from(batch, (u) => topKExcluding(popularity, RETRIEVED, seen[u])) })
    : undefined;
  return {
    oracle: { 'meanValue@10': oracle / n },
    random: { 'alignment@10/100': randomAlignment / n, 'value@10': randomValue / n, users: n },
    ...(popularityMetrics ? { popularity: popularityMetrics } : {}),
    users: n,
  };
}
