/**
 * The examination model behind debiasing (MODEL.md section 8): a click happens when the row was
 * examined and the item is relevant, `P(click) = theta(position, user) * gamma(user, item)`, both
 * fitted jointly by the click's likelihood on every impressed row (clicked or not), as
 * regression-EM (Wang et al., WSDM 2018) and dual learning (Ai et al., SIGIR 2018) do. Because the
 * relevance factor explains what the shown item is worth, the position factor keeps only what the
 * slot itself adds: a policy that shows its best items first no longer makes the top slot look
 * like a strong position effect.
 *
 * - exposure: `theta = sigmoid(alpha[position] + u . stop(q) + b)` (the position term for the
 *   `position` and `both` kinds, the user term for `user` and `both`);
 * - relevance: `gamma = sigmoid(rho)`, with `rho` either `a * stop(s) + b_item[i] + c` from
 *   retrieval's own (stopped) logit `s` of the pair (`'score'`), or a small pointwise model of its
 *   own, `f(u) . g(i) + b(i) + c` from id tables and the dense features (`'towers'`);
 * - loss: the mean binary cross-entropy of the entry task's label (the first label column,
 *   clipped to [0, 1]) against `theta * gamma`.
 * Only this loss trains these parameters; retrieval sees `theta` through the stopped weights.
 */
import { ConfigError, Dense, stopGradient, tf, type Embedding, type StageContext } from '@tt/core';

/** Where the examination model's relevance factor comes from. */
export type RelevanceModel = 'score' | 'towers';

/** `log(1 - exp(x))` for x <= 0 (x clipped just below 0): `log(-expm1(x))`, exact near 0 where `1 - exp(x)` cancels. */
function log1mExp(x: tf.Tensor1D): tf.Tensor1D {
  return tf.log(tf.neg(tf.expm1(tf.minimum(x, -1e-6)))) as tf.Tensor1D;
}

/** `log sigmoid(x) = -softplus(-x)`. */
function logSigmoid(x: tf.Tensor1D): tf.Tensor1D {
  return tf.neg(tf.softplus(tf.neg(x))) as tf.Tensor1D;
}

/** The joint click model: an exposure factor (position, user) times a relevance factor (user, item). */
export class ExaminationModel {
  /** `[positions, 1]` exposure logit per position (position and combined kinds) */
  readonly positionTable: Embedding | undefined;
  /** exposure logit from the stopped query (user and combined kinds) */
  readonly userTerm: Dense | undefined;
  /** `[1]` exposure bias */
  readonly exposureBias: tf.Variable;
  private readonly relevanceScale: tf.Variable | undefined;
  private readonly relevanceBias: tf.Variable;
  private readonly itemBias: Embedding;
  private readonly userTable: Embedding | undefined;
  private readonly itemTable: Embedding | undefined;
  private readonly userFeatures: Dense | undefined;
  private readonly itemFeatures: Dense | undefined;

  constructor(
    name: string,
    ctx: StageContext,
    /** position buckets (0: no position term) */
    positions: number,
    /** include the user term */
    withUser: boolean,
    /** where relevance comes from */
    readonly relevance: RelevanceModel,
    /** vector size of the `'towers'` relevance model */
    towersDim: number,
  ) {
    const p = ctx.params;
    const { dim, itemRows, userRows, schema } = ctx.config;
    const prefix = `stages.${name}.examination`;
    this.positionTable = positions > 0 ? p.addEmbedding(`${prefix}.position`, positions, 1, 0) : undefined;
    this.userTerm = withUser ? new Dense(p, `${prefix}.user`, dim, 1) : undefined;
    if (this.userTerm) tf.tidy(() => this.userTerm!.w.assign(tf.zerosLike(this.userTerm!.w)));
    this.exposureBias = p.addDense(`${prefix}.exposureBias`, [1], Float32Array.of(1));
    this.itemBias = p.addEmbedding(`${prefix}.itemBias`, itemRows, 1, 0);
    this.relevanceBias = p.addDense(`${prefix}.relevanceBias`, [1], Float32Array.of(-2));
    if (relevance === 'score') {
      this.relevanceScale = p.addDense(`${prefix}.scale`, [1], Float32Array.of(0.1));
    } else {
      this.userTable = p.addEmbedding(`${prefix}.userVectors`, userRows, towersDim);
      this.itemTable = p.addEmbedding(`${prefix}.itemVectors`, itemRows, towersDim);
      this.userFeatures = schema.userFeatureDim > 0 ? new Dense(p, `${prefix}.userFeatures`, schema.userFeatureDim, towersDim) : undefined;
      this.itemFeatures = schema.itemFeatureDim > 0 ? new Dense(p, `${prefix}.itemFeatures`, schema.itemFeatureDim, towersDim) : undefined;
    }
  }

  /** `[B]` exposure logits of the rows (`buckets`: position table rows, when there is a position term). */
  exposureLogit(q: tf.Tensor2D, buckets: Int32Array | undefined): tf.Tensor1D {
    let a = tf.mul(tf.onesLike(tf.slice(q, [0, 0], [-1, 1])), this.exposureBias);
    if (this.positionTable) {
      if (!buckets) throw new ConfigError('position', 'the examination model needs batch positions');
      a = tf.add(a, this.positionTable.lookup(buckets));
    }
    if (this.userTerm) a = tf.add(a, this.userTerm.apply(stopGradient(q)));
    return tf.reshape(a, [-1]) as tf.Tensor1D;
  }

  /** `[B]` relevance logits of the rows' pairs. */
  relevanceLogit(args: { readonly pairScore: tf.Tensor1D; readonly batch: { readonly batch: { readonly size: number; readonly user: Int32Array; readonly item: Int32Array; readonly userFeatures: Float32Array; readonly itemFeatures: Float32Array } } }, ctx: StageContext): tf.Tensor1D {
    const b = args.batch.batch;
    const B = b.size;
    let rho = tf.add(tf.reshape(this.itemBias.lookup(b.item), [-1]), this.relevanceBias) as tf.Tensor1D;
    if (this.relevanceScale) return tf.add(rho, tf.mul(stopGradient(args.pairScore), this.relevanceScale)) as tf.Tensor1D;
    const { userFeatureDim: IU, itemFeatureDim: II } = ctx.config.schema;
    let f = this.userTable!.lookup(b.user) as tf.Tensor2D;
    if (this.userFeatures) f = tf.add(f, this.userFeatures.apply(tf.tensor2d(b.userFeatures, [B, IU]))) as tf.Tensor2D;
    let g = this.itemTable!.lookup(b.item) as tf.Tensor2D;
    if (this.itemFeatures) g = tf.add(g, this.itemFeatures.apply(tf.tensor2d(b.itemFeatures, [B, II]))) as tf.Tensor2D;
    rho = tf.add(rho, tf.sum(tf.mul(f, g), 1)) as tf.Tensor1D;
    return rho;
  }

  /**
   * The examination probabilities `theta [B]` (what the weights divide by) and the click
   * likelihood's loss against `click [B]` in [0, 1].
   */
  fit(exposure: tf.Tensor1D, relevance: tf.Tensor1D, click: tf.Tensor1D): {
    /** `[B]` examination probabilities `sigmoid(exposure)` */
    theta: tf.Tensor1D;
    /** the click likelihood's mean negative log */
    loss: tf.Scalar;
  } {
    const logTheta = logSigmoid(exposure);
    const logP = tf.add(logTheta, logSigmoid(relevance)) as tf.Tensor1D;
    const nll = tf.neg(tf.add(tf.mul(click, logP), tf.mul(tf.sub(1, click), log1mExp(logP))));
    return { theta: tf.exp(logTheta) as tf.Tensor1D, loss: tf.mean(nll) as tf.Scalar };
  }
}
