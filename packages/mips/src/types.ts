/**
 * The interface every `@tt/mips` index implements.
 */
import type { IdKind, ItemId } from './internal/id-map.js';
import type { VectorsInput } from './internal/matrix.js';

export type { IdKind, ItemId, VectorsInput };

/** Per-search options. */
export interface SearchOptions {
  /**
   * Ids to leave out, one list per query (e.g. the items a user already saw). Ids not in the
   * index are ignored. When exclusions leave fewer than k items, fewer are returned.
   */
  readonly exclude?: ReadonlyArray<Iterable<ItemId> | null | undefined>;
  /** Also return the K vectors of each result (row-major `[K, dim]`). */
  readonly includeVectors?: boolean;
}

/** The top K of one query, best first. Ties in score are broken by id (see the README). */
export interface SearchResult {
  /** the K result ids, best first */
  readonly ids: ItemId[];
  /** inner products, same order as `ids` */
  readonly scores: Float32Array;
  /** row-major `[K, dim]`, when `includeVectors` was set */
  readonly vectors?: Float32Array;
}

/**
 * The search side every index shares, including indexes kept outside this package (e.g.
 * `@tt/lancedb`'s table in a vector engine): what a retriever needs to serve from it.
 */
export interface SearchIndex {
  /** which implementation this is (`exact`, `hnsw`, `lancedb`...) */
  readonly kind: string;
  /** vector dimension */
  readonly dim: number;
  /** number of vectors in the index (as last seen, for an index shared with other writers) */
  readonly size: number;
  /**
   * Top-k by inner product for each query (`[q, dim]`, flat or one array per query).
   * @throws ShapeError, ValueError (NaN/Infinity), EmptyError (empty index or no query),
   *   OutOfRangeError (k < 1 or k > size)
   */
  search(queries: VectorsInput, k: number, options?: SearchOptions): Promise<SearchResult[]>;
  /** Frees what the index holds (workers, native memory, connections). Unusable afterwards. */
  dispose(): Promise<void>;
}

/** Exact and approximate indexes share this surface. */
export interface MipsIndex extends SearchIndex {
  /** which implementation this is: exact search or the HNSW graph */
  readonly kind: 'exact' | 'hnsw';
  /** `int` or `string`, fixed by the first id added; undefined while empty */
  readonly idKind: IdKind | undefined;

  /** Adds new ids. Throws DuplicateIdError for an id already present (or twice in `ids`). */
  add(ids: readonly ItemId[], vectors: VectorsInput): void;
  /** Replaces the vectors of present ids. Throws UnknownIdError for an absent id. */
  update(ids: readonly ItemId[], vectors: VectorsInput): void;
  /** Removes ids; absent ids are skipped. Returns how many were removed. */
  remove(ids: readonly ItemId[]): number;
  /** Whether `id` is in the index. */
  has(id: ItemId): boolean;
  /** The stored vectors of present ids, row-major `[ids.length, dim]`. */
  getVectors(ids: readonly ItemId[]): Float32Array;

  /** Writes the index to a directory, atomically (a crash leaves the old directory or none). */
  save(dir: string): Promise<void>;
}
