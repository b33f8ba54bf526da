/**
 * The reward model's proxies: what scores every (user, item) pair of a batch.
 *
 * - {@link LinearProxy}: MODEL.md's `Linear(2*DI + 1 -> T)` over `concat(q, v, q.v)`. It reads
 *   retrieval's own (stopped) embeddings, so on a pair it can only rescale retrieval's score and
 *   add an item term: it knows nothing retrieval does not.
 * - {@link TowerProxy}: a small pointwise ranker of its own (default). Per task t, user and item
 *   vectors from their own id tables and linear maps of the dense features,
 *   `logit_t(u, i) = f_t(u) . g_t(i) + b_t(i) + b_t`, fitted with BCE on every impressed row,
 *   clicked or not, with a position term `p_t(position)` added in training only (a shallow
 *   position tower, dropped when scoring pairs). Retrieval's softmax learns from positive rows
 *   only, so its scores mix preference with how often the logging policy showed an item and at
 *   which position; a pointwise model of P(label | shown) at a neutral position separates them.
 */
import { bceWithLogits, ConfigError, Dense, maskedMean, stopGradient, tf, type Embedding, type LossArgs, type StageContext } from '@tt/core';

/** One step of a proxy: its own BCE on the impressed rows, and the `[B, B]` values when asked. */
export interface ProxyStep {
  /** the proxy's BCE on the impressed rows (over the logged entries when masked) */
  readonly loss: tf.Scalar;
  /** `[B, B]` values `r_ij` of every (row user, column item) pair, when asked for (the stage stops their gradient in the target) */
  readonly values?: tf.Tensor2D;
}

/** A trainable reward model over the pairs of a batch: {@link TowerProxy} or {@link LinearProxy}. */
export interface RewardProxy {
  /** the proxy's dense parameters (its id tables, if any, are sparse embeddings of the store) */
  readonly variables: readonly tf.Variable[];
  /**
   * Fits the impressed rows and, when `wantValues`, scores every pair of the batch.
   * @param args the batch and its embeddings, as the model's batch losses see them
   * @param target `[B, T]` what the BCE fits: labels or the logged ranker probabilities
   * @param mask `[B, T]` 1 on the logged entries of `target` (undefined: all count)
   * @param wantValues also return the `[B, B]` pair values
   */
  step(args: LossArgs, target: tf.Tensor2D, mask: tf.Tensor2D | undefined, wantValues: boolean): ProxyStep;
}

/** `mean(BCE(logits, y))`, over the logged entries when `mask` is given. */
function bce(logits: tf.Tensor2D, y: tf.Tensor2D, mask: tf.Tensor2D | undefined): tf.Scalar {
  return (mask ? maskedMean(bceWithLogits(logits, y), mask) : tf.mean(bceWithLogits(logits, y))) as tf.Scalar;
}

/** `sum_t w_t sigmoid(logits_t)` over the tasks with a non-zero weight; `logitsOf(t)` is `[B, B]`. */
function valueOf(weights: readonly number[], B: number, logitsOf: (t: number) => tf.Tensor2D): tf.Tensor2D {
  let acc: tf.Tensor2D | undefined;
  for (let t = 0; t < weights.length; t++) {
    if (weights[t] === 0) continue;
    const term = tf.mul(tf.sigmoid(logitsOf(t)), weights[t]!) as tf.Tensor2D;
    acc = acc ? (tf.add(acc, term) as tf.Tensor2D) : term;
  }
  return acc ?? tf.zeros([B, B]);
}

/** MODEL.md's proxy, `Linear(2*DI + 1 -> T)` over `concat(q_i, v_j, q_i . v_j)`. */
export class LinearProxy implements RewardProxy {
  /** the `[2 DI + 1, T]` linear map: rows `[0, DI)` read q, `[DI, 2 DI)` read v, the last the dot */
  readonly layer: Dense;

  constructor(private readonly ctx: StageContext, private readonly detachInputs: boolean) {
    this.layer = new Dense(ctx.params, 'stages.reward-align.proxy', 2 * ctx.config.dim + 1, ctx.config.schema.tasks.length);
  }

  get variables(): readonly tf.Variable[] {
    return [this.layer.w, this.layer.b];
  }

  step(args: LossArgs, y: tf.Tensor2D, mask: tf.Tensor2D | undefined, wantValues: boolean): ProxyStep {
    const B = args.batch.batch.size;
    const DI = this.ctx.config.dim;
    const T = this.ctx.config.schema.tasks.length;
    const qi = this.detachInputs ? stopGradient(args.q) : args.q;
    const vj = this.detachInputs ? stopGradient(args.v) : args.v;
    const W = this.layer.w; // [2 DI + 1, T]: rows [0, DI) read q, [DI, 2 DI) read v, 2 DI the dot
    const wq = tf.slice(W, [0, 0], [DI, T]);
    const wv = tf.slice(W, [DI, 0], [DI, T]);
    const wd = tf.slice(W, [2 * DI, 0], [1, T]);
    const a = tf.add(tf.matMul(qi, wq), this.layer.b); // [B, T]
    const c = tf.matMul(vj, wv); // [B, T]
    // impressed pairs: a_i + c_i + wd (q_i . v_i)
    const dot = tf.reshape(tf.sum(tf.mul(qi, vj), 1), [B, 1]);
    const loss = bce(tf.add(tf.add(a, c), tf.mul(dot, wd)) as tf.Tensor2D, y, mask);
    if (!wantValues) return { loss };
    // all pairs: logits_ijt = a_it + c_jt + wd_t (q_i . v_j)
    const s = tf.matMul(qi, vj, false, true);
    const values = valueOf(this.ctx.config.valueWeights, B, (t) =>
      tf.add(tf.add(tf.slice(a, [0, t], [B, 1]), tf.reshape(tf.slice(c, [0, t], [B, 1]), [1, B])), tf.mul(s, tf.slice(wd, [0, t], [1, 1]))) as tf.Tensor2D);
    return { loss, values };
  }
}

/** A small pointwise ranker of its own: per task, `f_t(u) . g_t(i) + b_t(i) + b_t`, plus a training-only position term. */
export class TowerProxy implements RewardProxy {
  /** `[userRows, T * dim]` user vectors, one `dim` slice per task */
  readonly userTable: Embedding;
  /** `[itemRows, T * dim]` item vectors, one `dim` slice per task */
  readonly itemTable: Embedding;
  /** `[itemRows, T]` per-item bias `b_t(i)` */
  readonly itemBias: Embedding;
  /** `[numPositions, T]` position term, used in training only (undefined without positions) */
  readonly positionBias: Embedding | undefined;
  /** linear map of the user features into the user vectors (undefined without user features) */
  readonly userFeatures: Dense | undefined;
  /** linear map of the item features into the item vectors (undefined without item features) */
  readonly itemFeatures: Dense | undefined;
  /** `[T]` global bias `b_t` */
  readonly bias: tf.Variable;
  private readonly T: number;

  constructor(
    private readonly ctx: StageContext,
    /** per-task vector size */
    readonly dim: number,
  ) {
    const { schema, userRows, itemRows } = ctx.config;
    const T = (this.T = schema.tasks.length);
    const p = ctx.params;
    const name = 'stages.reward-align.proxy';
    this.userTable = p.addEmbedding(`${name}.user`, userRows, T * dim);
    this.itemTable = p.addEmbedding(`${name}.item`, itemRows, T * dim);
    this.itemBias = p.addEmbedding(`${name}.itemBias`, itemRows, T, 0);
    this.positionBias = schema.numPositions > 0 ? p.addEmbedding(`${name}.position`, schema.numPositions, T, 0) : undefined;
    this.userFeatures = schema.userFeatureDim > 0 ? new Dense(p, `${name}.userFeatures`, schema.userFeatureDim, T * dim) : undefined;
    this.itemFeatures = schema.itemFeatureDim > 0 ? new Dense(p, `${name}.itemFeatures`, schema.itemFeatureDim, T * dim) : undefined;
    this.bias = p.addDense(`${name}.bias`, [T], new Float32Array(T));
  }

  get variables(): readonly tf.Variable[] {
    return [this.bias, ...[this.userFeatures, this.itemFeatures].flatMap((d) => (d ? [d.w, d.b] : []))];
  }

  /** `[B, T * dim]` user and item vectors of the batch's rows, and the item terms `[B, T]`. */
  private towers(args: LossArgs): { f: tf.Tensor2D; g: tf.Tensor2D; itemTerm: tf.Tensor2D } {
    const b = args.batch.batch;
    const { userFeatureDim: IU, itemFeatureDim: II } = this.ctx.config.schema;
    const B = b.size;
    let f = this.userTable.lookup(b.user) as tf.Tensor2D;
    if (this.userFeatures) f = tf.add(f, this.userFeatures.apply(tf.tensor2d(b.userFeatures, [B, IU]))) as tf.Tensor2D;
    let g = this.itemTable.lookup(b.item) as tf.Tensor2D;
    if (this.itemFeatures) g = tf.add(g, this.itemFeatures.apply(tf.tensor2d(b.itemFeatures, [B, II]))) as tf.Tensor2D;
    const itemTerm = tf.add(this.itemBias.lookup(b.item), this.bias) as tf.Tensor2D;
    return { f, g, itemTerm };
  }

  step(args: LossArgs, y: tf.Tensor2D, mask: tf.Tensor2D | undefined, wantValues: boolean): ProxyStep {
    const b = args.batch.batch;
    const B = b.size;
    const { T, dim } = this;
    const { f, g, itemTerm } = this.towers(args);
    // impressed rows: per task the dot of its slice, plus the item and (training only) position terms
    let logits = tf.add(tf.sum(tf.reshape(tf.mul(f, g), [B, T, dim]), 2), itemTerm) as tf.Tensor2D;
    if (this.positionBias) {
      if (!b.position) throw new ConfigError('stages.reward-align.proxy', 'the schema has positions but the batch has none');
      const last = this.positionBias.rows - 1;
      logits = tf.add(logits, this.positionBias.lookup(Int32Array.from(b.position, (x) => (x < 0 ? 0 : x > last ? last : x)))) as tf.Tensor2D;
    }
    const loss = bce(logits, y, mask);
    if (!wantValues) return { loss };
    const values = valueOf(this.ctx.config.valueWeights, B, (t) => {
      const ft = tf.slice(f, [0, t * dim], [B, dim]);
      const gt = tf.slice(g, [0, t * dim], [B, dim]);
      return tf.add(tf.matMul(ft, gt, false, true), tf.reshape(tf.slice(itemTerm, [0, t], [B, 1]), [1, B])) as tf.Tensor2D;
    });
    return { loss, values };
  }
}
