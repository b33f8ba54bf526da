/**
 * Approximate top-K by inner product with an HNSW graph (Malkov & Yashunin), built on
 * `usearch` (native, SIMD, multi-threaded builds and batch searches, prebuilt binaries on npm).
 *
 * The graph uses usearch's inner-product metric directly (its distance is `1 - q.v`; we report
 * `q.v`). Vectors are also kept in a plain matrix beside the graph: for `includeVectors`,
 * `getVectors`, and for saving them as `.npy` next to the graph file.
 *
 * Not done here: exact re-ranking of the graph's candidates (use `ExactIndex` on a shortlist),
 * product quantisation.
 */
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { BatchMatches, Index as UsearchIndex, MetricKind, ScalarKind } from 'usearch';
import { ConfigError, CorruptFileError } from './errors.js';
import type { IdKind, ItemId } from './internal/id-map.js';
import type { VectorsInput } from './internal/matrix.js';
import { readIndexDir, verifyFile, writeIndexDir } from './internal/index-files.js';
import { VectorStore } from './internal/vector-store.js';
import type { MipsIndex, SearchOptions, SearchResult } from './types.js';

/** Storage precision of the graph's vectors. */
export type HnswQuantization = 'f32' | 'f16' | 'bf16' | 'i8';

/** Build and search knobs of {@link HnswIndex}. */
export interface HnswIndexOptions {
  /** vector dimension */
  readonly dim: number;
  /** graph degree M (edges per node per layer); default 16 */
  readonly connectivity?: number;
  /** candidate list size while inserting (efConstruction); default 128 */
  readonly expansionAdd?: number;
  /** candidate list size while searching (ef); default 64. Change later with `setExpansionSearch`. */
  readonly expansionSearch?: number;
  /**
   * a search for k asks the graph for at least `searchWidening * k` candidates, so ef is at least
   * that (usearch searches with ef = max(expansionSearch, candidates)); default 2. At k = 500 on
   * 100k unit vectors, recall@500 is 0.94 with 1 and 0.99 with 2 (package README).
   */
  readonly searchWidening?: number;
  /** storage precision of the graph's vectors; default f32 */
  readonly quantization?: HnswQuantization;
  /** threads for adds and for searches of 64 queries or more; default: all available cores */
  readonly threads?: number;
}

/** The parameters an HNSW index is built and saved with. */
export interface HnswIndexParams {
  /** graph degree M (edges per node per layer) */
  readonly connectivity: number;
  /** candidate list size while inserting (efConstruction) */
  readonly expansionAdd: number;
  /** candidate list size while searching (ef) */
  readonly expansionSearch: number;
  /** candidates per result a search asks the graph for, at least (ef >= searchWidening * k) */
  readonly searchWidening: number;
  /** storage precision of the graph's vectors */
  readonly quantization: HnswQuantization;
  /** threads for adds and batch searches */
  readonly threads: number;
}

const SCALAR: Record<HnswQuantization, ScalarKind> = {
  f32: ScalarKind.F32,
  f16: ScalarKind.F16,
  bf16: ScalarKind.BF16,
  i8: ScalarKind.I8,
};

const GRAPH_FILE = 'graph.usearch';

/** Queries in one search from which it is split over `threads` (below: the calling thread only). */
const PARALLEL_SEARCH_ROWS = 64;

function withTempFile(use: (path: string) => void): void {
  const path = join(tmpdir(), `tt-hnsw-${process.pid}-${randomBytes(4).toString('hex')}.usearch`);
  try {
    use(path);
  } finally {
    rmSync(path, { force: true });
  }
}

function intAtLeast(field: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min) throw new ConfigError(field, `must be an integer >= ${min}, got ${v}`);
  return v;
}

function numberAtLeast(field: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < min) throw new ConfigError(field, `must be a number >= ${min}, got ${v}`);
  return v;
}

/**
 * Approximate maximum inner product search over an HNSW graph.
 *
 * @example
 * const index = new HnswIndex({ dim: 64, connectivity: 16, expansionSearch: 64 });
 * index.add(itemIds, itemVectors);
 * const results = await index.search(userVectors, 10, { exclude: seenItems });
 */
export class HnswIndex implements MipsIndex {
  readonly kind = 'hnsw' as const;
  private paramsValue: HnswIndexParams;
  private readonly store: VectorStore;
  private graphOrNull: UsearchIndex | null;

  constructor(options: HnswIndexOptions, idKind?: IdKind) {
    this.store = new VectorStore(options.dim, idKind);
    const quantization = options.quantization ?? 'f32';
    if (!(quantization in SCALAR)) {
      throw new ConfigError('quantization', `must be one of ${Object.keys(SCALAR).join(', ')}, got ${quantization}`);
    }
    this.paramsValue = {
      connectivity: intAtLeast('connectivity', options.connectivity, 16, 2),
      expansionAdd: intAtLeast('expansionAdd', options.expansionAdd, 128, 1),
      expansionSearch: intAtLeast('expansionSearch', options.expansionSearch, 64, 1),
      searchWidening: numberAtLeast('searchWidening', options.searchWidening, 2, 1),
      quantization,
      threads: intAtLeast('threads', options.threads, availableParallelism(), 1),
    };
    this.graphOrNull = this.newGraph(this.paramsValue);
  }

  private get graph(): UsearchIndex {
    if (this.graphOrNull === null) this.store.assertUsable('hnsw');
    return this.graphOrNull as UsearchIndex;
  }

  /** The resolved parameters (defaults filled in), saved with the index. */
  get params(): HnswIndexParams {
    return this.paramsValue;
  }
  get dim(): number {
    return this.store.dim;
  }
  get size(): number {
    return this.store.size;
  }
  get idKind(): IdKind | undefined {
    return this.store.ids.idKind;
  }

  add(ids: readonly ItemId[], vectors: VectorsInput): void {
    const slots = this.store.add(ids, vectors);
    if (slots.length === 0) return;
    this.graph.add(BigUint64Array.from(slots, BigInt), this.store.rowsOf(slots), this.paramsValue.threads);
  }

  update(ids: readonly ItemId[], vectors: VectorsInput): void {
    const { slots, data } = this.store.prepareUpdate(ids, vectors);
    if (slots.length === 0) return;
    const keys = BigUint64Array.from(slots, BigInt);
    this.graph.remove(keys);
    this.graph.add(keys, data, this.paramsValue.threads);
    this.store.writeRows(slots, data);
  }

  remove(ids: readonly ItemId[]): number {
    const freed = this.store.remove(ids);
    if (freed.length > 0) this.graph.remove(BigUint64Array.from(freed, BigInt));
    return freed.length;
  }

  has(id: ItemId): boolean {
    return this.store.ids.has(id);
  }

  getVectors(ids: readonly ItemId[]): Float32Array {
    return this.store.getVectors(ids);
  }

  /**
   * Sets ef for later searches. usearch fixes ef when the graph object is made, so this
   * reloads the graph through a temporary file: O(index size), meant for tuning, not per query.
   */
  setExpansionSearch(expansionSearch: number): void {
    this.store.assertUsable('setExpansionSearch');
    const next = { ...this.paramsValue, expansionSearch: intAtLeast('expansionSearch', expansionSearch, 64, 1) };
    const old = this.graph;
    const graph = this.newGraph(next);
    withTempFile((tmp) => {
      old.save(tmp);
      graph.load(tmp);
    });
    this.graphOrNull = graph;
    this.paramsValue = next;
    this.release(old);
  }

  async search(queries: VectorsInput, k: number, options: SearchOptions = {}): Promise<SearchResult[]> {
    const req = this.store.prepareSearch(queries, k, options);
    const excluded = (q: number): Set<number> | undefined => {
      const a = req.excludeOffsets[q] as number;
      const b = req.excludeOffsets[q + 1] as number;
      return b > a ? new Set(req.excludeSlots.subarray(a, b)) : undefined;
    };
    // enough extra candidates that exclusions still leave k, and ef widened with k: usearch
    // searches with ef = max(expansionSearch, candidates asked for), and a beam of ef = k alone
    // misses ~6% of the top 500 (README)
    const fetch = Math.min(Math.max(k + req.maxExcluded, Math.ceil(this.paramsValue.searchWidening * k)), this.size);
    // usearch starts and joins fresh OS threads on every batch call: worth it for a batch job, not
    // for a server's few queries per call, where on a busy machine the join also waits for the
    // new thread to be scheduled while the event loop is blocked
    const threads = req.rows >= PARALLEL_SEARCH_ROWS ? this.paramsValue.threads : 1;
    // usearch returns Matches for one query and BatchMatches (rows of `fetch`) for several
    const raw = this.graph.search(req.data, fetch, threads);
    const found =
      raw instanceof BatchMatches ? raw : { keys: raw.keys, distances: raw.distances, counts: [BigInt(raw.keys.length)] };
    const results: SearchResult[] = [];
    for (let q = 0; q < req.rows; q++) {
      const ex = excluded(q);
      const count = Number(found.counts[q]);
      const hits: { slot: number; score: number; key: number }[] = [];
      for (let i = 0; i < count; i++) {
        const slot = Number(found.keys[q * fetch + i]);
        if (ex?.has(slot)) continue;
        hits.push({ slot, score: 1 - (found.distances[q * fetch + i] as number), key: this.store.tieKey(slot) });
      }
      hits.sort((a, b) => b.score - a.score || a.key - b.key);
      hits.length = Math.min(hits.length, k);
      const slots = hits.map((h) => h.slot);
      results.push({
        ids: slots.map((s) => this.store.ids.idAt(s)),
        scores: Float32Array.from(hits, (h) => h.score),
        ...(options.includeVectors ? { vectors: this.store.rowsOf(slots) } : {}),
      });
    }
    return results;
  }

  async save(dir: string): Promise<void> {
    this.store.assertUsable('save');
    await writeIndexDir(dir, this.store, { kind: 'hnsw', params: { ...this.paramsValue } }, (tmp) => {
      this.graph.save(join(tmp, GRAPH_FILE));
      return [GRAPH_FILE];
    });
  }

  /**
   * Reads an index written by {@link HnswIndex.save}; the graph is loaded, not rebuilt.
   * @param expect `dim` the caller expects; `expansionSearch` / `searchWidening` / `threads` to use from now on
   * @throws CorruptFileError, MismatchError
   */
  static async load(
    dir: string,
    expect: { dim?: number; expansionSearch?: number; searchWidening?: number; threads?: number } = {},
  ): Promise<HnswIndex> {
    const { manifest, ids, slots, data } = await readIndexDir(dir, 'hnsw', expect.dim);
    const saved = manifest.params as unknown as HnswIndexParams;
    const index = new HnswIndex(
      {
        dim: manifest.dim,
        connectivity: saved.connectivity,
        expansionAdd: saved.expansionAdd,
        expansionSearch: expect.expansionSearch ?? saved.expansionSearch,
        searchWidening: expect.searchWidening ?? saved.searchWidening,
        quantization: saved.quantization,
        threads: expect.threads ?? saved.threads,
      },
      manifest.idKind ?? undefined,
    );
    index.graph.load(verifyFile(dir, manifest, GRAPH_FILE));
    index.store.restore(ids, slots, data);
    const graphSize = index.graph.size();
    if (graphSize !== ids.length) {
      await index.dispose();
      throw new CorruptFileError(join(dir, GRAPH_FILE), `graph holds ${graphSize} vectors, ids.json ${ids.length}`);
    }
    return index;
  }

  async dispose(): Promise<void> {
    const graph = this.graphOrNull;
    this.store.markDisposed();
    this.graphOrNull = null;
    if (graph) this.release(graph);
  }

  /**
   * Frees a graph's native memory now. usearch frees it when the JS object is collected, which
   * V8 may put off indefinitely (it does not see native memory: six ef changes on a 1M graph
   * held 4 GB); loading an empty graph into the object releases it at once.
   */
  private release(graph: UsearchIndex): void {
    withTempFile((tmp) => {
      this.newGraph(this.paramsValue).save(tmp);
      graph.load(tmp);
    });
  }

  private newGraph(p: HnswIndexParams): UsearchIndex {
    return new UsearchIndex({
      dimensions: this.store.dim,
      metric: MetricKind.IP,
      quantization: SCALAR[p.quantization],
      connectivity: p.connectivity,
      expansion_add: p.expansionAdd,
      expansion_search: p.expansionSearch,
      multi: false,
    });
  }
}
