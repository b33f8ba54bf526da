/**
 * `tt baseline`: the baselines a two-tower figure is read against, under the same protocol as
 * `tt train` (loo-full or the pre-split test file, the user's training items removed): popularity,
 * item-kNN, EASE and BPR matrix factorisation. With a validation split, each method's
 * hyper-parameter is chosen on it (the model fitted on the training rows, scored on the validation
 * rows; BPR's epochs by early stopping), then refitted on training + validation for the test
 * figure: the rows `tt train --refit` trains its final model on.
 */
import {
  evaluateScores, fitBprMf, fitEase, fitItemKnn, initBackend, trainingLog, ConfigError,
  type BaselineScorer, type InteractionDataset, type InteractionLog, type InteractionRows, type RetrievalMetrics,
} from '@tt/core';
import { loadData } from '../data-spec.js';
import { peakRssMb, printJson, table } from '../output.js';
import { popularityMetrics } from './train.js';

/** The methods `tt baseline` knows. */
export const BASELINE_METHODS = ['popularity', 'item-knn', 'ease', 'bpr-mf'] as const;
/** One of {@link BASELINE_METHODS}. */
export type BaselineMethod = (typeof BASELINE_METHODS)[number];

/** The flags of `tt baseline`, parsed. */
export interface BaselineCliOptions {
  /** `--data`: the dataset spec */
  readonly data: string;
  /** comma-separated methods (default all) */
  readonly methods?: string;
  /** EASE lambda (default: chosen on validation from 20, 50, 100, 200, 500, 1000) */
  readonly lambda?: number;
  /** item-kNN neighbours (default: chosen on validation from 20, 50, 100, 200, 500) */
  readonly neighbors?: number;
  /** which training rows form the user-item matrix */
  readonly rows?: InteractionRows;
  /** largest catalogue EASE takes on */
  readonly easeMaxItems?: number;
  /** seed of a random validation holdout */
  readonly seed?: number;
  /** force a backend (else the best that loads) */
  readonly backend?: 'tensorflow' | 'wasm' | 'cpu';
  /** print a JSON summary as the last line */
  readonly json?: boolean;
}

/** EASE's lambda grid (validation picks one). */
export const LAMBDAS = [20, 50, 100, 200, 500, 1000] as const;
/** item-kNN's neighbour grid (validation picks one). */
export const NEIGHBORS = [20, 50, 100, 200, 500] as const;
/** EASE re-inverts its Gram matrix per lambda: above this many items it uses one lambda (200) unless `--lambda` says otherwise. */
const EASE_TUNE_MAX_ITEMS = 5000;

const KEYS = ['recall@10', 'recall@20', 'recall@50', 'ndcg@10'] as const;

async function evaluateScorer(dataset: InteractionDataset, scorer: BaselineScorer, split: 'test' | 'validation'): Promise<RetrievalMetrics> {
  return evaluateScores(dataset, (users) => scorer.score(users), split);
}

/** Picks the value of `grid` with the best validation recall@20, then refits on all training rows. */
async function tuned<T extends number>(
  dataset: InteractionDataset, grid: readonly T[], fit: (log: InteractionLog, value: T) => BaselineScorer, log: (line: string) => void, what: string,
): Promise<{ value: T; metrics: RetrievalMetrics }> {
  let value = grid[0]!;
  if (dataset.validation && grid.length > 1) {
    let best = -1;
    for (const v of grid) {
      const r = (await evaluateScorer(dataset, fit(dataset.train, v), 'validation'))['recall@20'];
      log(`[tt] ${what} ${v}: validation recall@20 ${r.toFixed(4)}`);
      if (r > best) [best, value] = [r, v];
    }
  }
  return { value, metrics: await evaluateScorer(dataset, fit(trainingLog(dataset), value), 'test') };
}

/** BPR epochs at most, and the epochs without a better validation recall@20 before stopping. */
const BPR_EPOCHS = 100;
const BPR_PATIENCE = 5;

/** BPR-MF with its epochs chosen by early stopping on validation recall@20, refitted on all training rows. */
async function bprMf(dataset: InteractionDataset, log: (line: string) => void): Promise<{ metrics: RetrievalMetrics; epochs: number }> {
  const { numUsers, numItems } = dataset.schema;
  const w = dataset.valueWeights;
  let epochs = 30;
  if (dataset.validation) {
    let best = -1;
    let stale = 0;
    await fitBprMf(dataset.train, numUsers, numItems, w, {
      epochs: BPR_EPOCHS,
      afterEpoch: async (epoch, scorer) => {
        const r = (await evaluateScorer(dataset, scorer, 'validation'))['recall@20'];
        log(`[tt] bpr-mf epoch ${epoch + 1}: validation recall@20 ${r.toFixed(4)}`);
        if (r > best) [best, epochs, stale] = [r, epoch + 1, 0];
        return ++stale > BPR_PATIENCE;
      },
    });
  }
  const scorer = await fitBprMf(trainingLog(dataset), numUsers, numItems, w, { epochs });
  return { metrics: await evaluateScorer(dataset, scorer, 'test'), epochs };
}

/** `tt baseline`: evaluates each method; returns the JSON summary. */
export async function baseline(o: BaselineCliOptions): Promise<Record<string, unknown>> {
  const methods = (o.methods ?? BASELINE_METHODS.join(',')).split(',').map((m) => m.trim()).filter(Boolean);
  for (const m of methods) {
    if (!(BASELINE_METHODS as readonly string[]).includes(m)) throw new ConfigError('--methods', `unknown method ${JSON.stringify(m)}; known: ${BASELINE_METHODS.join(', ')}`);
  }
  const backend = await initBackend({ backend: o.backend });
  const dataset = await loadData(o.data, { seed: o.seed });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(`[tt] ${dataset.name}: ${dataset.schema.numUsers} users, ${dataset.schema.numItems} items, ${dataset.train.size} training rows`);
  if (dataset.split) log(`[tt] split: ${dataset.split}`);
  const { numUsers, numItems } = dataset.schema;
  const w = dataset.valueWeights;
  const rows = o.rows ?? 'rows';
  const results: Record<string, { metrics: Record<string, number>; seconds: number; [k: string]: unknown }> = {};
  for (const method of methods as BaselineMethod[]) {
    const t0 = performance.now();
    let metrics: RetrievalMetrics;
    let extra: Record<string, unknown> = {};
    if (method === 'popularity') {
      metrics = await popularityMetrics(dataset);
    } else if (method === 'item-knn') {
      const r = await tuned(dataset, o.neighbors ? [o.neighbors] : NEIGHBORS, (l, k) => fitItemKnn(l, numUsers, numItems, w, { neighbors: k, rows }), log, 'item-knn neighbors');
      metrics = r.metrics;
      extra = { neighbors: r.value };
    } else if (method === 'bpr-mf') {
      const r = await bprMf(dataset, log);
      metrics = r.metrics;
      extra = { epochs: r.epochs };
    } else {
      const grid = o.lambda ? [o.lambda] : numItems <= EASE_TUNE_MAX_ITEMS ? LAMBDAS : [200];
      const r = await tuned(dataset, grid, (l, lambda) => fitEase(l, numUsers, numItems, w, { lambda, rows, maxItems: o.easeMaxItems }), log, 'ease lambda');
      metrics = r.metrics;
      extra = { lambda: r.value };
    }
    results[method] = { metrics: Object.fromEntries(KEYS.map((k) => [k, metrics[k]])), ...extra, seconds: (performance.now() - t0) / 1000 };
  }
  process.stdout.write(`${table(['baseline', ...KEYS], Object.entries(results).map(([m, r]) => [m, ...KEYS.map((k) => r.metrics[k]!)]))}\n`);
  const out = { backend: backend.name, dataset: dataset.name, rows, baselines: results, peakRssMb: peakRssMb() };
  if (o.json) printJson(out);
  return out;
}
