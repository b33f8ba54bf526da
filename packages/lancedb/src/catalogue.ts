/**
 * A trained model's catalogue in a LanceDB table: the item tower over the catalogue, upserted by
 * item id, and a `@tt/core` `Retriever` serving from the table.
 *
 * Re-embedding after retraining is incremental: the catalogue goes through the item tower in
 * chunks, each chunk is compared with the stored vectors, and only rows that moved by more than
 * `tolerance` are written (one merge per chunk), so readers keep serving from the table while it
 * changes and a retraining that leaves most items in place writes little. New rows are searched
 * by brute force until the ANN index folds them in (`optimize`, run at the end by default).
 */
import { Retriever, takeValues, type TwoTowerModel } from '@tt/core';
import { ConfigError, MismatchError, type ItemId, type SearchIndex, type VectorsInput } from '@tt/mips';
import type { LanceColumnValues, LanceIndex, LanceSearchOptions } from './lance-index.js';

/** Options of {@link syncCatalogue}. */
export interface SyncCatalogueOptions {
  /** only these catalogue item ids (e.g. new or changed items); default the whole catalogue */
  readonly items?: readonly ItemId[];
  /** items per item-tower pass and per merge (default 8192) */
  readonly batchSize?: number;
  /**
   * skip rows whose stored vector differs from the new one by at most this much in every
   * component (default: write every row, without reading the stored ones)
   */
  readonly tolerance?: number;
  /** remove rows whose id is not in the model's catalogue (default false) */
  readonly prune?: boolean;
  /** metadata columns, one value per catalogue item index (`model.data.itemIds` order) */
  readonly columns?: Readonly<Record<string, LanceColumnValues>>;
  /** fold new rows into the ANN index afterwards with LanceDB `optimize` (default true) */
  readonly optimize?: boolean;
}

/** What {@link syncCatalogue} did. */
export interface SyncCatalogueResult {
  /** rows written (new or moved) */
  readonly written: number;
  /** of those, rows that were new */
  readonly inserted: number;
  /** rows left as they were (within `tolerance`) */
  readonly unchanged: number;
  /** rows removed by `prune` */
  readonly removed: number;
}

/**
 * Writes the model's item embeddings (and optional metadata) into the index's table, by item id.
 * @throws MismatchError when the table's dimension is not the model's (field `vector`);
 *   ConfigError for an id outside the catalogue (field `items`) or bad options
 */
export async function syncCatalogue(model: TwoTowerModel, index: LanceIndex, options: SyncCatalogueOptions = {}): Promise<SyncCatalogueResult> {
  const D = model.config.dim;
  if (index.dim !== D) throw new MismatchError('vector', `${D}-dimensional vectors (the model's dim)`, `a table of ${index.dim}-dimensional vectors`);
  const batch = options.batchSize ?? 8192;
  if (!Number.isInteger(batch) || batch < 1) throw new ConfigError('batchSize', `must be a positive integer, got ${batch}`);
  const tolerance = options.tolerance;
  if (tolerance !== undefined && !(tolerance >= 0)) throw new ConfigError('tolerance', `must be >= 0, got ${tolerance}`);
  const { itemIds } = model.data;
  let rows: Int32Array;
  if (options.items) {
    rows = new Int32Array(options.items.length);
    options.items.forEach((id, i) => {
      const at = model.itemIndex(id);
      if (at === undefined) throw new ConfigError('items', `id ${JSON.stringify(id)} (at ${i}) is not in the model's catalogue`);
      rows[i] = at;
    });
  } else rows = Int32Array.from({ length: itemIds.length }, (_, i) => i);
  for (const [c, values] of Object.entries(options.columns ?? {})) {
    if (values.length !== itemIds.length) throw new ConfigError(`columns.${c}`, `needs one value per catalogue item (${itemIds.length}), got ${values.length}`);
  }

  let written = 0;
  let inserted = 0;
  let unchanged = 0;
  for (let start = 0; start < rows.length; start += batch) {
    const chunk = rows.subarray(start, Math.min(rows.length, start + batch));
    const vectors = takeValues(model.itemEmbeddings(chunk));
    let keep = Array.from(chunk.keys());
    if (tolerance !== undefined && index.size > 0) {
      const stored = await index.getVectors(Array.from(chunk, (i) => itemIds[i]!));
      keep = keep.filter((j) => {
        if (!stored.found[j]) return true;
        for (let d = 0; d < D; d++) if (Math.abs(stored.vectors[j * D + d]! - vectors[j * D + d]!) > tolerance) return true;
        return false;
      });
      unchanged += chunk.length - keep.length;
    }
    if (keep.length === 0) continue;
    const ids = keep.map((j) => itemIds[chunk[j]!]!);
    const out = new Float32Array(keep.length * D);
    keep.forEach((j, r) => out.set(vectors.subarray(j * D, (j + 1) * D), r * D));
    const columns = Object.fromEntries(Object.entries(options.columns ?? {}).map(([c, values]) => [c, keep.map((j) => values[chunk[j]!] ?? null)]));
    const r = await index.upsert(ids, out, { columns });
    written += keep.length;
    inserted += r.inserted;
  }
  let removed = 0;
  if (options.prune && index.size > 0 && index.lanceTable) {
    const known = new Set<ItemId>(itemIds);
    const stale: ItemId[] = [];
    for await (const b of index.lanceTable.query().select(['id'])) {
      for (const raw of b.getChild('id')!.toArray() as Iterable<unknown>) {
        const id = typeof raw === 'bigint' ? Number(raw) : (raw as ItemId);
        if (!known.has(id)) stale.push(id);
      }
    }
    removed = await index.remove(stale);
  }
  if ((options.optimize ?? true) && (written > 0 || removed > 0)) await index.optimize();
  return { written, inserted, unchanged, removed };
}

/**
 * A `Retriever` serving `model` from a LanceDB table of its catalogue (see {@link syncCatalogue}),
 * optionally restricted to the rows `where` admits (e.g. `category = 'shoes'`). Disposing the
 * retriever closes the index.
 * @throws ConfigError when the table's dimension is not the model's
 */
export function lanceRetriever(model: TwoTowerModel, index: LanceIndex, options: { where?: string } = {}): Retriever {
  const { where } = options;
  const view: SearchIndex = {
    kind: index.kind,
    dim: index.dim,
    get size() {
      return index.size;
    },
    search: (queries: VectorsInput, k: number, o: LanceSearchOptions = {}) => index.search(queries, k, where ? { ...o, where: o.where ? `(${where}) AND (${o.where})` : where } : o),
    dispose: () => index.dispose(),
  };
  return Retriever.over(model, view);
}
