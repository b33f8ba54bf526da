/**
 * The synthetic funnel world of EVAL.md section 2: seeded, deterministic, with known truth.
 *
 * Generative model (k = latentDim, T = tasks.length, w = valueWeights):
 * - users u and items v: latent vectors N(0, s^2 I_k), s^2 = 1.5 / sqrt(k), so u.v has sd ~1.5;
 *   each item also has one quality q_it ~ N(0, 1) per task t >= 1.
 * - dense features partly reveal the latents: z-score(latent @ P + 0.5 * noise), P [k, d] with
 *   N(0, 1/k) entries, independently for users (d = userFeatureDim) and items (itemFeatureDim).
 * - popularity: pop_i = (rank_i + 1)^-zipf over a random permutation of the items.
 * - true task probabilities (a = u.v): the first task is the entry of the funnel,
 *   p_0 = sigmoid(a - 1); every later task happens only after it,
 *   p_t = p_0 * sigmoid(a + q_it - 1 - 0.5 (t - 1)). The main ranker's value is
 *   V(u, i) = sum_t w_t p_t(u, i) (position-free); `truth.valueOfAllItems` returns it.
 * - logging policy, one request at a time: the user is drawn by activity (log-normal, sd 0.7);
 *   3 x slateSize distinct candidates come two thirds from popularity and one third uniformly
 *   (exploration); they are ordered by a noisy preference a + N(0, 1) and the first slateSize
 *   are shown at positions 0..slateSize-1. The log is biased (popular, preferred items, top
 *   positions) but informative.
 * - observed labels: with exposure e = min(1, (1 + position)^-positionBias * propensity_u),
 *   propensity_u = min(1, exp(N(0, 0.5^2) - 0.25)) per user, the first label is
 *   Bernoulli(p_0 * e) and each later one is (first label) * Bernoulli(p_t / p_0).
 * - rankerScores: the main ranker's noisy prediction of p_t for the shown item,
 *   sigmoid(logit(p_t) + N(0, 0.3^2)).
 * - optional corruption: each label flipped with probability `labelNoise`; a row left unscored
 *   (NaN ranker scores) with probability 1 - `rankerCoverage`.
 * - optional interest drift: each request after a user's first renews a share `interestDrift` of
 *   their latent's variance (own random stream); the truth uses the latents at the end of the log.
 * - timestamps: the request number (increasing); then the loo-full split of EVAL.md section 1
 *   (positive = labels . w > 0). Histories come from earlier positives (see batches.ts).
 * Independent random streams (latents, popularity, features, log) derive from the seed, so a
 * seed gives the same world on every platform.
 */
import { mulberry32 } from '@tt/mips';
import { ConfigError, OutOfRangeError } from '../errors.js';
import { splitDataset } from './split.js';
import type { GroundTruth, InteractionDataset, InteractionLog } from './types.js';

/** Options of {@link syntheticWorld}: the world's size, its logging policy and its noise. */
export interface SyntheticWorldOptions {
  /** integer seed of every random stream; the same seed gives the same world; default 0 */
  readonly seed?: number;
  /** default 2000 */
  readonly numUsers?: number;
  /** default 1000 */
  readonly numItems?: number;
  /** logged impressions (rows before the split), default 60000 */
  readonly impressions?: number;
  /** default 16 */
  readonly latentDim?: number;
  /** default 16 */
  readonly userFeatureDim?: number;
  /** default 16 */
  readonly itemFeatureDim?: number;
  /** items per request, and so the number of positions; default 10 */
  readonly slateSize?: number;
  /** reward tasks, the first being the funnel's entry; default ['click', 'like'] */
  readonly tasks?: readonly string[];
  /** w, one per task; default [1, 0.5] (for other tasks: all ones) */
  readonly valueWeights?: readonly number[];
  /** exponent of the position effect on exposure; default 0.7 */
  readonly positionBias?: number;
  /** popularity skew; default 1 */
  readonly zipf?: number;
  /**
   * How the logging policy orders a slate: by `orderAffinity * u.v + orderPopularity * log p_i +
   * orderNoise * N(0, 1)`; defaults 1, 0, 1 (a policy that knows the user well). A policy led by
   * popularity makes position bias mislead a model that trusts clicks.
   */
  readonly orderAffinity?: number;
  /** weight of `log p_i` in the policy's order (see `orderAffinity`); default 0 */
  readonly orderPopularity?: number;
  /** scale of the Gaussian noise in the policy's order (see `orderAffinity`); default 1 */
  readonly orderNoise?: number;
  /** hold out each evaluated user's positive before the test row (default false) */
  readonly validation?: boolean;
  /** probability that each observed label is flipped (noisier hard labels); default 0 */
  readonly labelNoise?: number;
  /** share of rows the main ranker scored; the others log NaN (not scored). Default 1 */
  readonly rankerCoverage?: number;
  /**
   * Share of a user's latent variance renewed at each of their requests after the first,
   * `u <- sqrt(1 - d) u + sqrt(d) s N(0, I)` (variance stays s^2): interests that drift, so the
   * latest positives say more than old ones. The truth is the users' latents at the end of the
   * log (what retrieval serves next). Default 0 (static users).
   */
  readonly interestDrift?: number;
  /**
   * How the policy lays out the slate it selected (the top `slateSize` candidates by its score):
   * `'score'` (default) puts its best first; `'popularity'` puts the most popular first (a
   * "trending first" layout); `'reversed'` its best last (a stale layout working against the
   * user); `'random'` shuffles. With any but `'score'` a position says little about relevance,
   * so position bias misleads a model that trusts clicks.
   */
  readonly slateOrder?: 'score' | 'popularity' | 'reversed' | 'random' | 'stale';
  /**
   * What the policy's noisy estimate (the `orderAffinity` term) estimates: `'affinity'` (default),
   * u.v, the entry task's driver; `'value'`, log V(u, i), the main ranker's whole value (quality of
   * later tasks included), as a policy led by a value model would.
   */
  readonly policyScore?: 'affinity' | 'value';
  /**
   * Where the candidates come from: `'popularity'` (default), two thirds popularity draws and one
   * third uniform; `'policy'`, half popularity draws and half the top of the policy's own noisy
   * estimate over `policyPool` uniformly drawn items (a retrieval stage of its own).
   */
  readonly candidates?: 'popularity' | 'policy';
  /** items the `'policy'` candidate generator scores per request; default 200 */
  readonly policyPool?: number;
  /**
   * With `slateOrder: 'score'`: the layout key adds `layoutPopularity * log p_i` (a popularity bonus)
   * and Gumbel noise of scale `layoutNoise` to the policy's score; defaults 0, 0 (the selection
   * order itself). With `'stale'`, the layout follows a stale ranker: u_stale . v + N(0, 1), where
   * u_stale keeps only `1 - staleness` of the user's latent variance; default staleness 0.7.
   */
  readonly layoutPopularity?: number;
  /** scale of the Gumbel noise in the layout key (see `layoutPopularity`); default 0 */
  readonly layoutNoise?: number;
  /** share of a user's latent variance the stale ranker of `slateOrder: 'stale'` has lost; default 0.7 */
  readonly staleness?: number;
  /** sd of the logit noise of the logged ranker predictions; default 0.3 */
  readonly rankerNoise?: number;
}

// Module-level aliases: under jest's vm context every `Math.f` lookup is a slow global access
// (~0.2 us), which made generation 10x slower in tests than in Node.
const { exp, log: ln, sqrt, cos, floor, min, max, PI } = Math;

const sigmoid = (x: number): number => 1 / (1 + exp(-x));

/** A seeded uniform + normal source on mulberry32. */
function stream(seed: number, salt: number): { uniform: () => number; normal: () => number } {
  const uniform = mulberry32((Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(salt + 1, 0x85ebca6b)) >>> 0);
  const normal = () => {
    let u = 0;
    while (u === 0) u = uniform();
    return sqrt(-2 * ln(u)) * cos(2 * PI * uniform());
  };
  return { uniform, normal };
}

/** z-score(latent [n, k] @ P [k, d] + 0.5 noise), column by column. */
function revealingFeatures(rand: ReturnType<typeof stream>, latent: Float64Array, n: number, k: number, d: number): Float32Array {
  const proj = Float64Array.from({ length: k * d }, () => rand.normal() / sqrt(k));
  const raw = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let a = 0; a < k; a++) s += latent[i * k + a]! * proj[a * d + j]!;
      raw[i * d + j] = s + 0.5 * rand.normal();
    }
  }
  const out = new Float32Array(n * d);
  for (let j = 0; j < d; j++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += raw[i * d + j]!;
    mean /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (raw[i * d + j]! - mean) ** 2;
    const sd = sqrt(v / n) || 1;
    for (let i = 0; i < n; i++) out[i * d + j] = (raw[i * d + j]! - mean) / sd;
  }
  return out;
}

/** Index drawn from cumulative weights `cdf` by binary search. */
function drawFrom(cdf: Float64Array, u: number): number {
  const x = u * cdf[cdf.length - 1]!;
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function cumulative(weights: Float64Array): Float64Array {
  const c = new Float64Array(weights.length);
  let acc = 0;
  for (let i = 0; i < weights.length; i++) c[i] = acc += weights[i]!;
  return c;
}

function positiveInt(field: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new ConfigError(field, `must be a positive integer, got ${v}`);
  return v;
}

/** Reorders the first `m` entries of `slate` (candidate slots, best first) as `order` lays them out. */
function layOut(order: 'popularity' | 'reversed' | 'random', slate: number[], m: number, candidates: Int32Array, pop: Float64Array, rand: ReturnType<typeof stream>): void {
  const head = slate.slice(0, m);
  if (order === 'reversed') head.reverse();
  else if (order === 'popularity') head.sort((x, y) => pop[candidates[y]!]! - pop[candidates[x]!]! || x - y);
  else shuffle(head, m, rand.uniform);
  for (let i = 0; i < m; i++) slate[i] = head[i]!;
}

/** Reorders the first `m` entries of `slate` by `key` (highest first, ties by slot). */
function layOutBy(slate: number[], m: number, key: (slot: number) => number): void {
  const head = slate.slice(0, m).map((j) => ({ j, key: key(j) }));
  head.sort((x, y) => y.key - x.key || x.j - y.j);
  for (let i = 0; i < m; i++) slate[i] = head[i]!.j;
}

/** A standard Gumbel draw. */
function gumbel(uniform: () => number): number {
  let u = 0;
  while (u === 0) u = uniform();
  return -ln(-ln(u));
}

/** Fisher-Yates over the first `n` entries of `a`, in place. */
function shuffle(a: { [i: number]: number }, n: number, uniform: () => number): void {
  for (let i = n - 1; i > 0; i--) {
    const j = floor(uniform() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}

/** A seeded synthetic world with ground truth (the built-in demo and benchmark dataset). */
export function syntheticWorld(options: SyntheticWorldOptions = {}): InteractionDataset {
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new ConfigError('seed', `must be an integer, got ${seed}`);
  const nu = positiveInt('numUsers', options.numUsers ?? 2000);
  const ni = positiveInt('numItems', options.numItems ?? 1000);
  const n = positiveInt('impressions', options.impressions ?? 60_000);
  const k = positiveInt('latentDim', options.latentDim ?? 16);
  const IU = options.userFeatureDim ?? 16;
  const II = options.itemFeatureDim ?? 16;
  for (const [name, v] of [['userFeatureDim', IU], ['itemFeatureDim', II]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new ConfigError(name, `must be a non-negative integer, got ${v}`);
  }
  const slate = positiveInt('slateSize', options.slateSize ?? 10);
  if (slate > ni) throw new ConfigError('slateSize', `must be at most numItems (${ni}), got ${slate}`);
  const tasks = options.tasks ?? ['click', 'like'];
  const T = tasks.length;
  if (T < 1 || new Set(tasks).size !== T) throw new ConfigError('tasks', `needs at least one task and distinct names, got ${JSON.stringify(tasks)}`);
  const w = options.valueWeights ?? (T === 2 ? [1, 0.5] : new Array<number>(T).fill(1));
  if (w.length !== T || !w.every((x) => Number.isFinite(x) && x >= 0) || !w.some((x) => x > 0)) {
    throw new ConfigError('valueWeights', `needs ${T} finite non-negative weights, not all 0, got ${JSON.stringify(w)}`);
  }
  const positionBias = options.positionBias ?? 0.7;
  const zipf = options.zipf ?? 1;
  if (!(positionBias >= 0)) throw new ConfigError('positionBias', `must be >= 0, got ${positionBias}`);
  if (!(zipf >= 0)) throw new ConfigError('zipf', `must be >= 0, got ${zipf}`);
  const labelNoise = options.labelNoise ?? 0;
  const rankerCoverage = options.rankerCoverage ?? 1;
  if (!(labelNoise >= 0 && labelNoise <= 0.5)) throw new ConfigError('labelNoise', `must be in [0, 0.5], got ${labelNoise}`);
  if (!(rankerCoverage >= 0 && rankerCoverage <= 1)) throw new ConfigError('rankerCoverage', `must be in [0, 1], got ${rankerCoverage}`);
  const interestDrift = options.interestDrift ?? 0;
  if (!(interestDrift >= 0 && interestDrift < 1)) throw new ConfigError('interestDrift', `must be in [0, 1), got ${interestDrift}`);
  const orderAffinity = options.orderAffinity ?? 1;
  const orderPopularity = options.orderPopularity ?? 0;
  const orderNoise = options.orderNoise ?? 1;
  const slateOrder = options.slateOrder ?? 'score';
  if (!['score', 'popularity', 'reversed', 'random', 'stale'].includes(slateOrder)) {
    throw new ConfigError('slateOrder', `must be one of score, popularity, reversed, random, stale; got ${JSON.stringify(slateOrder)}`);
  }
  const policyScore = options.policyScore ?? 'affinity';
  if (policyScore !== 'affinity' && policyScore !== 'value') throw new ConfigError('policyScore', `must be 'affinity' or 'value', got ${JSON.stringify(policyScore)}`);
  const candidateSource = options.candidates ?? 'popularity';
  if (candidateSource !== 'popularity' && candidateSource !== 'policy') throw new ConfigError('candidates', `must be 'popularity' or 'policy', got ${JSON.stringify(candidateSource)}`);
  const policyPool = min(ni, positiveInt('policyPool', options.policyPool ?? 200));
  const layoutPopularity = options.layoutPopularity ?? 0;
  const layoutNoise = options.layoutNoise ?? 0;
  const staleness = options.staleness ?? 0.7;
  const rankerNoise = options.rankerNoise ?? 0.3;
  for (const [name, v] of Object.entries({ orderAffinity, orderPopularity, orderNoise, layoutPopularity })) {
    if (!Number.isFinite(v)) throw new ConfigError(name, `must be a finite number, got ${v}`);
  }
  for (const [name, v] of Object.entries({ layoutNoise, rankerNoise })) {
    if (!(v >= 0) || !Number.isFinite(v)) throw new ConfigError(name, `must be a finite number >= 0, got ${v}`);
  }
  if (!(staleness >= 0 && staleness <= 1)) throw new ConfigError('staleness', `must be in [0, 1], got ${staleness}`);

  // the world
  const world = stream(seed, 1);
  const s = sqrt(1.5 / sqrt(k));
  const U = Float64Array.from({ length: nu * k }, () => world.normal() * s);
  const initialU = interestDrift > 0 ? U.slice() : U; // features describe users as they started
  const V = Float64Array.from({ length: ni * k }, () => world.normal() * s);
  const quality = Float64Array.from({ length: ni * T }, (_, j) => (j % T === 0 ? 0 : world.normal()));
  const propensity = Float64Array.from({ length: nu }, () => min(1, exp(0.5 * world.normal() - 0.25)));
  const activity = Float64Array.from({ length: nu }, () => exp(0.7 * world.normal()));
  const perm = Int32Array.from({ length: ni }, (_, i) => i);
  shuffle(perm, ni, world.uniform);
  const pop = new Float64Array(ni);
  for (let rank = 0; rank < ni; rank++) pop[perm[rank]!] = (rank + 1) ** -zipf;
  const popCdf = cumulative(pop);
  const userCdf = cumulative(activity);

  const affinity = (u: number, i: number): number => {
    let d = 0;
    for (let a = 0; a < k; a++) d += U[u * k + a]! * V[i * k + a]!;
    return d;
  };
  /** p_t(u, i) for every task into `out[0..T)`. */
  const probabilities = (a: number, i: number, out: Float64Array): void => {
    const entry = sigmoid(a - 1);
    out[0] = entry;
    for (let t = 1; t < T; t++) out[t] = entry * sigmoid(a + quality[i * T + t]! - 1 - 0.5 * (t - 1));
  };

  /** The policy's estimate before noise: u.v, or log V(u, i) for a value-led policy. */
  const scratch = new Float64Array(T);
  const estimate = policyScore === 'affinity' ? affinity : (u: number, i: number): number => {
    probabilities(affinity(u, i), i, scratch);
    let v = 0;
    for (let t = 0; t < T; t++) v += w[t]! * scratch[t]!;
    return ln(max(v, 1e-12));
  };
  // the stale ranker's user vectors: a share `staleness` of the variance replaced, once, on a stream of its own
  const staleRand = stream(seed, 7);
  const staleU = slateOrder === 'stale' ? Float64Array.from(U, (x) => sqrt(1 - staleness) * x + sqrt(staleness) * s * staleRand.normal()) : U;
  const staleAffinity = (u: number, i: number): number => {
    let d = 0;
    for (let a = 0; a < k; a++) d += staleU[u * k + a]! * V[i * k + a]!;
    return d;
  };

  // the log
  const rand = stream(seed, 2);
  const log = {
    size: n, user: new Int32Array(n), item: new Int32Array(n), labels: new Float32Array(n * T),
    position: new Int32Array(n), rankerScores: new Float32Array(n * T), timestamp: new Float64Array(n),
  } satisfies InteractionLog;
  const numCandidates = min(3 * slate, ni);
  const fromPopularity = Math.ceil((2 * numCandidates) / 3);
  const isCandidate = new Uint8Array(ni);
  const candidates = new Int32Array(numCandidates);
  const noisyScore = new Float64Array(numCandidates);
  const byScore = Array.from({ length: numCandidates }, (_, j) => j);
  const byPolicy = candidateSource === 'policy';
  const policyFromPopularity = Math.ceil(numCandidates / 2);
  const policyRand = stream(seed, 8);
  const pool = new Int32Array(policyPool);
  const poolScore = new Float64Array(policyPool);
  const poolOrder = Array.from({ length: policyPool }, (_, j) => j);
  /** Adds the top of the policy's noisy estimate over a uniform pool to the candidates from `c`; returns the new count. */
  const policyCandidates = (u: number, c: number): number => {
    for (let j = 0; j < policyPool; j++) {
      pool[j] = floor(policyRand.uniform() * ni);
      poolScore[j] = orderAffinity * estimate(u, pool[j]!) + orderNoise * policyRand.normal();
    }
    poolOrder.sort((x, y) => poolScore[y]! - poolScore[x]! || x - y);
    for (let j = 0; j < policyPool && c < numCandidates; j++) {
      const i = pool[poolOrder[j]!]!;
      if (!isCandidate[i]) (isCandidate[i] = 1), (candidates[c++] = i);
    }
    return c;
  };
  const p = new Float64Array(T);
  const drift = stream(seed, 5); // its own stream: the default world stays as it was
  const layout = stream(seed, 6);
  const requested = new Uint8Array(interestDrift > 0 ? nu : 0);
  const keep = sqrt(1 - interestDrift);
  const renew = sqrt(interestDrift) * s;
  let row = 0;
  for (let request = 0; row < n; request++) {
    const u = drawFrom(userCdf, rand.uniform());
    if (interestDrift > 0) {
      if (requested[u]) for (let a = 0; a < k; a++) U[u * k + a] = keep * U[u * k + a]! + renew * drift.normal();
      requested[u] = 1;
    }
    let c = 0;
    // popular candidates (bounded tries: with a steep zipf the head repeats), then uniform ones
    for (let tries = 0; c < (byPolicy ? policyFromPopularity : fromPopularity) && tries < 20 * numCandidates; tries++) {
      const i = drawFrom(popCdf, rand.uniform());
      if (!isCandidate[i]) (isCandidate[i] = 1), (candidates[c++] = i);
    }
    if (byPolicy) c = policyCandidates(u, c);
    while (c < numCandidates) {
      const i = floor(rand.uniform() * ni);
      if (!isCandidate[i]) (isCandidate[i] = 1), (candidates[c++] = i);
    }
    for (let j = 0; j < numCandidates; j++) {
      isCandidate[candidates[j]!] = 0;
      noisyScore[j] = orderAffinity * estimate(u, candidates[j]!) + orderPopularity * ln(pop[candidates[j]!]!) + orderNoise * rand.normal();
    }
    byScore.sort((x, y) => noisyScore[y]! - noisyScore[x]! || x - y);
    const shown = min(slate, n - row);
    if (slateOrder === 'stale') layOutBy(byScore, shown, (j) => staleAffinity(u, candidates[j]!) + layout.normal());
    else if (slateOrder !== 'score') layOut(slateOrder, byScore, shown, candidates, pop, layout);
    else if (layoutPopularity !== 0 || layoutNoise > 0) layOutBy(byScore, shown, (j) => noisyScore[j]! + layoutPopularity * ln(pop[candidates[j]!]!) + layoutNoise * gumbel(layout.uniform));
    for (let pos = 0; pos < slate && row < n; pos++, row++) {
      const item = candidates[byScore[pos]!]!;
      probabilities(affinity(u, item), item, p);
      const exposure = min(1, (1 + pos) ** -positionBias * propensity[u]!);
      const entered = rand.uniform() < p[0]! * exposure ? 1 : 0;
      log.user[row] = u;
      log.item[row] = item;
      log.position[row] = pos;
      log.timestamp[row] = request;
      for (let t = 0; t < T; t++) {
        const pt = min(max(p[t]!, 1e-9), 1 - 1e-9);
        log.labels[row * T + t] = t === 0 ? entered : entered && rand.uniform() < pt / p[0]! ? 1 : 0;
        log.rankerScores[row * T + t] = sigmoid(ln(pt / (1 - pt)) + rankerNoise * rand.normal());
      }
    }
  }

  // noise and coverage draw from their own stream: the default world stays as it was
  if (labelNoise > 0 || rankerCoverage < 1) {
    const corrupt = stream(seed, 4);
    for (let r = 0; r < n; r++) {
      if (labelNoise > 0) for (let t = 0; t < T; t++) if (corrupt.uniform() < labelNoise) log.labels[r * T + t] = 1 - log.labels[r * T + t]!;
      if (rankerCoverage < 1 && corrupt.uniform() >= rankerCoverage) log.rankerScores.fill(NaN, r * T, (r + 1) * T);
    }
  }

  const features = stream(seed, 3);
  const userFeatures = revealingFeatures(features, initialU, nu, k, IU);
  const itemFeatures = revealingFeatures(features, V, ni, k, II);
  const valueWeights = Float32Array.from(w);
  const { description, ...split } = splitDataset(log, nu, valueWeights, undefined, { validation: options.validation });
  const truth: GroundTruth = {
    valueOfAllItems(user: number): Float32Array {
      if (!Number.isInteger(user) || user < 0 || user >= nu) throw new OutOfRangeError('user', `must be a user index in [0, ${nu}), got ${user}`);
      const out = new Float32Array(ni);
      const q = new Float64Array(T);
      for (let i = 0; i < ni; i++) {
        probabilities(affinity(user, i), i, q);
        let v = 0;
        for (let t = 0; t < T; t++) v += w[t]! * q[t]!;
        out[i] = v;
      }
      return out;
    },
  };
  return {
    name: 'synthetic',
    schema: {
      numUsers: nu, numItems: ni, tasks: [...tasks], userFeatureDim: IU, itemFeatureDim: II,
      numPositions: slate, hasRankerScores: true, labelMax: new Array<number>(T).fill(1),
    },
    userIds: Array.from({ length: nu }, (_, i) => i),
    itemIds: Array.from({ length: ni }, (_, i) => i),
    userFeatures, itemFeatures, valueWeights, truth,
    ...split,
    split: description,
  };
}
