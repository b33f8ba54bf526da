/**
 * @tt/lancedb: serve two-tower retrieval from a LanceDB table (embedded, object storage, or
 * LanceDB Cloud / Enterprise) through the search interface of `@tt/mips` indexes.
 *
 * @packageDocumentation
 */
export {
  LanceIndex, sqlLiteral,
  type LanceIndexOptions, type LanceSearchOptions, type LanceColumnType, type LanceColumnValues, type AnnIndexOptions, type AnnIndexType, type AnnSearchOptions, type UpsertResult, type StoredVectors, type IndexInfo,
} from './lance-index.js';
export { syncCatalogue, lanceRetriever, type SyncCatalogueOptions, type SyncCatalogueResult } from './catalogue.js';
