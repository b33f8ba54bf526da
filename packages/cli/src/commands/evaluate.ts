/**
 * `tt eval`: a saved checkpoint against a dataset's test split (loo-full), popularity beside it.
 */
import { ConfigError, evaluateModel, initBackend, loadCheckpoint, MismatchError } from '@tt/core';
import { loadData } from '../data-spec.js';
import { printJson, table } from '../output.js';
import { popularityMetrics, reportFunnel } from './train.js';
import { stageDefinitions } from '../stages.js';

/** Flags of `tt eval`. */
export interface EvalCliOptions {
  /** the checkpoint directory */
  readonly checkpoint: string;
  /** the `--data` spec */
  readonly data: string;
  /** CSV of user features (csv data) */
  readonly userFeatures?: string;
  /** CSV of item features (csv data) */
  readonly itemFeatures?: string;
  /** `.npy` true values `[users, items]` by the log's integer ids: adds the funnel metrics */
  readonly truth?: string;
  /** force a backend */
  readonly backend?: 'tensorflow' | 'wasm' | 'cpu';
  /** print a JSON summary as the last line */
  readonly json?: boolean;
}

/**
 * `tt eval`: loo-full metrics of a checkpoint on `data`'s test split, popularity beside it, and
 * with a truth (a world, or `--truth`) alignment@10/100 and value@10; returns the JSON summary.
 */
export async function evaluate(o: EvalCliOptions): Promise<Record<string, unknown>> {
  const backend = await initBackend({ backend: o.backend });
  const { model } = await loadCheckpoint(o.checkpoint, { stages: stageDefinitions, loadIndex: false });
  try {
    // a log's positives (and so its split) follow the value weights: the checkpoint's, as in training
    const dataset = await loadData(o.data, { userFeatures: o.userFeatures, itemFeatures: o.itemFeatures, truth: o.truth, valueWeights: model.config.valueWeights }).catch((e: unknown) => {
      if (e instanceof ConfigError && e.field === '--value-weights') {
        throw new MismatchError('--data', `label columns for the checkpoint's ${model.config.valueWeights.length} tasks (${model.config.schema.tasks.join(', ')})`, e.message);
      }
      throw e;
    });
    const ids = model.data.itemIds;
    if (ids.length !== dataset.itemIds.length || ids.some((id, i) => id !== dataset.itemIds[i])) {
      throw new MismatchError('--data', `the catalogue the checkpoint was trained on (${ids.length} items)`, `${dataset.name} with ${dataset.itemIds.length} items in another order or set`);
    }
    const metrics = await evaluateModel(model, dataset, 'test');
    const popularity = await popularityMetrics(dataset);
    const keys = ['recall@10', 'recall@20', 'recall@50', 'ndcg@10'] as const;
    process.stdout.write(`${table(['model', ...keys], [['two-tower', ...keys.map((k) => metrics[k])], ['popularity', ...keys.map((k) => popularity[k])]])}\n`);
    const funnel = await reportFunnel(model, dataset, o.truth);
    const out = {
      backend: backend.name, dataset: dataset.name, users: metrics.users,
      metrics: Object.fromEntries(keys.map((k) => [k, metrics[k]])), popularity: Object.fromEntries(keys.map((k) => [k, popularity[k]])),
      ...(funnel ? { funnel } : {}),
    };
    if (o.json) printJson(out);
    return out;
  } finally {
    model.dispose();
  }
}
