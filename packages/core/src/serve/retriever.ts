/**
 * Serving: the item tower over the whole catalogue fills a `@tt/mips` index (ids are the
 * catalogue's own item ids) or any other {@link SearchIndex} (a vector engine's table); a request
 * runs the user tower, searches the index excluding what the user has seen, and lets a stage's
 * re-ranker re-order the candidates when the model has one.
 */
import { ExactIndex, HnswIndex, type HnswIndexOptions, type ItemId, type MipsIndex, type SearchIndex } from '@tt/mips';
import * as tf from '../runtime/tf.js';
import { ConfigError, MismatchError, OutOfRangeError } from '../errors.js';
import type { TwoTowerModel } from '../model/two-tower.js';
import type { Candidates } from '../model/stages.js';

/** Options of {@link Retriever.build} and {@link buildItemIndex}: which index to build. */
export interface RetrieverOptions {
  /** 'exact' (default up to 200,000 items) or 'hnsw' (approximate, for large catalogues) */
  readonly index?: 'exact' | 'hnsw';
  /** build and search knobs of the HNSW index (its `dim` is the model's) */
  readonly hnsw?: Omit<HnswIndexOptions, 'dim'>;
  /** worker threads of the exact index */
  readonly threads?: number;
}

/** One user's retrieved items, best first. */
export interface RetrievalResult {
  /** catalogue item ids, best first */
  readonly items: ItemId[];
  /** the final scores (inner products, or the re-ranker's), same order as `items` */
  readonly scores: Float32Array;
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

/** Serves a trained model: top-k catalogue items per user through a `@tt/mips` index. */
export class Retriever {
  private constructor(
    /** the model whose user tower (and re-ranker, if any) answers requests */
    readonly model: TwoTowerModel,
    /** the index of the model's catalogue embeddings */
    readonly index: SearchIndex,
  ) {}

  /** A retriever over a fresh index of the model's catalogue. */
  static async build(model: TwoTowerModel, options: RetrieverOptions = {}): Promise<Retriever> {
    return new Retriever(model, await buildItemIndex(model, options));
  }

  /**
   * A retriever over an existing index: one loaded with a checkpoint, or any {@link SearchIndex}
   * holding the model's catalogue embeddings under its item ids (e.g. a `@tt/lancedb` table).
   */
  static over(model: TwoTowerModel, index: SearchIndex): Retriever {
    if (index.dim !== model.config.dim) throw new ConfigError('index', `has dim ${index.dim}, the model ${model.config.dim}`);
    return new Retriever(model, index);
  }

  /**
   * Top `k` catalogue items for each user index, best first.
   * @throws OutOfRangeError for a user index outside the vocabulary or k outside [1, catalogue]
   */
  async retrieve(users: Int32Array, k: number, options: RetrieveOptions = {}): Promise<RetrievalResult[]> {
    const { model } = this;
    const numUsers = model.data.userIds.length;
    for (let i = 0; i < users.length; i++) {
      if (!Number.isInteger(users[i]) || users[i]! < 0 || users[i]! >= numUsers) throw new OutOfRangeError('users', `user index ${users[i]} at ${i} is outside [0, ${numUsers})`);
    }
    if (!Number.isInteger(k) || k < 1 || k > this.index.size) throw new OutOfRangeError('k', `must be in [1, ${this.index.size}], got ${k}`);
    if (users.length === 0) return [];
    const input = model.userInputOf(users, options.history, options.historyLength ?? 0);
    const reranker = model.stages.find((s) => s.reranker);
    const fetch = Math.min(this.index.size, Math.max(k, reranker?.candidatesToRerank ?? k));
    // the user tower runs once: its input feeds the re-ranker, its output the index
    const x = tf.tidy(() => model.userTowerInput(input, false));
    const q = tf.tidy(() => model.queryFromInput(x));
    try {
      const queries = q.dataSync() as Float32Array;
      const exclude = options.exclude?.map((items) => (items ? Array.from(items, (i) => model.data.itemIds[i]!) : undefined));
      const found = await this.index.search(queries, fetch, { exclude, includeVectors: reranker !== undefined });
      if (!reranker?.reranker) return found.map((r) => ({ items: r.ids.slice(0, k), scores: r.scores.slice(0, k) }));
      const candidates: Candidates[] = found.map((r) => ({
        items: Int32Array.from(r.ids, (id) => {
          const i = model.itemIndex(id);
          if (i === undefined) throw new MismatchError('index', 'the ids of the model\'s catalogue', `id ${JSON.stringify(id)}, which the catalogue lacks`);
          return i;
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

  /** Frees the index (its workers and memory); the model is not disposed. */
  async dispose(): Promise<void> {
    await this.index.dispose();
  }
}
