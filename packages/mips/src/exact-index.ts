/**
 * Exact top-K by inner product (MODEL.md section 7).
 *
 * The corpus is cut into blocks of `blockSize` slots spread over `threads` worker threads. Each
 * worker scores a block of queries against each of its blocks with one XNNPACK matrix product
 * (tfjs wasm backend) and merges the scores into per-query top-k lists as it goes, so memory is
 * bounded by `queryBlock x blockSize` scores per worker: a 1M-item corpus never materialises a
 * `[queries, 1M]` matrix. The main thread merges the workers' lists.
 *
 * Not done here: approximate search (see `HnswIndex`), GPU execution.
 */
import { availableParallelism } from 'node:os';
import { ConfigError } from './errors.js';
import type { IdKind, ItemId } from './internal/id-map.js';
import type { VectorsInput } from './internal/matrix.js';
import { writeIndexDir, readIndexDir } from './internal/index-files.js';
import { ShardPool } from './internal/shard-pool.js';
import { VectorStore } from './internal/vector-store.js';
import type { MipsIndex, SearchOptions, SearchResult } from './types.js';

/** Options of {@link ExactIndex}. */
export interface ExactIndexOptions {
  /** vector dimension */
  readonly dim: number;
  /** worker threads that share the corpus; default: available cores, at most 4 */
  readonly threads?: number;
  /** corpus slots per block (one matrix product each); default 8192 */
  readonly blockSize?: number;
  /** queries per matrix product; default 256 */
  readonly queryBlock?: number;
}

/** The parameters an exact index is saved with. */
export interface ExactIndexParams {
  /** worker threads that share the corpus */
  readonly threads: number;
  /** corpus slots per block (one matrix product each) */
  readonly blockSize: number;
  /** queries per matrix product */
  readonly queryBlock: number;
}

function positiveInt(field: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new ConfigError(field, `must be a positive integer, got ${v}`);
  return v;
}

/**
 * Exact maximum inner product search.
 *
 * @example
 * const index = new ExactIndex({ dim: 3 });
 * index.add(['a', 'b'], [[1, 0, 0], [0, 1, 0]]);
 * const [top] = await index.search([[0.2, 0.9, 0]], 1); // top.ids = ['b']
 * await index.dispose();
 */
export class ExactIndex implements MipsIndex {
  readonly kind = 'exact' as const;
  /** the resolved parameters (defaults filled in), saved with the index */
  readonly params: ExactIndexParams;
  private readonly store: VectorStore;
  private pool: Promise<ShardPool> | undefined;
  private readonly dirty = new Set<number>();
  private syncing: Promise<void> = Promise.resolve();

  constructor(options: ExactIndexOptions, idKind?: IdKind) {
    this.store = new VectorStore(options.dim, idKind);
    this.params = {
      threads: positiveInt('threads', options.threads, Math.min(4, availableParallelism())),
      blockSize: positiveInt('blockSize', options.blockSize, 8192),
      queryBlock: positiveInt('queryBlock', options.queryBlock, 256),
    };
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

  /** The tfjs backend the workers compute on (`wasm`; `cpu` where wasm cannot start). */
  async backend(): Promise<string> {
    return (await this.startPool()).backend;
  }

  add(ids: readonly ItemId[], vectors: VectorsInput): void {
    this.touch(this.store.add(ids, vectors));
  }

  update(ids: readonly ItemId[], vectors: VectorsInput): void {
    const { slots, data } = this.store.prepareUpdate(ids, vectors);
    this.store.writeRows(slots, data);
    this.touch(slots);
  }

  remove(ids: readonly ItemId[]): number {
    const freed = this.store.remove(ids);
    this.touch(freed);
    return freed.length;
  }

  has(id: ItemId): boolean {
    return this.store.ids.has(id);
  }

  getVectors(ids: readonly ItemId[]): Float32Array {
    return this.store.getVectors(ids);
  }

  async search(queries: VectorsInput, k: number, options: SearchOptions = {}): Promise<SearchResult[]> {
    const req = this.store.prepareSearch(queries, k, options);
    // a compact copy: posting a view would clone its whole underlying buffer (the caller's
    // queries may be a subarray of something much larger)
    const queryRows = req.data.slice();
    const pool = await this.startPool();
    await this.sync(pool);
    const replies = await Promise.all(
      pool.workers.map((w) =>
        w.request({
          op: 'search',
          queries: queryRows,
          k,
          excludeOffsets: req.maxExcluded > 0 ? req.excludeOffsets : undefined,
          excludeSlots: req.maxExcluded > 0 ? req.excludeSlots : undefined,
        }),
      ),
    );
    const parts = replies.map((r) => r as { slots: Int32Array; scores: Float32Array; keys: Float64Array });
    const results: SearchResult[] = [];
    const cursor = new Int32Array(parts.length);
    for (let q = 0; q < req.rows; q++) {
      // k-way merge of the workers' sorted lists (score desc, tie key asc)
      cursor.fill(0);
      const slots: number[] = [];
      const scores: number[] = [];
      while (slots.length < k) {
        let best = -1;
        let bestScore = -Infinity;
        let bestKey = Infinity;
        for (let w = 0; w < parts.length; w++) {
          const c = cursor[w] as number;
          if (c >= k) continue;
          const p = parts[w]!;
          const i = q * k + c;
          if ((p.slots[i] as number) < 0) continue;
          const s = p.scores[i] as number;
          const key = p.keys[i] as number;
          if (best < 0 || s > bestScore || (s === bestScore && key < bestKey)) {
            best = w;
            bestScore = s;
            bestKey = key;
          }
        }
        if (best < 0) break; // exclusions left fewer than k items
        const p = parts[best]!;
        slots.push(p.slots[q * k + (cursor[best] as number)] as number);
        scores.push(bestScore);
        cursor[best] = (cursor[best] as number) + 1;
      }
      results.push({
        ids: slots.map((s) => this.store.ids.idAt(s)),
        scores: Float32Array.from(scores),
        ...(options.includeVectors ? { vectors: this.store.rowsOf(slots) } : {}),
      });
    }
    return results;
  }

  async save(dir: string): Promise<void> {
    this.store.assertUsable('save');
    await writeIndexDir(dir, this.store, { kind: 'exact', params: { ...this.params } });
  }

  /**
   * Reads an index written by {@link ExactIndex.save}.
   * @param expect `dim` the caller expects (MismatchError if the file differs); worker options
   * @throws CorruptFileError for a missing, truncated or altered file; MismatchError
   */
  static async load(
    dir: string,
    expect: { dim?: number } & Partial<Omit<ExactIndexOptions, 'dim'>> = {},
  ): Promise<ExactIndex> {
    const { manifest, ids, data } = await readIndexDir(dir, 'exact', expect.dim);
    const saved = manifest.params as unknown as ExactIndexParams;
    const index = new ExactIndex(
      {
        dim: manifest.dim,
        threads: expect.threads ?? saved.threads,
        blockSize: expect.blockSize ?? saved.blockSize,
        queryBlock: expect.queryBlock ?? saved.queryBlock,
      },
      manifest.idKind ?? undefined,
    );
    if (ids.length > 0) index.add(ids, data);
    return index;
  }

  async dispose(): Promise<void> {
    this.store.markDisposed();
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await (await pool).terminate();
  }

  private touch(slots: readonly number[]): void {
    for (const s of slots) this.dirty.add(Math.floor(s / this.params.blockSize));
  }

  private startPool(): Promise<ShardPool> {
    this.store.assertUsable('search');
    this.pool ??= ShardPool.start(this.params.threads, this.dim, this.params.queryBlock);
    return this.pool;
  }

  /**
   * Sends changed blocks to their workers (block b lives on worker b mod threads), one round of
   * one block per worker at a time so that memory in transit stays at `threads` blocks.
   * Chained, so that a search posted meanwhile reaches each worker after all of its blocks.
   */
  private sync(pool: ShardPool): Promise<void> {
    this.syncing = this.syncing.then(() => this.sendDirty(pool));
    return this.syncing;
  }

  private async sendDirty(pool: ShardPool): Promise<void> {
    const order = [...this.dirty].sort((x, y) => x - y);
    this.dirty.clear();
    const w = pool.workers.length;
    for (let i = 0; i < order.length; i += w) {
      await Promise.all(order.slice(i, i + w).map((b) => this.sendBlock(pool, b)));
    }
  }

  private sendBlock(pool: ShardPool, b: number): Promise<unknown> {
    const { blockSize } = this.params;
    const dim = this.dim;
    const worker = pool.workers[b % pool.workers.length]!;
    const start = b * blockSize;
    // slots never go above highWater (removed slots are recycled), so a dirty block is never empty
    const end = Math.min(start + blockSize, this.store.highWater);
    const n = end - start;
    const rows = this.store.vectors.subarray(start * dim, end * dim); // shared, not copied
    const dead = new Uint8Array(n);
    const keys = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      const slot = start + j;
      if (this.store.alive[slot] === 1) keys[j] = this.store.tieKey(slot);
      else dead[j] = 1;
    }
    return worker.request({ op: 'setBlock', block: b, start, rows, keys, dead }, [
      keys.buffer as ArrayBuffer,
      dead.buffer as ArrayBuffer,
    ]);
  }
}


