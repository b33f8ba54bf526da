/**
 * Full-catalogue scoring of a trained model, for the loo-full protocol (EVAL.md section 1) and
 * the funnel metrics (section 2): every user is scored against every item in the catalogue.
 */
import * as tf from '../runtime/tf.js';
import type { InteractionDataset, InteractionLog } from '../data/types.js';
import { concatLogs } from '../data/split.js';
import { seenItemsByUser } from '../data/batches.js';
import type { TwoTowerModel } from '../model/two-tower.js';
import { evaluateRetrieval, type RetrievalMetrics } from './retrieval.js';
import { evaluateFunnel, type FunnelMetrics } from './funnel.js';
import { topKExcluding } from './topk.js';

/**
 * Each user's latest history as of the end of `log`: the items of their last `H` positive rows,
 * newest first, -1 padded (`[numUsers * H]`).
 */
export function latestHistories(log: InteractionLog, numUsers: number, valueWeights: ArrayLike<number>, H: number): Int32Array {
  const out = new Int32Array(numUsers * H).fill(-1);
  if (H === 0) return out;
  const T = valueWeights.length;
  const filled = new Int32Array(numUsers);
  for (let r = log.size - 1; r >= 0; r--) {
    const u = log.user[r]!;
    if (filled[u]! >= H) continue;
    let v = 0;
    for (let t = 0; t < T; t++) v += log.labels[r * T + t]! * valueWeights[t]!;
    if (v > 0) out[u * H + filled[u]!++] = log.item[r]!;
  }
  return out;
}

/** Scores users against the whole catalogue with the model's towers. */
export class CatalogueScorer {
  private readonly items: tf.Tensor2D;
  private readonly histories: Int32Array | undefined;

  constructor(readonly model: TwoTowerModel, historySource?: InteractionLog) {
    this.items = tf.tensor2d(model.catalogueEmbeddings(), [model.data.itemIds.length, model.config.dim]);
    const H = model.historyLength;
    this.histories = H > 0 && historySource ? latestHistories(historySource, model.data.userIds.length, model.config.valueWeights, H) : undefined;
  }

  /** `[users.length * numItems]` scores. */
  score(users: Int32Array): Float32Array {
    const H = this.model.historyLength;
    let history: Int32Array | undefined;
    if (this.histories) {
      history = new Int32Array(users.length * H);
      users.forEach((u, r) => history!.set(this.histories!.subarray(u * H, u * H + H), r * H));
    }
    const q = this.model.queryEmbeddings(this.model.userInputOf(users, history, history ? H : 0));
    const s = tf.matMul(q, this.items, false, true);
    const out = s.dataSync() as Float32Array;
    q.dispose();
    s.dispose();
    return out;
  }

  dispose(): void {
    this.items.dispose();
  }
}

/** Training rows as the protocol counts them: train plus the held-out validation rows. */
export function trainingLog(dataset: InteractionDataset): InteractionLog {
  return dataset.validation ? concatLogs([dataset.train, dataset.validation], dataset.schema.tasks.length) : dataset.train;
}

/**
 * What the protocol counts as a user's training items when scoring `split`: the training rows,
 * plus the held-out validation rows when scoring the test split (EVAL.md section 1).
 */
export function trainingItems(dataset: InteractionDataset, split: 'test' | 'validation' = 'test'): Int32Array[] {
  return seenItemsByUser(split === 'test' ? trainingLog(dataset) : dataset.train, dataset.schema.numUsers);
}

/** loo-full metrics of `model` on `dataset.test` (or `validation`), training items excluded. */
export async function evaluateModel(model: TwoTowerModel, dataset: InteractionDataset, split: 'test' | 'validation' = 'test'): Promise<RetrievalMetrics> {
  const log = split === 'test' ? dataset.test : dataset.validation;
  if (!log) throw new Error(`dataset ${dataset.name} has no ${split} split`);
  // histories as of the split: the test split sees every training row, validation rows included
  const scorer = new CatalogueScorer(model, split === 'test' ? trainingLog(dataset) : dataset.train);
  try {
    return await evaluateRetrieval({
      numItems: dataset.schema.numItems,
      test: log,
      valueWeights: dataset.valueWeights,
      numTasks: dataset.schema.tasks.length,
      seen: trainingItems(dataset, split),
      score: (users) => scorer.score(users),
    });
  } finally {
    scorer.dispose();
  }
}

/** Funnel metrics (alignment@10/100, value@10) of `model` on a synthetic world with truth. */
export async function evaluateModelFunnel(model: TwoTowerModel, dataset: InteractionDataset, users?: Int32Array): Promise<FunnelMetrics> {
  if (!dataset.truth) throw new Error(`dataset ${dataset.name} has no ground truth`);
  const scorer = new CatalogueScorer(model, trainingLog(dataset));
  const seen = trainingItems(dataset);
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
