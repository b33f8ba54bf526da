/**
 * The training loop: epochs over a {@link BatchSource}, one gradient step per batch (dense Adam
 * for the towers, row-sparse updates for the id tables), a learning-rate schedule, validation
 * after each epoch with early stopping, and progress reporting. An `AbortSignal` stops a run after
 * its current step with its full state ({@link TrainerState}), from which `fit` resumes exactly.
 */
import * as tf from '../runtime/tf.js';
import { ConfigError, EmptyError, NumericError } from '../errors.js';
import { validateBatch } from '../data/validate.js';
import type { Batch, BatchSource } from '../data/types.js';
import type { TwoTowerModel } from '../model/two-tower.js';
import type { NamedValues } from '../nn/params.js';
import { DenseAdam, SparseRowOptimizer, type SparseOptimizerKind } from './optimizers.js';
import { createProgress, type ProgressMode } from './progress.js';
import { learningRateAt, type ScheduleConfig } from './schedule.js';
import { applyTrainerState, captureTrainerState, type TrainerProgress, type TrainerState } from './trainer-state.js';

/** Options of {@link Trainer}. */
export interface TrainerOptions {
  /** most epochs to train (fewer with early stopping or `maxSteps`) */
  readonly epochs: number;
  /** dense Adam learning rate (default 3e-3) */
  readonly learningRate?: number;
  /** learning rate of the id tables (default: learningRate) */
  readonly sparseLearningRate?: number;
  /** row-sparse optimizer of the id tables (default 'adam': lazy Adam) */
  readonly sparseOptimizer?: SparseOptimizerKind;
  /** learning-rate schedule over all steps (default constant) */
  readonly schedule?: ScheduleConfig;
  /** metrics after each epoch, e.g. recall on a validation split */
  readonly validate?: (epoch: number) => Promise<Record<string, number>>;
  /** stop when `monitor` (higher is better) has not improved for `patience` epochs */
  readonly earlyStopping?: {
    /** the key of `validate`'s metrics to watch */
    readonly monitor: string;
    /** epochs without improvement before stopping */
    readonly patience: number;
    /** the least gain that counts as an improvement (default 0) */
    readonly minDelta?: number;
    /** end with the weights of the best epoch rather than the last (default true) */
    readonly restoreBest?: boolean;
    /**
     * the monitor's value of the weights training starts from: an epoch must beat it to count as
     * best, and when none does the model ends with the weights it started with (default: none)
     */
    readonly baseline?: number;
  };
  /** which parameters (by name, e.g. `stages.light-ranker.head.w`) the steps update; default all */
  readonly trainable?: (name: string) => boolean;
  /** how progress is shown (default 'auto') */
  readonly progress?: ProgressMode;
  /** where progress lines go (default stderr) */
  readonly log?: (line: string) => void;
  /** check every batch against the schema (default true; costs ~0.1 ms per batch) */
  readonly validateBatches?: boolean;
  /** stop after this many steps in total (benchmarks) */
  readonly maxSteps?: number;
  /**
   * when aborted, training stops after the current step: the result is `interrupted`, carries the
   * run's state (to resume from) and the model holds the best weights so far
   */
  readonly signal?: AbortSignal;
}

/** What one epoch did. */
export interface EpochRecord {
  /** 0-based */
  readonly epoch: number;
  /** mean loss over the epoch's steps */
  readonly loss: number;
  /** mean of each loss term over the epoch's steps (see {@link LossTerms}) */
  readonly terms: Record<string, number>;
  /** rows trained on */
  readonly examples: number;
  /** training time, validation excluded */
  readonly seconds: number;
  /** the validation metrics after the epoch, when `validate` is set */
  readonly metrics?: Record<string, number>;
  /** an epoch of `fitTwoTower`'s second phase, which trains only the parameters of stages that refit on the final towers */
  readonly stagesOnly?: boolean;
  /** an epoch of `fitTwoTower`'s refit (`refit: true`): a fresh model on the training and validation rows, no validation */
  readonly allRows?: boolean;
}

/** What {@link Trainer.fit} did. */
export interface TrainResult {
  /** epochs run */
  readonly epochs: number;
  /** gradient steps in total */
  readonly steps: number;
  /** rows trained on, over all epochs */
  readonly examples: number;
  /** training examples per second, validation excluded */
  readonly examplesPerSec: number;
  /** one record per epoch run */
  readonly history: readonly EpochRecord[];
  /** epoch (0-based) whose weights the model holds at the end; -1: those training started from (see `earlyStopping.baseline`) */
  readonly bestEpoch: number;
  /** whether early stopping ended training before the last epoch */
  readonly stoppedEarly: boolean;
  /** whether `signal` stopped training before it was done */
  readonly interrupted: boolean;
  /** when interrupted: the state to resume from (`fit(source, state)`) */
  readonly state?: TrainerState;
}

/** Trains a {@link TwoTowerModel}: dense Adam for the towers, row-sparse updates for the id tables. */
export class Trainer {
  private readonly dense = new DenseAdam();
  private readonly sparse: SparseRowOptimizer[];
  private readonly learningRate: number;
  private readonly sparseLearningRate: number;
  private steps = 0;

  constructor(
    /** the model it trains, in place */
    readonly model: TwoTowerModel,
    /** the options it was created with */
    readonly options: TrainerOptions,
  ) {
    if (!Number.isInteger(options.epochs) || options.epochs < 1) throw new ConfigError('epochs', `must be a positive integer, got ${options.epochs}`);
    this.learningRate = options.learningRate ?? 3e-3;
    if (!(this.learningRate > 0)) throw new ConfigError('learningRate', `must be > 0, got ${this.learningRate}`);
    this.sparseLearningRate = options.sparseLearningRate ?? this.learningRate;
    this.sparse = this.trainableEmbeddings().map((e) => new SparseRowOptimizer(e, options.sparseOptimizer ?? 'adam'));
  }

  /** The model's dense variables that the steps update. */
  private trainableDense(): tf.Variable[] {
    const keep = this.options.trainable;
    return keep ? [...this.model.params.dense].filter(([name]) => keep(name)).map(([, v]) => v) : this.model.denseVariables();
  }

  /** The model's id tables that the steps update. */
  private trainableEmbeddings(): ReturnType<TwoTowerModel['embeddings']> {
    const keep = this.options.trainable;
    return keep ? this.model.embeddings().filter((e) => keep(e.name)) : this.model.embeddings();
  }

  /**
   * One gradient step on `batch` at `lrScale` x the base learning rates.
   * @returns the loss and its terms
   * @throws the batch validation errors (nothing is updated then); NumericError when the loss is NaN or infinite
   */
  step(batch: Batch, lrScale = 1): {
    /** the step's total loss */
    loss: number;
    /** each loss term by name */
    terms: Record<string, number>;
  } {
    if (this.options.validateBatches ?? true) validateBatch(batch, this.model.config.schema);
    const embeddings = this.trainableEmbeddings();
    const denseVariables = this.trainableDense();
    const variables = [...denseVariables, ...embeddings.map((e) => e.anchor)];
    const dense = new Set(denseVariables);
    const kept: Array<[string, tf.Scalar]> = [];
    this.model.observeBatch(batch);
    for (const e of embeddings) e.grads.recording = true;
    let result: { value: tf.Scalar; grads: tf.NamedTensorMap };
    try {
      result = tf.variableGrads(() => {
        const { total, terms } = this.model.loss(batch);
        for (const [name, t] of terms) kept.push([name, tf.keep(t)]);
        return total;
      }, variables);
    } catch (e) {
      for (const emb of embeddings) emb.grads.clear();
      throw e;
    } finally {
      for (const emb of embeddings) emb.grads.recording = false;
    }
    const loss = result.value.dataSync()[0]!;
    const terms: Record<string, number> = {};
    for (const [name, t] of kept) {
      terms[name] = t.dataSync()[0]!;
      t.dispose();
    }
    result.value.dispose();
    const byName = new Map(variables.map((v) => [v.name, v]));
    const denseGrads = new Map<tf.Variable, tf.Tensor>();
    for (const [name, g] of Object.entries(result.grads)) {
      const v = byName.get(name);
      if (v && dense.has(v)) denseGrads.set(v, g);
    }
    if (!Number.isFinite(loss)) {
      for (const g of Object.values(result.grads)) g.dispose();
      for (const emb of embeddings) emb.grads.clear();
      throw new NumericError('loss', `is ${loss} at step ${this.steps}: training diverged; lower the learning rate or check the inputs for extreme values`);
    }
    this.dense.apply(denseGrads, this.learningRate * lrScale);
    for (const g of Object.values(result.grads)) g.dispose();
    for (const s of this.sparse) s.apply(this.sparseLearningRate * lrScale);
    this.steps++;
    return { loss, terms };
  }

  /**
   * Trains for the configured epochs (or until early stopping, or until `signal` aborts). With
   * `resume` (the `state` of an interrupted result, the model holding that result's weights), it
   * continues that run: the same steps on the same batches, so the same model as an uninterrupted run.
   * @throws MismatchError / ValueError for a `resume` state saved from another model or run
   */
  async fit(source: BatchSource, resume?: TrainerState): Promise<TrainResult> {
    const { options } = this;
    const { signal } = options;
    const progress = createProgress(options.progress ?? 'auto', options.log);
    const schedule = options.schedule ?? { kind: 'constant' };
    const rowsPerEpoch = source.rowsPerEpoch;
    const start = resume?.progress;
    const history: EpochRecord[] = start ? [...start.history] : [];
    let trainSeconds = start?.trainSeconds ?? 0;
    let examples = start?.examples ?? 0;
    let best = start?.best ?? options.earlyStopping?.baseline ?? -Infinity;
    let bestEpoch = start?.bestEpoch ?? -1;
    let stale = start?.stale ?? 0;
    let stoppedEarly = false;
    // steps per epoch for the schedule: counted after the first epoch, estimated before it
    let stepsPerEpoch: number | undefined = start?.stepsPerEpoch ?? undefined;
    let estimatedSteps = start?.estimatedSteps ?? 1;
    let bestWeights: Map<string, NamedValues> | undefined;
    if (resume) {
      if (resume.progress.epochs !== options.epochs) throw new ConfigError('epochs', `the resumed run was configured for ${resume.progress.epochs} epochs, got ${options.epochs}`);
      // the model holds the run's best weights so far (what an interrupted run saves); the state the current ones
      if (resume.progress.hasBestWeights) bestWeights = this.model.params.snapshot();
      applyTrainerState(resume, this.model, this.dense, this.sparse);
      this.steps = resume.progress.steps;
    }
    // a baseline stands for the weights training starts from: they are the best until an epoch beats them
    if (!resume && options.earlyStopping?.baseline !== undefined && (options.earlyStopping.restoreBest ?? true)) bestWeights = this.model.params.snapshot();
    let stop: Omit<TrainerProgress, 'denseSteps' | 'sparseSteps' | 'negativeSampler' | 'frequencySteps' | 'stages' | 'idDropout'> | undefined;
    try {
      for (let epoch = start?.epoch ?? 0; epoch < options.epochs; epoch++) {
        const partial = start && epoch === start.epoch ? start.partial : undefined;
        const t0 = performance.now() - (partial?.seconds ?? 0) * 1000;
        let rows = partial?.rows ?? 0;
        let lossSum = partial?.lossSum ?? 0;
        let batches = partial?.batches ?? 0;
        const termSums: Record<string, number> = { ...(partial?.termSums ?? {}) };
        let skip = batches; // a resumed epoch replays the batches it already trained on
        for await (const batch of source.batches(epoch)) {
          if (skip > 0) {
            skip--;
            continue;
          }
          if (options.maxSteps !== undefined && this.steps >= options.maxSteps) break;
          if (stepsPerEpoch === undefined && batches === 0 && rowsPerEpoch) estimatedSteps = Math.ceil(rowsPerEpoch / batch.size);
          const totalSteps = (stepsPerEpoch ?? estimatedSteps) * options.epochs;
          const lr = learningRateAt(1, schedule, this.steps, totalSteps);
          const { loss, terms } = this.step(batch, lr);
          rows += batch.size;
          lossSum += loss;
          batches++;
          for (const [k, v] of Object.entries(terms)) termSums[k] = (termSums[k] ?? 0) + v;
          const seconds = (performance.now() - t0) / 1000;
          progress.update({ epoch, epochs: options.epochs, rows, rowsPerEpoch, loss: lossSum / batches, examplesPerSec: rows / Math.max(seconds, 1e-9) });
          // let a signal handler run between steps (a step is synchronous)
          if (signal) await new Promise<void>((resolve) => setImmediate(resolve));
          if (signal?.aborted) {
            stop = {
              epoch, batchesDone: batches, steps: this.steps, epochs: options.epochs, stepsPerEpoch: stepsPerEpoch ?? null, estimatedSteps,
              partial: { rows, lossSum, batches, termSums: { ...termSums }, seconds }, history: [...history], trainSeconds, examples,
              best: Number.isFinite(best) ? best : null, bestEpoch, stale, hasBestWeights: bestWeights !== undefined,
            };
            break;
          }
        }
        if (stop) break;
        if (batches === 0) throw new EmptyError('source', `epoch ${epoch} yielded no batches`);
        stepsPerEpoch ??= batches;
        const seconds = (performance.now() - t0) / 1000;
        trainSeconds += seconds;
        examples += rows;
        const terms = Object.fromEntries(Object.entries(termSums).map(([k, v]) => [k, v / batches]));
        const metrics = options.validate ? await options.validate(epoch) : undefined;
        history.push({ epoch, loss: lossSum / batches, terms, examples: rows, seconds, metrics });
        const shown = metrics ? ` | ${Object.entries(metrics).filter(([k]) => k !== 'users').map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}` : '';
        progress.line(`[tt] epoch ${epoch + 1}/${options.epochs}: loss ${(lossSum / batches).toFixed(4)}, ${(rows / seconds).toFixed(0)} ex/s${shown}`);
        const es = options.earlyStopping;
        if (es && metrics) {
          const value = metrics[es.monitor];
          if (value === undefined) throw new ConfigError('earlyStopping.monitor', `"${es.monitor}" is not among the validation metrics (${Object.keys(metrics).join(', ')})`);
          if (value > best + (es.minDelta ?? 0)) {
            best = value;
            bestEpoch = epoch;
            stale = 0;
            if (es.restoreBest ?? true) bestWeights = this.model.params.snapshot();
          } else if (++stale >= es.patience) {
            stoppedEarly = epoch + 1 < options.epochs;
            break;
          }
        }
        if (options.maxSteps !== undefined && this.steps >= options.maxSteps) break;
        // aborted during validation: stop at the epoch boundary, unless that was the last epoch
        if (signal?.aborted && epoch + 1 < options.epochs) {
          stop = {
            epoch: epoch + 1, batchesDone: 0, steps: this.steps, epochs: options.epochs, stepsPerEpoch: stepsPerEpoch ?? null, estimatedSteps,
            partial: { rows: 0, lossSum: 0, batches: 0, termSums: {}, seconds: 0 }, history: [...history], trainSeconds, examples,
            best: Number.isFinite(best) ? best : null, bestEpoch, stale, hasBestWeights: bestWeights !== undefined,
          };
          break;
        }
      }
    } finally {
      progress.stop();
    }
    // the state holds the current weights; the model ends with the best ones
    const state = stop ? captureTrainerState(this.model, this.dense, this.sparse, stop) : undefined;
    const lastEpoch = history.length - 1;
    if (bestWeights && (stop || bestEpoch !== lastEpoch)) {
      this.model.params.restore(bestWeights, 'best epoch snapshot');
      progress.line(bestEpoch < 0
        ? `[tt] kept the weights training started from (${options.earlyStopping!.monitor} ${best.toFixed(4)}: no epoch beat it)`
        : `[tt] restored the weights of epoch ${bestEpoch + 1} (best ${options.earlyStopping!.monitor} ${best.toFixed(4)})`);
    }
    return {
      epochs: history.length,
      steps: this.steps,
      examples,
      examplesPerSec: examples / Math.max(trainSeconds, 1e-9),
      history,
      bestEpoch: bestWeights ? bestEpoch : lastEpoch,
      stoppedEarly,
      interrupted: stop !== undefined,
      state,
    };
  }

  /** Frees the optimizer state; the model is not disposed. */
  dispose(): void {
    this.dense.dispose();
  }
}
