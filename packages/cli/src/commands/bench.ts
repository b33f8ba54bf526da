/**
 * `tt bench train`: training throughput of the base model on a synthetic set shaped like the
 * PyTorch reference (`shared/reference/two_tower_ref.py`: 10,000 users, 5,000 items, 100,000
 * impressions, 16 dense features per side, D 64, hidden 256, B 512, Adam), after a warm-up.
 *
 * The model is pinned here ({@link BENCH_MODEL}), not taken from the library's defaults, so the
 * benchmark keeps measuring the reference's architecture whatever the defaults become.
 */
import { ConfigError, inMemorySource, initBackend, resolveConfig, syntheticWorld, Trainer, TwoTowerModel, type Batch, type TwoTowerOptions } from '@tt/core';
import { mulberry32 } from '@tt/mips';
import { peakRssMb, printJson } from '../output.js';
import { stagesFromFlags, type StageFlags } from '../stages.js';

/** How a history stage's batches are filled: each row's earlier positives, or every row at H items. */
export type HistoryFill = 'data' | 'full';

/** The flags of `tt bench train`, parsed. */
export interface BenchTrainOptions extends StageFlags {
  /** print a JSON summary as the last line */
  readonly json?: boolean;
  /** force a backend (else `TT_BACKEND`, else the best that loads: tfjs-node where it is installed) */
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
   * with a history stage: `data`, each row's earlier positives (short on this set); `full`, every
   * row `--history-len` random items, as the reference's fixed-length histories; `both` (default)
   * times one after the other
   */
  readonly historyFill?: HistoryFill | 'both';
  /** @deprecated the former name of `historyFill` (`--histories data|full`) */
  readonly histories?: HistoryFill;
}

/**
 * The model `tt bench train` times: the reference's shape (D 64, hidden 256) and today's loss
 * (cosine scores over temperature 0.05, logQ, accidental hits masked, no extra negatives),
 * written out so that changes to the library's defaults do not change what is measured.
 */
export const BENCH_MODEL = {
  /** embedding dimension D (the reference's 64) */
  dim: 64,
  /** hidden width of the tower MLPs (the reference's 256) */
  hidden: 256,
  /** L2-normalised embeddings: cosine scores */
  normalize: true,
  /** softmax temperature of the cosine scores */
  temperature: 0.05,
  /** logQ correction of in-batch negatives */
  logQ: true,
  /** learning rate of the streaming item-frequency estimate behind logQ */
  logQAlpha: 0.05,
  /** accidental hits (a row's own positive among its negatives) masked */
  removeAccidentalHits: true,
  /** no extra uniformly sampled negatives */
  mixedNegatives: 0,
  /** no history pooling: the reference's user tower has none */
  historyPooling: 0,
  /** initialisation seed */
  seed: 0,
} as const satisfies TwoTowerOptions;

/** The training settings `tt bench train` times (the reference's: B 512, Adam 1e-3). */
export const BENCH_TRAINING = {
  /** examples per step (the reference's B 512) */
  batchSize: 512,
  /** Adam's learning rate (the reference's 1e-3) */
  learningRate: 1e-3,
  /** lazy Adam on the embedding rows */
  sparseOptimizer: 'adam',
} as const;

/** Throughput of one timed run. */
interface Timing {
  examplesPerSec: number;
  msPerStep: number;
  steps: number;
  meanValidHistory: number;
}

/** `tt bench train`: times training steps after a warm-up; returns the JSON summary (throughput, memory). */
export async function benchTrain(o: BenchTrainOptions): Promise<Record<string, unknown>> {
  const backend = await initBackend({ backend: o.backend });
  const world = syntheticWorld({ seed: 0, numUsers: 10_000, numItems: 5_000, impressions: 100_000, userFeatureDim: 16, itemFeatureDim: 16, validation: false });
  const { definitions, configs } = stagesFromFlags(o.stages, o);
  const config = resolveConfig(world.schema, { ...BENCH_MODEL, valueWeights: Array.from(world.valueWeights), userRows: o.userRows, stages: configs });
  const model = TwoTowerModel.create(config, world, definitions);
  const trainer = new Trainer(model, { epochs: 1, learningRate: BENCH_TRAINING.learningRate, sparseOptimizer: BENCH_TRAINING.sparseOptimizer, progress: 'none' });
  const batchSize = o.batchSize ?? BENCH_TRAINING.batchSize;
  try {
    const fillFlag = o.historyFill !== undefined ? '--history-fill' : '--histories';
    const fillOption = o.historyFill ?? o.histories;
    if (fillOption !== undefined && model.historyLength === 0) throw new ConfigError(fillFlag, `needs a history stage (--stages history), got stages ${JSON.stringify(o.stages ?? '')}`);
    if (fillOption !== undefined && !['data', 'full', 'both'].includes(fillOption)) throw new ConfigError(fillFlag, `must be data, full or both, got ${JSON.stringify(fillOption)}`);
    const fills: HistoryFill[] = model.historyLength === 0 ? [] : fillOption === 'both' || fillOption === undefined ? ['data', 'full'] : [fillOption];
    const warmup = o.warmup ?? 10;
    const byFill: Partial<Record<HistoryFill, Timing>> = {};
    let timing: Timing | undefined;
    for (const fill of fills.length ? fills : [undefined]) {
      const batches = benchBatches(world, model.historyLength, batchSize, fill);
      timing = timeSteps(trainer, batches, warmup, o.steps ?? batches.length);
      if (fill) byFill[fill] = timing;
    }
    const out = {
      backend: backend.name, backendPatches: backend.patches, ...timing!, peakRssMb: peakRssMb(),
      warmupSteps: warmup, batchSize, userTableRows: config.userRows, itemTableRows: config.itemRows,
      stages: configs.map((c) => c.name), historyLength: model.historyLength,
      historyFill: fills.length === 0 ? 'none' : fills.length === 2 ? 'both' : fills[0]!,
      ...(fills.length ? { byFill } : {}),
      model: BENCH_MODEL, learningRate: BENCH_TRAINING.learningRate,
    };
    for (const [fill, t] of fills.length ? Object.entries(byFill) : [['', timing!] as const]) {
      process.stderr.write(`[tt] bench train${fill ? ` (histories: ${fill}, mean ${t.meanValidHistory.toFixed(1)} items)` : ''}: ${t.examplesPerSec.toFixed(0)} examples/s, ${t.msPerStep.toFixed(1)} ms/step (median)\n`);
    }
    process.stderr.write(`[tt] bench train: backend ${backend.name}, peak RSS ${out.peakRssMb.toFixed(0)} MB\n`);
    if (o.json) printJson(out);
    return out;
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

/** One epoch's batches of the bench set; with `fill: 'full'` every history slot holds a random item. */
function benchBatches(world: ReturnType<typeof syntheticWorld>, historyLength: number, batchSize: number, fill: HistoryFill | undefined): Batch[] {
  const batches: Batch[] = [];
  const random = mulberry32(7);
  for (const b of inMemorySource(world, { batchSize, seed: 0, dropLast: true, historyLength }).batches(0) as Iterable<Batch>) {
    if (fill === 'full' && b.history) for (let i = 0; i < b.history.length; i++) b.history[i] = Math.floor(random() * world.schema.numItems);
    batches.push(b);
  }
  return batches;
}

/** `warmup` untimed steps, then `steps` timed ones (cycling through the batches). */
function timeSteps(trainer: Trainer, batches: readonly Batch[], warmup: number, steps: number): Timing {
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
  return { examplesPerSec: examples / seconds, msPerStep: times[times.length >> 1]!, steps, meanValidHistory: validHistory / examples };
}
