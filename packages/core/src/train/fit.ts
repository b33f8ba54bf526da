/**
 * One call from a dataset to a trained model: build the model from its config, train with
 * validation-based early stopping when the dataset has a validation split, and report.
 * The defaults are the ones `tt train` uses on every dataset (no per-dataset tuning).
 */
import type { DatasetSchema, InteractionDataset, InteractionLog } from '../data/types.js';
import { sliceLog } from '../data/split.js';
import { inMemorySource, requestStarts, shuffledOrder, trainingItemsPerUser } from '../data/batches.js';
import { resolveConfig, type TwoTowerOptions } from '../model/config.js';
import type { StageDefinition } from '../model/stages.js';
import { TwoTowerModel } from '../model/two-tower.js';
import { ConfigError, MismatchError } from '../errors.js';
import { evaluateModel, evaluateRankerAgreement, trainingLog } from '../eval/model-eval.js';
import type { ProgressMode } from './progress.js';
import { learningRateAt, type ScheduleConfig } from './schedule.js';
import { Trainer, type EpochRecord, type TrainerOptions, type TrainResult } from './trainer.js';
import type { FinishedRun, RefitProgress, TrainerState } from './trainer-state.js';
import type { SparseOptimizerKind } from './optimizers.js';

/** Options of {@link fitTwoTower}; unset fields take {@link FIT_DEFAULTS} or the trainer's defaults. */
export interface FitOptions {
  /** the model config fields to set (the rest: {@link MODEL_DEFAULTS}, but per-user id dropout {@link FIT_DEFAULTS}.userIdDropoutRows) */
  readonly model?: TwoTowerOptions;
  /** definitions of the stages `model.stages` names (from their packages) */
  readonly stages?: readonly StageDefinition[];
  /** most epochs to train (default 30) */
  readonly epochs?: number;
  /** rows per batch (default 512) */
  readonly batchSize?: number;
  /** dense Adam learning rate (default 3e-3) */
  readonly learningRate?: number;
  /** learning rate of the id tables (default: learningRate) */
  readonly sparseLearningRate?: number;
  /** row-sparse optimizer of the id tables (default 'adam': lazy Adam) */
  readonly sparseOptimizer?: SparseOptimizerKind;
  /** learning-rate schedule (default constant) */
  readonly schedule?: ScheduleConfig;
  /** epochs without a better validation `monitor` before stopping (needs a validation split) */
  readonly patience?: number;
  /** the validation metric early stopping watches; default 'recall@20' */
  readonly monitor?: string;
  /** keep the weights of the best validation epoch (default) rather than the last */
  readonly restoreBest?: boolean;
  /**
   * users the validation metrics read after each epoch (a seeded sample when the split has more;
   * default 5000): scoring the whole catalogue for every user each epoch costs more than an epoch
   * on large logs, and early stopping needs a ranking of epochs, not the last digit
   */
  readonly validationUsers?: number;
  /**
   * after early stopping, train a fresh model of the same config on the training and validation rows
   * (and the held-out requests) for the epochs early stopping chose, and return it (default
   * {@link FIT_DEFAULTS}.refit, true). The validation rows are each user's newest positives, which the
   * validated model never trained on; the test rows stay untouched. A stage that trains a phase of its
   * own on the final towers (the light ranker) replays it too, for the epochs that phase kept.
   */
  readonly refit?: boolean;
  /** shuffle seed (the model's own seed is `model.seed`) */
  readonly seed?: number;
  /** how training progress is shown (default 'auto') */
  readonly progress?: ProgressMode;
  /** where progress lines go (default stderr) */
  readonly log?: (line: string) => void;
  /**
   * when aborted, training stops after the current step: `result.interrupted`, `result.state`
   * to resume from, and the model holds the best weights so far (save both with `saveCheckpoint`)
   */
  readonly signal?: AbortSignal;
  /**
   * continue an interrupted run instead of starting one: the model loaded from its checkpoint (it
   * holds the best weights so far) and the checkpoint's training state; pass the run's other options
   * unchanged. The result is the model an uninterrupted run would have reached (for a run stopped during
   * the temperature search of a log without timestamps: the run of the temperature it was in). A run
   * stopped during its refit saved the early-stopped model with the refit's state: resuming finishes the refit.
   */
  readonly resume?: {
    /** the interrupted run's model, e.g. `loadCheckpoint(dir).model` */
    readonly model: TwoTowerModel;
    /** its training state, `loadCheckpoint(dir).training` */
    readonly state: TrainerState;
  };
}

/** The defaults of {@link fitTwoTower}: the ones `tt train` uses on every dataset. */
export const FIT_DEFAULTS = {
  /** most epochs to train */
  epochs: 30,
  /** rows per batch */
  batchSize: 512,
  /** dense Adam learning rate */
  learningRate: 3e-3,
  /** epochs without improvement before stopping early */
  patience: 3,
  /** the validation metric early stopping watches */
  monitor: 'recall@20',
  /**
   * after early stopping, a fresh model trained on the training and validation rows for the epochs
   * early stopping kept is the one returned: validation only chooses the epoch count, and the rows it
   * held out are each user's newest (a seeded random one in a log without timestamps), the nearest in
   * time to what is served next. Costs a second
   * training run of the kept epochs; measured against the validated model (docs/benchmarks.md): Amazon
   * Games recall@20 0.148 -> 0.164, MovieLens-100K and a sparse log level, and on the world suite no
   * stage's alignment or value lower beyond one sd, the light ranker's and distill's higher on most worlds
   */
  refit: true,
  /** users each validation pass reads */
  validationUsers: 5000,
  /**
   * the model's `userIdDropoutRows` unless the options set it or a uniform `userIdDropout` (even 0): a user's
   * id vector is dropped with probability 20 / (20 + its training items: positives, plus the ranker's
   * scored rows when a stage trains on them, as reward-align and distill do), so users with few rows
   * learn to be served from history and features (with temperature 0.1: Amazon Games recall@20
   * 0.117 -> 0.144, a sparse log 0.133 -> 0.141, MovieLens-100K level; docs/benchmarks.md)
   */
  userIdDropoutRows: 20,
  /**
   * the model's `historyPooling` when the training log has no timestamps: its histories are random
   * samples of the user's positives (no item is newer than another), so the pooled history estimates
   * the mean of all of them, and more items estimate it better (a sparse log shaped like the
   * check-in benchmark: recall@20 0.141 -> 0.145 over 20; docs/benchmarks.md); a log with a clock
   * keeps the model's 20 newest
   */
  setHistoryPooling: 50,
  /**
   * the model's `dim` for a catalogue of more than `largeCatalogueItems` items: tens of thousands of item
   * vectors need more room than 64 dimensions to keep their neighbourhoods apart (recall@20, seed 0: Amazon
   * Games, 23,715 items, 0.143 -> 0.147; a sparse log of 41,239 items 0.145 -> 0.152; MovieLens-100K's 1,682
   * items gain nothing, 0.348 either way; docs/benchmarks.md); smaller catalogues keep the model's 64
   */
  largeCatalogueDim: 128,
  /** see `largeCatalogueDim` */
  largeCatalogueItems: 10_000,
  /**
   * the softmax temperatures tried when the training log has no timestamps and the model options do not
   * set one: one model per value, the one with the best validation monitor kept. A row of such a log
   * stands for any of the user's other items, not the next one, and how peaked the softmax should be
   * depends on how broad that target is (Amazon Games and MovieLens-100K without their order, split 80/20:
   * 0.2 better, recall@20 +0.012 and +0.019; the synthetic sparse log: 0.1, 0.152 against 0.128;
   * docs/benchmarks.md), which the validation split measures; a log with a clock keeps the model's 0.1
   */
  setTemperatures: [0.1, 0.2] as readonly number[],
} as const;

/** One training run of {@link fitTwoTower}, with the validation metric its early stopping watched. */
interface FitRun {
  readonly model: TwoTowerModel;
  readonly result: TrainResult;
  readonly monitor: string;
  /** epochs of the towers' kept weights (before any stages-only phase) */
  readonly towerEpochs: number;
  /** epochs of the stages-only phase it kept (0: none beat the towers' order; absent: no such phase) */
  readonly stageEpochs?: number;
  /** interrupted in a refit's stages-only replay: the result of the tower phase before it */
  readonly replayOf?: TrainResult;
}

/** A temperature {@link fitTwoTower} tried, and its validation monitor at the epoch it kept. */
export interface TemperatureTrial {
  /** the softmax temperature of the run */
  readonly temperature: number;
  /** the monitor's value of the weights that run kept (-Infinity when no epoch was validated) */
  readonly validation: number;
  /** 0-based epoch of those weights */
  readonly bestEpoch: number;
}

/** The model options fitTwoTower sets by default, the ones that need the log it has: per-user id dropout, a set log's pooling, a large catalogue's width. */
function fitModelDefaults(dataset: InteractionDataset, model: TwoTowerOptions = {}): TwoTowerOptions {
  // either id-dropout option given (even 0) is the caller's choice
  const idDropoutSet = model.userIdDropoutRows !== undefined || model.userIdDropout !== undefined;
  const setLog = dataset.train.timestamp === undefined && model.historyPooling === undefined;
  const largeCatalogue = dataset.schema.numItems > FIT_DEFAULTS.largeCatalogueItems && model.dim === undefined;
  return {
    ...(idDropoutSet ? {} : { userIdDropoutRows: FIT_DEFAULTS.userIdDropoutRows }),
    ...(setLog ? { historyPooling: FIT_DEFAULTS.setHistoryPooling } : {}),
    ...(largeCatalogue ? { dim: FIT_DEFAULTS.largeCatalogueDim } : {}),
  };
}

/**
 * Checks every option of {@link fitTwoTower} that does not depend on the data, so a bad value
 * fails before a large dataset is read: the trainer's numbers, and the model's and its stages'
 * options (the stages are built once on a two-user placeholder catalogue and freed). Checks that
 * need the data (e.g. a stage that needs positions) still happen in `fitTwoTower`.
 * @throws ConfigError naming the option
 */
export function checkFitOptions(options: FitOptions = {}): void {
  const positiveInt = (field: string, v: number | undefined) => {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new ConfigError(field, `must be a positive integer, got ${v}`);
  };
  const positive = (field: string, v: number | undefined) => {
    if (v !== undefined && !(v > 0 && Number.isFinite(v))) throw new ConfigError(field, `must be a finite number > 0, got ${v}`);
  };
  positiveInt('epochs', options.epochs);
  checkRefit(options.refit);
  positiveInt('batchSize', options.batchSize);
  positive('learningRate', options.learningRate);
  positive('sparseLearningRate', options.sparseLearningRate);
  if (options.patience !== undefined && (!Number.isInteger(options.patience) || options.patience < 0)) {
    throw new ConfigError('patience', `must be an integer >= 0, got ${options.patience}`);
  }
  if (options.sparseOptimizer !== undefined && options.sparseOptimizer !== 'adam' && options.sparseOptimizer !== 'adagrad') {
    throw new ConfigError('sparseOptimizer', `must be "adam" or "adagrad", got ${JSON.stringify(options.sparseOptimizer)}`);
  }
  if (options.schedule) {
    const { warmupSteps, finalFraction } = options.schedule;
    if (warmupSteps !== undefined && (!Number.isInteger(warmupSteps) || warmupSteps < 0)) throw new ConfigError('schedule.warmupSteps', `must be an integer >= 0, got ${warmupSteps}`);
    if (finalFraction !== undefined && !(finalFraction >= 0 && finalFraction <= 1)) throw new ConfigError('schedule.finalFraction', `must be in [0, 1], got ${finalFraction}`);
    learningRateAt(1, options.schedule, 0, 1);
  }
  // the model and its stages on a placeholder catalogue: positions and ranker scores present, so
  // only the options themselves are judged; the id tables are 2 rows whatever userRows/itemRows say
  const T = options.model?.valueWeights?.length || 1;
  const schema: DatasetSchema = {
    numUsers: 2, numItems: 2, tasks: Array.from({ length: T }, (_, t) => `task${t}`), userFeatureDim: 0, itemFeatureDim: 0,
    numPositions: 1, hasRankerScores: true, labelMax: new Array<number>(T).fill(1),
  };
  const config = { ...resolveConfig(schema, options.model), userRows: 2, itemRows: 2 };
  TwoTowerModel.create(config, { userIds: [0, 1], itemIds: [0, 1], userFeatures: new Float32Array(0), itemFeatures: new Float32Array(0) }, options.stages ?? []).dispose();
}

/** @throws MismatchError when `model` was not built over `dataset`'s catalogue */
function checkSameCatalogue(model: TwoTowerModel, dataset: InteractionDataset): void {
  const same = (a: readonly unknown[], b: readonly unknown[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  const { schema } = model.config;
  if (!same(model.data.userIds, dataset.userIds) || !same(model.data.itemIds, dataset.itemIds) || !same(schema.tasks, dataset.schema.tasks)) {
    throw new MismatchError('resume.model', `the users, items and tasks of ${dataset.name}`, `a model of ${schema.numUsers} users, ${schema.numItems} items, tasks [${schema.tasks.join(', ')}]`);
  }
}

/**
 * Trains a two-tower model on `dataset.train` (or continues `options.resume`). The caller owns
 * (and disposes) the model.
 * @throws ConfigError for bad options; MismatchError when `resume` does not fit the dataset; NumericError when training diverges
 */
export async function fitTwoTower(dataset: InteractionDataset, options: FitOptions = {}): Promise<{
  /** the trained model */
  model: TwoTowerModel;
  /** what training did: epochs, steps, per-epoch history (of the kept run, when several were tried) */
  result: TrainResult;
  /** when the temperature was chosen on validation ({@link FIT_DEFAULTS}.setTemperatures): every one tried */
  temperatures?: TemperatureTrial[];
}> {
  checkRefit(options.refit);
  const pending = options.resume?.state.progress.refit;
  let run: FitRun & { temperatures?: TemperatureTrial[] };
  if (pending) run = await refitOnAllRows(dataset, options, validatedRunOf(options.resume!.model, pending), options.resume!.state);
  else {
    const fitted = await fitValidated(dataset, options);
    run = (options.refit ?? FIT_DEFAULTS.refit) ? await refitOnAllRows(dataset, options, fitted) : fitted;
  }
  const { model, result, temperatures } = run;
  return { model, result, ...(temperatures ? { temperatures } : {}) };
}

/** The validated run an interrupted refit refits, as its state recorded it; `model` holds that run's weights. */
function validatedRunOf(model: TwoTowerModel, pending: RefitProgress): FitRun & { temperatures?: TemperatureTrial[] } {
  return {
    model, monitor: pending.monitor, towerEpochs: pending.towerEpochs, stageEpochs: pending.stageEpochs,
    result: { ...pending.validated, interrupted: false },
    ...(pending.temperatures ? { temperatures: pending.temperatures.map((t) => ({ ...t, validation: t.validation ?? -Infinity })) } : {}),
  };
}

/** `result` as its JSON record for a refit's state. */
function finishedRun(result: TrainResult): FinishedRun {
  const { epochs, steps, examples, examplesPerSec, history, bestEpoch, stoppedEarly } = result;
  return { epochs, steps, examples, examplesPerSec, history, bestEpoch, stoppedEarly };
}

/** {@link fitTwoTower} before any refit: the temperature search of a log without timestamps, or one run. */
async function fitValidated(dataset: InteractionDataset, options: FitOptions): Promise<FitRun & { temperatures?: TemperatureTrial[] }> {
  const candidates = temperatureCandidates(dataset, options);
  if (candidates.length < 2) return fitOnce(dataset, options);
  const log = logOf(options);
  const say = (line: string) => options.progress !== 'none' && log(line);
  say(`[tt] model: softmax temperature chosen on validation from ${candidates.join(', ')} (no timestamps: a row stands for any of the user's items, not the next one)`);
  const trials: TemperatureTrial[] = [];
  let kept: (FitRun & { score: number }) | undefined;
  for (const temperature of candidates) {
    say(`[tt] temperature ${temperature}:`);
    const run = await fitOnce(dataset, { ...options, model: { ...options.model, temperature } }).catch((e: unknown) => {
      kept?.model.dispose();
      throw e;
    });
    const score = run.result.history[run.result.bestEpoch]?.metrics?.[run.monitor] ?? -Infinity;
    trials.push({ temperature, validation: score, bestEpoch: run.result.bestEpoch });
    if (run.result.interrupted) {
      // stopped mid-search: this run is what there is to save and resume (as this temperature)
      kept?.model.dispose();
      say(`[tt] temperature search interrupted at ${temperature}: resuming continues that temperature only`);
      return { ...run, temperatures: trials };
    }
    if (!kept || score > kept.score) {
      kept?.model.dispose();
      kept = { ...run, score };
    } else run.model.dispose();
  }
  const best = kept!;
  say(`[tt] kept temperature ${best.model.config.temperature}: validation ${best.monitor} ${trials.map((t) => `${t.validation.toFixed(4)} at ${t.temperature}`).join(', ')}`);
  return { ...best, temperatures: trials };
}

/**
 * `options.refit`: a fresh model of the validated one's config (its temperature included) trained
 * on train + validation rows + held-out requests for the epochs its towers kept, without
 * validation; the result covers both runs (`history` records of the refit are `allRows`). Without
 * validation rows, or after an interrupt, the validated model stays. Interrupted during the refit,
 * the validated model is returned with the refit's state (`progress.refit`), so a checkpoint of it
 * serves the early-stopped model and resuming it (`resume`: that model and state) finishes the refit.
 */
async function refitOnAllRows(
  dataset: InteractionDataset, options: FitOptions, first: FitRun & { temperatures?: TemperatureTrial[] }, resume?: TrainerState,
): Promise<FitRun & { temperatures?: TemperatureTrial[] }> {
  if (!resume && (!validates(dataset) || first.result.interrupted)) return first;
  const log = logOf(options);
  const say = (line: string) => options.progress !== 'none' && log(line);
  const full: InteractionDataset = { ...dataset, train: trainingLog(dataset), validation: undefined, validationRequests: undefined };
  const epochs = first.towerEpochs;
  const stagePhase = first.stageEpochs ? `, then its stages' own parameters for the ${epochCount(first.stageEpochs)} their phase kept` : '';
  say(`[tt] refit${resume ? ' (resumed)' : ''}: a fresh model on the training and validation rows (${full.train.size} rows) for the ${epochCount(epochs)} early stopping kept${stagePhase}`);
  // resumed, the refit trains in the loaded model, which holds the validated weights until then: kept for another interrupt
  const validatedWeights = resume ? first.model.params.snapshot() : undefined;
  const run = await fitOnce(full, {
    ...options, epochs, resume: resume && { model: first.model, state: resume }, model: { ...options.model, temperature: first.model.config.temperature },
  }, first.stageEpochs).catch((e: unknown) => {
    if (!resume) first.model.dispose(); // a resumed model is the caller's
    throw e;
  });
  if (run.result.interrupted) {
    if (validatedWeights) first.model.params.restore(validatedWeights, 'the validated weights');
    else run.model.dispose();
    say('[tt] refit interrupted: returning the early-stopped model with the refit\'s state (resuming it finishes the refit)');
    const state = run.result.state!;
    const refit: RefitProgress = {
      towerEpochs: epochs, stageEpochs: first.stageEpochs ?? 0, monitor: first.monitor, validated: finishedRun(first.result),
      ...(first.temperatures ? { temperatures: first.temperatures.map((t) => ({ ...t, validation: Number.isFinite(t.validation) ? t.validation : null })) } : {}),
      ...(run.replayOf ? { towers: finishedRun(run.replayOf) } : {}),
    };
    return { ...first, result: { ...first.result, interrupted: true, state: { ...state, progress: { ...state.progress, refit } } } };
  }
  if (!resume) first.model.dispose(); // resumed: the refit trained in it
  const result = joinPhases(first.result, run.result, { allRows: true }, first.result.epochs + run.result.epochs - 1);
  return { ...first, model: run.model, result };
}

/**
 * Two finished phases of one fit as one result: `second`'s epochs numbered after `first`'s and
 * marked with `mark`, the model holding the weights of epoch `bestEpoch` of the joined history.
 */
function joinPhases(first: TrainResult, second: TrainResult, mark: Pick<EpochRecord, 'stagesOnly' | 'allRows'>, bestEpoch: number): TrainResult {
  const seconds = (r: TrainResult) => r.examples / Math.max(r.examplesPerSec, 1e-9);
  return {
    epochs: first.epochs + second.epochs,
    steps: first.steps + second.steps,
    examples: first.examples + second.examples,
    examplesPerSec: (first.examples + second.examples) / Math.max(seconds(first) + seconds(second), 1e-9),
    history: [...first.history, ...second.history.map((h) => ({ ...h, epoch: first.epochs + h.epoch, ...mark }))],
    bestEpoch,
    stoppedEarly: first.stoppedEarly,
    interrupted: false,
  };
}

/** `n` epochs, as a progress line says it. */
function epochCount(n: number): string {
  return `${n} epoch${n === 1 ? '' : 's'}`;
}

/** @throws ConfigError unless `refit` is a boolean or unset */
function checkRefit(refit: unknown): void {
  if (refit !== undefined && typeof refit !== 'boolean') throw new ConfigError('refit', `must be true or false, got ${JSON.stringify(refit)}`);
}

/** The temperatures to try: {@link FIT_DEFAULTS}.setTemperatures for a fresh fit of a log without timestamps that validates and sets none, else one or none. */
function temperatureCandidates(dataset: InteractionDataset, options: FitOptions): readonly number[] {
  if (options.resume || options.model?.temperature !== undefined || dataset.train.timestamp !== undefined || !validates(dataset)) return [];
  return FIT_DEFAULTS.setTemperatures;
}

/** Where `options` sends progress lines (default stderr). */
function logOf(options: FitOptions): (line: string) => void {
  return options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
}

/** Whether `dataset` has validation rows to stop on and to choose by (an empty split, e.g. every user with one positive, has none). */
function validates(dataset: InteractionDataset): boolean {
  return dataset.validation !== undefined && dataset.validation.size > 0;
}

/**
 * One training run: {@link fitTwoTower} without the temperature search. `replayStageEpochs` (a
 * refit's, without validation): the stages-only phase's length, as the validated run kept it. A
 * resumed refit whose state is its replay's (`progress.refit.towers`) goes straight to the replay.
 */
async function fitOnce(dataset: InteractionDataset, options: FitOptions, replayStageEpochs?: number): Promise<FitRun> {
  const seed = options.seed ?? options.model?.seed ?? 0;
  const log = logOf(options);
  let model: TwoTowerModel;
  if (options.resume) {
    model = options.resume.model;
    checkSameCatalogue(model, dataset);
  } else {
    const byData = fitModelDefaults(dataset, options.model);
    const config = resolveConfig(dataset.schema, { valueWeights: Array.from(dataset.valueWeights), seed, ...byData, ...options.model });
    model = TwoTowerModel.create(config, dataset, options.stages ?? []);
    // the defaults that depend on the log, said once so a run's width and pooling are never a surprise
    const said = [
      byData.dim !== undefined ? `dim ${byData.dim} (${dataset.schema.numItems} items, more than ${FIT_DEFAULTS.largeCatalogueItems})` : '',
      byData.historyPooling !== undefined ? `${byData.historyPooling} of each user's positives pooled (no timestamps: histories are sets)` : '',
    ].filter(Boolean);
    if (said.length && options.progress !== 'none') log(`[tt] model: ${said.join('; ')}`);
  }
  if (model.config.userIdDropoutRows > 0) {
    const countScored = model.stages.some((s) => s.trainsOnScoredRows);
    model.setUserTrainingRows(trainingItemsPerUser(dataset.train, dataset.schema.numUsers, dataset.valueWeights, countScored));
  }
  const validation = validates(dataset);
  const validationView = sampleValidation(dataset, options.validationUsers ?? FIT_DEFAULTS.validationUsers, seed);
  const available = validationMetricNames(dataset);
  const wanted = model.stages.find((s) => s.monitor && available.includes(s.monitor))?.monitor;
  const monitor = options.monitor ?? wanted ?? FIT_DEFAULTS.monitor;
  if (validation && !available.includes(monitor)) {
    if (!options.resume) model.dispose(); // a resumed model is the caller's
    throw new ConfigError('monitor', `"${monitor}" is not a validation metric of ${dataset.name} (${available.join(', ')})`);
  }
  const trainer = new Trainer(model, {
    ...loopOptions(options),
    validate: validation ? async () => validationMetrics(model, validationView) : undefined,
    earlyStopping: validation
      ? { monitor, patience: options.patience ?? FIT_DEFAULTS.patience, restoreBest: options.restoreBest ?? true }
      : undefined,
  });
  if (validation && options.progress !== 'none') {
    const missed = model.stages.find((s) => s.monitor && !available.includes(s.monitor))?.monitor;
    const why = !options.monitor && missed ? ` (the stages' ${missed} needs held-out requests, one user at one timestamp, of two or more rows with ranker scores)` : '';
    log(`[tt] early stopping on validation ${monitor}${options.monitor ? '' : ' (default)'}, patience ${options.patience ?? FIT_DEFAULTS.patience}${why}`);
  }
  try {
    const source = inMemorySource(dataset, {
      batchSize: options.batchSize ?? FIT_DEFAULTS.batchSize, seed, historyLength: model.historyLength,
      wholeRequests: model.stages.some((s) => s.needsWholeRequests),
    });
    const towers = options.resume?.state.progress.refit?.towers;
    const replayState = towers && options.resume!.state;
    const result = towers ? { ...towers, interrupted: false } : await trainer.fit(source, options.resume?.state);
    const towerEpochs = result.bestEpoch >= 0 ? result.bestEpoch + 1 : result.epochs;
    const refit = !result.interrupted && (options.restoreBest ?? true) ? model.stages.filter((s) => s.refitsOnFinalTowers).map((s) => s.name) : [];
    if (refit.length > 0 && validation) {
      const both = await refitStages(model, source, result, refit, options, log, { monitor, validationView });
      return { model, result: both, monitor, towerEpochs, stageEpochs: Math.max(0, both.bestEpoch + 1 - result.epochs) };
    }
    if (refit.length > 0 && replayStageEpochs) {
      const both = await refitStages(model, source, result, refit, { ...options, epochs: replayStageEpochs }, log, undefined, replayState);
      return { model, result: both, monitor, towerEpochs, stageEpochs: replayStageEpochs, ...(both.interrupted ? { replayOf: result } : {}) };
    }
    return { model, result, monitor, towerEpochs };
  } catch (e) {
    if (!options.resume) model.dispose(); // a resumed model is the caller's
    throw e;
  } finally {
    trainer.dispose();
  }
}

/** The training-loop options both phases of a fit take from `options`. */
function loopOptions(options: FitOptions): Omit<TrainerOptions, 'validate' | 'earlyStopping' | 'trainable'> {
  return {
    epochs: options.epochs ?? FIT_DEFAULTS.epochs,
    learningRate: options.learningRate ?? FIT_DEFAULTS.learningRate,
    sparseLearningRate: options.sparseLearningRate,
    sparseOptimizer: options.sparseOptimizer,
    schedule: options.schedule,
    progress: options.progress,
    log: options.log,
    signal: options.signal,
  };
}

/**
 * The second phase of a fit with stages that declare `refitsOnFinalTowers`: their own parameters
 * alone (`stages.<name>.*`) go on training on the restored towers, an epoch kept only when it beats
 * the restored model on `validation.monitor`; the result covers both phases (`history` records of
 * this one are `stagesOnly`). Without `validation` (a refit on all rows) it trains `options.epochs`
 * epochs, the length the validated run kept. Interrupted here, a validated phase keeps the best
 * weights so far and the run counts as done; a replay counts as interrupted (with its state, which
 * `resume` continues).
 */
async function refitStages(
  model: TwoTowerModel, source: ReturnType<typeof inMemorySource>, first: TrainResult, names: readonly string[],
  options: FitOptions, log: (line: string) => void, validation?: { monitor: string; validationView: InteractionDataset }, resume?: TrainerState,
): Promise<TrainResult> {
  const prefixes = names.map((n) => `stages.${n}.`);
  if (options.progress !== 'none') {
    const how = validation ? `early stopping on ${validation.monitor}` : epochCount(options.epochs ?? FIT_DEFAULTS.epochs);
    log(`[tt] training the ${names.join(', ')} stage's own parameters on the restored towers (${how})`);
  }
  const trainer = new Trainer(model, {
    ...loopOptions(options),
    trainable: (name) => prefixes.some((p) => name.startsWith(p)),
    ...(validation ? {
      validate: async () => validationMetrics(model, validation.validationView),
      earlyStopping: {
        monitor: validation.monitor, patience: options.patience ?? FIT_DEFAULTS.patience, restoreBest: true,
        baseline: first.history[first.bestEpoch]?.metrics?.[validation.monitor],
      },
    } : {}),
  });
  try {
    const second = await trainer.fit(source, resume);
    const both = joinPhases(first, second, { stagesOnly: true }, second.bestEpoch >= 0 ? first.epochs + second.bestEpoch : first.bestEpoch);
    // a replay stopped part-way is not the schedule it replays: the refit keeps its validated model
    return validation ? both : { ...both, interrupted: second.interrupted, ...(second.state ? { state: second.state } : {}) };
  } finally {
    trainer.dispose();
  }
}

/** The metrics each validation pass reports on `dataset` (what `monitor` may name). */
export function validationMetricNames(dataset: InteractionDataset): string[] {
  const names = ['recall@10', 'recall@20', 'recall@50', 'ndcg@10'];
  if (hasScoredRequests(dataset.validationRequests)) names.push('ranker-agreement');
  return names;
}

/**
 * `dataset` with its validation rows (and held-out requests) cut to a seeded sample of `users`
 * users when they hold more; training rows are untouched.
 */
function sampleValidation(dataset: InteractionDataset, users: number, seed: number): InteractionDataset {
  if (!Number.isInteger(users) || users < 1) throw new ConfigError('validationUsers', `must be a positive integer, got ${users}`);
  const all = [...new Set([...(dataset.validation?.user ?? []), ...(dataset.validationRequests?.user ?? [])])];
  if (all.length <= users) return dataset;
  const keep = new Set(Array.from(shuffledOrder(all.length, (Math.imul(seed | 0, 0x9e3779b1) ^ 0x3c6ef372) >>> 0).subarray(0, users), (k) => all[k]!));
  const T = dataset.schema.tasks.length;
  const cut = (log: InteractionLog | undefined) => {
    if (!log) return undefined;
    const rows: number[] = [];
    for (let r = 0; r < log.size; r++) if (keep.has(log.user[r]!)) rows.push(r);
    return sliceLog(log, rows, T);
  };
  return { ...dataset, validation: cut(dataset.validation), validationRequests: cut(dataset.validationRequests) };
}

async function validationMetrics(model: TwoTowerModel, dataset: InteractionDataset): Promise<Record<string, number>> {
  const metrics: Record<string, number> = { ...(await evaluateModel(model, dataset, 'validation')) };
  const agreement = await evaluateRankerAgreement(model, dataset);
  if (agreement !== undefined) metrics['ranker-agreement'] = agreement;
  return metrics;
}

/** Whether `log` holds a request (one user, one timestamp) of two or more rows the ranker scored. */
function hasScoredRequests(log: InteractionLog | undefined): boolean {
  if (!log?.rankerScores || log.size < 2) return false;
  const T = log.rankerScores.length / log.size;
  const scored = (r: number) => {
    for (let t = 0; t < T; t++) if (Number.isNaN(log.rankerScores![r * T + t]!)) return false;
    return true;
  };
  const starts = requestStarts(log);
  for (let q = 0; q + 1 < starts.length; q++) {
    let n = 0;
    for (let r = starts[q]!; r < starts[q + 1]!; r++) if (scored(r) && ++n >= 2) return true;
  }
  return false;
}
