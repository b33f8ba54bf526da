/**
 * Named synthetic worlds (EVAL.md section 2) that differ in what real logs differ in: how the
 * logging policy picks candidates and lays out its slate, how steep the position effect is, how
 * good the logged ranker predictions are, how the tasks are weighed, and how sparse the log is.
 * Stage defaults are chosen across the suite; the held-out world is never used for choosing
 * anything and is reported on its own (its knobs follow the funnel issue's independent world).
 */
import { ConfigError } from '../errors.js';
import type { SyntheticWorldOptions } from './synthetic.js';

/** A world of the suite: its name, what sets it apart, and the generator options. */
export interface NamedWorld {
  /** kebab-case, e.g. `trending-first` */
  readonly name: string;
  /** one line: what this world's log is like */
  readonly description: string;
  /** the {@link syntheticWorld} options (the seed comes separately) */
  readonly options: SyntheticWorldOptions;
}

/** The worlds defaults are chosen on. */
export const WORLD_SUITE: readonly NamedWorld[] = [
  {
    name: 'best-first',
    description: 'the policy ranks popular and random candidates by affinity and shows its best first; tastes drift (the demo world)',
    options: { interestDrift: 0.3 },
  },
  {
    name: 'trending-first',
    description: 'the same selection, but each slate laid out most popular first, so positions mislead',
    options: { interestDrift: 0.3, slateOrder: 'popularity' },
  },
  {
    name: 'policy-top',
    description: "candidates from the policy's own top, laid out best first plus a popularity bonus; steeper position effect; equal task weights",
    options: { candidates: 'policy', layoutPopularity: 1, positionBias: 1, valueWeights: [1, 1] },
  },
  {
    name: 'random-layout',
    description: 'slates shuffled; a steep position effect; poor ranker predictions, a third of the rows unscored',
    options: { slateOrder: 'random', positionBias: 1.4, rankerNoise: 0.8, rankerCoverage: 0.7 },
  },
  {
    name: 'stale-ranker',
    description: "a value-led policy whose slates are laid out by a stale ranker's order; likes weigh three times a click",
    options: { policyScore: 'value', candidates: 'policy', slateOrder: 'stale', positionBias: 0.5, valueWeights: [1, 3] },
  },
  {
    name: 'no-position-bias',
    description: 'no position effect at all; accurate ranker predictions',
    options: { positionBias: 0, rankerNoise: 0.1 },
  },
  {
    name: 'sparse-catalogue',
    description: 'six times the catalogue and fewer impressions per user, three tasks (a share weighs two clicks), a noisy layout',
    options: {
      numUsers: 5000, numItems: 6000, impressions: 80_000, zipf: 0.8, layoutNoise: 1,
      tasks: ['click', 'like', 'share'], valueWeights: [1, 0.5, 2],
    },
  },
];

/**
 * Kept out of every choice of defaults and reported separately: the kind of world the funnel
 * issue's user generated outside this repo (popularity draws plus the top of a noisy value
 * estimate, laid out by Gumbel-perturbed value plus a popularity bonus, V = click + 2 like,
 * ranker predictions with logit noise 0.5; 4,000 users, 3,000 items, 300k impressions).
 */
export const HELD_OUT_WORLD: NamedWorld = {
  name: 'held-out',
  description: 'never tuned on: a value-led policy over its own top and popular draws, Gumbel layout with a popularity bonus, V = click + 2 like, noisier ranker',
  options: {
    numUsers: 4000, numItems: 3000, impressions: 300_000, policyScore: 'value', candidates: 'policy',
    layoutNoise: 1, layoutPopularity: 0.5, valueWeights: [1, 2], rankerNoise: 0.5,
  },
};

/**
 * Every world kept out of the choice of defaults: {@link HELD_OUT_WORLD}, and a second one whose knobs
 * were written down (2026-12-07) before any model was trained on it, unlike every suite world's and the
 * first held-out one's: candidates drawn by popularity from a steeper catalogue, shorter slates, a
 * poorer ranker that scores fewer rows, other task weights, label noise, a wider latent space.
 */
export const HELD_OUT_WORLDS: readonly NamedWorld[] = [
  HELD_OUT_WORLD,
  {
    name: 'held-out-2',
    description: 'never tuned on: popularity-drawn candidates (steep catalogue), value-led slates of 8 with a popularity bonus, drifting tastes, a poor ranker scoring 85% of rows, V = click + 1.5 like, 2% label noise',
    options: {
      numUsers: 3000, numItems: 2000, impressions: 150_000, slateSize: 8, zipf: 1.2, positionBias: 0.9, interestDrift: 0.15,
      policyScore: 'value', candidates: 'popularity', slateOrder: 'score', layoutNoise: 0.5, layoutPopularity: 0.3,
      rankerNoise: 0.7, rankerCoverage: 0.85, valueWeights: [1, 1.5], labelNoise: 0.02, latentDim: 24,
    },
  },
];

/**
 * The world called `name` (a suite world or a held-out one).
 * @throws ConfigError naming the known worlds
 */
export function worldByName(name: string): NamedWorld {
  const all = [...WORLD_SUITE, ...HELD_OUT_WORLDS];
  const w = all.find((x) => x.name === name);
  if (!w) throw new ConfigError('world', `unknown world ${JSON.stringify(name)}; known: ${all.map((x) => x.name).join(', ')}`);
  return w;
}
