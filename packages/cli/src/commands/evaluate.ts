/**
 * `tt eval`: a saved checkpoint against a dataset's test split (loo-full), popularity beside it.
 */
import { evaluateModel, initBackend, loadCheckpoint, MismatchError } from '@tt/core';
import { loadData } from '../data-spec.js';
import { printJson, table } from '../output.js';
import { popularityMetrics } from './train.js';
import { stageDefinitions } from '../stages.js';

/** `tt eval`: loo-full metrics of a checkpoint on `data`'s test split, popularity beside it; returns the JSON summary. */
export async function evaluate(o: { checkpoint: string; data: string; backend?: 'tensorflow' | 'wasm' | 'cpu'; json?: boolean }): Promise<Record<string, unknown>> {
  const backend = await initBackend({ backend: o.backend });
  const { model } = await loadCheckpoint(o.checkpoint, { stages: stageDefinitions, loadIndex: false });
  try {
    const dataset = await loadData(o.data);
    const ids = model.data.itemIds;
    if (ids.length !== dataset.itemIds.length || ids.some((id, i) => id !== dataset.itemIds[i])) {
      throw new MismatchError('--data', `the catalogue the checkpoint was trained on (${ids.length} items)`, `${dataset.name} with ${dataset.itemIds.length} items in another order or set`);
    }
    const metrics = await evaluateModel(model, dataset, 'test');
    const popularity = await popularityMetrics(dataset);
    const keys = ['recall@10', 'recall@20', 'recall@50', 'ndcg@10'] as const;
    process.stdout.write(`${table(['model', ...keys], [['two-tower', ...keys.map((k) => metrics[k])], ['popularity', ...keys.map((k) => popularity[k])]])}\n`);
    const out = {
      backend: backend.name, dataset: dataset.name, users: metrics.users,
      metrics: Object.fromEntries(keys.map((k) => [k, metrics[k]])), popularity: Object.fromEntries(keys.map((k) => [k, popularity[k]])),
    };
    if (o.json) printJson(out);
    return out;
  } finally {
    model.dispose();
  }
}
