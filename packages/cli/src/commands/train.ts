/**
 * `tt train`: train on a dataset, evaluate (loo-full, popularity beside the model), save a
 * checkpoint with its catalogue index.
 */
import { resolve } from 'node:path';
import {
  buildItemIndex, checkCheckpointTarget, checkFitOptions, evaluateFunnel, evaluateScores, latestHistories, evaluateModel, evaluateModelFunnel, fitTwoTower, initBackend,
  topKExcluding, trainingItems, trainingLog, ConfigError, inspectDataset, loadCheckpoint, popularityScores, saveCheckpoint, type DatasetReport, type FitOptions,
  type FunnelMetrics, type InteractionDataset, type LoadedCheckpoint, type RetrievalMetrics, type TrainerState, type TwoTowerModel,
} from '@tt/core';
import { absoluteDataSpec, loadData } from '../data-spec.js';
import { checkDiagnosticsDir, writeDiagnostics } from '../diagnostics.js';
import { checkingInput, checkingInputAsync } from '../exit-codes.js';
import { withInterrupts } from '../interrupts.js';
import { peakRssMb, printJson, table } from '../output.js';
import { stageDefinitions, stagesFromFlags, type StageFlags } from '../stages.js';

/** The flags of `tt train`, parsed; unset fields take the defaults of `fitTwoTower` and the model config. */
export interface TrainCliOptions extends StageFlags {
  /** `--data`: the dataset spec (`synthetic`, `movielens:<dir>`, `csv:<train.csv>[,<test.csv>]`) */
  readonly data: string;
  /** `--checkpoint`: the directory the trained model is saved to */
  readonly checkpoint: string;
  /** `--force`: save even into a directory that holds something other than a tt checkpoint */
  readonly force?: boolean;
  /** where to write what the stages learned (debias curves, distill agreement) */
  readonly diagnostics?: string;
  /** most epochs (early stopping on the validation monitor, see `monitor`) */
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
  /** `--user-id-dropout-rows`: per-user id dropout `c / (c + rows)` (model option `userIdDropoutRows`) */
  readonly userIdDropoutRows?: number;
  /** seed of the synthetic world, initialisation and shuffling */
  readonly seed?: number;
  /** early-stopping patience in epochs */
  readonly patience?: number;
  /** the validation metric early stopping watches (default: the stages' own, else recall@20) */
  readonly monitor?: string;
  /** false (`--no-restore-best`) keeps the last epoch's weights */
  readonly restoreBest?: boolean;
  /** false (`--no-refit`): keep the early-stopped model instead of a fresh one trained on the training and validation rows for the chosen epochs (default `FIT_DEFAULTS.refit`: true) */
  readonly refit?: boolean;
  /** w of value = labels . w, one per task */
  readonly valueWeights?: readonly number[];
  /** CSV of user features (csv data) */
  readonly userFeatures?: string;
  /** CSV of item features (csv data) */
  readonly itemFeatures?: string;
  /** `--truth`: `.npy` true values `[users, items]` by the log's integer ids (funnel metrics for a logged dataset) */
  readonly truth?: string;
  /** force a backend (else `TT_BACKEND`, else the best that loads) */
  readonly backend?: 'tensorflow' | 'wasm' | 'cpu';
  /** print a JSON summary as the last line */
  readonly json?: boolean;
  /** comma-separated stage names */
  readonly stages?: string;
  /**
   * `--resume`: continue the interrupted run saved in this checkpoint directory, with the options
   * it was started with (only the output flags may be given beside it)
   */
  readonly resume?: string;
}

/** The flags that only say where output goes: the ones `--resume` accepts beside it. */
export const OUTPUT_FLAGS = ['checkpoint', 'force', 'diagnostics', 'json', 'backend', 'resume'] as const;

/** What a checkpoint remembers of the run that made it, so `--resume` can continue it. */
interface StoredRun {
  /** the training flags (paths absolute) */
  readonly options: Omit<TrainCliOptions, (typeof OUTPUT_FLAGS)[number]>;
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

/**
 * Alignment@10/100 and value@10 of `model` and of popularity, as `tt bench stages` reports them, on a
 * dataset that knows every item's true value (a world, or a log given `--truth`: `truthFile`), printed
 * as a table; the JSON summary's `funnel` field, or undefined without a truth or a test row.
 */
export async function reportFunnel(model: TwoTowerModel, dataset: InteractionDataset, truthFile: string | undefined): Promise<Record<string, { model: number; popularity: number }> | undefined> {
  if (!dataset.truth || dataset.test.size === 0) return undefined;
  const trained = await evaluateModelFunnel(model, dataset);
  const popularity = await popularityFunnel(dataset);
  const keys = ['alignment@10/100', 'value@10'] as const;
  const heading = `against ${truthFile ? `the true value of ${truthFile}` : "the world's true value"} (EVAL.md section 2):`;
  process.stdout.write(`${heading}\n${table(['model', ...keys], [['two-tower', ...keys.map((k) => trained[k])], ['popularity', ...keys.map((k) => popularity[k])]])}\n`);
  return Object.fromEntries(keys.map((k) => [k, { model: trained[k], popularity: popularity[k] }]));
}

/**
 * Funnel metrics (EVAL.md section 2) of the popularity ranking on a dataset with a truth (a
 * synthetic world, or a log given `--truth`): the floor every stage must beat.
 */
export async function popularityFunnel(world: InteractionDataset): Promise<FunnelMetrics> {
  const pop = popularityScores(trainingLog(world), world.schema.numItems, world.valueWeights, world.schema.tasks.length);
  const seen = trainingItems(world);
  const users = Int32Array.from(new Set(world.test.user));
  return evaluateFunnel({ truth: world.truth!, users, seen, retrieved: async (batch) => Array.from(batch, (u) => topKExcluding(pop, 100, seen[u])) });
}

export function fitOptionsOf(o: TrainCliOptions): FitOptions {
  const { definitions, configs } = stagesFromFlags(o.stages, o);
  return {
    epochs: o.epochs, batchSize: o.batchSize, learningRate: o.lr, patience: o.patience, seed: o.seed, stages: definitions,
    monitor: o.monitor, restoreBest: o.restoreBest, refit: o.refit,
    model: {
      stages: configs,
      ...(o.valueWeights !== undefined ? { valueWeights: o.valueWeights } : {}),
      ...(o.dim !== undefined ? { dim: o.dim } : {}),
      ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
      ...(o.mixedNegatives !== undefined ? { mixedNegatives: o.mixedNegatives } : {}),
      ...(o.logq === false ? { logQ: false } : {}),
      ...(o.userIdDropout !== undefined ? { userIdDropout: o.userIdDropout } : {}),
      ...(o.userIdDropoutRows !== undefined ? { userIdDropoutRows: o.userIdDropoutRows } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
    },
  };
}

/**
 * Saves the model with its index, the users' seen items and histories, and item popularity (for
 * serving); `force`: over a directory holding other files; `training`: an interrupted run's state,
 * to resume from.
 */
export async function saveWithIndex(
  dir: string, model: TwoTowerModel, dataset: InteractionDataset, metadata: Record<string, unknown>, force = false, training?: TrainerState,
): Promise<void> {
  const index = await buildItemIndex(model);
  try {
    const H = model.historyLength;
    const histories = H > 0 ? latestHistories(trainingLog(dataset), dataset.schema.numUsers, dataset.valueWeights, H) : undefined;
    const popularity = popularityScores(trainingLog(dataset), dataset.schema.numItems, dataset.valueWeights, dataset.schema.tasks.length);
    await saveCheckpoint(dir, model, { index, seen: trainingItems(dataset), histories, popularity, metadata, force, training });
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

/** What `tt train` prints beside its metrics about test rows no model can hit. */
export function unreachableLines(report: DatasetReport): string[] {
  const t = report.test;
  if (t.rows === 0 || t.unreachableRows === 0) return [];
  const share = `${t.unreachableRows} of ${t.rows} test rows (${(100 * t.unreachableShare).toFixed(1)}%)`;
  if (t.unreachableRows === t.rows) {
    return [`unreachable: ${share}. WARNING: every test row is unreachable (the user already has the item in training, and full ranking removes training items): recall is 0 by construction and says nothing about the model`];
  }
  return [`unreachable: ${share}: the user already has the item in training, which full ranking removes, so no model can hit them`];
}

/** What each stage says about the log it trained on (`Stage.notes`), as `{ stage, note }`. */
export function stageNotesOf(model: TwoTowerModel): { stage: string; note: string }[] {
  return model.stages.flatMap((st) => (st.notes?.() ?? []).map((note) => ({ stage: st.name, note })));
}

/** The run a `--resume` checkpoint holds: its model (best weights so far), training state and options. */
async function resumable(dir: string): Promise<{ loaded: LoadedCheckpoint & { training: TrainerState }; run: StoredRun }> {
  const loaded = await loadCheckpoint(dir, { stages: stageDefinitions, loadIndex: false });
  const run = loaded.metadata['run'] as StoredRun | undefined;
  if (!loaded.training || typeof run?.options?.data !== 'string') {
    loaded.model.dispose();
    throw new ConfigError('--resume', `${dir} holds ${loaded.training ? 'no record of its run\'s options' : 'a finished run, not an interrupted one'}: nothing to resume`);
  }
  return { loaded: loaded as LoadedCheckpoint & { training: TrainerState }, run };
}

/**
 * `tt train`: trains, evaluates beside popularity, saves the checkpoint; returns the JSON summary.
 * The first SIGINT/SIGTERM stops training after the current step and saves the best weights so
 * far with the run's state (`interrupted: true` in the summary; `--resume DIR` continues it); a
 * second one exits at once without saving.
 */
export async function train(o: TrainCliOptions): Promise<Record<string, unknown>> {
  const controller = new AbortController();
  const onFirst = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n[tt] ${signal}: stopping after the current step, then saving the best weights so far (${signal} again exits at once, saving nothing)\n`);
    controller.abort();
  };
  return withInterrupts(onFirst, () => trainUntilDone(o, controller.signal));
}

async function trainUntilDone(cli: TrainCliOptions, signal: AbortSignal): Promise<Record<string, unknown>> {
  const backend = await initBackend({ backend: cli.backend });
  const resume = cli.resume ? await checkingInputAsync(() => resumable(cli.resume!)) : undefined;
  // a resumed run trains with the options it was started with; the output flags are this call's
  const o: TrainCliOptions = resume
    ? { ...resume.run.options, ...Object.fromEntries(OUTPUT_FLAGS.filter((k) => cli[k] !== undefined).map((k) => [k, cli[k]])) } as TrainCliOptions
    : cli;
  let model: TwoTowerModel | undefined = resume?.loaded.model;
  try {
    // every flag and the output paths, before any data is read
    checkValueWeights(o.valueWeights);
    const fit = checkingInput(() => {
      const options = fitOptionsOf(o);
      checkFitOptions(options);
      return options;
    });
    const checkpoint = checkingInput(() => checkCheckpointTarget(o.checkpoint, { force: o.force }));
    if (o.diagnostics) checkingInput(() => checkDiagnosticsDir(o.diagnostics!));
    const dataset = await loadData(o.data, { seed: o.seed, userFeatures: o.userFeatures, itemFeatures: o.itemFeatures, valueWeights: o.valueWeights, truth: o.truth });
    checkValueWeights(o.valueWeights, dataset);
    process.stderr.write(`[tt] ${dataset.name}: ${dataset.schema.numUsers} users, ${dataset.schema.numItems} items, ${dataset.train.size} training rows, ${new Set(dataset.test.user).size} test users\n`);
    if (dataset.split) process.stderr.write(`[tt] split: ${dataset.split}\n`);
    // the checks of `tt data inspect`, before any training time is spent
    const report = inspectDataset(dataset);
    for (const w of report.warnings) process.stderr.write(`[tt] warning: ${w}\n`);
    if (resume) {
      const p = resume.loaded.training.progress;
      const what = p.refit ? `the refit${p.refit.towers ? '\'s stages-only replay' : ''}, ` : '';
      process.stderr.write(`[tt] resuming ${cli.resume}: ${what}epoch ${p.epoch + 1}/${p.epochs} after ${p.batchesDone} of its batches, ${p.steps} steps in all\n`);
    }
    if (signal.aborted) {
      process.stderr.write('[tt] interrupted before training: nothing trained, nothing saved\n');
      return { interrupted: true, checkpoint: null };
    }
    const trained = await fitTwoTower(dataset, { ...fit, signal, resume: resume && { model: resume.loaded.model, state: resume.loaded.training } });
    model = trained.model;
    const { result } = trained;
    // the run's options, its paths absolute, so `--resume` finds its files from anywhere
    const abs = (path: string | undefined) => (path === undefined ? undefined : resolve(path));
    const run: StoredRun = {
      options: {
        ...Object.fromEntries(Object.entries(o).filter(([k]) => !(OUTPUT_FLAGS as readonly string[]).includes(k))),
        data: absoluteDataSpec(o.data), userFeatures: abs(o.userFeatures), itemFeatures: abs(o.itemFeatures), truth: abs(o.truth),
      } as StoredRun['options'],
    };
    const notes = { dataset: dataset.name, epochs: result.epochs, backend: backend.name, run };
    if (signal.aborted) {
      // stopped: keep the work (the best weights so far, and the state to continue from), skip evaluation
      await saveWithIndex(checkpoint, model, dataset, notes, o.force, result.state);
      const p = result.state?.progress;
      const where = !p
        ? `interrupted after training finished: saved the trained model to ${checkpoint}; evaluation skipped`
        : p.refit
          ? `interrupted in the refit (epoch ${p.epoch + 1} of ${p.epochs}${p.refit.towers ? ' of its stages-only replay' : ''}): saved the early-stopped model (epoch ${result.bestEpoch + 1}) to ${checkpoint}, which serves as it is; \`tt train --resume ${checkpoint}\` finishes the refit`
          : `interrupted in epoch ${p.epoch + 1} of ${p.epochs} (${p.history.length} finished): saved the best weights so far${result.bestEpoch >= 0 && p.hasBestWeights ? ` (epoch ${result.bestEpoch + 1})` : ''} to ${checkpoint}; \`tt train --resume ${checkpoint}\` continues the run`;
      process.stderr.write(`[tt] ${where}\n`);
      const out = { interrupted: true, checkpoint, epochs: result.epochs, ...(p ? { stoppedInEpoch: p.epoch + 1, steps: p.steps, ...(p.refit ? { inRefit: true } : {}) } : {}) };
      if (o.json) printJson(out);
      return out;
    }
    // no test row: nothing to measure, and no zeros printed as if they were
    const evaluable = dataset.test.size > 0;
    const metrics = evaluable ? await evaluateModel(model, dataset, 'test') : undefined;
    const popularity = evaluable ? await popularityMetrics(dataset) : undefined;
    await saveWithIndex(checkpoint, model, dataset, { ...notes, metrics }, o.force);
    const keys = ['recall@10', 'recall@20', 'recall@50', 'ndcg@10'] as const;
    const pick = (m: RetrievalMetrics) => Object.fromEntries(keys.map((k) => [k, m[k]]));
    if (metrics && popularity) {
      process.stdout.write(`${table(['model', ...keys], [['two-tower', ...keys.map((k) => metrics[k])], ['popularity', ...keys.map((k) => popularity[k])]])}\n`);
    } else process.stdout.write('metrics: none (the test split has no row to evaluate)\n');
    const funnel = await reportFunnel(model, dataset, o.truth);
    for (const line of unreachableLines(report)) process.stdout.write(`${line}\n`);
    if (trained.temperatures) {
      process.stdout.write(`temperature: ${model.config.temperature} (chosen on validation: ${trained.temperatures.map((t) => `${t.temperature} -> ${t.validation.toFixed(4)}`).join(', ')})\n`);
    }
    const stageNotes = stageNotesOf(model);
    const refitEpochs = result.history.filter((h) => h.allRows).length;
    for (const n of stageNotes) process.stdout.write(`${n.stage}: ${n.note}\n`);
    const heldOut = dataset.validation?.size ?? 0;
    if (heldOut > 0 && refitEpochs === 0 && o.refit === false) {
      // the validated model never trained on them; on a log where they are many and recent, that costs (docs/benchmarks.md)
      process.stdout.write(`validation rows: ${heldOut} (${((100 * heldOut) / dataset.train.size).toFixed(1)}% of the training rows) chose the epoch and were not trained on (--no-refit; the default refit trains a fresh model on them too for the kept epochs: Amazon Games recall@20 +11%)\n`);
    }
    process.stdout.write(`checkpoint: ${checkpoint}\n`);
    const diagnostics = o.diagnostics ? writeDiagnostics(o.diagnostics, model, dataset) : undefined;
    if (diagnostics) process.stdout.write(`diagnostics: ${diagnostics.length ? diagnostics.join(', ') : 'none (no stage with diagnostics)'}\n`);
    const out = {
      backend: backend.name, dataset: dataset.name, examplesPerSec: result.examplesPerSec, peakRssMb: peakRssMb(), epochs: result.epochs, bestEpoch: result.bestEpoch + 1,
      users: metrics?.users ?? 0, metrics: metrics ? pick(metrics) : null, popularity: popularity ? pick(popularity) : null,
      ...(funnel ? { funnel } : {}),
      ...(trained.temperatures ? { temperature: model.config.temperature, temperatures: trained.temperatures } : {}),
      ...(refitEpochs > 0 ? { refitEpochs } : {}),
      unreachableShare: report.test.unreachableShare, warnings: report.warnings, stageNotes, checkpoint, ...(diagnostics ? { diagnostics } : {}),
      ...(signal.aborted ? { interrupted: true } : {}),
    };
    if (o.json) printJson(out);
    return out;
  } finally {
    model?.dispose();
  }
}
