/**
 * Training throughput with the history stage, on the same synthetic set as `tt bench train`
 * (10,000 users, 5,000 items, 100,000 impressions, 16 features per side, D 64, hidden 256, B 512).
 */
import { inMemorySource, initBackend, resolveConfig, syntheticWorld, Trainer, TwoTowerModel, type Batch } from '@tt/core';
import { historyEncoder, type HistoryEncoderOptions } from './encoder.js';

export interface HistoryBenchOptions extends HistoryEncoderOptions {
  readonly backend?: 'tensorflow' | 'wasm' | 'cpu';
  readonly batchSize?: number;
  /** timed steps (default 20) */
  readonly steps?: number;
  /** untimed steps first (default 5) */
  readonly warmup?: number;
  /**
   * `data` (default): the histories the data layer builds (earlier positives; short on this set);
   * `full`: every row gets `maxLength` valid items, like the PyTorch reference's fixed histories
   */
  readonly histories?: 'data' | 'full';
}

export interface HistoryBenchResult {
  readonly backend: string;
  readonly examplesPerSec: number;
  /** median */
  readonly msPerStep: number;
  readonly steps: number;
  readonly batchSize: number;
  readonly historyLength: number;
  /** mean valid history items per row over the timed batches */
  readonly meanValidHistory: number;
  readonly histories: 'data' | 'full';
  readonly options: HistoryEncoderOptions;
}

/** Times `trainer.step` with the history stage; see {@link HistoryBenchOptions}. */
export async function benchHistoryTraining(o: HistoryBenchOptions = {}): Promise<HistoryBenchResult> {
  const backend = await initBackend({ backend: o.backend, log: false });
  const world = syntheticWorld({ seed: 0, numUsers: 10_000, numItems: 5_000, impressions: 100_000, userFeatureDim: 16, itemFeatureDim: 16, validation: false });
  const { backend: _b, batchSize: _bs, steps: _s, warmup: _w, histories: _h, ...encoderOptions } = o;
  const config = resolveConfig(world.schema, {
    dim: 64, hidden: 256, valueWeights: Array.from(world.valueWeights), stages: [{ name: 'history', options: { ...encoderOptions } }],
  });
  const model = TwoTowerModel.create(config, world, [historyEncoder]);
  const trainer = new Trainer(model, { epochs: 1, learningRate: 1e-3, progress: 'none' });
  const batchSize = o.batchSize ?? 512;
  const H = model.historyLength;
  const mode = o.histories ?? 'data';
  const steps = o.steps ?? 20;
  const warmup = o.warmup ?? 5;
  const batches: Batch[] = [];
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (const b of inMemorySource(world, { batchSize, seed: 0, dropLast: true, historyLength: H }).batches(0) as Iterable<Batch>) {
    if (mode === 'full' && b.history) for (let i = 0; i < b.history.length; i++) b.history[i] = Math.floor(rand() * world.schema.numItems);
    batches.push(b);
    if (batches.length >= steps + warmup) break;
  }
  try {
    for (let s = 0; s < warmup; s++) trainer.step(batches[s % batches.length]!);
    const times: number[] = [];
    let examples = 0;
    let valid = 0;
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) {
      const b = batches[(warmup + s) % batches.length]!;
      const ts = performance.now();
      trainer.step(b);
      times.push(performance.now() - ts);
      examples += b.size;
      if (b.history) for (const id of b.history) if (id >= 0) valid++;
    }
    const seconds = (performance.now() - t0) / 1000;
    times.sort((x, y) => x - y);
    return {
      backend: backend.name, examplesPerSec: examples / seconds, msPerStep: times[times.length >> 1]!, steps, batchSize, historyLength: H,
      meanValidHistory: valid / examples, histories: mode, options: encoderOptions,
    };
  } finally {
    trainer.dispose();
    model.dispose();
  }
}
