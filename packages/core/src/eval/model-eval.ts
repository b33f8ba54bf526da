/**
 * Full-catalogue scoring of a trained model, for the loo-full protocol (EVAL.md section 1) and
 * the funnel metrics (section 2): every user is scored against every item in the catalogue.
 */
import * as tf from '../runtime/tf.js';
import type { InteractionDataset, InteractionLog } from '../data/types.js';
import { chronologicalOrder, concatLogs, sliceLog } from '../data/split.js';
import { mulberry32 } from '@tt/mips';
import { gatherRows, positivesByUser, requestStarts, rowValue, sampleHistory, seenItemsByUser, type HistoryOrder } from '../data/batches.js';
import { spearman } from './correlation.js';
import { MismatchError, ValueError } from '../errors.js';
import { takeValues } from '../runtime/storage.js';
import type { TwoTowerModel } from '../model/two-tower.js';
import type { Candidates, ReRanker, UserInput } from '../model/stages.js';
import { evaluateRetrieval, type RetrievalMetrics } from './retrieval.js';
import { evaluateFunnel, type FunnelMetrics } from './funnel.js';
import { topKExcluding } from './topk.js';

/**
 * Each user's latest history as of the end of `log`: the items of their last `H` positive rows,
 * newest first, -1 padded (`[numUsers * H]`). A log without timestamps has no "last": then `H`
 * of the user's positives drawn with a fixed seed (`order: 'set'`, see {@link HistoryOrder}).
 */
export function latestHistories(log: InteractionLog, numUsers: number, valueWeights: ArrayLike<number>, H: number, order: HistoryOrder = log.timestamp ? 'time' : 'set'): Int32Array {
  const out = new Int32Array(numUsers * H).fill(-1);
  if (H === 0) return out;
  if (order === 'set') {
    const sets = positivesByUser(log, numUsers, valueWeights);
    const rand = mulberry32(0x1b873593);
    let longest = 0;
    for (let u = 0; u < numUsers; u++) longest = Math.max(longest, sets.start[u + 1]! - sets.start[u]!);
    const scratch = new Int32Array(longest);
    for (let u = 0; u < numUsers; u++) sampleHistory(sets, u, -1, H, rand, out, u * H, scratch);
    return out;
  }
  const filled = new Int32Array(numUsers);
  for (let r = log.size - 1; r >= 0; r--) {
    const u = log.user[r]!;
    if (filled[u]! < H && rowValue(log, r, valueWeights) > 0) out[u * H + filled[u]!++] = log.item[r]!;
  }
  return out;
}

/**
 * Scores users against the whole catalogue with the model's towers. When the model has a
 * re-ranker (e.g. a light ranker), each user's top `candidatesToRerank` MIPS items (leaving out
 * `seen`) are re-ordered by it and placed first, so every ranking metric reads the list a
 * `Retriever` would serve.
 */
export class CatalogueScorer {
  private readonly vectors: Float32Array;
  private readonly items: tf.Tensor2D;
  private readonly histories: Int32Array | undefined;

  constructor(
    /** the model whose towers (and re-ranker, if any) do the scoring */
    readonly model: TwoTowerModel,
    historySource?: InteractionLog,
    private readonly seen?: readonly Int32Array[],
  ) {
    this.vectors = model.catalogueEmbeddings();
    this.items = tf.tensor2d(this.vectors, [model.data.itemIds.length, model.config.dim]);
    const H = model.historyLength;
    this.histories = H > 0 && historySource ? latestHistories(historySource, model.data.userIds.length, model.config.valueWeights, H) : undefined;
  }

  /** `[users.length * numItems]` scores (re-ranked candidates first, in their new order). */
  score(users: Int32Array): Float32Array {
    return this.withQueries(users, (input, x, q) => {
      const out = takeValues(tf.matMul(q, this.items, false, true));
      const stage = this.model.stages.find((st) => st.reranker);
      if (stage?.reranker) this.rerankInto(out, users, input, x, q, stage.reranker, stage.candidatesToRerank ?? 100);
      return out;
    });
  }

  /**
   * Each row's `slates[r]` scored as the model orders them when they are its candidates: by the
   * re-ranker's key when the model has one, else by retrieval's score. Unlike {@link score}, no
   * item is left out for having been seen or for lying outside the MIPS top: it orders a given
   * slate, as a ranker does (one score per slate entry, in slate order).
   */
  scoreSlates(users: Int32Array, slates: readonly Int32Array[]): Float32Array[] {
    const D = this.model.config.dim;
    return this.withQueries(users, (input, x, q) => {
      const qs = q.dataSync() as Float32Array;
      const candidates: Candidates[] = slates.map((items, r) => {
        const vectors = gatherRows(this.vectors, D, items);
        const scores = new Float32Array(items.length);
        for (let j = 0; j < items.length; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += qs[r * D + d]! * vectors[j * D + d]!;
          scores[j] = dot;
        }
        return { items, scores, vectors };
      });
      const reranker = this.model.stages.find((st) => st.reranker)?.reranker;
      if (!reranker) return candidates.map((c) => c.scores);
      const k = Math.max(1, ...slates.map((s) => s.length));
      const ranked = reranker.rerank({ users: input, userInput: x, q, candidates, k });
      return slates.map((items, r) => {
        const key = new Map<number, number>();
        ranked[r]!.items.forEach((item, j) => key.set(item, ranked[r]!.scores[j]!));
        return Float32Array.from(items, (item) => key.get(item) ?? Number.NEGATIVE_INFINITY);
      });
    });
  }

  /** Runs `use` on the user tower's input and query for `users` (histories as of the scorer's log), then frees them. */
  private withQueries<T>(users: Int32Array, use: (input: UserInput, x: tf.Tensor2D, q: tf.Tensor2D) => T): T {
    const { model } = this;
    const H = model.historyLength;
    const history = this.histories && gatherRows(this.histories, H, users);
    const input = model.userInputOf(users, history, history ? H : 0);
    const x = tf.tidy(() => model.userTowerInput(input, false));
    const q = tf.tidy(() => model.queryFromInput(x));
    try {
      return use(input, x, q);
    } finally {
      tf.dispose([x, q]);
    }
  }

  /** Frees the catalogue's embedding tensor; the model itself is not disposed. */
  dispose(): void {
    this.items.dispose();
  }

  private rerankInto(out: Float32Array, users: Int32Array, input: UserInput, x: tf.Tensor2D, q: tf.Tensor2D, reranker: ReRanker, fetch: number): void {
    const N = this.model.data.itemIds.length;
    const D = this.model.config.dim;
    const candidates: Candidates[] = Array.from(users, (u, r) => {
      const row = out.subarray(r * N, (r + 1) * N);
      const items = topKExcluding(row, Math.min(fetch, N), this.seen?.[u]);
      return { items, scores: Float32Array.from(items, (item) => row[item]!), vectors: gatherRows(this.vectors, D, items) };
    });
    const ranked = reranker.rerank({ users: input, userInput: x, q, candidates, k: fetch });
    // above any retrieval score, in the re-ranker's order
    ranked.forEach((r, row) => r.items.forEach((item, j) => { out[row * N + item] = RERANKED + (r.items.length - j); }));
  }
}

const RERANKED = 1e6;

/**
 * Training rows as the protocol counts them: train plus the rows held out for validation (and the
 * funnel monitor), back in time order when the log has timestamps.
 */
export function trainingLog(dataset: InteractionDataset): InteractionLog {
  const parts = [dataset.train, dataset.validation, dataset.validationRequests].filter((l): l is InteractionLog => l !== undefined && l.size > 0);
  if (parts.length === 1) return parts[0]!;
  const all = concatLogs(parts, dataset.schema.tasks.length);
  return all.timestamp ? sliceLog(all, chronologicalOrder(all), dataset.schema.tasks.length) : all;
}

/** What the protocol counts as each user's training items: train plus validation rows (EVAL.md section 1). */
export function trainingItems(dataset: InteractionDataset): Int32Array[] {
  return seenItemsByUser(trainingLog(dataset), dataset.schema.numUsers);
}

/**
 * loo-full metrics of any full-catalogue scorer on `dataset.test` (or `validation`), the user's
 * training items removed from each ranking (for the validation split, the training rows only).
 */
export async function evaluateScores(
  dataset: InteractionDataset, score: (users: Int32Array) => Float32Array, split: 'test' | 'validation' = 'test', seen?: readonly Int32Array[],
): Promise<RetrievalMetrics> {
  const log = split === 'test' ? dataset.test : dataset.validation;
  if (!log) throw new ValueError(`dataset.${split}`, `evaluating the ${split} split needs a dataset with one; ${dataset.name} has none`);
  return evaluateRetrieval({
    numItems: dataset.schema.numItems,
    test: log,
    valueWeights: dataset.valueWeights,
    numTasks: dataset.schema.tasks.length,
    seen: seen ?? seenItemsByUser(split === 'test' ? trainingLog(dataset) : dataset.train, dataset.schema.numUsers),
    score,
  });
}

/** The model must serve the dataset's vocabulary: the same users and items, in the same order. */
function checkSameVocabulary(model: TwoTowerModel, dataset: InteractionDataset): void {
  const { userIds, itemIds } = model.data;
  if (userIds.length !== dataset.schema.numUsers) throw new MismatchError('dataset.userIds', `the model's ${userIds.length} users`, `${dataset.schema.numUsers}`);
  if (itemIds.length !== dataset.schema.numItems) throw new MismatchError('dataset.itemIds', `the model's ${itemIds.length} items`, `${dataset.schema.numItems}`);
}

/**
 * loo-full metrics of `model`; histories as of the split (validation rows precede test rows).
 * @throws ValueError when the dataset has no such split; MismatchError when the model was built for another vocabulary
 */
export async function evaluateModel(model: TwoTowerModel, dataset: InteractionDataset, split: 'test' | 'validation' = 'test'): Promise<RetrievalMetrics> {
  checkSameVocabulary(model, dataset);
  const history = split === 'test' ? trainingLog(dataset) : dataset.train;
  const seen = seenItemsByUser(history, dataset.schema.numUsers);
  const scorer = new CatalogueScorer(model, history, seen);
  try {
    return await evaluateScores(dataset, (users) => scorer.score(users), split, seen);
  } finally {
    scorer.dispose();
  }
}

/**
 * Funnel metrics (alignment@10/100, value@10) of `model` on a synthetic world with truth.
 * @throws ValueError when the dataset has no ground truth (`dataset.truth`, which `syntheticWorld`
 *   provides and loaded logs do not); MismatchError when the model was built for another vocabulary
 */
export async function evaluateModelFunnel(model: TwoTowerModel, dataset: InteractionDataset, users?: Int32Array): Promise<FunnelMetrics> {
  if (!dataset.truth) {
    throw new ValueError('dataset.truth', `funnel metrics need the true value of every item for every user (a synthetic world's \`truth\`); ${dataset.name} has none: use evaluateModel (loo-full) for a logged dataset`);
  }
  checkSameVocabulary(model, dataset);
  const history = trainingLog(dataset);
  const seen = seenItemsByUser(history, dataset.schema.numUsers);
  const scorer = new CatalogueScorer(model, history, seen);
  const evalUsers = users ?? Int32Array.from(new Set(dataset.test.user));
  const N = dataset.schema.numItems;
  try {
    return await evaluateFunnel({
      truth: dataset.truth,
      users: evalUsers,
      seen,
      retrieved: async (batch) => {
        const scores = scorer.score(batch);
        return Array.from(batch, (u, r) => topKExcluding(scores.subarray(r * N, r * N + N), 100, seen[u]));
      },
    });
  } finally {
    scorer.dispose();
  }
}

/** Held-out requests the funnel monitor scores per call. */
const MONITOR_REQUESTS = 256;

/**
 * The funnel monitor, `ranker-agreement`: over the logged requests held out of training
 * (`dataset.validationRequests`), the mean Spearman correlation, within each request, between the
 * model's scores of the shown items and the main ranker's logged value of them (`sum_t w_t p_t`).
 * It asks whether the model orders what the ranker ordered as the ranker does: position-free, and
 * blind to which items the logging policy chose to show, unlike the recall of logged clicks, which
 * rewards imitating that policy (the held-out items' catalogue recall falls as a funnel stage moves
 * away from the policy). A model with a re-ranker (a light ranker) is judged by the re-ranker's
 * order of the request's items as its candidates ({@link CatalogueScorer.scoreSlates}): reading the
 * served catalogue list instead would leave the items the user was shown before (never re-ranked,
 * since serving excludes seen items) below every re-ranked one, and judge the cut rather than the
 * order. Requests with fewer than two scored rows, or constant scores or values, are skipped (0
 * when none is left).
 * @returns undefined when the dataset holds out no scored requests
 */
export async function evaluateRankerAgreement(model: TwoTowerModel, dataset: InteractionDataset): Promise<number | undefined> {
  const held = dataset.validationRequests;
  if (!held || held.size === 0 || !held.rankerScores) return undefined;
  const T = dataset.schema.tasks.length;
  const w = model.config.valueWeights;
  const value = new Float64Array(held.size);
  for (let r = 0; r < held.size; r++) {
    let v = 0;
    for (let t = 0; t < T; t++) v += w[t]! * held.rankerScores[r * T + t]!;
    value[r] = v; // NaN when the ranker did not score the row
  }
  const starts = requestStarts(held);
  const requests: number[][] = [];
  for (let q = 0; q + 1 < starts.length; q++) {
    const rows: number[] = [];
    for (let r = starts[q]!; r < starts[q + 1]!; r++) if (Number.isFinite(value[r]!)) rows.push(r);
    if (rows.length >= 2) requests.push(rows);
  }
  const scorer = new CatalogueScorer(model, dataset.train);
  let sum = 0;
  let count = 0;
  try {
    for (let start = 0; start < requests.length; start += MONITOR_REQUESTS) {
      const batch = requests.slice(start, start + MONITOR_REQUESTS);
      const users = Int32Array.from(batch, (rows) => held.user[rows[0]!]!);
      const scores = scorer.scoreSlates(users, batch.map((rows) => Int32Array.from(rows, (r) => held.item[r]!)));
      batch.forEach((rows, b) => {
        const rho = spearman(Array.from(scores[b]!), rows.map((r) => value[r]!));
        if (Number.isNaN(rho)) return;
        sum += rho;
        count++;
      });
    }
  } finally {
    scorer.dispose();
  }
  // requests whose scores or values are all equal say nothing: no agreement to measure
  return count > 0 ? sum / count : 0;
}
