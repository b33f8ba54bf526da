/**
 * `tt train`: train on a dataset, evaluate (loo-full, popularity beside the model), save a
 * checkpoint with its catalogue index.
 */
import { resolve } from 'node:path';
import {
  ConfigError, buildItemIndex, evaluateScores, latestHistories, evaluateModel, fitTwoTower, initBackend, trainingItems, trainingLog, popularityScores, saveCheckpoint,
  type FitOptions, type InteractionDataset, type RetrievalMetrics, type TwoTowerModel,
} from '@tt/core';
import { loadData } from '../data-spec.js';
import { writeDiagnostics } from '../diagnostics.js';
import { printJson, table } from '../output.js';
import { stagesFromFlags, type StageFlags } from '../stages.js';

/** The flags of `tt train`, parsed; unset fields take the defaults of `fitTwoTower` and the model config. */
export interface TrainCliOptions extends StageFlags {
  /** `--data`: the dataset spec (`synthetic`, `movielens:<dir>`, `csv:<train.csv>[,<test.csv>]`) */
  readonly data: string;
  /** `--checkpoint`: the directory the trained model is saved to */
  readonly checkpoint: string;
  /** where to write what the stages learned (debias curves, distill agreement) */
  readonly diagnostics?: string;
  /** most epochs (early stopping on validation recall@20) */
  readonly epochs?: number;
  /** rows per step */
  readonly batchSize?: number;
  /** dense learning rate */
  readonly lr?: number;
  /** embedding dimension */
  readonly dim?: number;
  /** softmax temperature */
  readonly temperature?: number;
  /** extra uniform negatives per batch */
  readonly mixedNegatives?: number;
  /** false (`--no-logq`) turns off the logQ correction */
  readonly logq?: boolean;
  /** share of training rows without their user-id vector (cold-start training) */
  readonly userIdDropout?: number;
  /** seed of the synthetic world, initialisation and shuffling */
  readonly seed?: number;
  /** early-stopping patience in epochs */
  readonly patience?: number;
  /** the validation metric early stopping watches (default: the stages' own, else recall@20) */
  readonly monitor?: string;
  /** false (`--no-restore-best`) keeps the last epoch's weights */
  readonly restoreBest?: boolean;
  /** w of value = labels . w, one per task */
  readonly valueWeights?: readonly number[];
  /** CSV of user features (csv data) */
  readonly userFeatures?: string;
  /** CSV of item features (csv data) */
  readonly itemFeatures?: string;
  /** force a backend (else `TT_BACKEND`, else the best that loads) */
  readonly backend?: 'tensorflow' | 'wasm' | 'cpu';
  /** print a JSON summary as the last line */
  readonly json?: boolean;
  /** comma-separated stage names */
  readonly stages?: string;
}

/** Popularity (train counts) under the same protocol as the model. */
export async function popularityMetrics(dataset: InteractionDataset): Promise<RetrievalMetrics> {
  const pop = popularityScores(trainingLog(dataset), dataset.schema.numItems, dataset.valueWeights, dataset.schema.tasks.length);
  return evaluateScores(dataset, (users) => {
    const out = new Float32Array(users.length * pop.length);
    for (let r = 0; r < users.length; r++) out.set(pop, r * pop.length);
    return out;
  });
}

export function fitOptionsOf(o: TrainCliOptions): FitOptions {
  const { definitions, configs } = stagesFromFlags(o.stages, o);
  return {
    epochs: o.epochs, batchSize: o.batchSize, learningRate: o.lr, patience: o.patience, seed: o.seed, stages: definitions,
    monitor: o.monitor, restoreBest: o.restoreBest,
    model: {
      stages: configs,
      ...(o.valueWeights !== undefined ? { valueWeights: o.valueWeights } : {}),
      ...(o.dim !== undefined ? { dim: o.dim } : {}),
      ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
      ...(o.mixedNegatives !== undefined ? { mixedNegatives: o.mixedNegatives } : {}),
      ...(o.logq === false ? { logQ: false } : {}),
      ...(o.userIdDropout !== undefined ? { userIdDropout: o.userIdDropout } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
    },
  };
}

/** Saves the model with its index, the users' seen items and histories, and item popularity (for serving). */
export async function saveWithIndex(dir: string, model: TwoTowerModel, dataset: InteractionDataset, metadata: Record<string, unknown>): Promise<void> {
  const index = await buildItemIndex(model);
  try {
    const H = model.historyLength;
    const histories = H > 0 ? latestHistories(trainingLog(dataset), dataset.schema.numUsers, dataset.valueWeights, H) : undefined;
    const popularity = popularityScores(trainingLog(dataset), dataset.schema.numItems, dataset.valueWeights, dataset.schema.tasks.length);
    await saveCheckpoint(dir, model, { index, seen: trainingItems(dataset), histories, popularity, metadata });
  } finally {
    await index.dispose();
  }
}

/** `--value-weights`: finite and >= 0, not all 0, one per task of `dataset` when given. @throws ConfigError naming the flag */
export function checkValueWeights(w: readonly number[] | undefined, dataset?: InteractionDataset): void {
  if (w === undefined) return;
  if (w.length === 0 || !w.every((x) => Number.isFinite(x) && x >= 0) || !w.some((x) => x > 0)) {
    throw new ConfigError('--value-weights', `must be comma-separated finite numbers >= 0, not all 0, got ${JSON.stringify(w)}`);
  }
  if (dataset && w.length !== dataset.schema.tasks.length) {
    throw new ConfigError('--value-weights', `needs one weight per task of ${dataset.name} (${dataset.schema.tasks.join(', ')}), got ${w.length}`);
  }
}

/** `tt train`: trains, evaluates beside popularity, saves the checkpoint; returns the JSON summary. */
export async function train(o: TrainCliOptions): Promise<Record<string, unknown>> {
  checkValueWeights(o.valueWeights);
  const backend = await initBackend({ backend: o.backend });
  const dataset = await loadData(o.data, { seed: o.seed, userFeatures: o.userFeatures, itemFeatures: o.itemFeatures, valueWeights: o.valueWeights });
  checkValueWeights(o.valueWeights, dataset);
  process.stderr.write(`[tt] ${dataset.name}: ${dataset.schema.numUsers} users, ${dataset.schema.numItems} items, ${dataset.train.size} training rows, ${new Set(dataset.test.user).size} test users\n`);
  if (dataset.split) process.stderr.write(`[tt] split: ${dataset.split}\n`);
  const { model, result } = await fitTwoTower(dataset, fitOptionsOf(o));
  try {
    const metrics = await evaluateModel(model, dataset, 'test');
    const popularity = await popularityMetrics(dataset);
    const checkpoint = resolve(o.checkpoint);
    await saveWithIndex(checkpoint, model, dataset, { dataset: dataset.name, epochs: result.epochs, metrics, backend: backend.name });
    const keys = ['recall@10', 'recall@20', 'recall@50', 'ndcg@10'] as const;
    const pick = (m: RetrievalMetrics) => Object.fromEntries(keys.map((k) => [k, m[k]]));
    process.stdout.write(`${table(['model', ...keys], [['two-tower', ...keys.map((k) => metrics[k])], ['popularity', ...keys.map((k) => popularity[k])]])}\n`);
    process.stdout.write(`checkpoint: ${checkpoint}\n`);
    const diagnostics = o.diagnostics ? writeDiagnostics(o.diagnostics, model, dataset) : undefined;
    if (diagnostics) process.stdout.write(`diagnostics: ${diagnostics.length ? diagnostics.join(', ') : 'none (no stage with diagnostics)'}\n`);
    const out = {
      backend: backend.name, dataset: dataset.name, examplesPerSec: result.examplesPerSec, epochs: result.epochs, bestEpoch: result.bestEpoch + 1,
      users: metrics.users, metrics: pick(metrics), popularity: pick(popularity), checkpoint, ...(diagnostics ? { diagnostics } : {}),
    };
    if (o.json) printJson(out);
    return out;
  } finally {
    model.dispose();
  }
}
