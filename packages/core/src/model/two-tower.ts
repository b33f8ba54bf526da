/**
 * The two-tower model of MODEL.md section 1, built from the extension points in `stages.ts`.
 *
 * user tower: concat(E_user[u], MLP_u(userFeatures), ...encoders) -> Linear -> q [B, DI]
 * item tower: concat(E_item[i], MLP_i(itemFeatures))              -> Linear -> v [B, DI]
 * loss: weighted in-batch softmax over S = q v^T / temperature - log Q(j), other rows' copies of
 * the positive masked, optional uniform extra negatives; weights nuv = labels . w, clamped at
 * 1e-6 and divided by the batch max; a batch without any positive value adds no softmax term.
 */
import * as tf from '../runtime/tf.js';
import { stopGradient } from '../runtime/stop-gradient.js';
import { takeValues } from '../runtime/storage.js';
import { l2NormalizeRows, softmaxCrossEntropyRows } from '../runtime/fused-ops.js';
import type { LogitTerms } from '../runtime/linalg.js';
import { ConfigError, OutOfRangeError, ShapeError, StateError, UnknownIdError, ValueError } from '../errors.js';
import type { Batch, ItemId } from '../data/types.js';
import { gatherRows } from '../data/batches.js';
import { Dense, Mlp } from '../nn/dense.js';
import { weightedPositionSum } from '../nn/pooling.js';
import type { Embedding } from '../nn/embedding.js';
import { Rng } from '../nn/init.js';
import { ParameterStore } from '../nn/params.js';
import type { TwoTowerConfig } from './config.js';
import { FrequencyEstimator } from './frequency.js';
import type { BatchTensors, Stage, StageDefinition, UserInput } from './stages.js';

/** The catalogue a model serves: vocabularies and the per-entity feature tables. */
export interface ModelData {
  /** user index -> the dataset's own user id */
  readonly userIds: readonly ItemId[];
  /** item index -> the catalogue's item id */
  readonly itemIds: readonly ItemId[];
  /** `[numUsers * IU]` */
  readonly userFeatures: Float32Array;
  /** `[numItems * II]` */
  readonly itemFeatures: Float32Array;
}

/**
 * What a model keeps between training steps besides its parameters: the logQ frequency estimate,
 * the mixed-negative sampler's and the id dropout's positions and each stage's own state (see {@link StageTrainingState}).
 */
export interface ModelTrainingState {
  /** the random position of the mixed-negative sampler ({@link Rng.getState}) */
  readonly negativeSampler: number;
  /** the per-user id dropout's random position (absent in states saved before it was kept: left as it is) */
  readonly idDropout?: number;
  /** the logQ estimator's step count, last sightings (-1 = never) and gaps (views, see {@link FrequencyEstimator.getState}) */
  readonly frequency: {
    /** steps observed */
    readonly step: number;
    /** `[buckets]` the step each bucket was last seen at */
    readonly lastStep: ArrayLike<number>;
    /** `[buckets]` the gaps' moving averages */
    readonly gap: ArrayLike<number>;
  };
  /** by stage name, what each stage with a `trainingState` saved */
  readonly stages: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** One step's loss: the total and its named terms (scalars inside the caller's tidy). */
export interface LossTerms {
  /** the sum of the terms: what the optimizer minimises */
  readonly total: tf.Scalar;
  /** each term by name: `softmax`, then `<stage>.weighting`, `<stage>.head`, `<stage>.batch` */
  readonly terms: ReadonlyMap<string, tf.Scalar>;
}

const MASK = -1e9; // finite: -Infinity turns a fully masked row into NaN

/**
 * The two-tower retrieval model: user and item towers into one space, trained by weighted in-batch softmax.
 */
export class TwoTowerModel {
  /** every parameter of the model and its stages, by name */
  readonly params: ParameterStore;
  /** the stages the config names, created in config order */
  readonly stages: readonly Stage[];
  /** the user-id table of the user tower */
  readonly userEmbedding: Embedding;
  /** the item-id table of the item tower (shared with stages, e.g. history encoders) */
  readonly itemEmbedding: Embedding;
  private readonly userMlp: Mlp | undefined;
  /** `a [historyPooling]`: the pooling's learned logit per history position (newest first) */
  private readonly historyPositions: tf.Variable | undefined;
  private readonly itemMlp: Mlp | undefined;
  private readonly userProjection: Dense;
  private readonly itemProjection: Dense;
  private readonly frequency: FrequencyEstimator;
  private readonly negativeRng: Rng;
  private readonly idDropoutRng: Rng | undefined;
  private userTrainingRows: Int32Array | undefined;
  private readonly itemIndexById = new Map<ItemId, number>();
  private readonly userIndexById = new Map<ItemId, number>();

  private constructor(
    /** the resolved config the model was built from (stored in checkpoints) */
    readonly config: TwoTowerConfig,
    /** the catalogue the model serves */
    readonly data: ModelData,
    definitions: readonly StageDefinition[],
  ) {
    const { schema, dim, hidden } = config;
    checkData(config, data);
    const rng = new Rng(config.seed);
    this.params = new ParameterStore(rng.fork(1));
    this.negativeRng = rng.fork(2);
    this.userEmbedding = this.params.addEmbedding('user.embedding', config.userRows, dim);
    this.itemEmbedding = this.params.addEmbedding('item.embedding', config.itemRows, dim);
    this.userMlp = schema.userFeatureDim > 0 ? new Mlp(this.params, 'user.mlp', [schema.userFeatureDim, hidden, dim]) : undefined;
    this.historyPositions = config.historyPooling > 0 ? this.params.addDense('user.history.positions', [config.historyPooling], new Float32Array(config.historyPooling)) : undefined;
    this.itemMlp = schema.itemFeatureDim > 0 ? new Mlp(this.params, 'item.mlp', [schema.itemFeatureDim, hidden, dim]) : undefined;

    const stages: Stage[] = [];
    for (const [i, sc] of config.stages.entries()) {
      const def = definitions.find((d) => d.name === sc.name);
      if (!def) {
        throw new ConfigError(`stages[${i}]`, `uses stage "${sc.name}"; pass its definition (from its package) when creating or loading the model`);
      }
      stages.push(def.create(sc.options ?? {}, {
        config, params: this.params, itemEmbedding: this.itemEmbedding, userEmbedding: this.userEmbedding, rng: rng.fork(100 + i),
      }));
    }
    this.stages = stages;
    const extra = stages.reduce((n, s) => n + (s.userInput?.dim ?? 0), 0);
    const userIn = dim + (this.userMlp ? dim : 0) + (config.historyPooling > 0 ? dim : 0) + extra;
    for (const s of stages) s.build?.({ userInputWidth: userIn, stages });
    this.userProjection = new Dense(this.params, 'user.projection', userIn, dim);
    this.itemProjection = new Dense(this.params, 'item.projection', dim + (this.itemMlp ? dim : 0), dim);
    this.frequency = new FrequencyEstimator(Math.min(config.itemRows, 1 << 22), config.logQAlpha, 100);
    data.itemIds.forEach((id, i) => this.itemIndexById.set(id, i));
    data.userIds.forEach((id, i) => this.userIndexById.set(id, i));
    // forked last and only when used: every other stream stays as it was without id dropout
    // (checkpoints written before the option existed have no field: off)
    this.idDropoutRng = (config.userIdDropout ?? 0) > 0 || (config.userIdDropoutRows ?? 0) > 0 ? rng.fork(3) : undefined;
  }

  /**
   * Builds a model for `config` over `data`, with the stage definitions its config names.
   * @throws ConfigError when a named stage has no definition; ShapeError for feature tables
   */
  static create(config: TwoTowerConfig, data: ModelData, definitions: readonly StageDefinition[] = []): TwoTowerModel {
    return new TwoTowerModel(config, data, definitions);
  }

  /**
   * Each user's training items, `[numUsers]`, read by per-user id dropout (`userIdDropoutRows`);
   * fitTwoTower counts them in the training log: positives, and the ranker's scored rows when a
   * stage trains on them (`Stage.trainsOnScoredRows`).
   * @throws ShapeError when there is not one count per user
   */
  setUserTrainingRows(rows: Int32Array): void {
    if (rows.length !== this.data.userIds.length) throw new ShapeError('userTrainingRows', `[${this.data.userIds.length}]`, `[${rows.length}]`);
    this.userTrainingRows = rows;
  }

  /** History items per user the user tower reads (the longest any encoder asks for). */
  get historyLength(): number {
    return Math.max(this.config.historyPooling, ...this.stages.map((s) => s.userInput?.historyLength ?? 0));
  }

  /** Dense variables, for the dense optimizer. */
  denseVariables(): tf.Variable[] {
    return [...this.params.dense.values()];
  }

  /** Embedding tables, for the row-sparse optimizer. */
  embeddings(): Embedding[] {
    return [...this.params.embeddings.values()];
  }

  /** Whether `id` has a row in the user vocabulary (a numeric string also finds an integer id). */
  hasUser(id: ItemId): boolean {
    return lookupId(this.userIndexById, id) !== undefined;
  }

  /**
   * The user index of a vocabulary id (a numeric string also finds an integer id).
   * @throws UnknownIdError for an id without a row: check {@link hasUser} first, or serve through
   *   `Retriever.serve`, which answers unknown users by cold start
   */
  userIndex(id: ItemId): number {
    const u = lookupId(this.userIndexById, id);
    if (u === undefined) throw new UnknownIdError('userId', id);
    return u;
  }

  /** Whether `id` is in the catalogue (a numeric string also finds an integer id). */
  hasItem(id: ItemId): boolean {
    return lookupId(this.itemIndexById, id) !== undefined;
  }

  /**
   * The item index of a catalogue id (a numeric string also finds an integer id).
   * @throws UnknownIdError for an id not in the catalogue (check {@link hasItem} first)
   */
  itemIndex(id: ItemId): number {
    const i = lookupId(this.itemIndexById, id);
    if (i === undefined) throw new UnknownIdError('itemId', id);
    return i;
  }

  /**
   * The user side of `users` from the stored feature table (no history). A user index of -1 is a
   * user without an id row (cold start): zero features here, a zero id vector in the tower.
   * @throws OutOfRangeError for an index outside [-1, numUsers)
   */
  userInputOf(users: Int32Array, history?: Int32Array, historyLength = 0): UserInput {
    const n = this.data.userIds.length;
    let cold = false;
    for (let i = 0; i < users.length; i++) {
      const u = users[i]!;
      if (!Number.isInteger(u) || u < -1 || u >= n) throw new OutOfRangeError('users', `user index ${u} at ${i} is outside [-1, ${n})`);
      if (u < 0) cold = true;
    }
    const IU = this.config.schema.userFeatureDim;
    const userFeatures = gatherRows(this.data.userFeatures, IU, cold ? users.map((u) => Math.max(u, 0)) : users);
    if (cold) users.forEach((u, i) => u < 0 && userFeatures.fill(0, i * IU, (i + 1) * IU));
    return { size: users.length, user: users, userFeatures, history, historyLength };
  }

  /**
   * `[n, user tower input width]`: id embedding, feature MLP, pooled history, encoder columns. A
   * user index of -1 (no id row: a new user) gets a zero id vector, so its query comes from its
   * features and history alone (the serving cold-start path; the README of `@tt/core` has the
   * measurement).
   */
  userTowerInput(input: UserInput, training = false): tf.Tensor2D {
    let id = this.userEmbedding.lookup(input.user) as tf.Tensor2D;
    let keep = input.user.some((u) => u < 0) ? Float32Array.from(input.user, (u) => (u < 0 ? 0 : 1)) : undefined;
    if (training && this.idDropoutRng) {
      // id dropout: these rows train the cold-start input (zero id vector), unscaled, as served
      keep ??= new Float32Array(input.size).fill(1);
      const c = this.config.userIdDropoutRows ?? 0;
      const rows = this.userTrainingRows;
      if (c > 0 && !rows) throw new StateError('userIdDropoutRows needs each user\'s training rows: call model.setUserTrainingRows before training (fitTwoTower does)');
      for (let i = 0; i < input.size; i++) {
        const u = input.user[i]!;
        if (u < 0) continue; // no id row: already zero
        const rate = c > 0 && rows ? c / (c + rows[u]!) : this.config.userIdDropout;
        if (this.idDropoutRng.uniform() < rate) keep[i] = 0;
      }
    }
    if (keep) id = tf.mul(id, tf.tensor2d(keep, [input.size, 1]));
    const parts: tf.Tensor2D[] = [id];
    if (this.userMlp) parts.push(this.userMlp.apply(tf.tensor2d(input.userFeatures, [input.size, this.config.schema.userFeatureDim])));
    if (this.config.historyPooling > 0) parts.push(this.pooledHistory(input));
    for (const s of this.stages) if (s.userInput) parts.push(s.userInput.encode(input, training));
    return parts.length === 1 ? parts[0]! : tf.concat(parts, 1);
  }

  /** Query embeddings `[n, DI]` of a user tower input (normalised when configured). */
  queryFromInput(x: tf.Tensor2D): tf.Tensor2D {
    const q = this.userProjection.apply(x);
    return this.config.normalize ? l2NormalizeRows(q) : q;
  }

  /** Query embeddings `[n, DI]` in the retrieval space. */
  queryEmbeddings(input: UserInput): tf.Tensor2D {
    return tf.tidy(() => this.queryFromInput(this.userTowerInput(input, false)));
  }

  /** Item embeddings `[n, DI]` in the retrieval space, features from `features` or the table. */
  itemEmbeddings(items: Int32Array, features?: Float32Array): tf.Tensor2D {
    return tf.tidy(() => {
      const v = this.itemProjection.apply(this.itemTowerInput(items, features ?? this.itemFeaturesOf(items)));
      return this.config.normalize ? l2NormalizeRows(v) : v;
    });
  }

  /** Item embeddings of the whole catalogue, in chunks (bounded memory), as one Float32Array. */
  catalogueEmbeddings(chunk = 8192): Float32Array {
    const n = this.data.itemIds.length;
    const out = new Float32Array(n * this.config.dim);
    for (let start = 0; start < n; start += chunk) {
      const items = new Int32Array(Math.min(chunk, n - start)).map((_, i) => start + i);
      out.set(takeValues(this.itemEmbeddings(items)), start * this.config.dim);
    }
    return out;
  }

  /**
   * The training loss of one (validated) batch. Call inside `tf.tidy` / a gradient function.
   */
  loss(batch: Batch): LossTerms {
    const { config } = this;
    const B = batch.size;
    const T = config.schema.tasks.length;
    const tensors: BatchTensors = {
      batch,
      labels: tf.tensor2d(batch.labels, [B, T]),
      position: batch.position ? tf.tensor1d(batch.position, 'int32') : undefined,
      ...loggedScoreTensors(batch.rankerScores, B, T),
    };
    const x = this.userTowerInput(batch, true);
    const qRaw = this.userProjection.apply(x);
    const vRaw = this.itemProjection.apply(this.itemTowerInput(batch.item, batch.itemFeatures));
    const q = config.normalize ? l2NormalizeRows(qRaw) : qRaw;
    const v = config.normalize ? l2NormalizeRows(vRaw) : vRaw;

    // candidates: the batch's items, then optional uniform extra negatives
    const M = config.mixedNegatives;
    const candItems = new Int32Array(B + M);
    candItems.set(batch.item);
    for (let j = 0; j < M; j++) candItems[B + j] = this.negativeRng.int(config.schema.numItems);
    let candidates = v;
    if (M > 0) {
      const extra = candItems.subarray(B);
      const vExtraRaw = this.itemProjection.apply(this.itemTowerInput(extra, this.itemFeaturesOf(extra)));
      candidates = tf.concat([v, config.normalize ? l2NormalizeRows(vExtraRaw) : vExtraRaw], 0);
    }
    const logitTerms = this.logitTerms(batch.item, candItems);
    const invT = 1 / config.temperature;
    // one kernel each way; the logits themselves are made only for a stage that reads them
    const crossEntropy = softmaxCrossEntropyRows(q, candidates, logitTerms, invT);
    // each row's own score (for weighting stages that read the towers' relevance)
    const pairScore = tf.mul(tf.sum(tf.mul(q, v), 1), invT) as tf.Tensor1D;

    // nuv = labels . w, clamped and scaled by the batch max (constants of the loss)
    const w = config.valueWeights;
    const nuvValues = new Float32Array(B);
    let maxNuv = 0;
    for (let i = 0; i < B; i++) {
      let s = 0;
      for (let t = 0; t < T; t++) s += batch.labels[i * T + t]! * w[t]!;
      nuvValues[i] = s;
      if (s > maxNuv) maxNuv = s;
    }
    // a batch without value weighs nothing (the sketch's 1e-6 / 1e-6 = 1 made its negatives positives)
    for (let i = 0; i < B; i++) nuvValues[i] = maxNuv > 0 ? Math.max(nuvValues[i]!, 1e-6) / maxNuv : 0;
    const nuv = tf.tensor1d(nuvValues);
    const terms = new Map<string, tf.Scalar>();
    let weights: tf.Tensor1D = nuv;
    for (const s of this.stages) {
      if (!s.weighting) continue;
      const out = s.weighting.weigh({ weights, nuv, q: qRaw, pairScore, batch: tensors });
      weights = out.weights;
      if (out.loss) terms.set(`${s.name}.weighting`, out.loss);
    }
    weights = stopGradient(weights);
    // a batch with no positive value has nothing to learn from the softmax (MODEL.md correction);
    // a weighting stage may have given value to rows the labels did not (e.g. logged ranker values)
    const reweighted = terms.size > 0 || this.stages.some((s) => s.weighting);
    const hasValue = maxNuv > 0 || (reweighted && (tf.max(weights).dataSync()[0] ?? 0) > 0);
    if (hasValue) terms.set('softmax', tf.div(tf.sum(tf.mul(crossEntropy, weights)), B) as tf.Scalar);
    let logits: tf.Tensor2D | undefined;
    const lossArgs = {
      userInput: x, q, v, weights, batch: tensors,
      get logits(): tf.Tensor2D {
        logits ??= logitsOf(q, candidates, logitTerms, invT);
        return logits;
      },
    };
    for (const s of this.stages) {
      if (s.auxiliaryHead) terms.set(`${s.name}.head`, s.auxiliaryHead.loss(lossArgs));
      if (s.batchLoss) terms.set(`${s.name}.batch`, s.batchLoss.loss(lossArgs));
    }
    const all = [...terms.values()];
    // nothing to learn from this batch: a zero still connected to the variables, so a gradient
    // step over it is a no-op rather than tfjs's "no connection between variables and loss" error
    const total = (all.length === 0 ? tf.mul(tf.sum(crossEntropy), 0) : all.length === 1 ? all[0]! : tf.addN(all)) as tf.Scalar;
    return { total, terms };
  }

  /** Records a training batch's items in the logQ frequency estimate (once per step). */
  observeBatch(batch: Batch): void {
    if (this.config.logQ) this.frequency.observe(batch.item);
  }

  /** The state training keeps besides the parameters (arrays are views: copy to keep them past the next step). */
  getTrainingState(): ModelTrainingState {
    const stages: Record<string, Readonly<Record<string, unknown>>> = {};
    for (const s of this.stages) if (s.trainingState) stages[s.name] = s.trainingState.save();
    return { negativeSampler: this.negativeRng.getState(), ...(this.idDropoutRng ? { idDropout: this.idDropoutRng.getState() } : {}), frequency: this.frequency.getState(), stages };
  }

  /**
   * Continues training from a state {@link TwoTowerModel.getTrainingState} returned.
   * @throws ValueError when a stage of this model has no saved state; ShapeError for arrays of another size
   */
  setTrainingState(state: ModelTrainingState): void {
    this.negativeRng.setState(state.negativeSampler);
    if (this.idDropoutRng && state.idDropout !== undefined) this.idDropoutRng.setState(state.idDropout);
    this.frequency.setState(state.frequency);
    for (const s of this.stages) {
      if (!s.trainingState) continue;
      const saved = state.stages[s.name];
      if (!saved) throw new ValueError(`trainingState.stages.${s.name}`, 'missing: the state was saved from a model without this stage');
      s.trainingState.restore(saved);
    }
  }

  /** Frees every parameter; the model is unusable afterwards. */
  dispose(): void {
    this.params.dispose();
  }

  /**
   * The first `historyPooling` history entries' item embeddings, averaged with weights
   * `softmax(a)` over the valid positions, `[n, DI]` (zeros without history). `a [H]` is learned
   * and starts at 0 (the plain mean): the model finds how much recency matters (a log without a
   * clock samples its histories at random, so no position can learn to matter).
   */
  private pooledHistory(input: UserInput): tf.Tensor2D {
    const H = this.config.historyPooling;
    const n = input.size;
    const stride = input.historyLength;
    const history = input.history;
    if (!history || stride < H) {
      throw new ShapeError('input.history', `${H} history items per user (newest first, -1 padded): the model pools them (historyPooling)`, history ? `${stride}` : 'none');
    }
    let L = 0; // the last valid slot of any row: later slots are padding everywhere
    for (let r = 0; r < n; r++) for (let j = H - 1; j >= L; j--) if (history[r * stride + j]! >= 0) (L = j + 1), (j = -1);
    if (L === 0) return tf.zeros([n, this.config.dim]);
    const ids = new Int32Array(n * L);
    const mask = new Float32Array(n * L); // 0 on valid slots, MASK on padding
    const has = new Float32Array(n);
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < L; j++) {
        if ((ids[r * L + j] = history[r * stride + j]!) >= 0) has[r] = 1;
        else mask[r * L + j] = MASK;
      }
    }
    const logits = tf.add(tf.reshape(tf.slice(this.historyPositions!, [0], [L]), [1, L]), tf.tensor2d(mask, [n, L]));
    const weights = tf.mul(tf.softmax(logits), tf.tensor2d(has, [n, 1])) as tf.Tensor2D;
    return weightedPositionSum(this.itemEmbedding.lookup(ids, [n, L]) as tf.Tensor3D, weights);
  }

  private itemTowerInput(items: Int32Array, features: Float32Array): tf.Tensor2D {
    const e = this.itemEmbedding.lookup(items) as tf.Tensor2D;
    if (!this.itemMlp) return e;
    return tf.concat([e, this.itemMlp.apply(tf.tensor2d(features, [items.length, this.config.schema.itemFeatureDim]))], 1);
  }

  private itemFeaturesOf(items: Int32Array): Float32Array {
    return gatherRows(this.data.itemFeatures, this.config.schema.itemFeatureDim, items);
  }

  /** Additive logit terms: -log Q(j) per candidate, and the accidental hits to mask (-1e9). */
  private logitTerms(rowItems: Int32Array, candItems: Int32Array): LogitTerms {
    const B = rowItems.length;
    const C = candItems.length;
    const { logQ, removeAccidentalHits, schema, mixedNegatives } = this.config;
    const columnBias = new Float32Array(C);
    if (logQ) {
      for (let j = 0; j < B; j++) columnBias[j] = -this.frequency.logProbability(candItems[j]!);
      const uniform = -Math.log(mixedNegatives / schema.numItems);
      for (let j = B; j < C; j++) columnBias[j] = uniform;
    }
    const masked: number[] = [];
    if (removeAccidentalHits) {
      // rows sharing a positive item: bucket by item, mask the other members' columns
      const rowsOf = new Map<number, number[]>();
      for (let i = 0; i < B; i++) {
        const list = rowsOf.get(rowItems[i]!);
        if (list) list.push(i);
        else rowsOf.set(rowItems[i]!, [i]);
      }
      for (const rows of rowsOf.values()) {
        if (rows.length < 2) continue;
        for (const i of rows) for (const j of rows) if (i !== j) masked.push(i * C + j);
      }
      for (let j = B; j < C; j++) {
        const rows = rowsOf.get(candItems[j]!);
        if (rows) for (const i of rows) masked.push(i * C + j);
      }
    }
    return { columnBias, masked: Int32Array.from(masked).sort() };
  }
}

/** The logits `[B, C]` of the in-batch softmax as a tensor (for stages that read them). */
function logitsOf(q: tf.Tensor2D, candidates: tf.Tensor2D, terms: LogitTerms, scale: number): tf.Tensor2D {
  const [B] = q.shape;
  const C = candidates.shape[0];
  const bias = new Float32Array(B * C);
  for (let r = 0; r < B; r++) bias.set(terms.columnBias, r * C);
  for (const k of terms.masked) bias[k] = MASK;
  return tf.add(tf.mul(tf.matMul(q, candidates, false, true), scale), tf.tensor2d(bias, [B, C])) as tf.Tensor2D;
}

/** A vocabulary lookup that also finds an integer id given as its decimal string (ids from text or JSON). */
function lookupId(byId: ReadonlyMap<ItemId, number>, id: ItemId): number | undefined {
  return byId.get(id) ?? (typeof id === 'string' && /^-?\d+$/.test(id) ? byId.get(Number(id)) : undefined);
}

function checkData(config: TwoTowerConfig, data: ModelData): void {
  const { schema } = config;
  if (data.userIds.length !== schema.numUsers) throw new ShapeError('data.userIds', `${schema.numUsers} ids (schema.numUsers)`, `${data.userIds.length}`);
  if (data.itemIds.length !== schema.numItems) throw new ShapeError('data.itemIds', `${schema.numItems} ids (schema.numItems)`, `${data.itemIds.length}`);
  if (data.userFeatures.length !== schema.numUsers * schema.userFeatureDim) {
    throw new ShapeError('data.userFeatures', `[${schema.numUsers} * ${schema.userFeatureDim}] floats`, `${data.userFeatures.length}`);
  }
  if (data.itemFeatures.length !== schema.numItems * schema.itemFeatureDim) {
    throw new ShapeError('data.itemFeatures', `[${schema.numItems} * ${schema.itemFeatureDim}] floats`, `${data.itemFeatures.length}`);
  }
}

/**
 * The batch's logged ranker scores as tensors: missing entries (NaN: a row the ranker did not
 * score) become 0 in `rankerScores` and 0 in `rankerScoreMask`, so no NaN reaches a loss.
 */
function loggedScoreTensors(scores: Float32Array | undefined, B: number, T: number): Pick<BatchTensors, 'rankerScores' | 'rankerScoreMask'> {
  if (!scores) return {};
  let missing = 0;
  for (let i = 0; i < scores.length; i++) if (Number.isNaN(scores[i]!)) missing++;
  if (missing === 0) return { rankerScores: tf.tensor2d(scores, [B, T]), rankerScoreMask: tf.ones([B, T]) };
  const values = new Float32Array(scores.length);
  const mask = new Float32Array(scores.length);
  for (let i = 0; i < scores.length; i++) {
    const logged = !Number.isNaN(scores[i]!);
    values[i] = logged ? scores[i]! : 0;
    mask[i] = logged ? 1 : 0;
  }
  return { rankerScores: tf.tensor2d(values, [B, T]), rankerScoreMask: tf.tensor2d(mask, [B, T]) };
}
