/**
 * Everything a training run needs to continue exactly where it stopped: where it stands (epoch,
 * batches of that epoch already trained, steps, early-stopping state, the epochs' records), the
 * current parameters, both optimizers' moments and step counts, and the model's own state (the
 * logQ frequency estimate, the mixed-negative sampler's and the id dropout's random positions, the stages' counters).
 * The batch order needs no state: epoch e shuffles with `seed + e`, so a resumed epoch replays its
 * first batches and skips them. Not covered: tfjs dropout masks (unseeded; dropout is off by default).
 *
 * As stored: `progress` is JSON (in `checkpoint.json`), `arrays` are tensors (`training.safetensors`).
 */
import * as tf from '../runtime/tf.js';
import { MismatchError, ValueError } from '../errors.js';
import type { SafetensorsEntry } from '../io/safetensors.js';
import type { TwoTowerModel } from '../model/two-tower.js';
import type { NamedValues } from '../nn/params.js';
import type { DenseAdam, SparseRowOptimizer } from './optimizers.js';
import type { EpochRecord, TrainResult } from './trainer.js';

/** Where a run stands, as JSON. */
export interface TrainerProgress {
  /** the epoch to continue (0-based) */
  readonly epoch: number;
  /** batches of that epoch already trained (skipped when it is replayed) */
  readonly batchesDone: number;
  /** gradient steps so far */
  readonly steps: number;
  /** the epochs the run was configured for */
  readonly epochs: number;
  /** batches per epoch, once the first epoch has counted them (the schedule's clock) */
  readonly stepsPerEpoch: number | null;
  /** the estimate the schedule used before that */
  readonly estimatedSteps: number;
  /** the unfinished epoch's sums so far */
  readonly partial: {
    /** rows trained */
    readonly rows: number;
    /** sum of the step losses */
    readonly lossSum: number;
    /** steps taken */
    readonly batches: number;
    /** sums of each loss term */
    readonly termSums: Readonly<Record<string, number>>;
    /** training seconds */
    readonly seconds: number;
  };
  /** the finished epochs */
  readonly history: readonly EpochRecord[];
  /** training seconds of the finished epochs */
  readonly trainSeconds: number;
  /** rows trained in the finished epochs */
  readonly examples: number;
  /** early stopping: the best monitored value so far (null: none yet) */
  readonly best: number | null;
  /** early stopping: its epoch (0-based; -1 = none) */
  readonly bestEpoch: number;
  /** early stopping: epochs since it improved */
  readonly stale: number;
  /** the model saved with this state holds the best epoch's weights (kept to restore them at the end) */
  readonly hasBestWeights: boolean;
  /** the dense optimizer's step count */
  readonly denseSteps: number;
  /** each id table's optimizer step count, by table name */
  readonly sparseSteps: Readonly<Record<string, number>>;
  /** the mixed-negative sampler's random position */
  readonly negativeSampler: number;
  /** the per-user id dropout's random position (when the model drops ids; absent in states saved before it was kept) */
  readonly idDropout?: number;
  /** steps the logQ estimator has observed */
  readonly frequencySteps: number;
  /** each stage's own state, by stage name */
  readonly stages: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** set when the run is a refit (`fitTwoTower`'s `refit`) that was interrupted: what finishing it needs */
  readonly refit?: RefitProgress;
}

/** A finished run's result as JSON: a `TrainResult` without `interrupted` and `state`. */
export type FinishedRun = Omit<TrainResult, 'interrupted' | 'state'>;

/**
 * An interrupted refit: the validated run it refits (the model saved beside this state holds that
 * run's weights, so a checkpoint that is never resumed still serves the early-stopped model), and
 * what the refit replays. The state's own arrays are the refit's current weights.
 */
export interface RefitProgress {
  /** epochs the towers train (the validated run's kept epochs) */
  readonly towerEpochs: number;
  /** epochs of the stages-only replay after them (0: none) */
  readonly stageEpochs: number;
  /** the validation metric the validated run stopped on */
  readonly monitor: string;
  /** the validated run's result, which the refit's result extends */
  readonly validated: FinishedRun;
  /** the temperatures the validated run chose among, when it searched */
  readonly temperatures?: readonly {
    /** the softmax temperature of the run */
    readonly temperature: number;
    /** its validation monitor at the epoch it kept (null: none validated) */
    readonly validation: number | null;
    /** 0-based epoch of those weights */
    readonly bestEpoch: number;
  }[];
  /** set when the refit stopped in its stages-only replay: the result of its finished tower phase (the state is the replay's) */
  readonly towers?: FinishedRun;
}

/** A run's full training state: {@link TrainerProgress} plus the arrays (parameters, optimizer moments, logQ estimate). */
export interface TrainerState {
  /** where the run stands (JSON) */
  readonly progress: TrainerProgress;
  /** the arrays by name: `param/<name>`, `adam.m/<name>`, `adam.v/<name>`, `sparse.m/<table>`, `sparse.v/<table>`, `frequency.*` */
  readonly arrays: Readonly<Record<string, SafetensorsEntry>>;
}

const f32 = (shape: readonly number[], data: Float32Array): SafetensorsEntry => ({ dtype: 'F32', shape: [...shape], data });

/**
 * The state of a run: `position` from the trainer's loop, the rest read from the model and the
 * optimizers (copies, so training may go on).
 */
export function captureTrainerState(
  model: TwoTowerModel, dense: DenseAdam, sparse: readonly SparseRowOptimizer[],
  position: Omit<TrainerProgress, 'denseSteps' | 'sparseSteps' | 'negativeSampler' | 'frequencySteps' | 'stages' | 'idDropout'>,
): TrainerState {
  const arrays: Record<string, SafetensorsEntry> = {};
  for (const [name, { shape, values }] of model.params.snapshot()) arrays[`param/${name}`] = f32(shape, values);
  const byVariable = new Map<tf.Variable, string>([...model.params.dense].map(([name, v]) => [v, name]));
  const d = dense.getState();
  for (const [variable, { m, v }] of d.moments) {
    const name = byVariable.get(variable);
    if (name === undefined) continue; // not a parameter of this model
    arrays[`adam.m/${name}`] = f32(variable.shape, m);
    arrays[`adam.v/${name}`] = f32(variable.shape, v);
  }
  const sparseSteps: Record<string, number> = {};
  for (const opt of sparse) {
    const { name } = opt.embedding;
    const s = opt.getState();
    sparseSteps[name] = s.t;
    if (s.m) arrays[`sparse.m/${name}`] = f32([s.m.length], s.m.slice());
    arrays[`sparse.v/${name}`] = f32([s.v.length], s.v.slice());
  }
  const ms = model.getTrainingState();
  const lastStep = new Int32Array(ms.frequency.lastStep.length);
  for (let i = 0; i < lastStep.length; i++) {
    const v = ms.frequency.lastStep[i]!;
    // steps are counted in int32 here: 2^31 steps is far beyond any run
    if (v > 2 ** 31 - 1) throw new ValueError('frequency.lastStep', `step ${v} does not fit the stored int32`);
    lastStep[i] = v;
  }
  arrays['frequency.lastStep'] = { dtype: 'I32', shape: [lastStep.length], data: lastStep };
  arrays['frequency.gap'] = f32([ms.frequency.gap.length], Float32Array.from(ms.frequency.gap));
  return {
    progress: { ...position, denseSteps: d.t, sparseSteps, negativeSampler: ms.negativeSampler, ...(ms.idDropout !== undefined ? { idDropout: ms.idDropout } : {}), frequencySteps: ms.frequency.step, stages: ms.stages },
    arrays,
  };
}

function entry(state: TrainerState, name: string, dtype: 'F32' | 'I32', required = true): SafetensorsEntry | undefined {
  const e = state.arrays[name];
  if (!e) {
    if (required) throw new MismatchError('training state', `array "${name}"`, 'none');
    return undefined;
  }
  if (e.dtype !== dtype) throw new MismatchError(`training state: ${name}`, `dtype ${dtype}`, e.dtype);
  return e;
}

/**
 * Puts a saved state into the model and the optimizers: the current parameters, the moments and
 * step counts, the model's training state.
 * @throws MismatchError for a state saved from another model (names, shapes); ValueError for a malformed one
 */
export function applyTrainerState(state: TrainerState, model: TwoTowerModel, dense: DenseAdam, sparse: readonly SparseRowOptimizer[]): void {
  checkProgress(state.progress);
  const p = state.progress;
  const params = new Map<string, NamedValues>();
  for (const [key, e] of Object.entries(state.arrays)) {
    if (!key.startsWith('param/')) continue;
    if (e.dtype !== 'F32') throw new MismatchError(`training state: ${key}`, 'dtype F32', e.dtype);
    params.set(key.slice('param/'.length), { shape: e.shape, values: e.data as Float32Array });
  }
  model.params.restore(params, 'training state');
  const moments = new Map<tf.Variable, { m: Float32Array; v: Float32Array }>();
  for (const [name, variable] of model.params.dense) {
    const m = entry(state, `adam.m/${name}`, 'F32', false);
    const v = entry(state, `adam.v/${name}`, 'F32', false);
    if (!m && !v) continue; // never updated before the interruption
    if (!m || !v) throw new MismatchError('training state', `both Adam moments of ${name}`, 'one');
    moments.set(variable, { m: m.data as Float32Array, v: v.data as Float32Array });
  }
  dense.setState({ t: p.denseSteps, moments });
  for (const opt of sparse) {
    const { name } = opt.embedding;
    const t = p.sparseSteps[name];
    if (t === undefined) throw new MismatchError('training state', `the optimizer step count of ${name}`, 'none');
    const m = entry(state, `sparse.m/${name}`, 'F32', opt.kind === 'adam');
    opt.setState({ t, m: m?.data as Float32Array | undefined, v: entry(state, `sparse.v/${name}`, 'F32')!.data as Float32Array });
  }
  model.setTrainingState({
    negativeSampler: p.negativeSampler,
    ...(p.idDropout !== undefined ? { idDropout: p.idDropout } : {}),
    frequency: { step: p.frequencySteps, lastStep: entry(state, 'frequency.lastStep', 'I32')!.data, gap: entry(state, 'frequency.gap', 'F32')!.data },
    stages: p.stages,
  });
}

/** @throws ValueError when `p` is not a progress record {@link captureTrainerState} could have written */
export function checkProgress(p: TrainerProgress): void {
  const bad = (field: string, why: string) => new ValueError(`training state: progress.${field}`, why);
  if (typeof p !== 'object' || p === null) throw bad('', 'must be an object');
  const ints: Array<keyof TrainerProgress> = ['epoch', 'batchesDone', 'steps', 'epochs', 'estimatedSteps', 'bestEpoch', 'stale', 'denseSteps', 'negativeSampler', 'frequencySteps'];
  for (const k of ints) {
    const v = p[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < (k === 'bestEpoch' ? -1 : 0)) throw bad(k, `must be an integer, got ${JSON.stringify(v)}`);
  }
  if (p.epoch > p.epochs) throw bad('epoch', `must be at most epochs (${p.epochs}), got ${p.epoch}`);
  if (p.stepsPerEpoch !== null && (!Number.isInteger(p.stepsPerEpoch) || p.stepsPerEpoch < 1)) throw bad('stepsPerEpoch', `must be null or a positive integer, got ${JSON.stringify(p.stepsPerEpoch)}`);
  if (p.best !== null && typeof p.best !== 'number') throw bad('best', 'must be a number or null');
  if (typeof p.hasBestWeights !== 'boolean') throw bad('hasBestWeights', 'must be true or false');
  if (!Array.isArray(p.history) || p.history.length !== p.epoch) throw bad('history', `must list the ${p.epoch} finished epochs`);
  const partial = p.partial as TrainerProgress['partial'] | undefined;
  if (typeof partial !== 'object' || partial === null || typeof partial.termSums !== 'object' || partial.termSums === null) throw bad('partial', 'must be an object with termSums');
  for (const k of ['rows', 'lossSum', 'batches', 'seconds'] as const) if (typeof partial[k] !== 'number' || !Number.isFinite(partial[k])) throw bad(`partial.${k}`, 'must be a finite number');
  if (partial.batches !== p.batchesDone) throw bad('partial.batches', `must equal batchesDone (${p.batchesDone}), got ${partial.batches}`);
  if (typeof p.sparseSteps !== 'object' || p.sparseSteps === null || typeof p.stages !== 'object' || p.stages === null) throw bad('sparseSteps', 'sparseSteps and stages must be objects');
  if (p.idDropout !== undefined && (!Number.isInteger(p.idDropout) || p.idDropout < 0)) throw bad('idDropout', `must be an integer, got ${JSON.stringify(p.idDropout)}`);
  if (p.refit !== undefined) checkRefitProgress(p.refit, bad);
}

function checkRefitProgress(r: RefitProgress, bad: (field: string, why: string) => ValueError): void {
  if (typeof r !== 'object' || r === null) throw bad('refit', 'must be an object');
  if (!Number.isInteger(r.towerEpochs) || r.towerEpochs < 1) throw bad('refit.towerEpochs', `must be an integer >= 1, got ${JSON.stringify(r.towerEpochs)}`);
  if (!Number.isInteger(r.stageEpochs) || r.stageEpochs < 0) throw bad('refit.stageEpochs', `must be an integer >= 0, got ${JSON.stringify(r.stageEpochs)}`);
  if (typeof r.monitor !== 'string') throw bad('refit.monitor', 'must be a string');
  const run = (field: string, f: FinishedRun | undefined) => {
    if (typeof f !== 'object' || f === null || !Array.isArray(f.history) || typeof f.stoppedEarly !== 'boolean') throw bad(field, 'must be a finished run (history, stoppedEarly, counts)');
    for (const k of ['epochs', 'steps', 'examples', 'bestEpoch'] as const) {
      if (!Number.isInteger(f[k]) || f[k] < (k === 'bestEpoch' ? -1 : 0)) throw bad(`${field}.${k}`, `must be an integer, got ${JSON.stringify(f[k])}`);
    }
    if (typeof f.examplesPerSec !== 'number') throw bad(`${field}.examplesPerSec`, 'must be a number');
  };
  run('refit.validated', r.validated);
  if (r.towers !== undefined) run('refit.towers', r.towers);
  if (r.temperatures !== undefined && !(Array.isArray(r.temperatures) && r.temperatures.every((t) => typeof t?.temperature === 'number'))) throw bad('refit.temperatures', 'must list the temperatures tried');
}
