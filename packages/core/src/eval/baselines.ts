/**
 * Baselines a two-tower figure is read against (EVAL.md section 1): item-based nearest neighbours,
 * EASE (Steck, WWW 2019) and matrix factorisation trained with BPR (Rendle et al., UAI 2009), each
 * scoring the whole catalogue. Popularity is `popularityScores` in retrieval.ts.
 *
 * Both read the user-item matrix X of a training log: every row (`'rows'`: each interaction, as
 * EVAL.md's EASE reference does with MovieLens ratings) or the positive rows only (`'positives'`,
 * `labels . w > 0`).
 * - item-kNN: cosine similarity with shrinkage, `c_ij / (sqrt(n_i n_j) + shrink)`, each item's
 *   `neighbors` most similar items kept; `score(u, j) = sum_{i in X_u} sim(i, j)`.
 * - EASE: `B = I - P diag(1 / diag(P))`, `P = (X^T X + lambda I)^-1`, `score(u) = X_u B`. Dense
 *   `[N, N]` float32 (4 N^2 bytes) and 2 N^3 flops for the inverse: `maxItems` refuses catalogues
 *   beyond what fits (default 30,000 items: 3.6 GB).
 */
import { ConfigError, OutOfRangeError } from '../errors.js';
import type { InteractionLog } from '../data/types.js';
import { gatherRows, rowValue } from '../data/batches.js';
import { mulberry32 } from '@tt/mips';
import * as tf from '../runtime/tf.js';
import { invertSpdInPlace } from '../runtime/spd-inverse.js';
import { takeValues } from '../runtime/storage.js';
import { topKExcluding } from './topk.js';

/** Which rows of a training log form the user-item matrix X. */
export type InteractionRows = 'rows' | 'positives';

/** A fitted baseline: scores users against the whole catalogue. */
export interface BaselineScorer {
  /** e.g. `item-knn`, `ease` */
  readonly name: string;
  /** `[users.length * numItems]` scores, row-major */
  score(users: Int32Array): Float32Array;
}

/** Each user's distinct items in X, as compressed rows (and each item's users, when asked). */
interface Incidence {
  readonly userStart: Int32Array;
  readonly userItems: Int32Array;
  readonly itemStart: Int32Array;
  readonly itemUsers: Int32Array;
}

function incidence(log: InteractionLog, numUsers: number, numItems: number, valueWeights: ArrayLike<number>, rows: InteractionRows): Incidence {
  if (rows !== 'rows' && rows !== 'positives') throw new ConfigError('rows', `must be 'rows' or 'positives', got ${JSON.stringify(rows)}`);
  const pairs = new Set<number>();
  const us: number[] = [];
  const is: number[] = [];
  for (let r = 0; r < log.size; r++) {
    const u = log.user[r]!;
    const i = log.item[r]!;
    if (u < 0 || u >= numUsers) throw new OutOfRangeError('log.user', `row ${r}: user index ${u} is outside 0..${numUsers - 1}`);
    if (i < 0 || i >= numItems) throw new OutOfRangeError('log.item', `row ${r}: item index ${i} is outside 0..${numItems - 1}`);
    if (rows === 'positives' && !(rowValue(log, r, valueWeights) > 0)) continue;
    const key = u * numItems + i;
    if (pairs.has(key)) continue;
    pairs.add(key);
    us.push(u);
    is.push(i);
  }
  const compress = (keys: number[], values: number[], n: number) => {
    const start = new Int32Array(n + 1);
    for (const k of keys) start[k + 1]!++;
    for (let j = 0; j < n; j++) start[j + 1]! += start[j]!;
    const fill = start.slice(0, n);
    const out = new Int32Array(keys.length);
    keys.forEach((k, j) => (out[fill[k]!++] = values[j]!));
    return { start, out };
  };
  const byUser = compress(us, is, numUsers);
  const byItem = compress(is, us, numItems);
  return { userStart: byUser.start, userItems: byUser.out, itemStart: byItem.start, itemUsers: byItem.out };
}

/** Options of {@link fitItemKnn}. */
export interface ItemKnnOptions {
  /** similar items kept per item (default 100) */
  readonly neighbors?: number;
  /** shrinkage added to the cosine's denominator (default 10) */
  readonly shrink?: number;
  /** which rows form X (default 'rows') */
  readonly rows?: InteractionRows;
}

/** Item-based nearest neighbours over `log` (see the module comment). */
export function fitItemKnn(log: InteractionLog, numUsers: number, numItems: number, valueWeights: ArrayLike<number>, options: ItemKnnOptions = {}): BaselineScorer {
  const k = options.neighbors ?? 100;
  const shrink = options.shrink ?? 10;
  if (!Number.isInteger(k) || k < 1) throw new ConfigError('neighbors', `must be a positive integer, got ${k}`);
  if (!(shrink >= 0)) throw new ConfigError('shrink', `must be >= 0, got ${shrink}`);
  const x = incidence(log, numUsers, numItems, valueWeights, options.rows ?? 'rows');
  const degree = Float64Array.from({ length: numItems }, (_, i) => x.itemStart[i + 1]! - x.itemStart[i]!);
  const nbStart = new Int32Array(numItems + 1);
  const nbItem: number[] = [];
  const nbSim: number[] = [];
  const count = new Float64Array(numItems);
  const touched = new Int32Array(numItems);
  const sim = new Float32Array(numItems);
  for (let i = 0; i < numItems; i++) {
    let t = 0;
    for (let p = x.itemStart[i]!; p < x.itemStart[i + 1]!; p++) {
      const u = x.itemUsers[p]!;
      for (let q = x.userStart[u]!; q < x.userStart[u + 1]!; q++) {
        const j = x.userItems[q]!;
        if (j === i) continue;
        if (count[j] === 0) touched[t++] = j;
        count[j]! += 1;
      }
    }
    for (let p = 0; p < t; p++) {
      const j = touched[p]!;
      sim[p] = count[j]! / (Math.sqrt(degree[i]! * degree[j]!) + shrink);
      count[j] = 0;
    }
    for (const p of topKExcluding(sim.subarray(0, t), k)) {
      nbItem.push(touched[p]!);
      nbSim.push(sim[p]!);
    }
    nbStart[i + 1] = nbItem.length;
  }
  const items = Int32Array.from(nbItem);
  const sims = Float32Array.from(nbSim);
  return {
    name: 'item-knn',
    score(users: Int32Array): Float32Array {
      const out = new Float32Array(users.length * numItems);
      users.forEach((u, r) => {
        const row = r * numItems;
        for (let p = x.userStart[u]!; p < x.userStart[u + 1]!; p++) {
          const i = x.userItems[p]!;
          for (let q = nbStart[i]!; q < nbStart[i + 1]!; q++) out[row + items[q]!]! += sims[q]!;
        }
      });
      return out;
    },
  };
}

/** Options of {@link fitEase}. */
export interface EaseOptions {
  /** L2 regularisation lambda (default 200) */
  readonly lambda?: number;
  /** which rows form X (default 'rows') */
  readonly rows?: InteractionRows;
  /** refuse catalogues larger than this (default 30,000: the dense `[N, N]` matrix takes 4 N^2 bytes) */
  readonly maxItems?: number;
}

/** EASE over `log` (see the module comment). @throws ConfigError for a catalogue over `maxItems` */
export function fitEase(log: InteractionLog, numUsers: number, numItems: number, valueWeights: ArrayLike<number>, options: EaseOptions = {}): BaselineScorer {
  const lambda = options.lambda ?? 200;
  const maxItems = options.maxItems ?? 30_000;
  if (!(lambda > 0) || !Number.isFinite(lambda)) throw new ConfigError('lambda', `must be > 0, got ${lambda}`);
  if (numItems > maxItems) {
    throw new ConfigError('maxItems', `EASE needs a dense ${numItems} x ${numItems} matrix (${((4 * numItems * numItems) / 1e9).toFixed(1)} GB); the limit is ${maxItems} items (raise maxItems if it fits)`);
  }
  const x = incidence(log, numUsers, numItems, valueWeights, options.rows ?? 'rows');
  const N = numItems;
  const B = new Float32Array(N * N);
  for (let u = 0; u < numUsers; u++) {
    for (let p = x.userStart[u]!; p < x.userStart[u + 1]!; p++) {
      const row = x.userItems[p]! * N;
      for (let q = x.userStart[u]!; q < x.userStart[u + 1]!; q++) B[row + x.userItems[q]!]! += 1;
    }
  }
  for (let i = 0; i < N; i++) B[i * N + i]! += lambda;
  invertSpdInPlace(B, N, 'X^T X + lambda I');
  // B = -P / diag(P) column-wise, zero diagonal
  const diag = Float32Array.from({ length: N }, (_, i) => B[i * N + i]!);
  for (let i = 0; i < N; i++) {
    const row = i * N;
    for (let j = 0; j < N; j++) B[row + j] = i === j ? 0 : -B[row + j]! / diag[j]!;
  }
  return {
    name: 'ease',
    score(users: Int32Array): Float32Array {
      const out = new Float32Array(users.length * N);
      users.forEach((u, r) => {
        const dst = out.subarray(r * N, (r + 1) * N);
        for (let p = x.userStart[u]!; p < x.userStart[u + 1]!; p++) {
          const src = B.subarray(x.userItems[p]! * N, (x.userItems[p]! + 1) * N);
          for (let j = 0; j < N; j++) dst[j]! += src[j]!;
        }
      });
      return out;
    },
  };
}

/** Options of {@link fitBprMf}. */
export interface BprMfOptions {
  /** factor dimension (default 64) */
  readonly dim?: number;
  /** SGD learning rate (default 0.05) */
  readonly learningRate?: number;
  /** L2 penalty on the factors a step touches (default 0.001) */
  readonly regularization?: number;
  /** passes over the positive pairs (default 30) */
  readonly epochs?: number;
  /** which rows form X, the positives BPR ranks above sampled items (default 'positives') */
  readonly rows?: InteractionRows;
  /** seed of the initialisation and of the sampling (default 0) */
  readonly seed?: number;
  /** called after each epoch with the scorer as it is; return true to stop (e.g. early stopping) */
  readonly afterEpoch?: (epoch: number, scorer: BaselineScorer) => Promise<boolean> | boolean;
}

/**
 * Matrix factorisation trained with BPR: for each positive (u, i) and an item j the user does not
 * have, drawn uniformly, one SGD step on `-log sigmoid(p_u . (q_i - q_j))` plus L2 on the factors
 * it touches; `score(u) = p_u Q^T`.
 */
export function fitBprMf(log: InteractionLog, numUsers: number, numItems: number, valueWeights: ArrayLike<number>, options: BprMfOptions = {}): Promise<BaselineScorer> {
  const D = options.dim ?? 64;
  const lr = options.learningRate ?? 0.05;
  const reg = options.regularization ?? 0.001;
  const epochs = options.epochs ?? 30;
  if (!Number.isInteger(D) || D < 1) throw new ConfigError('dim', `must be a positive integer, got ${D}`);
  if (!(lr > 0)) throw new ConfigError('learningRate', `must be > 0, got ${lr}`);
  if (!(reg >= 0)) throw new ConfigError('regularization', `must be >= 0, got ${reg}`);
  if (!Number.isInteger(epochs) || epochs < 1) throw new ConfigError('epochs', `must be a positive integer, got ${epochs}`);
  const x = incidence(log, numUsers, numItems, valueWeights, options.rows ?? 'positives');
  const rand = mulberry32(((options.seed ?? 0) * 0x9e3779b1) >>> 0);
  const P = Float32Array.from({ length: numUsers * D }, () => (rand() - 0.5) * 0.1);
  const Q = Float32Array.from({ length: numItems * D }, () => (rand() - 0.5) * 0.1);
  const pairs = x.userItems.length;
  const userOf = new Int32Array(pairs);
  for (let u = 0; u < numUsers; u++) userOf.fill(u, x.userStart[u]!, x.userStart[u + 1]!);
  const has = (u: number, j: number): boolean => {
    let lo = x.userStart[u]!;
    let hi = x.userStart[u + 1]! - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = x.userItems[mid]!;
      if (v === j) return true;
      if (v < j) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  };
  // each user's items ascending, for the membership test
  for (let u = 0; u < numUsers; u++) x.userItems.subarray(x.userStart[u]!, x.userStart[u + 1]!).sort();
  const scorer: BaselineScorer = {
    name: 'bpr-mf',
    score(users: Int32Array): Float32Array {
      return takeValues(tf.tidy(() => tf.matMul(tf.tensor2d(gatherRows(P, D, users), [users.length, D]), tf.tensor2d(Q, [numItems, D]), false, true)));
    },
  };
  const order = Int32Array.from({ length: pairs }, (_, k) => k);
  return (async () => {
    for (let epoch = 0; epoch < epochs; epoch++) {
      for (let k = pairs - 1; k > 0; k--) {
        const m = Math.floor(rand() * (k + 1));
        const t = order[k]!;
        order[k] = order[m]!;
        order[m] = t;
      }
      for (let k = 0; k < pairs; k++) {
        const pair = order[k]!;
        const u = userOf[pair]!;
        const i = x.userItems[pair]!;
        let j = Math.floor(rand() * numItems);
        for (let tries = 0; has(u, j) && tries < 20; tries++) j = Math.floor(rand() * numItems);
        const pu = u * D;
        const qi = i * D;
        const qj = j * D;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += P[pu + d]! * (Q[qi + d]! - Q[qj + d]!);
        const g = 1 / (1 + Math.exp(dot)); // sigmoid(-dot)
        for (let d = 0; d < D; d++) {
          const p = P[pu + d]!;
          const a = Q[qi + d]!;
          const b = Q[qj + d]!;
          P[pu + d] = p + lr * (g * (a - b) - reg * p);
          Q[qi + d] = a + lr * (g * p - reg * a);
          Q[qj + d] = b + lr * (-g * p - reg * b);
        }
      }
      if (options.afterEpoch && (await options.afterEpoch(epoch, scorer))) break;
    }
    return scorer;
  })();
}
