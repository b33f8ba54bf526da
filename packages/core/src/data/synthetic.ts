/**
 * The synthetic funnel world of EVAL.md section 2, seeded and deterministic.
 *
 * - users u and items v: latent vectors N(0, s^2 I_k), s^2 = 1.5 / sqrt(k) (u.v has sd ~1.5);
 *   items also have a quality q_i ~ N(0, 1); dense features reveal the latents partly
 *   (latent @ random projection + noise, z-scored);
 * - popularity: p_i ~ (rank + 1)^-zipf over a random permutation of the items;
 * - true task probabilities: p_click = sigmoid(u.v - 1), p_like = p_click * sigmoid(u.v + q_i - 1);
 *   the main ranker's value V(u, i) = sum_t w_t p_t (position-free);
 * - logging policy: a request of a user (activity log-normal) draws 3 x slateSize candidates by
 *   popularity, orders them by a noisy preference (u.v + noise) and shows the top slateSize at
 *   positions 0..slateSize-1: a biased log that still carries signal;
 * - observed labels: click ~ Bernoulli(p_click * (1 + position)^-positionBias * propensity_u),
 *   like ~ click * Bernoulli(p_like / p_click); propensity_u log-normal per user (capped at 1);
 * - the log carries the main ranker's noisy predictions of p_t (logit + N(0, 0.3^2));
 * - timestamps are request numbers; histories come from earlier positives (see batches.ts).
 */
import { ConfigError } from '../errors.js';
import { Rng } from '../nn/init.js';
import { leaveLastOut } from './split.js';
import type { GroundTruth, InteractionDataset, InteractionLog } from './types.js';

export interface SyntheticWorldOptions {
  readonly seed?: number;
  readonly numUsers?: number;
  readonly numItems?: number;
  readonly impressions?: number;
  readonly latentDim?: number;
  readonly userFeatureDim?: number;
  readonly itemFeatureDim?: number;
  readonly slateSize?: number;
  /** strength of the position effect on observed labels */
  readonly positionBias?: number;
  readonly zipf?: number;
  /** value weights of [click, like] (default [1, 0.5]) */
  readonly valueWeights?: readonly [number, number];
  /** hold out each evaluated user's second-to-last positive */
  readonly validation?: boolean;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

function features(rng: Rng, latent: Float32Array, n: number, k: number, d: number): Float32Array {
  const proj = Float32Array.from({ length: k * d }, () => rng.normal() / Math.sqrt(k));
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let a = 0; a < k; a++) s += latent[i * k + a]! * proj[a * d + j]!;
      out[i * d + j] = s + 0.5 * rng.normal();
    }
  }
  for (let j = 0; j < d; j++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += out[i * d + j]!;
    mean /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (out[i * d + j]! - mean) ** 2;
    const sd = Math.sqrt(v / n) || 1;
    for (let i = 0; i < n; i++) out[i * d + j] = (out[i * d + j]! - mean) / sd;
  }
  return out;
}

/** A seeded synthetic world with ground truth (the built-in demo dataset). */
export function syntheticWorld(options: SyntheticWorldOptions = {}): InteractionDataset {
  const seed = options.seed ?? 0;
  const nu = options.numUsers ?? 2000;
  const ni = options.numItems ?? 1000;
  const n = options.impressions ?? 60_000;
  const k = options.latentDim ?? 16;
  const IU = options.userFeatureDim ?? 16;
  const II = options.itemFeatureDim ?? 16;
  const slate = options.slateSize ?? 10;
  const positionBias = options.positionBias ?? 0.7;
  const zipf = options.zipf ?? 1.0;
  const w = options.valueWeights ?? [1, 0.5];
  for (const [name, v] of Object.entries({ numUsers: nu, numItems: ni, impressions: n, latentDim: k, slateSize: slate })) {
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(name, `must be a positive integer, got ${v}`);
  }
  if (slate * 3 > ni) throw new ConfigError('slateSize', `needs numItems >= 3 * slateSize (${3 * slate}), got ${ni}`);
  const rng = new Rng(seed);
  const s = Math.sqrt(1.5 / Math.sqrt(k));
  const U = Float32Array.from({ length: nu * k }, () => rng.normal() * s);
  const V = Float32Array.from({ length: ni * k }, () => rng.normal() * s);
  const quality = Float32Array.from({ length: ni }, () => rng.normal());
  const propensity = Float32Array.from({ length: nu }, () => Math.min(1, Math.exp(0.5 * rng.normal() - 0.25)));
  const activity = Float64Array.from({ length: nu }, () => Math.exp(0.7 * rng.normal()));

  // popularity over a random permutation; cumulative tables for sampling
  const perm = Int32Array.from({ length: ni }, (_, i) => i);
  for (let i = ni - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const pop = new Float64Array(ni);
  perm.forEach((item, rank) => (pop[item] = (rank + 1) ** -zipf));
  const cumulative = (weights: Float64Array) => {
    const c = new Float64Array(weights.length);
    let acc = 0;
    weights.forEach((x, i) => (c[i] = acc += x));
    return c;
  };
  const popCdf = cumulative(pop);
  const userCdf = cumulative(activity);
  const draw = (cdf: Float64Array) => {
    const x = rng.uniform() * cdf[cdf.length - 1]!;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const affinity = (u: number, i: number) => {
    let d = 0;
    for (let a = 0; a < k; a++) d += U[u * k + a]! * V[i * k + a]!;
    return d;
  };
  const truthOf = (u: number, i: number) => {
    const a = affinity(u, i);
    const click = sigmoid(a - 1);
    const likeGivenClick = sigmoid(a + quality[i]! - 1);
    return { click, like: click * likeGivenClick };
  };

  const log: InteractionLog = {
    size: n, user: new Int32Array(n), item: new Int32Array(n), labels: new Float32Array(n * 2),
    position: new Int32Array(n), rankerScores: new Float32Array(n * 2), timestamp: new Float64Array(n),
  };
  const noisy = (p: number) => sigmoid(Math.log(p / (1 - p)) + 0.3 * rng.normal());
  let row = 0;
  for (let request = 0; row < n; request++) {
    const u = draw(userCdf);
    const candidates = new Set<number>();
    for (let tries = 0; candidates.size < 3 * slate && tries < 30 * slate; tries++) candidates.add(draw(popCdf));
    const ranked = [...candidates].map((i) => ({ i, score: affinity(u, i) + rng.normal() })).sort((a, b) => b.score - a.score);
    for (let pos = 0; pos < slate && row < n; pos++) {
      const item = ranked[pos]!.i;
      const t = truthOf(u, item);
      const seen = Math.min(1, (1 + pos) ** -positionBias * propensity[u]!);
      const click = rng.uniform() < t.click * seen ? 1 : 0;
      const like = click && rng.uniform() < t.like / t.click ? 1 : 0;
      log.user[row] = u;
      log.item[row] = item;
      log.position![row] = pos;
      log.labels[row * 2] = click;
      log.labels[row * 2 + 1] = like;
      log.rankerScores![row * 2] = noisy(t.click);
      log.rankerScores![row * 2 + 1] = noisy(t.like);
      log.timestamp![row] = request;
      row++;
    }
  }
  const userFeatures = features(rng, U, nu, k, IU);
  const itemFeatures = features(rng, V, ni, k, II);
  const valueWeights = Float32Array.from(w);
  const truth: GroundTruth = {
    valueOfAllItems(user: number): Float32Array {
      const out = new Float32Array(ni);
      for (let i = 0; i < ni; i++) {
        const t = truthOf(user, i);
        out[i] = w[0] * t.click + w[1] * t.like;
      }
      return out;
    },
  };
  return {
    name: 'synthetic',
    schema: {
      numUsers: nu, numItems: ni, tasks: ['click', 'like'], userFeatureDim: IU, itemFeatureDim: II,
      numPositions: slate, hasRankerScores: true, labelMax: [1, 1],
    },
    userIds: Array.from({ length: nu }, (_, i) => i),
    itemIds: Array.from({ length: ni }, (_, i) => i),
    userFeatures, itemFeatures, valueWeights, truth,
    ...leaveLastOut(log, nu, valueWeights, { validation: options.validation }),
  };
}
