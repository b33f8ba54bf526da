/**
 * `tt bench train`: training throughput of the base model on a synthetic set shaped like the
 * PyTorch reference (`shared/reference/two_tower_ref.py`: 10,000 users, 5,000 items, 100,000
 * impressions, 16 dense features per side, D 64, hidden 256, B 512, Adam), after a warm-up.
 */
import { ConfigError, inMemorySource, initBackend, resolveConfig, syntheticWorld, Trainer, TwoTowerModel, type Batch } from '@tt/core';
import { mulberry32 } from '@tt/mips';
import { peakRssMb, printJson } from '../output.js';
import { stagesFromFlags, type StageFlags } from '../stages.js';

/** The flags of `tt bench train`, parsed. */
export interface BenchTrainOptions extends StageFlags {
  /** print a JSON summary as the last line */
  readonly json?: boolean;
  /** force a backend (else `TT_BACKEND`, else the best that loads) */
  readonly backend?: 'tensorflow' | 'wasm' | 'cpu';
  /** timed steps (default: one epoch) */
  readonly steps?: number;
  /** untimed steps before timing (default 10) */
  readonly warmup?: number;
  /** user-id table rows (default: the 10,000 users; 1,000,000 shows the cost of a big table) */
  readonly userRows?: number;
  /** rows per step (default 512, as the reference) */
  readonly batchSize?: number;
  /** comma-separated stages (e.g. `history`) */
  readonly stages?: string;
  /**
   * with a history stage: `data` (default), each row's earlier positives (short on this set);
   * `full`, every row `--history-len` random items, as the reference's fixed-length histories
   */
  readonly histories?: 'data' | 'full';
}

/** `tt bench train`: times training steps after a warm-up; returns the JSON summary (throughput, memory). */
export async function benchTrain(o: BenchTrainOptions): Promise<Record<string, unknown>> {
  const backend = await initBackend({ backend: o.backend });
  const world = syntheticWorld({ seed: 0, numUsers: 10_000, numItems: 5_000, impressions: 100_000, userFeatureDim: 16, itemFeatureDim: 16, validation: false });
  const { definitions, configs } = stagesFromFlags(o.stages, o);
  const config = resolveConfig(world.schema, { dim: 64, hidden: 256, historyPooling: 0, valueWeights: Array.from(world.valueWeights), userRows: o.userRows, stages: configs });
  const model = TwoTowerModel.create(config, world, definitions);
  const trainer = new Trainer(model, { epochs: 1, learningRate: 1e-3, progress: 'none' });
  const batchSize = o.batchSize ?? 512;
  if (o.histories !== undefined && model.historyLength === 0) throw new ConfigError('--histories', `needs a history stage (--stages history), got stages ${JSON.stringify(o.stages ?? '')}`);
  const histories = model.historyLength > 0 ? (o.histories ?? 'data') : 'none';
  const batches: Batch[] = [];
  const random = mulberry32(7);
  for (const b of inMemorySource(world, { batchSize, seed: 0, dropLast: true, historyLength: model.historyLength }).batches(0) as Iterable<Batch>) {
    if (histories === 'full' && b.history) for (let i = 0; i < b.history.length; i++) b.history[i] = Math.floor(random() * world.schema.numItems);
    batches.push(b);
  }
  const warmup = o.warmup ?? 10;
  const steps = o.steps ?? batches.length;
  try {
    for (let s = 0; s < warmup; s++) trainer.step(batches[s % batches.length]!);
    const times: number[] = [];
    let examples = 0;
    let validHistory = 0;
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) {
      const b = batches[s % batches.length]!;
      const ts = performance.now();
      trainer.step(b);
      times.push(performance.now() - ts);
      examples += b.size;
      if (b.history) for (const id of b.history) if (id >= 0) validHistory++;
    }
    const seconds = (performance.now() - t0) / 1000;
    times.sort((a, b) => a - b);
    const out = {
      backend: backend.name, examplesPerSec: examples / seconds, msPerStep: times[times.length >> 1]!, peakRssMb: peakRssMb(),
      steps, warmupSteps: warmup, batchSize, userTableRows: config.userRows, itemTableRows: config.itemRows, stages: configs.map((c) => c.name), historyLength: model.historyLength,
      histories, meanValidHistory: validHistory / examples,
    };
    process.stderr.write(`[tt] bench train: ${out.examplesPerSec.toFixed(0)} examples/s, ${out.msPerStep.toFixed(1)} ms/step (median), peak RSS ${out.peakRssMb.toFixed(0)} MB\n`);
    if (o.json) printJson(out);
    return out;
  } finally {
    trainer.dispose();
    model.dispose();
  }
}
