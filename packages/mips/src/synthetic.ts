/**
 * Seeded synthetic item and query embeddings shaped like trained ones: a mixture of Gaussian
 * clusters (items of a genre sit together) with log-normally varied norms (popular items tend
 * to have larger norms under a softmax loss). Used by the benchmark and tests; handy for
 * sizing an index before real embeddings exist.
 */
import { ConfigError } from './errors.js';

/** Options of {@link syntheticEmbeddings}. */
export interface SyntheticEmbeddingsOptions {
  /** number of vectors */
  readonly n: number;
  /** vector dimension */
  readonly dim: number;
  /** number of Gaussian clusters; default 256 */
  readonly clusters?: number;
  /** seed of the draws; the cluster centres depend only on `centerSeed` */
  readonly seed?: number;
  /** seed of the cluster centres, shared by a corpus and its queries; default 1 */
  readonly centerSeed?: number;
  /** spread within a cluster relative to the spread of the centres; default 0.7 */
  readonly withinClusterScale?: number;
  /** standard deviation of log(norm scale); default 0.4 */
  readonly normSpread?: number;
}

/** mulberry32: a small, fast, seedable PRNG with 32 bits of state. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand: () => number): number {
  let u = 0;
  while (u === 0) u = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/**
 * Row-major `[n, dim]` embeddings from a seeded Gaussian mixture.
 * @example const corpus = syntheticEmbeddings({ n: 100_000, dim: 64, seed: 1 });
 */
export function syntheticEmbeddings(options: SyntheticEmbeddingsOptions): Float32Array {
  const { n, dim } = options;
  const clusters = options.clusters ?? 256;
  for (const [field, v] of [['n', n], ['dim', dim], ['clusters', clusters]] as const) {
    if (!Number.isInteger(v) || v < (field === 'n' ? 0 : 1)) throw new ConfigError(field, `must be a positive integer, got ${v}`);
  }
  const within = options.withinClusterScale ?? 0.7;
  const spread = options.normSpread ?? 0.4;
  const centreRand = mulberry32(options.centerSeed ?? 1);
  const centres = new Float32Array(clusters * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = gaussian(centreRand);
  const rand = mulberry32((options.seed ?? 0) + 0x9e3779b9);
  const out = new Float32Array(n * dim);
  const norm = 1 / Math.sqrt(dim);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(rand() * clusters);
    const scale = Math.exp(spread * gaussian(rand)) * norm;
    for (let d = 0; d < dim; d++) {
      out[i * dim + d] = scale * ((centres[c * dim + d] as number) + within * gaussian(rand));
    }
  }
  return out;
}
