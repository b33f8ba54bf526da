/**
 * Knowledge distillation from the main ranker's logged scores (MODEL.md section 5), as a
 * `@tt/core` auxiliary head on top of the light ranker (`@tt/light-ranker`).
 *
 * Pointwise: for every impressed row the ranker scored, the light ranker's features
 * `z [B, 1, F]` give T distillation logits (`task`: the light ranker's serving logits themselves;
 * `auxiliary`: a head of their own, used only in training), fitted to the logged probabilities
 * `p [B, T]` by a soft-label binary cross-entropy at temperature `T_kd`:
 *   alpha * T_kd^2 * BCE(logits / T_kd, sigmoid(logit(p) / T_kd)),
 * averaged over the logged entries only (a row without scores is skipped); the light ranker's
 * hard-label BCE then weighs those entries by 1 - alpha.
 *
 * Listwise (beyond the sketch; on by default, `listwiseWeight: 0` turns it off): when several rows of one logged request carry
 * scores, the ranker's ordering of them becomes a target for retrieval itself:
 *   KL( softmax_j(value_j / tau_list) || softmax_j(q . v_j / temperature) ),
 * value_j = p_j . w the ranker's expected reward, over the request's rows. Training batches then
 * keep requests whole (`needsWholeRequests`).
 */
import {
  bceWithLogits, ConfigError, Dense, maskedMean, requestGroups, StageOptions, StateError, stopGradient, tf,
  type LossArgs, type ModelShapes, type ParameterStore, type Stage, type StageDefinition, type TwoTowerConfig,
} from '@tt/core';
import { LightRanker } from '@tt/light-ranker';

/** Options of the `distill` stage (the `options` of its `StageConfig`). */
export interface DistillOptions {
  /**
   * alpha, the weight of the soft labels against the hard ones: an entry the main ranker scored
   * is fitted by `alpha * soft + (1 - alpha) * hard` (hard = the light ranker's BCE on the labels),
   * an unscored one by its label alone. Default 1 (measured: labels added nothing the scores do
   * not carry, see the README). With `logits: 'auxiliary'` the labels keep weight 1 and alpha
   * only scales the soft loss
   */
  readonly alpha?: number;
  /** T_kd of the soft-label BCE (> 0); default 1 */
  readonly temperature?: number;
  /**
   * which logits fit the ranker's scores: `'task'` (default), the light ranker's own logits, so
   * what is distilled is what re-ranks; or `'auxiliary'`, a head of its own that shares the
   * ranker's user embeddings and is used only in training (MODEL.md's wording). Measured on the
   * synthetic world, see the package README
   */
  readonly logits?: 'task' | 'auxiliary';
  /**
   * factor on the listwise term; 0 turns it off (and batches go back to single rows). Default 0.3:
   * the stage's largest gain (pointwise alone moved alignment by +0.04 on random-layout, with the
   * term by +0.25), and at 1 it crowds out the retrieval softmax it must not replace (recall of
   * the logged clicks fell further, and alignment was lower on two of four worlds; see the README)
   */
  readonly listwiseWeight?: number;
  /** tau_list: temperature of the ranker's softmax over a request's values (z-scores with `listwiseStandardize`); default 0.5 */
  readonly listwiseTemperature?: number;
  /**
   * z-score the ranker's values within each request before `/ tau_list`, so the target's
   * sharpness does not depend on the scale of the value weights (a like worth 3 clicks makes
   * values 3x wider); default true
   */
  readonly listwiseStandardize?: boolean;
}

/** The defaults of {@link DistillOptions}. */
export const DISTILL_DEFAULTS = {
  /** soft labels only, on the entries the ranker scored */
  alpha: 1,
  /** T_kd: the plain BCE against the logged probabilities */
  temperature: 1,
  /** distil into the light ranker's own logits */
  logits: 'task',
  /** the listwise term on, at 0.3 of the retrieval softmax's weight (it must not replace it) */
  listwiseWeight: 0.3,
  /** tau_list of the ranker's softmax over a request (in z-score units) */
  listwiseTemperature: 0.5,
  /** z-score the values within a request */
  listwiseStandardize: true,
} as const;

/** Every option of the stage, defaults filled in (see {@link resolveDistillOptions}). */
export type ResolvedDistillOptions = Required<DistillOptions>;

/** Checks the options and fills the defaults. @throws ConfigError naming `stages.distill.<key>` */
export function resolveDistillOptions(options: Readonly<Record<string, unknown>>): ResolvedDistillOptions {
  const o = new StageOptions('distill', options, ['alpha', 'temperature', 'logits', 'listwiseWeight', 'listwiseTemperature', 'listwiseStandardize']);
  return {
    alpha: o.number('alpha', DISTILL_DEFAULTS.alpha, { min: 0, max: 1 }),
    temperature: o.number('temperature', DISTILL_DEFAULTS.temperature, { min: 0, above: true }),
    logits: o.oneOf('logits', ['task', 'auxiliary'] as const, DISTILL_DEFAULTS.logits),
    listwiseWeight: o.number('listwiseWeight', DISTILL_DEFAULTS.listwiseWeight, { min: 0 }),
    listwiseTemperature: o.number('listwiseTemperature', DISTILL_DEFAULTS.listwiseTemperature, { min: 0, above: true }),
    listwiseStandardize: o.boolean('listwiseStandardize', DISTILL_DEFAULTS.listwiseStandardize),
  };
}

/** Probabilities are clipped this far from 0 and 1 before their logit is taken. */
const EPS = 1e-6;

/**
 * Soft-label BCE `T^2 * BCE(logits / T, sigmoid(logit(p) / T))`, elementwise `[B, T]`. At T = 1
 * this is the plain BCE against the probabilities `p`. Call inside `tf.tidy`.
 */
export function softLabelBce(logits: tf.Tensor2D, p: tf.Tensor2D, temperature: number): tf.Tensor2D {
  if (temperature === 1) return bceWithLogits(logits, p) as tf.Tensor2D;
  const clipped = tf.clipByValue(p, EPS, 1 - EPS);
  const target = tf.sigmoid(tf.div(tf.sub(tf.log(clipped), tf.log1p(tf.neg(clipped))), temperature));
  return tf.mul(bceWithLogits(tf.div(logits, temperature), target), temperature * temperature) as tf.Tensor2D;
}

/** The `distill` stage as created (its head is reachable for tests and `teacherAgreement`). */
export class Distill implements Stage {
  readonly name = 'distill';
  /** judged by agreement with the held-out ranker scores */
  readonly monitor = 'ranker-agreement';
  readonly auxiliaryHead = {
    /** alpha times the soft-label BCE over the scored entries, plus the listwise term times `listwiseWeight` */
    loss: (args: LossArgs) => this.loss(args),
  };
  readonly needsWholeRequests: boolean;
  /** the listwise term fits each request's query to the ranker's values over its scored rows (the pointwise one reads stopped towers) */
  readonly trainsOnScoredRows: boolean;
  /**
   * Finds the model's light ranker and hooks into it: a head of its own (`auxiliary`) or the
   * 1 - alpha weights of its hard labels (`task`).
   * @throws ConfigError when the model has no light-ranker stage, or another stage already weighs its labels
   */
  readonly build = (shapes: ModelShapes): void => {
    const ranker = shapes.stages.find((s): s is LightRanker => s instanceof LightRanker);
    if (!ranker) {
      throw new ConfigError('stages', 'the distill stage fits the light ranker to the logged scores: add the light-ranker stage to the model (e.g. --stages light-ranker,distill)');
    }
    if (ranker.labelWeights) throw new ConfigError('stages', 'the light ranker already has a stage weighting its labels (one distill stage per model)');
    this.ranker = ranker;
    if (this.options.logits === 'auxiliary') {
      this.head = new Dense(this.params, 'stages.distill.head', ranker.featureDim, this.config.schema.tasks.length);
    } else if (this.options.alpha > 0) {
      const alpha = this.options.alpha;
      ranker.labelWeights = (args) => tf.sub(1, tf.mul(args.batch.rankerScoreMask!, alpha)) as tf.Tensor2D;
    }
  };
  private ranker: LightRanker | undefined;
  private head: Dense | undefined;

  constructor(
    /** the resolved options */
    readonly options: ResolvedDistillOptions,
    private readonly config: TwoTowerConfig,
    private readonly params: ParameterStore,
  ) {
    if (!config.schema.hasRankerScores) {
      throw new ConfigError('stages.distill', 'the data has no logged ranker scores (ranker_<task> columns) to distil');
    }
    this.needsWholeRequests = options.listwiseWeight > 0;
    this.trainsOnScoredRows = options.listwiseWeight > 0;
  }

  /** The light ranker this stage distils into. @throws StateError before the model builds it */
  get lightRanker(): LightRanker {
    if (!this.ranker) throw new StateError('distill: the stage is not built yet (create it through TwoTowerModel.create, which sizes it)');
    return this.ranker;
  }

  /** Distillation logits `[B, T]` of a batch's impressed rows (the fitted ones) of items `items [B]`. Call inside `tf.tidy`. */
  rowLogits(args: Pick<LossArgs, 'userInput' | 'q' | 'v'>, items: Int32Array): tf.Tensor2D {
    const ranker = this.lightRanker;
    const z = ranker.rowFeatures(args, items); // [B, 1, F]
    if (this.head) return this.head.apply(tf.squeeze(z, [1]) as tf.Tensor2D);
    return tf.squeeze(ranker.logits(z), [1]) as tf.Tensor2D;
  }

  private loss(args: LossArgs): tf.Scalar {
    const { rankerScores, rankerScoreMask } = args.batch;
    if (!rankerScores || !rankerScoreMask) throw new ConfigError('stages.distill', 'training batches carry no ranker scores');
    const soft = softLabelBce(this.rowLogits(args, args.batch.batch.item), rankerScores, this.options.temperature);
    const pointwise = maskedMean(soft, rankerScoreMask);
    const total = this.options.alpha === 1 ? pointwise : tf.mul(pointwise, this.options.alpha);
    if (this.options.listwiseWeight === 0) return total as tf.Scalar;
    return tf.add(total, tf.mul(this.listwise(args), this.options.listwiseWeight)) as tf.Scalar;
  }

  /**
   * Mean over rows in a request of two or more scored rows of KL(ranker || retrieval) over that
   * request's items; 0 when the batch has none. Requests are runs of one user's rows in the
   * batch (whole requests, see `needsWholeRequests`).
   */
  private listwise(args: LossArgs): tf.Scalar {
    const { batch } = args.batch;
    const T = this.config.schema.tasks.length;
    const scores = batch.rankerScores!;
    // rows the ranker scored, every task
    const groups = requestGroups(batch.user, (r) => {
      for (let t = 0; t < T; t++) if (Number.isNaN(scores[r * T + t]!)) return false;
      return true;
    });
    if (groups.rows === 0) return tf.scalar(0);
    const B = batch.size;
    const value = new Float32Array(B);
    for (let r = 0; r < B; r++) {
      let v = 0;
      for (let t = 0; t < T; t++) v += this.config.valueWeights[t]! * (batch.rankerScores![r * T + t]! || 0);
      value[r] = v;
    }
    if (this.options.listwiseStandardize) standardizeRuns(value, batch.user, (r) => groups.inRequest[r] === 1);
    for (let r = 0; r < B; r++) value[r] = value[r]! / this.options.listwiseTemperature;
    // -1e9 outside a row's request: both softmaxes then run over the request only
    const outside = tf.tensor2d(groups.outside, [B, B]);
    const inRequest = tf.tensor1d(groups.inRequest);
    const teacher = stopGradient(tf.softmax(tf.add(tf.reshape(tf.tensor1d(value), [1, B]), outside)));
    const student = tf.logSoftmax(tf.add(tf.mul(tf.matMul(args.q, args.v, false, true), 1 / this.config.temperature), outside));
    const kl = tf.sum(tf.mul(teacher, tf.sub(tf.log(tf.maximum(teacher, 1e-12)), student)), 1); // [B]
    return tf.div(tf.sum(tf.mul(kl, inRequest)), groups.rows) as tf.Scalar;
  }
}

/**
 * z-scores the `include`d `values` within each run of one user's consecutive rows (a request, as
 * the batch keeps them whole), in place: the listwise target's temperature then counts in units of the request's
 * spread, whatever the scale of the value weights.
 */
function standardizeRuns(values: Float32Array, users: Int32Array, include: (row: number) => boolean): void {
  for (let start = 0; start < values.length;) {
    let end = start + 1;
    while (end < values.length && users[end] === users[start]) end++;
    let n = 0;
    let mean = 0;
    for (let r = start; r < end; r++) if (include(r)) (mean += values[r]!), n++;
    if (n > 0) {
      mean /= n;
      let sq = 0;
      for (let r = start; r < end; r++) if (include(r)) sq += (values[r]! - mean) ** 2;
      const sd = Math.sqrt(sq / n) || 1;
      for (let r = start; r < end; r++) if (include(r)) values[r] = (values[r]! - mean) / sd;
    }
    start = end;
  }
}

/** The `distill` stage definition (MODEL.md section 5); needs the `light-ranker` stage. */
export const distill: StageDefinition = {
  name: 'distill',
  create(options, ctx) {
    return new Distill(resolveDistillOptions(options), ctx.config, ctx.params);
  },
};
