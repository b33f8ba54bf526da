/**
 * @tt/mips: exact and approximate maximum inner product search over item embeddings.
 *
 * @packageDocumentation
 */
export {
  TtError,
  ShapeError,
  ValueError,
  OutOfRangeError,
  EmptyError,
  DuplicateIdError,
  UnknownIdError,
  ConfigError,
  StateError,
  CorruptFileError,
  MismatchError,
  FileSystemError,
  NumericError,
  type FileOperation,
  type TtErrorCode,
  type TtErrorOptions,
} from './errors.js';
export type { MipsIndex, SearchIndex, SearchOptions, SearchResult, ItemId, IdKind, VectorsInput } from './types.js';
export { ExactIndex, type ExactIndexOptions, type ExactIndexParams } from './exact-index.js';
export { HnswIndex, type HnswIndexOptions, type HnswIndexParams, type HnswQuantization } from './hnsw-index.js';
export { loadIndex } from './load-index.js';
export { readNpy, writeNpy, encodeNpy, decodeNpy, type NpyArray } from './npy.js';
export { syntheticEmbeddings, mulberry32, type SyntheticEmbeddingsOptions } from './synthetic.js';
export { writeFileAtomic, writeDirAtomic, recoverDir } from './internal/atomic.js';
export { toMatrix } from './internal/matrix.js';
export { fileDigest, type IndexManifest } from './internal/index-files.js';
