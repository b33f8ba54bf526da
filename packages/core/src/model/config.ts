/**
 * A model is configuration: this JSON object, stored in every checkpoint, rebuilds it.
 */
import { ConfigError } from '../errors.js';
import type { DatasetSchema } from '../data/types.js';

/** A stage plugged into the model, by its definition's name, with its options. */
export interface StageConfig {
  /** the `name` of the stage's {@link StageDefinition} */
  readonly name: string;
  /** the stage's own options, checked by its definition (JSON, stored in checkpoints) */
  readonly options?: Readonly<Record<string, unknown>>;
}

/** Everything that defines a two-tower model; stored in every checkpoint, it rebuilds the model. */
export interface TwoTowerConfig {
  /** config format and version */
  readonly format: 'tt.two-tower/1';
  /** the dataset schema the model was built for */
  readonly schema: DatasetSchema;
  /** DU = DI: id embeddings and the retrieval space */
  readonly dim: number;
  /** hidden width of the feature MLPs */
  readonly hidden: number;
  /** user/item table rows (default: the vocabulary); larger ids are hashed into the table */
  readonly userRows: number;
  /** item table rows (default: the catalogue); larger ids are hashed into the table */
  readonly itemRows: number;
  /** L2-normalise q and v, so scores are cosines divided by `temperature` */
  readonly normalize: boolean;
  /** softmax temperature: logits are scores divided by it */
  readonly temperature: number;
  /** subtract log Q(j) (streaming item-frequency estimate, Yi et al. 2019) from each logit */
  readonly logQ: boolean;
  /** learning rate of the frequency estimator's moving average */
  readonly logQAlpha: number;
  /** mask other rows' copies of a row's own positive item (-1e9) */
  readonly removeAccidentalHits: boolean;
  /** extra uniform catalogue items per batch as negatives (mixed negatives, Yang et al. 2020) */
  readonly mixedNegatives: number;
  /**
   * H: the user's latest positive items (a random sample of them for a log without timestamps)
   * whose item embeddings are mean-pooled into the user tower input, as YouTube's two towers and
   * SimpleX do; 0 turns it off. The id embedding learns each user alone; the pooled history lets
   * users share what their items say, and answers for users the id table has not seen.
   */
  readonly historyPooling: number;
  /** `w [T]` of `nuv = labels . w` */
  readonly valueWeights: readonly number[];
  /**
   * share of training rows whose user-id vector is zeroed (id dropout), so the user tower also
   * learns to answer from features and history alone: the input a user without an id row gets
   * at serving (cold start). 0 (default): off
   */
  readonly userIdDropout: number;
  /**
   * c > 0: each training row's user-id vector is zeroed with probability `c / (c + n_u)`, `n_u`
   * the user's training items (its positives; with a stage that trains on every row the ranker
   * scored, e.g. reward-align, those items too), instead of the uniform `userIdDropout`: an id learned from a
   * few rows is mostly noise beside the pooled history, one learned from hundreds is not (the
   * weight an empirical-Bayes estimate gives n observations against a prior worth c). 0: off
   */
  readonly userIdDropoutRows: number;
  /** seed of parameter initialisation and negative sampling */
  readonly seed: number;
  /** the stages plugged into the model, in order */
  readonly stages: readonly StageConfig[];
}

/** What a caller may set; everything else gets the defaults below. */
export type TwoTowerOptions = Partial<Omit<TwoTowerConfig, 'format' | 'schema'>>;

/** The defaults {@link resolveConfig} fills in (see {@link TwoTowerConfig} for each field). */
export const MODEL_DEFAULTS = {
  /** embedding and retrieval dimension */
  dim: 64,
  /** hidden width of the feature MLPs */
  hidden: 256,
  /** L2-normalise q and v */
  normalize: true,
  /** softmax temperature (0.1: chosen on MovieLens-100K, Amazon Games, a sparse log and the world suite; docs/benchmarks.md) */
  temperature: 0.1,
  /** apply the logQ correction */
  logQ: true,
  /** learning rate of the frequency estimator */
  logQAlpha: 0.05,
  /** mask accidental hits */
  removeAccidentalHits: true,
  /** no extra uniform negatives */
  mixedNegatives: 0,
  /** the latest 20 positives pooled into the user tower (MovieLens-100K and Amazon Games: 20 as good as 50, 1.5x faster) */
  historyPooling: 20,
  /** no id dropout */
  userIdDropout: 0,
  /** no per-user id dropout on a bare model: it needs each user's training rows; fitTwoTower, which has the log, defaults it to 20 */
  userIdDropoutRows: 0,
  /** initialisation and sampling seed */
  seed: 0,
} as const;

function positiveInt(field: string, x: unknown): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 1) throw new ConfigError(field, `must be a positive integer, got ${JSON.stringify(x)}`);
  return x;
}

/** Fills defaults and checks every field. */
export function resolveConfig(schema: DatasetSchema, options: TwoTowerOptions = {}): TwoTowerConfig {
  const valueWeights = options.valueWeights ?? schema.tasks.map(() => 1);
  if (valueWeights.length !== schema.tasks.length) {
    throw new ConfigError('valueWeights', `needs one weight per task (${schema.tasks.join(', ')}), got ${valueWeights.length}`);
  }
  if (valueWeights.some((w) => !Number.isFinite(w) || w < 0)) throw new ConfigError('valueWeights', `must be finite and >= 0, got [${valueWeights.join(', ')}]`);
  const temperature = options.temperature ?? MODEL_DEFAULTS.temperature;
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new ConfigError('temperature', `must be > 0, got ${temperature}`);
  const logQAlpha = options.logQAlpha ?? MODEL_DEFAULTS.logQAlpha;
  if (!(logQAlpha > 0 && logQAlpha <= 1)) throw new ConfigError('logQAlpha', `must be in (0, 1], got ${logQAlpha}`);
  const mixedNegatives = options.mixedNegatives ?? MODEL_DEFAULTS.mixedNegatives;
  if (!Number.isInteger(mixedNegatives) || mixedNegatives < 0) throw new ConfigError('mixedNegatives', `must be an integer >= 0, got ${mixedNegatives}`);
  const historyPooling = options.historyPooling ?? MODEL_DEFAULTS.historyPooling;
  if (!Number.isInteger(historyPooling) || historyPooling < 0) throw new ConfigError('historyPooling', `must be an integer >= 0, got ${historyPooling}`);
  const userIdDropout = options.userIdDropout ?? MODEL_DEFAULTS.userIdDropout;
  if (!(userIdDropout >= 0 && userIdDropout < 1)) throw new ConfigError('userIdDropout', `must be in [0, 1), got ${userIdDropout}`);
  const userIdDropoutRows = options.userIdDropoutRows ?? MODEL_DEFAULTS.userIdDropoutRows;
  if (!(userIdDropoutRows >= 0 && Number.isFinite(userIdDropoutRows))) throw new ConfigError('userIdDropoutRows', `must be a finite number >= 0, got ${userIdDropoutRows}`);
  const stages = options.stages ?? [];
  for (const [i, s] of stages.entries()) {
    if (!s || typeof s.name !== 'string' || !s.name) throw new ConfigError(`stages[${i}].name`, 'must be a non-empty string');
  }
  return {
    format: 'tt.two-tower/1',
    schema,
    dim: positiveInt('dim', options.dim ?? MODEL_DEFAULTS.dim),
    hidden: positiveInt('hidden', options.hidden ?? MODEL_DEFAULTS.hidden),
    userRows: positiveInt('userRows', options.userRows ?? schema.numUsers),
    itemRows: positiveInt('itemRows', options.itemRows ?? schema.numItems),
    normalize: options.normalize ?? MODEL_DEFAULTS.normalize,
    temperature,
    logQ: options.logQ ?? MODEL_DEFAULTS.logQ,
    logQAlpha,
    removeAccidentalHits: options.removeAccidentalHits ?? MODEL_DEFAULTS.removeAccidentalHits,
    mixedNegatives,
    historyPooling,
    valueWeights: [...valueWeights],
    userIdDropout,
    userIdDropoutRows,
    seed: options.seed ?? MODEL_DEFAULTS.seed,
    stages: stages.map((s) => ({ name: s.name, options: { ...(s.options ?? {}) } })),
  };
}
