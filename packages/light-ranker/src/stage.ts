/**
 * A light pointwise ranker inside retrieval (MODEL.md section 4, after arXiv 2306.04039), as a
 * `@tt/core` auxiliary head and re-ranker.
 *
 * From the user tower input x `[n, X]`: `R = rankerUserTower(x)` `[n, NU, DI]` (NU user embeddings).
 * For M candidates per user with embeddings `V [n, M, DI]`, retrieval scores `s [n, M]` and the
 * ranker's own item-id embeddings `E [n, M, DE]`:
 *   A = V R^T [n, M, NU];  P = softmax over NU;  t = P R [n, M, DI] (target-aware user embedding);
 *   z = concat(V, t, A, s, E) [n, M, 2 DI + NU + 1 + DE];  logits = Linear(z) [n, M, T];
 *   value = sigmoid(logits) . w  (w = the model's valueWeights: an expected reward, not mixed logits).
 * Training: every impressed row is a candidate set of one (M = 1, V = its item's v, s = q . v),
 * with a binary cross-entropy against its labels (clipped to [0, 1]), added to the softmax loss.
 * Serving: MIPS brings NI candidates, the ranker keeps the K of highest value (or of
 * `log(value) + retrievalWeight * s / temperature`, see the option).
 */
import {
  bceWithLogits, Dense, Mlp, requestGroups, ShapeError, StageOptions, StateError, stopGradient, takeValues, tf, topKExcluding,
  type Candidates, type Embedding, type LossArgs, type ModelShapes, type ParameterStore, type ReRanker, type Stage, type StageDefinition, type TwoTowerConfig,
} from '@tt/core';

/** Options of the `light-ranker` stage (the `options` of its `StageConfig`). */
export interface LightRankerOptions {
  /** NI: MIPS candidates re-ranked per request; default 200 */
  readonly numCandidates?: number;
  /** NU: user embeddings of the ranker's user tower; default 4 */
  readonly numUserEmbeddings?: number;
  /** hidden width of the ranker's user tower (0: one linear layer); default the model's `hidden` */
  readonly hidden?: number;
  /**
   * beta of the re-ranking key `log(value) + beta * s / temperature`. 0 ranks by the ranker's
   * expected reward alone (MODEL.md); 1 (default) multiplies it by retrieval's softmax weight
   * exp(s / temperature), which keeps what retrieval knows and the ranker cannot: whether the
   * user engages with the item at all (the ranker only ever sees impressed rows). Measured on
   * MovieLens-100K: 0 cut recall@20 from 0.255 to 0.148, 1 kept it (0.257)
   */
  readonly retrievalWeight?: number;
  /** factor on the ranker's BCE in the training loss; default 1 */
  readonly lossWeight?: number;
  /**
   * factor on a listwise term over each logged request (softmax of log(value) over the request's
   * rows against their label values, `-sum_r y_r log p_r / sum_r y_r`). Within a request the
   * user, and so the user's own click propensity, is fixed, and every item in it was chosen for
   * that user by the same policy: the term learns which of them the user prefers, not how much the
   * user clicks nor whom the policy showed what (MODEL.md section 8: the shown slate as listwise
   * target). Batches then keep requests whole. Default 1 (1 seed, 4 epochs: alignment +0.011,
   * +0.014, +0.016 over base on policy-top, best-first, stale-ranker, where the pointwise ranker
   * alone gave +0.000, +0.008, -0.013)
   */
  readonly listwiseWeight?: number;
  /**
   * the ranker reads stopped retrieval embeddings (`q`, `v`) and a stopped user tower input, so
   * its BCE trains the ranker only; default true (measured: letting the BCE into the towers, as
   * the paper does, cost retrieval 10% of alignment@10/100 on the synthetic world)
   */
  readonly detachRetrieval?: boolean;
  /**
   * DE: width of the ranker's own item-id embedding, appended to z (0: none). Its BCE sees the
   * impressed items, and an item table learns each item's click rate *among the users the logging
   * policy chose to show it to*: selection, not worth. On a world whose policy targets its
   * candidates (`policy-top`) that cost alignment (-0.013 with 16, 0.000 without; +0.020 and
   * +0.007 on `best-first`, 1 seed each), so the ranker reads retrieval's item embeddings only by
   * default. Default 0
   */
  readonly itemDim?: number;
  /**
   * while training on labels, add a learned logit per (position, task) to the ranker's logits and
   * drop it when re-ranking (a shallow position tower, Zhao et al., RecSys 2019): the slot's own
   * effect on the clicks goes into that term, so the ranker learns what the item is worth. Default
   * true (no effect without a position column)
   */
  readonly positionTerm?: boolean;
}

/** The defaults of {@link LightRankerOptions} (`hidden` defaults to the model's own). */
export const LIGHT_RANKER_DEFAULTS = {
  /** MIPS candidates re-ranked per request */
  numCandidates: 200,
  /** user embeddings of the ranker's user tower */
  numUserEmbeddings: 4,
  /** retrieval's softmax weight kept in the re-ranking key */
  retrievalWeight: 1,
  /** factor on the ranker's BCE */
  lossWeight: 1,
  /** the listwise term at full weight */
  listwiseWeight: 1,
  /** the ranker's loss does not train the towers */
  detachRetrieval: true,
  /** no item table of the ranker's own */
  itemDim: 0,
  /** a training-only position term */
  positionTerm: true,
} as const;

/** Every option of the stage, defaults filled in (see {@link resolveLightRankerOptions}). */
export type ResolvedLightRankerOptions = Required<LightRankerOptions>;

/** Checks the options and fills the defaults. @throws ConfigError naming `stages.light-ranker.<key>` */
export function resolveLightRankerOptions(options: Readonly<Record<string, unknown>>, config: Pick<TwoTowerConfig, 'hidden'>): ResolvedLightRankerOptions {
  const o = new StageOptions('light-ranker', options, ['numCandidates', 'numUserEmbeddings', 'hidden', 'retrievalWeight', 'lossWeight', 'listwiseWeight', 'detachRetrieval', 'itemDim', 'positionTerm']);
  return {
    numCandidates: o.number('numCandidates', LIGHT_RANKER_DEFAULTS.numCandidates, { integer: true, min: 1 }),
    numUserEmbeddings: o.number('numUserEmbeddings', LIGHT_RANKER_DEFAULTS.numUserEmbeddings, { integer: true, min: 1 }),
    hidden: o.number('hidden', config.hidden, { integer: true, min: 0 }),
    retrievalWeight: o.number('retrievalWeight', LIGHT_RANKER_DEFAULTS.retrievalWeight, { min: 0 }),
    lossWeight: o.number('lossWeight', LIGHT_RANKER_DEFAULTS.lossWeight, { min: 0 }),
    listwiseWeight: o.number('listwiseWeight', LIGHT_RANKER_DEFAULTS.listwiseWeight, { min: 0 }),
    detachRetrieval: o.boolean('detachRetrieval', LIGHT_RANKER_DEFAULTS.detachRetrieval),
    itemDim: o.number('itemDim', LIGHT_RANKER_DEFAULTS.itemDim, { integer: true, min: 0 }),
    positionTerm: o.boolean('positionTerm', LIGHT_RANKER_DEFAULTS.positionTerm),
  };
}

/** The `light-ranker` stage as created: its hooks plus the ranker's parts (for tests and `@tt/distill`). */
export class LightRanker implements Stage {
  readonly name = 'light-ranker';
  /** judged by agreement with the held-out ranker scores (when the log has them) */
  readonly monitor = 'ranker-agreement';
  readonly candidatesToRerank: number;
  readonly auxiliaryHead = {
    /** the ranker's BCE times `lossWeight`, plus the listwise term times `listwiseWeight` */
    loss: (args: LossArgs) => this.loss(args),
  };
  readonly reranker: ReRanker = { rerank: (args) => this.rerank(args) };
  /** Creates the ranker's parameters once the user tower input width is known. */
  readonly build = (shapes: ModelShapes): void => {
    const { params, config } = this;
    const out = this.options.numUserEmbeddings * config.dim;
    this.userTower = new Mlp(params, 'stages.light-ranker.user', this.options.hidden > 0 ? [shapes.userInputWidth, this.options.hidden, out] : [shapes.userInputWidth, out]);
    this.head = new Dense(params, 'stages.light-ranker.head', this.featureDim, config.schema.tasks.length);
    if (this.options.itemDim > 0) this.itemTable = params.addEmbedding('stages.light-ranker.item', config.itemRows, this.options.itemDim);
    const P = config.schema.numPositions;
    if (this.options.positionTerm && P > 0) this.positionTable = params.addEmbedding('stages.light-ranker.position', P, config.schema.tasks.length, 0);
  };
  /**
   * Per-entry weights `[B, T]` of the hard-label BCE (undefined: all 1). A stage built on the
   * ranker sets it once, at build: distillation gives the labels of scored rows weight 1 - alpha.
   */
  labelWeights: ((args: LossArgs) => tf.Tensor2D) | undefined;
  private userTower: Mlp | undefined;
  private head: Dense | undefined;
  private itemTable: Embedding | undefined;
  private positionTable: Embedding | undefined;

  readonly needsWholeRequests: boolean;
  readonly refitsOnFinalTowers: boolean;

  constructor(
    /** the resolved options */
    readonly options: ResolvedLightRankerOptions,
    private readonly config: TwoTowerConfig,
    private readonly params: ParameterStore,
  ) {
    this.candidatesToRerank = options.numCandidates;
    this.needsWholeRequests = options.listwiseWeight > 0;
    // detached, the ranker's loss leaves the towers alone: it can go on learning on the towers it will serve with
    this.refitsOnFinalTowers = options.detachRetrieval;
  }

  /** Width of z: `2 DI + NU + 1 + DE`. */
  get featureDim(): number {
    return 2 * this.config.dim + this.options.numUserEmbeddings + 1 + this.options.itemDim;
  }

  /** `R = rankerUserTower(x)`: `[n, NU, DI]`. */
  userEmbeddings(x: tf.Tensor2D): tf.Tensor3D {
    if (!this.userTower) throw new StateError('light-ranker: the stage is not built yet (create it through TwoTowerModel.create, which sizes it)');
    return tf.reshape(this.userTower.apply(x), [x.shape[0], this.options.numUserEmbeddings, this.config.dim]);
  }

  /**
   * z = concat(V, t, A, s, E): `[n, M, 2 DI + NU + 1 + DE]` for candidates `V [n, M, DI]`, scores
   * `s [n, M]` and their item indices `items [n * M]` (row-major; they read the ranker's own table).
   */
  features(R: tf.Tensor3D, V: tf.Tensor3D, s: tf.Tensor2D, items: Int32Array): tf.Tensor3D {
    const [n, M] = s.shape;
    if (items.length !== n * M) throw new ShapeError('items', `${n} x ${M} item indices (one per candidate)`, `${items.length}`);
    const own = this.itemTable ? [this.itemTable.lookup(items, [n, M])] : [];
    const A = tf.matMul(V, R, false, true); // [n, M, NU]
    const t = tf.matMul(tf.softmax(A), R); // [n, M, DI]
    // s enters as the softmax logit s / temperature: on the scale of the ranker's own logits
    return tf.concat([V, t, A, tf.expandDims(tf.mul(s, 1 / this.config.temperature), 2), ...own], 2) as tf.Tensor3D;
  }

  /** Task logits `[n, M, T]` of features z. */
  logits(z: tf.Tensor3D): tf.Tensor3D {
    if (!this.head) throw new StateError('light-ranker: the stage is not built yet (create it through TwoTowerModel.create, which sizes it)');
    const [n, M, F] = z.shape;
    return tf.reshape(this.head.apply(tf.reshape(z, [n * M, F])), [n, M, this.config.schema.tasks.length]);
  }

  /** Expected reward `sigmoid(logits) . w`: `[n, M]`. Call inside `tf.tidy`. */
  value(logits: tf.Tensor3D): tf.Tensor2D {
    const [n, M, T] = logits.shape;
    const w = tf.tensor2d(Float32Array.from(this.config.valueWeights), [T, 1]);
    return tf.reshape(tf.matMul(tf.reshape(tf.sigmoid(logits), [n * M, T]), w), [n, M]);
  }

  /** Features z `[B, 1, F]` of a training batch's impressed rows (M = 1) of items `items [B]`. */
  rowFeatures(args: Pick<LossArgs, 'userInput' | 'q' | 'v'>, items: Int32Array): tf.Tensor3D {
    const detach = this.options.detachRetrieval;
    const x = detach ? stopGradient(args.userInput) : args.userInput;
    const q = detach ? stopGradient(args.q) : args.q;
    const v = detach ? stopGradient(args.v) : args.v;
    const B = v.shape[0];
    const s = tf.reshape(tf.sum(tf.mul(q, v), 1), [B, 1]) as tf.Tensor2D;
    return this.features(this.userEmbeddings(x), tf.expandDims(v, 1) as tf.Tensor3D, s, items);
  }

  private loss(args: LossArgs): tf.Scalar {
    const logits = tf.squeeze(this.logits(this.rowFeatures(args, args.batch.batch.item)), [1]) as tf.Tensor2D; // [B, T]
    const y = tf.clipByValue(args.batch.labels, 0, 1);
    // the labels were drawn where the rows were shown: both losses read the slot's term
    const shown = this.positioned(logits, args.batch.batch.position);
    const each = bceWithLogits(shown, y);
    const bce = tf.mean(this.labelWeights ? tf.mul(each, this.labelWeights(args)) : each) as tf.Scalar;
    const pointwise = this.options.lossWeight === 1 ? bce : (tf.mul(bce, this.options.lossWeight) as tf.Scalar);
    return this.options.listwiseWeight > 0 ? (tf.add(pointwise, tf.mul(this.listwise(shown, args), this.options.listwiseWeight)) as tf.Scalar) : pointwise;
  }

  /** The labels' logits: `logits [B, T]` plus the position term of each row (when there is one). */
  private positioned(logits: tf.Tensor2D, position: Int32Array | undefined): tf.Tensor2D {
    const table = this.positionTable;
    if (!table || !position) return logits;
    const last = table.rows - 1;
    return tf.add(logits, table.lookup(Int32Array.from(position, (p) => (p < 0 ? 0 : p > last ? last : p)))) as tf.Tensor2D;
  }

  /** `-sum_r y_r log softmax_request(log value)_r / sum_r y_r` over rows in requests of two or more; 0 without any. */
  private listwise(logits: tf.Tensor2D, args: LossArgs): tf.Scalar {
    const { batch } = args.batch;
    const B = batch.size;
    const T = this.config.schema.tasks.length;
    const groups = requestGroups(batch.user);
    const y = new Float32Array(B);
    let total = 0;
    for (let r = 0; r < B; r++) {
      if (groups.inRequest[r] === 0) continue;
      let v = 0;
      for (let t = 0; t < T; t++) v += this.config.valueWeights[t]! * Math.min(1, Math.max(0, batch.labels[r * T + t]!));
      y[r] = v;
      total += v;
    }
    if (total === 0) return tf.scalar(0);
    const score = tf.reshape(tf.log(tf.maximum(this.value(tf.expandDims(logits, 1) as tf.Tensor3D), 1e-6)), [1, B]);
    const logP = tf.logSoftmax(tf.add(score, tf.tensor2d(groups.outside, [B, B]))); // row r: its request
    const own = tf.sum(tf.mul(logP, tf.eye(B)), 1); // log p of row r within its request
    return tf.div(tf.neg(tf.sum(tf.mul(own, tf.tensor1d(y)))), total) as tf.Scalar;
  }

  private rerank(args: Parameters<ReRanker['rerank']>[0]): Array<{ items: Int32Array; scores: Float32Array }> {
    const { candidates, k } = args;
    const n = candidates.length;
    const D = this.config.dim;
    const M = Math.max(1, ...candidates.map((c) => c.items.length));
    const V = new Float32Array(n * M * D);
    const s = new Float32Array(n * M);
    const items = new Int32Array(n * M); // padding columns read item 0 and are cut off below
    candidates.forEach((c: Candidates, r) => {
      items.set(c.items, r * M);
      V.set(c.vectors.subarray(0, c.items.length * D), r * M * D);
      s.set(c.scores.subarray(0, c.items.length), r * M);
    });
    const values = tf.tidy(() => {
      const z = this.features(this.userEmbeddings(args.userInput), tf.tensor3d(V, [n, M, D]), tf.tensor2d(s, [n, M]), items);
      return this.value(this.logits(z));
    });
    const all = takeValues(values);
    const beta = this.options.retrievalWeight / this.config.temperature;
    return candidates.map((c, r) => {
      // padding columns (users with fewer than M candidates) are cut off before the top-k
      const row = all.subarray(r * M, r * M + c.items.length);
      if (beta > 0) for (let j = 0; j < row.length; j++) row[j] = Math.log(Math.max(row[j]!, 1e-12)) + beta * c.scores[j]!;
      const top = topKExcluding(row, Math.min(k, row.length));
      return { items: Int32Array.from(top, (j) => c.items[j]!), scores: Float32Array.from(top, (j) => row[j]!) };
    });
  }
}

/** The `light-ranker` stage definition (MODEL.md section 4). */
export const lightRanker: StageDefinition = {
  name: 'light-ranker',
  create(options, ctx) {
    return new LightRanker(resolveLightRankerOptions(options, ctx.config), ctx.config, ctx.params);
  },
};
