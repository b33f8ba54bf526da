/**
 * Serving: the item tower over the whole catalogue fills a `@tt/mips` index (ids are the
 * catalogue's own item ids) or any other {@link SearchIndex} (a vector engine's table); a request
 * runs the user tower, searches the index excluding what the user has seen, and lets a stage's
 * re-ranker re-order the candidates when the model has one.
 *
 * {@link Retriever.serve} answers requests by id, and answers users without an id row too (cold
 * start): a new user is embedded from what the request carries (dense features, recent items for
 * a history encoder) with a zero id vector, or, when the model can use none of it, gets the
 * popularity list. Every answer names the path that served it.
 *
 * Not done here: filtering inside the HNSW graph (an allow-list is scored exactly over its own
 * items), per-request re-ranker settings.
 */
import { ExactIndex, HnswIndex, type HnswIndexOptions, type ItemId, type MipsIndex, type SearchIndex } from '@tt/mips';
import * as tf from '../runtime/tf.js';
import { ConfigError, MismatchError, OutOfRangeError, ShapeError, StateError, ValueError } from '../errors.js';
import { takeValues } from '../runtime/storage.js';
import { gatherRows } from '../data/batches.js';
import type { TwoTowerModel } from '../model/two-tower.js';
import type { Candidates, UserInput } from '../model/stages.js';
import type { LoadedCheckpoint } from '../io/checkpoint.js';

/** Options of {@link Retriever.build} and {@link buildItemIndex}: which index to build. */
export interface RetrieverOptions {
  /** 'exact' (default up to 200,000 items) or 'hnsw' (approximate, for large catalogues) */
  readonly index?: 'exact' | 'hnsw';
  /** build and search knobs of the HNSW index (its `dim` is the model's) */
  readonly hnsw?: Omit<HnswIndexOptions, 'dim'>;
  /** worker threads of the exact index */
  readonly threads?: number;
  /** what the retriever knows of the users beyond the model (seen items, histories, popularity) */
  readonly data?: ServingData;
}

/** What a retriever knows beyond the model, as a checkpoint stores it; every field optional. */
export interface ServingData {
  /** per user index: item indices seen in training, excluded from that user's answers */
  readonly seen?: readonly Int32Array[];
  /** `[numUsers * H]` each user's latest history (newest first, -1 padded), for history encoders */
  readonly histories?: Int32Array;
  /**
   * `[numItems]` item popularity (training counts): the answer for a user the model cannot embed.
   * Without it, counts of the users in `seen` who saw each item stand in.
   */
  readonly popularity?: Float32Array;
}

/** One user's retrieved items, best first. */
export interface RetrievalResult {
  /** catalogue item ids, best first */
  readonly items: ItemId[];
  /** the final scores (inner products, the re-ranker's, or popularity counts), same order as `items` */
  readonly scores: Float32Array;
}

/**
 * Which path served a request: `id` (the user's own id row), `features` / `history` /
 * `features+history` (cold start: a user without an id row, embedded from what the request
 * carries, with a zero id vector), `popularity` (nothing the model can embed).
 */
export type ServingPath = 'id' | 'features' | 'history' | 'features+history' | 'popularity';

/** The paths of {@link ServingPath}, in a fixed order (e.g. for metrics). */
export const SERVING_PATHS: readonly ServingPath[] = ['id', 'features', 'history', 'features+history', 'popularity'];

/** One request to {@link Retriever.serve}: who the user is (any subset) and what to return. */
export interface UserRequest {
  /** the user's id; an id without a row (or none) is served by cold start */
  readonly userId?: ItemId;
  /** `[IU]` dense user features; for a known user they replace the stored ones */
  readonly userFeatures?: ArrayLike<number>;
  /**
   * recent item ids, newest first, read by the model's history encoder (for a known user they
   * replace the stored history). Ids not in the catalogue are skipped and counted.
   */
  readonly history?: readonly ItemId[];
  /** items to return, 1 to the catalogue size */
  readonly k: number;
  /** item ids never to return (ids not in the catalogue are ignored) */
  readonly exclude?: readonly ItemId[];
  /**
   * also return what the user already has: a known user's training items and the request's
   * history items (default false: both are excluded)
   */
  readonly includeSeen?: boolean;
  /** only these item ids may be returned (an allow-list; ids not in the catalogue are ignored) */
  readonly filter?: {
    /** the allowed item ids */
    readonly items: readonly ItemId[];
  };
}

/** The answer to one {@link UserRequest}: at most `k` items (fewer when exclusions or the filter leave fewer). */
export interface ServedResult extends RetrievalResult {
  /** the path that served the request */
  readonly path: ServingPath;
  /** history ids of the request that are not in the catalogue (skipped) */
  readonly unknownHistory: number;
}

/** Per-request options of {@link Retriever.retrieve}. */
export interface RetrieveOptions {
  /** per user: item indices to leave out (e.g. everything the user has seen) */
  readonly exclude?: ReadonlyArray<ArrayLike<number> | undefined>;
  /** per user histories for history encoders: `[n * H]`, newest first, -1 padding */
  readonly history?: Int32Array;
  /** H of `history` (default 0: no history) */
  readonly historyLength?: number;
}

/** Builds the index of the model's catalogue. */
export async function buildItemIndex(model: TwoTowerModel, options: RetrieverOptions = {}): Promise<MipsIndex> {
  const n = model.data.itemIds.length;
  const kind = options.index ?? (n <= 200_000 ? 'exact' : 'hnsw');
  if (kind !== 'exact' && kind !== 'hnsw') throw new ConfigError('index', `must be "exact" or "hnsw", got ${JSON.stringify(kind)}`);
  const dim = model.config.dim;
  const index: MipsIndex = kind === 'exact' ? new ExactIndex({ dim, threads: options.threads }) : new HnswIndex({ dim, ...options.hnsw });
  index.add(model.data.itemIds, model.catalogueEmbeddings());
  return index;
}

/** A request resolved against the model: indices, features, history, exclusions. */
interface Resolved {
  readonly order: number;
  readonly path: ServingPath;
  readonly user: number;
  readonly features: ArrayLike<number> | undefined;
  readonly history: Int32Array | undefined;
  readonly unknownHistory: number;
  readonly exclude: Set<ItemId> | undefined;
  readonly allowed: ItemId[] | undefined;
  readonly k: number;
}

/**
 * Serves a trained model: top-k catalogue items per user through a `@tt/mips` index (or any
 * {@link SearchIndex}: `I` is the index's type, a `MipsIndex` for {@link Retriever.build} and
 * {@link Retriever.fromCheckpoint}).
 */
export class Retriever<I extends SearchIndex = SearchIndex> {
  private readonly data: ServingData;
  private popularityOrder: Int32Array | undefined;
  private popularityValues: Float32Array | undefined;
  private meanFeatures: Float32Array | undefined;

  private constructor(
    /** the model whose user tower (and re-ranker, if any) answers requests */
    readonly model: TwoTowerModel,
    /** the index of the model's catalogue embeddings */
    readonly index: I,
    data: ServingData = {},
  ) {
    const { userIds, itemIds } = model.data;
    if (data.seen && data.seen.length !== userIds.length) throw new ShapeError('data.seen', `one list per user (${userIds.length})`, `${data.seen.length}`);
    if (data.popularity && data.popularity.length !== itemIds.length) throw new ShapeError('data.popularity', `[${itemIds.length}]`, `[${data.popularity.length}]`);
    if (data.histories && data.histories.length % Math.max(1, userIds.length) !== 0) {
      throw new ShapeError('data.histories', `[${userIds.length} * H]`, `${data.histories.length} values`);
    }
    this.data = data;
  }

  /** A retriever over a fresh index of the model's catalogue. */
  static async build(model: TwoTowerModel, options: RetrieverOptions = {}): Promise<Retriever<MipsIndex>> {
    return new Retriever(model, await buildItemIndex(model, options), options.data);
  }

  /**
   * A retriever over an existing index: one loaded with a checkpoint, or any {@link SearchIndex}
   * holding the model's catalogue embeddings under its item ids (e.g. a `@tt/lancedb` table).
   * @throws ConfigError when the index's dimension is not the model's
   */
  static over<I extends SearchIndex>(model: TwoTowerModel, index: I, data?: ServingData): Retriever<I> {
    if (index.dim !== model.config.dim) throw new ConfigError('index', `has dim ${index.dim}, the model ${model.config.dim}`);
    return new Retriever(model, index, data);
  }

  /**
   * A retriever over a loaded checkpoint: its index (built when it has none), its users' seen
   * items and histories, and its popularity list. Disposing the retriever frees the index.
   */
  static async fromCheckpoint(checkpoint: LoadedCheckpoint, options: Omit<RetrieverOptions, 'data'> = {}): Promise<Retriever<MipsIndex>> {
    const data: ServingData = { seen: checkpoint.seen, histories: checkpoint.histories, popularity: checkpoint.popularity };
    return checkpoint.index ? Retriever.over(checkpoint.model, checkpoint.index, data) : Retriever.build(checkpoint.model, { ...options, data });
  }

  /**
   * Top `k` catalogue items for each user index, best first.
   * @throws OutOfRangeError for a user index outside the vocabulary or k outside [1, catalogue]
   */
  async retrieve(users: Int32Array, k: number, options: RetrieveOptions = {}): Promise<RetrievalResult[]> {
    const numUsers = this.model.data.userIds.length;
    for (let i = 0; i < users.length; i++) {
      if (!Number.isInteger(users[i]) || users[i]! < 0 || users[i]! >= numUsers) throw new OutOfRangeError('users', `user index ${users[i]} at ${i} is outside [0, ${numUsers})`);
    }
    this.checkK(k, 'k');
    if (users.length === 0) return [];
    const input = this.model.userInputOf(users, options.history, options.historyLength ?? 0);
    const exclude = options.exclude?.map((items) => (items ? Array.from(items, (i) => this.model.data.itemIds[i]!) : undefined));
    return this.search(input, k, exclude, undefined);
  }

  /**
   * Answers requests by user id or, for users without an id row, by cold start (see
   * {@link ServingPath}); every answer names its path. Requests are validated first, then served
   * in one user-tower pass and one index search per distinct `k`.
   * @throws OutOfRangeError (k outside [1, catalogue]), ShapeError (user features of the wrong
   *   length), ValueError (a non-finite feature, an id that is not a string or integer), each
   *   naming `requests[i].<field>`; StateError when a request needs the popularity list and the
   *   retriever has none (neither `popularity` nor `seen` in its data)
   */
  async serve(requests: readonly UserRequest[]): Promise<ServedResult[]> {
    const resolved = requests.map((r, i) => this.resolve(r, i));
    const out = new Array<ServedResult>(requests.length);
    const byK = new Map<number, Resolved[]>();
    for (const r of resolved) {
      const group = byK.get(r.k);
      if (group) group.push(r);
      else byK.set(r.k, [r]);
    }
    for (const [k, group] of byK) {
      const embedded = group.filter((r) => r.path !== 'popularity');
      for (const r of group) {
        if (r.path === 'popularity') out[r.order] = { ...this.popular(r), path: r.path, unknownHistory: r.unknownHistory };
      }
      if (embedded.length === 0) continue;
      const results = await this.search(this.inputOf(embedded), k, embedded.map((r) => r.exclude), embedded.map((r) => r.allowed));
      embedded.forEach((r, j) => (out[r.order] = { ...results[j]!, path: r.path, unknownHistory: r.unknownHistory }));
    }
    return out;
  }

  /** Frees the index (its workers and memory); the model is not disposed. */
  async dispose(): Promise<void> {
    await this.index.dispose();
  }

  private checkK(k: unknown, field: string): number {
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > this.index.size) {
      throw new OutOfRangeError(field, `must be an integer in [1, ${this.index.size}] (the catalogue size), got ${String(k)}`);
    }
    return k;
  }

  private resolve(r: UserRequest, order: number): Resolved {
    const { model } = this;
    const at = `requests[${order}]`;
    const k = this.checkK(r?.k, `${at}.k`);
    const idOf = (id: unknown, field: string): ItemId => {
      if (typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id))) return id;
      throw new ValueError(field, `must be a string or a safe integer, got ${JSON.stringify(id)}`);
    };
    const userId = r.userId === undefined ? undefined : idOf(r.userId, `${at}.userId`);
    const user = userId !== undefined && model.hasUser(userId) ? model.userIndex(userId) : -1;

    const IU = model.config.schema.userFeatureDim;
    let features: ArrayLike<number> | undefined;
    if (r.userFeatures !== undefined) {
      const f = r.userFeatures;
      if (f.length !== IU) throw new ShapeError(`${at}.userFeatures`, `[${IU}] (the model's user features)`, `[${f.length}]`);
      for (let j = 0; j < f.length; j++) if (!Number.isFinite(f[j])) throw new ValueError(`${at}.userFeatures`, `must be finite numbers, got ${f[j]} at ${j}`);
      features = IU > 0 ? f : undefined;
    }

    const H = model.historyLength;
    let history: Int32Array | undefined;
    let unknownHistory = 0;
    const historyItems: number[] = [];
    if (r.history !== undefined) {
      r.history.forEach((id, j) => {
        const item = idOf(id, `${at}.history[${j}]`);
        if (model.hasItem(item)) historyItems.push(model.itemIndex(item));
        else unknownHistory++;
      });
      if (H > 0 && historyItems.length > 0) {
        history = new Int32Array(H).fill(-1);
        history.set(historyItems.slice(0, H));
      }
    }
    if (user >= 0 && H > 0 && !history && this.data.histories) history = this.data.histories.subarray(user * H, (user + 1) * H);

    const path: ServingPath = user >= 0 ? 'id' : features && history ? 'features+history' : features ? 'features' : history ? 'history' : 'popularity';
    const exclude = new Set<ItemId>();
    const { itemIds } = model.data;
    if (!r.includeSeen) {
      if (user >= 0) for (const i of this.data.seen?.[user] ?? []) exclude.add(itemIds[i]!);
      for (const i of historyItems) exclude.add(itemIds[i]!);
    }
    r.exclude?.forEach((id, j) => {
      const item = idOf(id, `${at}.exclude[${j}]`);
      if (model.hasItem(item)) exclude.add(itemIds[model.itemIndex(item)]!);
    });
    let allowed: ItemId[] | undefined;
    if (r.filter !== undefined) {
      const items = r.filter?.items;
      if (!Array.isArray(items)) throw new ValueError(`${at}.filter.items`, 'must be an array of item ids');
      allowed = [];
      const once = new Set<ItemId>();
      items.forEach((id, j) => {
        const item = idOf(id, `${at}.filter.items[${j}]`);
        if (!model.hasItem(item)) return;
        const canonical = itemIds[model.itemIndex(item)]!;
        if (!once.has(canonical) && !exclude.has(canonical)) (once.add(canonical), allowed!.push(canonical));
      });
    }
    return { order, path, user, features, history, unknownHistory, exclude: exclude.size > 0 ? exclude : undefined, allowed, k };
  }

  /** The user tower's input for resolved requests: stored or given features, given or stored histories. */
  private inputOf(rows: readonly Resolved[]): UserInput {
    const { model } = this;
    const IU = model.config.schema.userFeatureDim;
    const H = model.historyLength;
    const user = Int32Array.from(rows, (r) => r.user);
    const userFeatures = gatherRows(model.data.userFeatures, IU, user.map((u) => Math.max(u, 0)));
    const history = H > 0 ? new Int32Array(rows.length * H).fill(-1) : undefined;
    rows.forEach((r, j) => {
      // a cold user without features: the average user's (the stored table's mean)
      if (IU > 0) userFeatures.set(r.features ?? (r.user >= 0 ? userFeatures.subarray(j * IU, (j + 1) * IU) : this.averageFeatures()), j * IU);
      if (history && r.history) history.set(r.history, j * H);
    });
    return { size: rows.length, user, userFeatures, history, historyLength: history ? H : 0 };
  }

  private averageFeatures(): Float32Array {
    if (!this.meanFeatures) {
      const { userFeatures, userIds } = this.model.data;
      const IU = this.model.config.schema.userFeatureDim;
      const mean = new Float64Array(IU);
      for (let i = 0; i < userFeatures.length; i++) mean[i % IU]! += userFeatures[i]!;
      this.meanFeatures = Float32Array.from(mean, (s) => s / Math.max(1, userIds.length));
    }
    return this.meanFeatures;
  }

  /** One user-tower pass, then the index (or the allow-list), then the re-ranker if any. */
  private async search(input: UserInput, k: number, exclude: ReadonlyArray<Iterable<ItemId> | undefined> | undefined, allowed: ReadonlyArray<ItemId[] | undefined> | undefined): Promise<RetrievalResult[]> {
    const { model } = this;
    const reranker = model.stages.find((s) => s.reranker);
    const fetch = Math.min(this.index.size, Math.max(k, reranker?.candidatesToRerank ?? k));
    // the user tower runs once: its input feeds the re-ranker, its output the index
    const x = tf.tidy(() => model.userTowerInput(input, false));
    const q = tf.tidy(() => model.queryFromInput(x));
    try {
      const queries = q.dataSync() as Float32Array;
      const D = model.config.dim;
      const open = Array.from({ length: input.size }, (_, r) => r).filter((r) => !allowed?.[r]);
      const found = new Array<{ ids: ItemId[]; scores: Float32Array; vectors?: Float32Array }>(input.size);
      if (open.length > 0) {
        const rows = open.length === input.size ? queries : gatherRows(queries, D, open);
        const hits = await this.index.search(rows, fetch, { exclude: exclude && open.map((r) => exclude[r]), includeVectors: reranker !== undefined });
        open.forEach((r, j) => (found[r] = hits[j]!));
      }
      allowed?.forEach((ids, r) => ids && (found[r] = this.scoreAllowed(queries.subarray(r * D, (r + 1) * D), ids, fetch)));
      if (!reranker?.reranker) return found.map((r) => ({ items: r.ids.slice(0, k), scores: r.scores.slice(0, k) }));
      const candidates: Candidates[] = found.map((r) => ({
        items: Int32Array.from(r.ids, (id) => {
          if (!model.hasItem(id)) throw new MismatchError('index', 'the ids of the model\'s catalogue', `id ${JSON.stringify(id)}, which the catalogue lacks`);
          return model.itemIndex(id);
        }),
        scores: r.scores,
        vectors: r.vectors!,
      }));
      const ranked = reranker.reranker.rerank({ users: input, userInput: x, q, candidates, k });
      return ranked.map((r) => ({ items: Array.from(r.items, (i) => model.data.itemIds[i]!), scores: r.scores }));
    } finally {
      tf.dispose([x, q]);
    }
  }

  /**
   * Exact top `fetch` of an allow-list, with vectors for a re-ranker: the vectors come from a
   * `@tt/mips` index, or from the model's item tower for any other {@link SearchIndex} (which
   * holds the model's catalogue embeddings).
   */
  private scoreAllowed(query: Float32Array, ids: ItemId[], fetch: number): { ids: ItemId[]; scores: Float32Array; vectors: Float32Array } {
    const D = query.length;
    const vectors = ids.length === 0 ? new Float32Array(0) : this.allowedVectors(ids);
    const scores = Float32Array.from(ids, (_, j) => {
      let s = 0;
      for (let d = 0; d < D; d++) s += query[d]! * vectors[j * D + d]!;
      return s;
    });
    const order = Array.from(ids, (_, j) => j).sort((a, b) => scores[b]! - scores[a]! || a - b).slice(0, fetch);
    return { ids: order.map((j) => ids[j]!), scores: Float32Array.from(order, (j) => scores[j]!), vectors: gatherRows(vectors, D, order) };
  }

  /** The vectors of catalogue ids, `[ids.length, dim]`. */
  private allowedVectors(ids: readonly ItemId[]): Float32Array {
    const index: SearchIndex & Partial<Pick<MipsIndex, 'getVectors'>> = this.index;
    if (typeof index.getVectors === 'function') return index.getVectors(ids);
    const items = Int32Array.from(ids, (id) => this.model.itemIndex(id));
    return takeValues(this.model.itemEmbeddings(items));
  }

  /** The most popular items not excluded (and allowed, under a filter). */
  private popular(r: Resolved): RetrievalResult {
    const { order, values } = this.popularity();
    const { itemIds } = this.model.data;
    const allowed = r.allowed && new Set(r.allowed);
    const items: ItemId[] = [];
    const scores: number[] = [];
    for (let j = 0; j < order.length && items.length < r.k; j++) {
      const id = itemIds[order[j]!]!;
      if (r.exclude?.has(id) || (allowed && !allowed.has(id))) continue;
      items.push(id);
      scores.push(values[order[j]!]!);
    }
    return { items, scores: Float32Array.from(scores) };
  }

  private popularity(): { order: Int32Array; values: Float32Array } {
    if (!this.popularityOrder || !this.popularityValues) {
      const n = this.model.data.itemIds.length;
      let values = this.data.popularity;
      if (!values && this.data.seen) {
        values = new Float32Array(n);
        for (const items of this.data.seen) for (const i of items) values[i]! += 1;
      }
      if (!values) throw new StateError('Retriever: a request the model cannot embed (no known id, no usable features or history) needs a popularity list; give data.popularity (or data.seen) when creating the retriever');
      const v = values;
      this.popularityValues = v;
      this.popularityOrder = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => v[b]! - v[a]! || a - b);
    }
    return { order: this.popularityOrder, values: this.popularityValues };
  }
}
