/**
 * Label debiasing (MODEL.md section 3) as `@tt/core` example-weighting stages.
 *
 * Each stage replaces the weights `w` (starting as nuv = labels . w, scaled by the batch max) by
 * `w / max(stop(est), floor)` and adds the estimator's own regression loss:
 * - `debias-position`: `est = E_pos[position]` (one scalar per position);
 * - `debias-user`: `est = Linear(DI -> 1)(q)`, the user's usual propensity;
 * - `debias`: `e_pos = E_pos[position]`, `est = Linear(DI + 1 -> 1)(concat(q, e_pos))`, with
 *   loss `mean((e_pos - nuv)^2) + mean((est - nuv)^2)`.
 *
 * Choices (documented in the README):
 * - the division uses a stopped estimate, so the main loss never trains the estimator; the
 *   estimator reads a stopped `q` by default (`detachQuery`), so its regression loss never trains
 *   the user tower either: retrieval learns only from the softmax;
 * - the regression loss is a mean over the batch (not MODEL.md's sum), times `lossWeight`
 *   (default 1): a per-row squared error of values in [0, 1], the same scale as the softmax
 *   term `sum(ce * w) / B`;
 * - regression targets are nuv, except in a batch without any positive value, where core's nuv
 *   is 1e-6 / 1e-6 = 1 on every row: there the target is 0 (the batch says "no one clicked");
 * - the weights are self-normalised per batch (`normalizeWeights`, default true): scaled so that
 *   their sum equals the sum of the incoming weights, so only the relative weighting between rows
 *   changes and the softmax loss keeps the base model's scale;
 * - positions at or beyond the table (`positions`) fall into the last bucket, with a one-time
 *   warning; negative positions into bucket 0.
 */
import {
  ConfigError, Dense, StageOptions, stopGradient, tf, ValueError, type Embedding, type Stage, type StageContext, type StageDefinition, type StageTrainingState,
} from '@tt/core';
import { ExaminationModel, type RelevanceModel } from './examination.js';
import { ItemExposure, type ItemExposureSummary } from './item-exposure.js';

/** What a debiasing stage estimates: the position effect, the user's propensity, or both. */
export type DebiasKind = 'position' | 'user' | 'both';

/** Options of the three stages (the `options` of their `StageConfig`). */
export interface DebiasOptions {
  /** position table size; default `schema.numPositions`, else 100. Later positions share the last bucket. */
  readonly positions?: number;
  /** factor on the (mean) regression loss; default 1 */
  readonly lossWeight?: number;
  /** lower bound of the estimate in the division; default 1e-3 (0.1 for `debias-user`) */
  readonly floor?: number;
  /**
   * lower bound of the estimate as a share of its batch mean (weight clipping: no row weighs more
   * than `nuv / (relativeFloor * mean estimate)`); default 0.25, 0 turns it off
   */
  readonly relativeFloor?: number;
  /** initial estimate (position table entries and the linear estimator's bias); default 0.1 */
  readonly init?: number;
  /** scale each batch's weights back to the incoming weights' sum; default true */
  readonly normalizeWeights?: boolean;
  /** the estimator reads a stopped q (its loss does not train the user tower); default true */
  readonly detachQuery?: boolean;
  /**
   * how the propensity is estimated: `'examination'`, a joint click model P(click) = exposure x
   * relevance (see examination.ts), so a slot is not credited with the worth of the items shown
   * there; `'regression'`, MODEL.md's regression of nuv on the position (and q)
   */
  readonly estimator?: 'examination' | 'regression';
  /** the examination model's relevance factor: from retrieval's stopped score, or towers of its own */
  readonly relevance?: RelevanceModel;
  /** vector size of the `'towers'` relevance model */
  readonly towersDim?: number;
  /**
   * what a row's value is divided by: `'row'`, the exposure of the slot it was shown in (inverse
   * propensity per impression); `'item'`, its item's mean exposure over the impressions so far
   * (corrects items that are usually shown in good or poor slots, adds no variance where the
   * layout does not depend on the item)
   */
  readonly correction?: 'row' | 'item';
  /**
   * shrink each item's mean exposure towards the overall mean by how much of it is the item's
   * rather than chance (empirical Bayes, see item-exposure.ts); `correction: 'item'` only
   */
  readonly shrink?: boolean;
}

/** The defaults of {@link DebiasOptions} (`userFloor` is `floor`'s default for `debias-user`). */
export const DEBIAS_DEFAULTS = {
  /** position table size when the schema has no positions */
  positions: 100,
  /** factor on the regression loss */
  lossWeight: 1,
  /** lower bound of the estimate (position and combined stages) */
  floor: 1e-3,
  /** lower bound of the estimate of `debias-user` */
  userFloor: 0.1,
  /** lower bound as a share of the batch mean estimate */
  relativeFloor: 0.25,
  /** initial estimate */
  init: 0.1,
  /** self-normalise each batch's weights */
  normalizeWeights: true,
  /** the estimator reads a stopped q */
  detachQuery: true,
  /** the joint click model */
  estimator: 'examination',
  /** relevance from towers of its own */
  relevance: 'towers',
  /** vector size of the towers relevance model */
  towersDim: 16,
  /** by the item's mean exposure */
  correction: 'item',
  /** shrunk towards the overall mean */
  shrink: true,
} as const;

/**
 * Below this spread of the item correction (sd of the weights' divisor over the impressions,
 * relative to its mean) the stage says that it leaves the weights nearly as they are.
 */
export const UNIFORM_CORRECTION_SPREAD = 0.05;

const KNOWN_OPTIONS = ['positions', 'lossWeight', 'floor', 'relativeFloor', 'init', 'normalizeWeights', 'detachQuery', 'estimator', 'relevance', 'towersDim', 'correction', 'shrink'];

/** Where a warning goes (console.warn unless replaced, e.g. by the CLI or a test). */
let warnHandler: (message: string) => void = (m) => console.warn(m);

/** Replaces the warning sink (returns the previous one). */
export function setDebiasWarningHandler(handler: (message: string) => void): (message: string) => void {
  const previous = warnHandler;
  warnHandler = handler;
  return previous;
}

/** The examination estimator's settings (see {@link DebiasOptions}). */
export interface ExaminationSettings {
  /** where the relevance factor comes from */
  readonly relevance: RelevanceModel;
  /** vector size of the `'towers'` relevance model */
  readonly towersDim: number;
  /** divide by the slot's exposure, or by the item's mean exposure */
  readonly correction: 'row' | 'item';
  /** shrink the item means towards the overall mean (`correction: 'item'`; default true) */
  readonly shrink?: boolean;
}

/** A created debiasing stage; {@link debiasDiagnostics} reads its parts. */
export class DebiasStage implements Stage {
  /** brand, for diagnostics across module copies */
  readonly debias = true;
  /** judged by agreement with the held-out ranker scores (when the log has them) */
  readonly monitor = 'ranker-agreement';
  readonly weighting: Stage['weighting'];
  /** `[positions, 1]` table (position and combined kinds) */
  readonly positionTable: Embedding | undefined;
  /** the linear estimator (user and combined kinds) */
  readonly estimator: Dense | undefined;
  /** rows whose position was clamped into the last (or first) bucket so far */
  clampedRows = 0;
  /** the joint click model (estimator `'examination'`) */
  readonly exam: ExaminationModel | undefined;
  /** divide by the row's own exposure, or by its item's mean exposure */
  readonly correction: 'row' | 'item' = 'row';
  private readonly itemExposure: ItemExposure | undefined;
  private warned = false;
  /** the clamp count and its one warning carry over into a resumed run */
  readonly trainingState: StageTrainingState = {
    save: () => ({ clampedRows: this.clampedRows, warned: this.warned }),
    restore: (state) => {
      const { clampedRows, warned } = state;
      if (typeof clampedRows !== 'number' || !Number.isInteger(clampedRows) || clampedRows < 0 || typeof warned !== 'boolean') {
        throw new ValueError(`trainingState.stages.${this.name}`, `needs clampedRows (an integer >= 0) and warned (true or false), got ${JSON.stringify(state)}`);
      }
      this.clampedRows = clampedRows;
      this.warned = warned;
    },
  };

  constructor(
    /** the stage name: `debias-position`, `debias-user` or `debias` */
    readonly name: string,
    /** what the stage estimates */
    readonly kind: DebiasKind,
    /** position table size; later positions share the last bucket */
    readonly positions: number,
    /** lower bound of the estimate in the division */
    readonly floor: number,
    /** lower bound of the estimate as a share of its batch mean (0: off) */
    readonly relativeFloor: number,
    /** factor on the (mean) regression loss */
    readonly lossWeight: number,
    /** whether each batch's weights are scaled back to the incoming weights' sum */
    readonly normalizeWeights: boolean,
    /** whether the estimator reads a stopped q */
    readonly detachQuery: boolean,
    private readonly valueWeights: readonly number[],
    private readonly ctx: StageContext,
    init: number,
    /** the joint click model, when the estimator is `'examination'` */
    readonly examination?: ExaminationSettings,
  ) {
    const dim = ctx.config.dim;
    if (examination) {
      this.exam = new ExaminationModel(name, ctx, kind === 'user' ? 0 : positions, kind !== 'position', examination.relevance, examination.towersDim);
      this.correction = examination.correction;
      if (this.correction === 'item') this.itemExposure = new ItemExposure(ctx.config.itemRows, examination.shrink ?? DEBIAS_DEFAULTS.shrink);
      this.positionTable = undefined;
      this.estimator = undefined;
      this.weighting = { weigh: (args) => this.weighExamination(args) };
      return;
    }
    if (kind !== 'user') {
      this.positionTable = ctx.params.addEmbedding(`stages.${name}.position`, positions, 1);
      tf.tidy(() => this.positionTable!.table.assign(tf.fill([positions, 1], init)));
    }
    if (kind !== 'position') {
      this.estimator = new Dense(ctx.params, `stages.${name}.estimator`, kind === 'both' ? dim + 1 : dim, 1);
      tf.tidy(() => {
        this.estimator!.w.assign(tf.zerosLike(this.estimator!.w));
        this.estimator!.b.assign(tf.fill([1], init));
      });
    }
    this.weighting = { weigh: (args) => this.weigh(args) };
  }

  /** Table rows of `position`: clamped into `[0, positions)`, warning once when any is out of range. */
  bucketsOf(position: ArrayLike<number>): Int32Array {
    const P = this.positions;
    const out = new Int32Array(position.length);
    let clamped = 0;
    let worst = 0;
    for (let i = 0; i < position.length; i++) {
      const p = position[i]!;
      if (p >= P || p < 0) {
        clamped++;
        worst = p;
        out[i] = p < 0 ? 0 : P - 1;
      } else out[i] = p;
    }
    if (clamped > 0) {
      this.clampedRows += clamped;
      if (!this.warned) {
        this.warned = true;
        warnHandler(`@tt/debias: stage "${this.name}" has ${P} position buckets but saw position ${worst}; positions >= ${P} share the last bucket `
          + `(negative ones the first). Set options.positions to give them their own (warned once).`);
      }
    }
    return out;
  }

  /** Regression targets: nuv recomputed from the labels, 0 on every row of a batch without value. */
  private targets(labels: Float32Array, B: number): Float32Array {
    const w = this.valueWeights;
    const T = w.length;
    const out = new Float32Array(B);
    let max = 0;
    for (let i = 0; i < B; i++) {
      let s = 0;
      for (let t = 0; t < T; t++) s += labels[i * T + t]! * w[t]!;
      out[i] = s;
      if (s > max) max = s;
    }
    if (max > 0) for (let i = 0; i < B; i++) out[i] = Math.max(out[i]!, 0) / max;
    return out;
  }

  /** Query input of the estimator (stopped by default). */
  private queryInput(q: tf.Tensor2D): tf.Tensor2D {
    return this.detachQuery ? stopGradient(q) : q;
  }

  /** Per-row estimate and regression loss (no floor). */
  estimate(q: tf.Tensor2D, position: Int32Array | undefined, target: tf.Tensor1D | undefined): {
    /** `[B]` the estimated propensity of each row */
    est: tf.Tensor1D;
    /** the estimator's regression loss against `target`, when given */
    loss?: tf.Scalar;
  } {
    const sq = (a: tf.Tensor1D) => tf.mean(tf.square(tf.sub(a, target!))) as tf.Scalar;
    let ePos: tf.Tensor1D | undefined;
    if (this.positionTable) {
      if (!position) throw new ConfigError(`stages.${this.name}`, 'needs batch positions (a dataset with a position column)');
      ePos = tf.reshape(this.positionTable.lookup(this.bucketsOf(position)), [-1]) as tf.Tensor1D;
    }
    if (this.kind === 'position') return { est: ePos!, loss: target ? sq(ePos!) : undefined };
    const qIn = this.queryInput(q);
    // the combined estimator reads a stopped e_pos: the position curve learns only from its own term
    const x = this.kind === 'both' ? tf.concat([qIn, tf.reshape(stopGradient(ePos!), [-1, 1])], 1) as tf.Tensor2D : qIn;
    const est = tf.reshape(this.estimator!.apply(x), [-1]) as tf.Tensor1D;
    if (!target) return { est };
    const loss = this.kind === 'both' ? tf.add(sq(ePos!), sq(est)) as tf.Scalar : sq(est);
    return { est, loss };
  }

  /** The examination probability of each row, `[B]` (examination estimator). */
  examinationOf(q: tf.Tensor2D, position: Int32Array | undefined): tf.Tensor1D {
    const exam = this.exam!;
    const buckets = exam.positionTable ? this.bucketsOf(this.needPositions(position)) : undefined;
    return tf.sigmoid(exam.exposureLogit(q, buckets)) as tf.Tensor1D;
  }

  private needPositions(position: Int32Array | undefined): Int32Array {
    if (!position) throw new ConfigError(`stages.${this.name}`, 'needs batch positions (a dataset with a position column)');
    return position;
  }

  private weighExamination(args: Parameters<NonNullable<Stage['weighting']>['weigh']>[0]): { weights: tf.Tensor1D; loss?: tf.Scalar } {
    const { weights, q, batch } = args;
    const exam = this.exam!;
    const buckets = exam.positionTable ? this.bucketsOf(this.needPositions(batch.batch.position)) : undefined;
    const click = tf.clipByValue(tf.reshape(tf.slice(batch.labels, [0, 0], [-1, 1]), [-1]), 0, 1) as tf.Tensor1D;
    const { theta, loss } = exam.fit(exam.exposureLogit(q, buckets), exam.relevanceLogit(args, this.ctx), click);
    const est = this.correction === 'item' ? this.itemExposureOf(batch.batch.item, theta) : theta;
    return { weights: this.divided(weights, est), loss: tf.mul(loss, this.lossWeight) as tf.Scalar };
  }

  /**
   * Each row's item's (shrunk) mean exposure over the impressions seen so far (`correction:
   * 'item'`), the batch's own `theta` folded in first: clicks are divided by how favourably the
   * item is usually shown, not by this impression's slot, so a layout independent of the item
   * adds no variance.
   */
  private itemExposureOf(items: Int32Array, theta: tf.Tensor1D): tf.Tensor1D {
    return tf.tensor1d(this.itemExposure!.add(items, theta.dataSync()));
  }

  /** How much the layout depended on the item in the impressions trained on (`correction: 'item'`); undefined before training. */
  itemExposureSummary(): ItemExposureSummary | undefined {
    return this.itemExposure?.summary();
  }

  /** Says when the item correction left the weights nearly uniform: no exposure bias confounded with the items. */
  readonly notes = (): string[] => {
    const s = this.itemExposureSummary();
    if (!s || s.correctionSpread >= UNIFORM_CORRECTION_SPREAD) return [];
    return [`the examples' exposure hardly depended on the item in this log (the items' share of its variance is ${(100 * s.itemShare).toFixed(1)}%; `
      + `the item correction moves a weight by ${(100 * s.correctionSpread).toFixed(1)}% sd over ${s.impressions} impressions), so there was little confounded `
      + 'bias to correct: debias left the example weights nearly uniform; expect the base model\'s retrieval stopped on the same monitor (--monitor ranker-agreement)'];
  };

  /** `weights / max(stop(est), floor, relativeFloor x mean)`, self-normalised when configured; stopped. */
  private divided(weights: tf.Tensor1D, est: tf.Tensor1D): tf.Tensor1D {
    let denom = tf.maximum(stopGradient(est), this.floor);
    // (a full-shape second operand: tfjs's Maximum gradient does not reduce a broadcast one)
    if (this.relativeFloor > 0) denom = tf.maximum(denom, tf.mul(tf.onesLike(denom), tf.mul(tf.mean(denom), this.relativeFloor)));
    let w = tf.div(stopGradient(weights), denom) as tf.Tensor1D;
    if (this.normalizeWeights) {
      const scale = tf.div(tf.sum(stopGradient(weights)), tf.maximum(tf.sum(w), 1e-12));
      w = tf.mul(w, scale) as tf.Tensor1D;
    }
    return stopGradient(w);
  }

  private weigh(args: Parameters<NonNullable<Stage['weighting']>['weigh']>[0]): { weights: tf.Tensor1D; loss?: tf.Scalar } {
    const { weights, q, batch } = args;
    const B = batch.batch.size;
    const target = tf.tensor1d(this.targets(batch.batch.labels, B));
    const { est, loss } = this.estimate(q, batch.batch.position, target);
    return { weights: this.divided(weights, est), loss: tf.mul(loss!, this.lossWeight) as tf.Scalar };
  }
}

function definition(name: string, kind: DebiasKind): StageDefinition {
  return {
    name,
    create(options: Readonly<Record<string, unknown>>, ctx: StageContext): Stage {
      const o = new StageOptions(name, options, KNOWN_OPTIONS);
      const schemaPositions = ctx.config.schema.numPositions;
      if (kind !== 'user' && !(schemaPositions > 0)) {
        throw new ConfigError(`stages.${name}`, 'needs positions: the dataset has no position column (use debias-user)');
      }
      const positions = o.number('positions', schemaPositions > 0 ? schemaPositions : DEBIAS_DEFAULTS.positions, { integer: true, min: 1 });
      const lossWeight = o.number('lossWeight', DEBIAS_DEFAULTS.lossWeight, { min: 0 });
      const floor = o.number('floor', kind === 'user' ? DEBIAS_DEFAULTS.userFloor : DEBIAS_DEFAULTS.floor, { min: 0, above: true });
      const relativeFloor = o.number('relativeFloor', DEBIAS_DEFAULTS.relativeFloor, { min: 0, max: 1 });
      const init = o.number('init', DEBIAS_DEFAULTS.init, { min: 0, above: true });
      const normalizeWeights = o.boolean('normalizeWeights', DEBIAS_DEFAULTS.normalizeWeights);
      const detachQuery = o.boolean('detachQuery', DEBIAS_DEFAULTS.detachQuery);
      const estimator = o.oneOf('estimator', ['examination', 'regression'] as const, DEBIAS_DEFAULTS.estimator);
      const relevance = o.oneOf('relevance', ['score', 'towers'] as const, DEBIAS_DEFAULTS.relevance);
      const towersDim = o.number('towersDim', DEBIAS_DEFAULTS.towersDim, { integer: true, min: 1 });
      const correction = o.oneOf('correction', ['row', 'item'] as const, DEBIAS_DEFAULTS.correction);
      const shrink = o.boolean('shrink', DEBIAS_DEFAULTS.shrink);
      return new DebiasStage(name, kind, positions, floor, relativeFloor, lossWeight, normalizeWeights, detachQuery, ctx.config.valueWeights, ctx, init,
        estimator === 'examination' ? { relevance, towersDim, correction, shrink } : undefined);
    },
  };
}

/** `debias-position`: divide by the learned click-through effect of the position. */
export const debiasPosition: StageDefinition = definition('debias-position', 'position');
/** `debias-user`: divide by the user's learned propensity (a linear function of q). */
export const debiasUser: StageDefinition = definition('debias-user', 'user');
/** `debias`: both, `Linear(concat(q, E_pos[position]))`. */
export const debias: StageDefinition = definition('debias', 'both');
/** The three definitions, for `fitTwoTower({ stages })` / checkpoint loading. */
export const debiasStages: readonly StageDefinition[] = [debiasPosition, debiasUser, debias];
