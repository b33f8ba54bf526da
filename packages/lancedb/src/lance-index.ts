/**
 * A `@tt/mips`-style search index over a LanceDB table: item ids, their embeddings and optional
 * metadata columns, searched by inner product.
 *
 * Table layout: `id` (int64 or utf8, the catalogue's item ids), `vector` (fixed-size list of
 * `dim` float32), then the metadata columns the caller declares (utf8, int64, float64, bool;
 * nullable). The table lives wherever LanceDB can open it: a local directory (embedded, the
 * default), object storage (`s3://`, `gs://`, `az://` with `storageOptions`), or LanceDB Cloud /
 * Enterprise (`db://<project>` with `apiKey`, `region` or `hostOverride`).
 *
 * Search: one LanceDB vector query per user (`distanceType: 'dot'`), through the ANN index when
 * the table has one, brute force otherwise. Each query asks for `k` plus the number of excluded
 * ids, and the scores are recomputed here from the returned vectors, so excluded items never
 * cost a result slot and the returned order is by exact inner product (the ANN index only picks
 * the candidates). Metadata filters are SQL (`where`), applied by LanceDB before the vector
 * search (prefilter): results are the top k among the rows that pass.
 */
import * as lancedb from '@lancedb/lancedb';
import { Bool, Field, FixedSizeList, Float32, Float64, Int64, RecordBatch, Schema, Struct, Table as ArrowTable, Utf8, makeData, vectorFromArray, type DataType } from 'apache-arrow';
import {
  ConfigError, EmptyError, MismatchError, OutOfRangeError, StateError, ValueError, toMatrix,
  type IdKind, type ItemId, type SearchIndex, type SearchOptions, type SearchResult, type VectorsInput,
} from '@tt/mips';

/** The type of a metadata column. */
export type LanceColumnType = 'string' | 'int' | 'float' | 'bool';

/** Values of one metadata column for the rows of an upsert, aligned with the ids (null = none). */
export type LanceColumnValues = ReadonlyArray<string | number | boolean | null>;

/**
 * The ANN index types LanceDB offers, built for the inner product (`distance: 'dot'`, the
 * default) or, for unit-norm embeddings, the cosine (same ranking). LanceDB 0.31's `hnsw_sq` finds
 * few of the true neighbours with `dot` (recall@10 0.03-0.07 measured here, also on unit vectors,
 * while `hnsw_pq` and `ivf_pq` reach 0.99): use it with `distance: 'cosine'`, which tt's
 * normalised embeddings (the default) allow.
 */
export type AnnIndexOptions = AnnIndexType & {
  /** the distance the index is built for: `dot` (default) or `cosine` (only for unit-norm vectors; checked on a sample) */
  readonly distance?: 'dot' | 'cosine';
};

/** One ANN index type and its build knobs (see {@link AnnIndexOptions}). */
export type AnnIndexType =
  | {
      /** inverted file (k-means partitions) + product quantization: small, fast, needs `refineFactor` for precise scores */
      readonly type: 'ivf_pq';
      /** k-means partitions (default sqrt(rows)); more = faster search, needs more `nprobes` */
      readonly numPartitions?: number;
      /** PQ sub-vectors (default dim / 16): more = more precise, larger */
      readonly numSubVectors?: number;
      /** bits per PQ code, 4 or 8 (default 8) */
      readonly numBits?: number;
      /** k-means iterations (default 50) */
      readonly maxIterations?: number;
      /** training vectors per partition (default 256) */
      readonly sampleRate?: number;
    }
  | {
      /** HNSW graphs within IVF partitions, vectors scalar-quantized (8 bits): high recall at a moderate size */
      readonly type: 'hnsw_sq';
      /** IVF partitions, each its own graph (default 1 per ~1M rows) */
      readonly numPartitions?: number;
      /** neighbours per node (default 20) */
      readonly m?: number;
      /** candidates while building (default 300) */
      readonly efConstruction?: number;
      /** k-means iterations (default 50) */
      readonly maxIterations?: number;
      /** training vectors per partition (default 256) */
      readonly sampleRate?: number;
    }
  | {
      /** HNSW graphs within IVF partitions, vectors product-quantized */
      readonly type: 'hnsw_pq';
      /** IVF partitions, each its own graph */
      readonly numPartitions?: number;
      /** PQ sub-vectors (default dim / 16) */
      readonly numSubVectors?: number;
      /** neighbours per node (default 20) */
      readonly m?: number;
      /** candidates while building (default 300) */
      readonly efConstruction?: number;
      /** k-means iterations (default 50) */
      readonly maxIterations?: number;
      /** training vectors per partition (default 256) */
      readonly sampleRate?: number;
    }
  | {
      /** inverted file over uncompressed vectors: exact scores within the probed partitions */
      readonly type: 'ivf_flat';
      /** k-means partitions (default sqrt(rows)) */
      readonly numPartitions?: number;
      /** k-means iterations (default 50) */
      readonly maxIterations?: number;
      /** training vectors per partition (default 256) */
      readonly sampleRate?: number;
    };

/** The recall/speed knobs of a search through the ANN index (ignored without one). */
export interface AnnSearchOptions {
  /** IVF partitions probed per query (LanceDB's default 20): more = higher recall, slower */
  readonly nprobes?: number;
  /** PQ indexes: re-rank `k * refineFactor` candidates by their stored vectors (default none) */
  readonly refineFactor?: number;
  /** HNSW indexes: candidates kept while searching the graph (default 1.5 k; at least k x refineFactor): more = higher recall */
  readonly ef?: number;
  /** search every row exactly, ignoring the ANN index (for recall measurements) */
  readonly exact?: boolean;
}

/** Options of {@link LanceIndex.open}. */
export interface LanceIndexOptions {
  /**
   * Where the database is: a local directory (embedded LanceDB), `s3://bucket/path` and other
   * object stores (credentials in `connection.storageOptions`), or `db://<project>` for LanceDB
   * Cloud / Enterprise (`connection.apiKey`, `connection.region` or `connection.hostOverride`).
   */
  readonly uri: string;
  /** the table's name (default `items`) */
  readonly table?: string;
  /** vector dimension: an existing table of another dimension is a MismatchError */
  readonly dim: number;
  /**
   * Metadata columns of a new table (name -> type), e.g. `{ category: 'string' }`. An existing
   * table keeps its own; a declared column it lacks is a MismatchError.
   */
  readonly columns?: Readonly<Record<string, LanceColumnType>>;
  /** the id type of a new table (default: that of the first ids upserted) */
  readonly idKind?: IdKind;
  /** `overwrite`: drop an existing table of that name first (default: open it) */
  readonly mode?: 'open' | 'overwrite';
  /** passed to LanceDB's `connect` (apiKey, region, hostOverride, storageOptions, readConsistencyInterval) */
  readonly connection?: Partial<lancedb.ConnectionOptions>;
  /** default knobs of every search through the ANN index */
  readonly search?: AnnSearchOptions;
  /** queries in flight at once within one `search` call (default 8) */
  readonly concurrency?: number;
}

/** Per-search options: those of every index, plus a metadata filter and the ANN knobs. */
export interface LanceSearchOptions extends SearchOptions {
  /** SQL filter on the metadata columns, e.g. `category = 'shoes'` (see {@link sqlLiteral}) */
  readonly where?: string;
  /** this search's ANN knobs, over the index's defaults */
  readonly ann?: AnnSearchOptions;
}

/** What {@link LanceIndex.upsert} did. */
export interface UpsertResult {
  /** rows that were new */
  readonly inserted: number;
  /** rows whose id was present (vector and given columns replaced) */
  readonly updated: number;
}

/** What {@link LanceIndex.getVectors} returns. */
export interface StoredVectors {
  /** row-major `[ids.length, dim]`; zeros for absent ids */
  readonly vectors: Float32Array;
  /** per id: whether the table holds it */
  readonly found: boolean[];
}

/** One index of the table, as {@link LanceIndex.indexes} lists it. */
export interface IndexInfo {
  /** LanceDB's name for it (e.g. `vector_idx`) */
  readonly name: string;
  /** LanceDB's type (e.g. `IvfPq`, `IvfHnswSq`, `BTree`) */
  readonly type: string;
  /** the indexed columns */
  readonly columns: string[];
  /** rows the index covers */
  readonly indexedRows?: number;
  /** rows added since, searched without it until `optimize` */
  readonly unindexedRows?: number;
}

/** A value as a SQL literal for `where` filters: strings quoted (quotes doubled), numbers and booleans as they are. */
export function sqlLiteral(value: string | number | bigint | boolean): string {
  if (typeof value === 'string') return `'${value.replace(/'/g, "''")}'`;
  if (typeof value === 'number' && !Number.isFinite(value)) throw new ValueError('value', `a SQL literal must be finite, got ${value}`);
  return String(value);
}

const ARROW_TYPE: Record<LanceColumnType, () => DataType> = {
  string: () => new Utf8(),
  int: () => new Int64(),
  float: () => new Float64(),
  bool: () => new Bool(),
};

function columnTypeOf(t: DataType): LanceColumnType | undefined {
  if (t instanceof Utf8) return 'string';
  if (t instanceof Int64 || String(t).startsWith('Int')) return 'int';
  if (t instanceof Float64 || String(t).startsWith('Float')) return 'float';
  if (t instanceof Bool) return 'bool';
  return undefined;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkIds(ids: readonly ItemId[], kind: IdKind | undefined, field: string): IdKind {
  if (!Array.isArray(ids)) throw new ValueError(field, 'must be an array of ids');
  let k = kind;
  const seen = new Set<ItemId>();
  for (const [i, id] of ids.entries()) {
    const own: IdKind | undefined = typeof id === 'string' ? 'string' : Number.isSafeInteger(id) ? 'int' : undefined;
    if (own === undefined) throw new ValueError(`${field}[${i}]`, `an id must be a string or a safe integer, got ${JSON.stringify(id)}`);
    k ??= own;
    if (own !== k) throw new MismatchError(`${field}[${i}]`, `${k} ids (the table's)`, `${JSON.stringify(id)}`);
    if (seen.has(id)) throw new ValueError(`${field}[${i}]`, `id ${JSON.stringify(id)} appears twice`);
    seen.add(id);
  }
  return k ?? 'string';
}

/** `limit` promises at a time, results in input order. */
async function mapConcurrent<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * A search index of item embeddings in a LanceDB table (see the module comment). Create one
 * with {@link LanceIndex.open}; writers and readers may be different processes.
 */
export class LanceIndex implements SearchIndex {
  /** always `lancedb` */
  readonly kind = 'lancedb';
  private table: lancedb.Table | undefined;
  private count = 0;
  private ids: IdKind | undefined;
  private disposed = false;
  private readonly columnTypes: Map<string, LanceColumnType>;
  /** the distance the vector index was built for; searches must use it to go through the index */
  private annDistance: 'dot' | 'cosine' = 'dot';

  private constructor(
    private readonly db: lancedb.Connection,
    /** the table's name */
    readonly tableName: string,
    /** vector dimension */
    readonly dim: number,
    private readonly options: LanceIndexOptions,
    table: lancedb.Table | undefined,
    columns: Map<string, LanceColumnType>,
    idKind: IdKind | undefined,
  ) {
    this.table = table;
    this.columnTypes = columns;
    this.ids = idKind;
  }

  /**
   * Opens the table `options.table` at `options.uri`, or prepares a new one (created on the
   * first upsert, when the id type is known).
   * @throws MismatchError (field `vector`) when the table holds vectors of another dimension,
   *   (field = the column) when a declared metadata column is missing or of another type, (field
   *   `id`) when the table is not an item table (no int or string `id`, no `vector`); ConfigError for bad options
   */
  static async open(options: LanceIndexOptions): Promise<LanceIndex> {
    const { dim } = options;
    if (!Number.isInteger(dim) || dim < 1) throw new ConfigError('dim', `must be a positive integer, got ${dim}`);
    if (typeof options.uri !== 'string' || options.uri === '') throw new ConfigError('uri', 'must name a directory or a LanceDB URI');
    const name = options.table ?? 'items';
    if (!NAME.test(name)) throw new ConfigError('table', `must be letters, digits and _, got ${JSON.stringify(name)}`);
    const declared = new Map(Object.entries(options.columns ?? {}));
    for (const [c, t] of declared) {
      if (!NAME.test(c) || c === 'id' || c === 'vector' || c.startsWith('_')) throw new ConfigError(`columns.${c}`, 'a metadata column needs a name of letters, digits and _ other than id, vector');
      if (!(t in ARROW_TYPE)) throw new ConfigError(`columns.${c}`, `must be one of string, int, float, bool, got ${JSON.stringify(t)}`);
    }
    const db = await lancedb.connect(options.uri, options.connection);
    try {
      const exists = (await db.tableNames()).includes(name);
      if (exists && options.mode === 'overwrite') await db.dropTable(name);
      if (!exists || options.mode === 'overwrite') return new LanceIndex(db, name, dim, options, undefined, declared, options.idKind);
      const table = await db.openTable(name);
      const { columns, idKind } = LanceIndex.checkSchema(await table.schema(), dim, declared, `${options.uri} table ${name}`);
      const index = new LanceIndex(db, name, dim, options, table, columns, idKind);
      index.count = await table.countRows();
      await index.readAnnDistance();
      return index;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  private static checkSchema(schema: Schema, dim: number, declared: ReadonlyMap<string, LanceColumnType>, where: string): { columns: Map<string, LanceColumnType>; idKind: IdKind } {
    const byName = new Map(schema.fields.map((f) => [f.name, f]));
    const id = byName.get('id');
    const vector = byName.get('vector');
    if (!id || !vector) throw new MismatchError('id', `an item table with columns id and vector (${where})`, `columns [${[...byName.keys()].join(', ')}]`);
    const idKind: IdKind | undefined = id.type instanceof Utf8 ? 'string' : String(id.type).startsWith('Int') ? 'int' : undefined;
    if (!idKind) throw new MismatchError('id', `int64 or utf8 ids (${where})`, String(id.type));
    const vt = vector.type;
    if (!(vt instanceof FixedSizeList) || !String(vt.children[0]?.type).startsWith('Float')) {
      throw new MismatchError('vector', `fixed-size lists of ${dim} floats (${where})`, String(vt));
    }
    if (vt.listSize !== dim) throw new MismatchError('vector', `${dim}-dimensional vectors (${where})`, `${vt.listSize}-dimensional vectors`);
    const columns = new Map<string, LanceColumnType>();
    for (const f of schema.fields) {
      if (f.name === 'id' || f.name === 'vector') continue;
      const t = columnTypeOf(f.type);
      if (t) columns.set(f.name, t);
    }
    for (const [c, t] of declared) {
      if (columns.get(c) !== t) throw new MismatchError(c, `a ${t} column ${c} (${where})`, columns.has(c) ? `a ${columns.get(c)} column` : 'no such column');
    }
    return { columns, idKind };
  }

  private async readAnnDistance(): Promise<void> {
    if (!this.table) return;
    const vectorIndex = (await this.table.listIndices()).find((i) => i.columns.includes('vector'));
    const stats = vectorIndex ? await this.table.indexStats(vectorIndex.name) : undefined;
    this.annDistance = stats?.distanceType === 'cosine' ? 'cosine' : 'dot';
  }

  /** number of rows, as of the last write or {@link LanceIndex.refresh} */
  get size(): number {
    return this.count;
  }

  /** `int` or `string`: the table's id type (undefined before the first upsert of a new table) */
  get idKind(): IdKind | undefined {
    return this.ids;
  }

  /** metadata column names and types */
  get columns(): ReadonlyMap<string, LanceColumnType> {
    return this.columnTypes;
  }

  /** the LanceDB table, for what this class does not wrap (undefined until the first upsert) */
  get lanceTable(): lancedb.Table | undefined {
    return this.table;
  }

  private live(): void {
    if (this.disposed) throw new StateError('LanceIndex used after dispose()');
  }

  private schema(): Schema {
    const fields = [
      new Field('id', this.ids === 'int' ? new Int64() : new Utf8(), false),
      new Field('vector', new FixedSizeList(this.dim, new Field('item', new Float32(), true)), false),
      ...[...this.columnTypes].map(([c, t]) => new Field(c, ARROW_TYPE[t](), true)),
    ];
    return new Schema(fields);
  }

  /** An Arrow table of ids, vectors and the given columns (a subset of the table's). */
  private arrowRows(ids: readonly ItemId[], vectors: Float32Array, columns: Readonly<Record<string, LanceColumnValues>>): ArrowTable {
    const full = this.schema();
    const present = new Set(['id', 'vector', ...Object.keys(columns)]);
    const fields = full.fields.filter((f) => present.has(f.name));
    const n = ids.length;
    const idVector = this.ids === 'int' ? vectorFromArray((ids as number[]).map((x) => BigInt(x)), new Int64()) : vectorFromArray(ids as string[], new Utf8());
    const listType = fields[1]!.type as FixedSizeList<Float32>;
    const values = makeData({ type: new Float32(), length: n * this.dim, data: vectors });
    const vectorData = makeData({ type: listType, length: n, nullCount: 0, child: values });
    const children = [idVector.data[0]!, vectorData];
    for (const f of fields.slice(2)) {
      const t = this.columnTypes.get(f.name)!;
      const given = columns[f.name]!;
      const cells = Array.from(given, (v) => (v === null || v === undefined ? null : t === 'int' ? BigInt(v as number) : v));
      children.push(vectorFromArray(cells as never[], f.type).data[0]!);
    }
    const struct = makeData({ type: new Struct(fields), length: n, nullCount: 0, children });
    return new ArrowTable([new RecordBatch(new Schema(fields), struct)]);
  }

  /**
   * Inserts new ids and replaces the vectors (and the given metadata columns) of present ones, in
   * one LanceDB merge on `id`. Columns not given keep their values on updated rows (null on new ones).
   * @throws ShapeError, ValueError (NaN, a duplicate id, a bad column), MismatchError (an id of
   *   the other kind, a column the table lacks)
   */
  async upsert(ids: readonly ItemId[], vectors: VectorsInput, options: { columns?: Readonly<Record<string, LanceColumnValues>> } = {}): Promise<UpsertResult> {
    this.live();
    const kind = checkIds(ids, this.ids, 'ids');
    const { data } = toMatrix(vectors, this.dim, 'vectors', 'LanceIndex.upsert', ids.length);
    const columns = options.columns ?? {};
    for (const [c, values] of Object.entries(columns)) {
      const t = this.columnTypes.get(c);
      if (!t) throw new MismatchError(c, `one of the table's metadata columns [${[...this.columnTypes.keys()].join(', ')}]`, `column ${c}`);
      if (!Array.isArray(values) || values.length !== ids.length) throw new ValueError(c, `needs one value per id (${ids.length}), got ${Array.isArray(values) ? values.length : typeof values}`);
      const want = t === 'string' ? 'string' : t === 'bool' ? 'boolean' : 'number';
      values.forEach((v, i) => {
        if (v !== null && v !== undefined && (typeof v !== want || (t === 'int' && !Number.isSafeInteger(v)) || (want === 'number' && !Number.isFinite(v)))) {
          throw new ValueError(`${c}[${i}]`, `must be a ${t} or null, got ${JSON.stringify(v)}`);
        }
      });
    }
    if (ids.length === 0) return { inserted: 0, updated: 0 };
    this.ids = kind;
    const rows = this.arrowRows(ids, data, columns);
    if (!this.table) {
      // created with the full schema, then merged into like any later upsert
      this.table = await this.db.createEmptyTable(this.tableName, this.schema(), { mode: 'overwrite' });
    }
    const r = await this.table.mergeInsert('id').whenMatchedUpdateAll().whenNotMatchedInsertAll().execute(rows);
    this.count += r.numInsertedRows;
    return { inserted: r.numInsertedRows, updated: r.numUpdatedRows };
  }

  /** Removes ids; absent ids are skipped. Returns how many rows were removed. */
  async remove(ids: readonly ItemId[]): Promise<number> {
    this.live();
    if (!this.table || ids.length === 0) return 0;
    checkIds(ids, this.ids, 'ids');
    let removed = 0;
    for (let s = 0; s < ids.length; s += 1000) {
      const r = await this.table.delete(`id IN (${ids.slice(s, s + 1000).map((x) => sqlLiteral(x)).join(', ')})`);
      removed += r.numDeletedRows;
    }
    this.count -= removed;
    return removed;
  }

  /**
   * The stored vectors of `ids`, row-major `[ids.length, dim]`, and which ids were found
   * (rows of absent ids are zeros).
   */
  async getVectors(ids: readonly ItemId[]): Promise<StoredVectors> {
    this.live();
    const vectors = new Float32Array(ids.length * this.dim);
    const found = new Array<boolean>(ids.length).fill(false);
    if (!this.table || ids.length === 0) return { vectors, found };
    checkIds(ids, this.ids, 'ids');
    const at = new Map<ItemId, number>(ids.map((id, i) => [id, i]));
    for (let s = 0; s < ids.length; s += 1000) {
      const chunk = ids.slice(s, s + 1000);
      const rows = await this.table.query().where(`id IN (${chunk.map((x) => sqlLiteral(x)).join(', ')})`).select(['id', 'vector']).toArray();
      for (const row of rows) {
        const i = at.get(this.idOf(row.id))!;
        vectors.set(row.vector.toArray() as Float32Array, i * this.dim);
        found[i] = true;
      }
    }
    return { vectors, found };
  }

  private idOf(raw: unknown): ItemId {
    return typeof raw === 'bigint' ? Number(raw) : (raw as ItemId);
  }

  /**
   * Top-k by inner product for each query, leaving out each query's `exclude` ids and the rows
   * `where` rejects. Fewer than k results when the filter and exclusions leave fewer rows.
   * @throws ShapeError, ValueError (NaN/Infinity), EmptyError (empty table or no query),
   *   OutOfRangeError (k < 1 or k > size); ConfigError for a `where` LanceDB rejects
   */
  async search(queries: VectorsInput, k: number, options: LanceSearchOptions = {}): Promise<SearchResult[]> {
    this.live();
    const { data, rows } = toMatrix(queries, this.dim, 'queries', 'LanceIndex.search');
    if (!this.table || this.count === 0) throw new EmptyError('index', 'the table holds no item');
    if (rows === 0) throw new EmptyError('queries', 'no query given');
    if (!Number.isInteger(k) || k < 1 || k > this.count) throw new OutOfRangeError('k', `must be in [1, ${this.count}], got ${k}`);
    const ann = { ...this.options.search, ...options.ann };
    const D = this.dim;
    const table = this.table;
    const queryRows = Array.from({ length: rows }, (_, r) => r);
    return mapConcurrent(queryRows, this.options.concurrency ?? 8, async (r) => {
      const q = data.subarray(r * D, (r + 1) * D);
      const excluded = new Set<ItemId>(options.exclude?.[r] ?? []);
      const limit = k + excluded.size;
      let query = table.vectorSearch(q).column('vector').distanceType(this.annDistance).limit(limit).select(['id', 'vector', '_distance']);
      if (options.where) query = query.where(options.where);
      if (ann.exact) query = query.bypassVectorIndex();
      if (ann.nprobes !== undefined) query = query.nprobes(ann.nprobes);
      if (ann.refineFactor !== undefined) query = query.refineFactor(ann.refineFactor);
      // LanceDB needs ef >= the candidates it is asked for (limit x refineFactor)
      if (ann.ef !== undefined) query = query.ef(Math.max(ann.ef, limit * (ann.refineFactor ?? 1)));
      let found: Array<{ id: unknown; vector: { toArray(): Float32Array } }>;
      try {
        found = await query.toArray();
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        if (options.where && /sql|parse|filter|column|field/i.test(message)) throw new ConfigError('where', `LanceDB rejected the filter ${JSON.stringify(options.where)}: ${message}`);
        throw e;
      }
      const hits: { id: ItemId; score: number; vector: Float32Array }[] = [];
      for (const row of found) {
        const id = this.idOf(row.id);
        if (excluded.has(id)) continue;
        const v = row.vector.toArray();
        let s = 0;
        for (let d = 0; d < D; d++) s += q[d]! * v[d]!;
        hits.push({ id, score: Math.fround(s), vector: v });
      }
      // exact order of the candidates; ties by id (ints ascending, strings by code unit)
      hits.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const top = hits.slice(0, k);
      const result: { ids: ItemId[]; scores: Float32Array; vectors?: Float32Array } = { ids: top.map((h) => h.id), scores: Float32Array.from(top, (h) => h.score) };
      if (options.includeVectors) {
        const vectors = new Float32Array(top.length * D);
        top.forEach((h, i) => vectors.set(h.vector, i * D));
        result.vectors = vectors;
      }
      return result;
    });
  }

  /**
   * A view of this index whose every search also applies `where` (e.g. one category), for a
   * `Retriever` that should only serve those items. The view shares the table; disposing it does
   * not close the index.
   */
  filtered(where: string): SearchIndex {
    const parent = this;
    return {
      kind: 'lancedb',
      dim: this.dim,
      get size() {
        return parent.size;
      },
      search: (queries: VectorsInput, k: number, options: LanceSearchOptions = {}) =>
        parent.search(queries, k, { ...options, where: options.where ? `(${where}) AND (${options.where})` : where }),
      dispose: async () => undefined,
    };
  }

  /**
   * Builds (or replaces) the ANN index on `vector` for the inner product, and a B-tree on `id`
   * (fast upserts and id look-ups). Rows added later are searched by brute force until
   * {@link LanceIndex.optimize} folds them into the index.
   * @throws EmptyError before the first upsert; ConfigError for bad options (LanceDB's message)
   */
  async createAnnIndex(options: AnnIndexOptions): Promise<void> {
    this.live();
    if (!this.table) throw new EmptyError('index', 'the table holds no item; upsert first');
    const { type, distance = 'dot', ...rest } = options;
    if (distance !== 'dot' && distance !== 'cosine') throw new ConfigError('distance', `must be dot or cosine, got ${JSON.stringify(distance)}`);
    if (distance === 'cosine') await this.checkUnitNorm();
    const common = { distanceType: distance, ...rest };
    const config =
      type === 'ivf_pq' ? lancedb.Index.ivfPq(common)
        : type === 'hnsw_sq' ? lancedb.Index.hnswSq(common)
          : type === 'hnsw_pq' ? lancedb.Index.hnswPq(common)
            : type === 'ivf_flat' ? lancedb.Index.ivfFlat(common)
              : undefined;
    if (!config) throw new ConfigError('type', `must be ivf_pq, hnsw_sq, hnsw_pq or ivf_flat, got ${JSON.stringify(type)}`);
    try {
      await this.table.createIndex('vector', { config, replace: true });
      const hasIdIndex = (await this.table.listIndices()).some((i) => i.columns.includes('id'));
      if (!hasIdIndex) await this.table.createIndex('id', { config: lancedb.Index.btree() });
    } catch (e) {
      throw new ConfigError(type, `LanceDB could not build the index: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.annDistance = distance;
  }

  /** A cosine index ranks as the inner product only for unit vectors: check a sample of rows. */
  private async checkUnitNorm(): Promise<void> {
    const rows = await this.table!.query().select(['id', 'vector']).limit(1000).toArray();
    for (const row of rows) {
      const v = row.vector.toArray() as Float32Array;
      let s = 0;
      for (let d = 0; d < v.length; d++) s += v[d]! * v[d]!;
      if (Math.abs(Math.sqrt(s) - 1) > 1e-3) {
        throw new ConfigError('distance', `cosine ranks as the inner product only for unit-norm vectors; id ${JSON.stringify(this.idOf(row.id))} has norm ${Math.sqrt(s).toFixed(4)} (use dot)`);
      }
    }
  }

  /** The table's indexes: name, type, columns and how many rows each covers. */
  async indexes(): Promise<IndexInfo[]> {
    this.live();
    if (!this.table) return [];
    const out: IndexInfo[] = [];
    for (const i of await this.table.listIndices()) {
      const stats = await this.table.indexStats(i.name);
      out.push({ name: i.name, type: i.indexType, columns: i.columns, indexedRows: stats?.numIndexedRows, unindexedRows: stats?.numUnindexedRows });
    }
    return out;
  }

  /** Compacts the table's files, drops old versions and adds new rows to the indexes (LanceDB `optimize`). */
  async optimize(): Promise<void> {
    this.live();
    if (this.table) await this.table.optimize();
  }

  /** Re-reads the row count and the latest version (after other processes wrote to the table). */
  async refresh(): Promise<void> {
    this.live();
    if (!this.table) {
      if (!(await this.db.tableNames()).includes(this.tableName)) return;
      this.table = await this.db.openTable(this.tableName);
      const { columns, idKind } = LanceIndex.checkSchema(await this.table.schema(), this.dim, this.columnTypes, `${this.options.uri} table ${this.tableName}`);
      this.ids = idKind;
      for (const [c, t] of columns) this.columnTypes.set(c, t);
    } else await this.table.checkoutLatest();
    this.count = await this.table.countRows();
    await this.readAnnDistance();
  }

  /** Closes the table and the connection; the index is unusable afterwards. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.table?.close();
    this.db.close();
  }
}
