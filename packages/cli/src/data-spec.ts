/**
 * `--data` values: `synthetic`, `world:<name>`, `movielens:<dir>`, `csv:<train.csv>[,<test.csv>]`,
 * `parquet:<file|dir|glob>[,<test>]`, `sequence:<file>`.
 */
import { resolve } from 'node:path';
import { ConfigError, loadInteractionCsv, loadInteractionParquet, loadMovieLens, loadSequenceFile, syntheticWorld, truthFromTable, worldByName, type InteractionDataset } from '@tt/core';
import { readNpy } from '@tt/mips';

/** The `--data` help text: the dataset specs {@link loadData} reads. */
export const DATA_HELP = 'synthetic | world:<name> (a world of the suite, `tt world list`) | movielens:<dir> | csv:<train.csv>[,<test.csv>] | parquet:<file|dir|glob>[,<test>] | sequence:<file> ("user item" per line, in time order)';

/** The `--truth` help text. */
export const TRUTH_HELP = "true value of every user and item, .npy float [users, items] indexed by the log's integer ids (truth.npy of `tt world export`): adds alignment@10/100 and value@10, as for a world";

/** Options of {@link loadData}. */
export interface LoadDataOptions {
  /** hold out a validation split for early stopping (default true) */
  readonly validation?: boolean;
  /** seed of a synthetic world and of a random validation holdout */
  readonly seed?: number;
  /** `--user-features`: CSV `user_id` + numeric columns (csv and parquet data only) */
  readonly userFeatures?: string;
  /** `--item-features`: CSV `item_id` + numeric columns (csv and parquet data only) */
  readonly itemFeatures?: string;
  /** `--value-weights`: w per label column of a CSV or Parquet log (other data: the model's weights only) */
  readonly valueWeights?: readonly number[];
  /** a world's users and impressions times this, its catalogue unchanged (a quick look at a suite world; default 1) */
  readonly scale?: number;
  /**
   * `--truth`: a `.npy` float table `[users, items]` of true values indexed by the log's integer ids
   * (`truth.npy` of `tt world export`), so a logged dataset is scored against it like a world
   */
  readonly truth?: string;
}

/** Loads the dataset a `--data` value names (with a validation split for early stopping). */
export async function loadData(spec: string, options: LoadDataOptions = {}): Promise<InteractionDataset> {
  if (options.truth === undefined) return loadLog(spec, options);
  if (spec === 'synthetic' || spec.startsWith('world:')) throw new ConfigError('--truth', `reads the true values of a logged dataset (e.g. a world exported as CSV); --data ${spec} has its own`);
  const table = readNpy(options.truth); // read and checked before the log is
  const dataset = await loadLog(spec, options);
  return { ...dataset, truth: truthFromTable(table, dataset, '--truth') };
}

async function loadLog(spec: string, options: LoadDataOptions): Promise<InteractionDataset> {
  const validation = options.validation ?? true;
  const kind0 = spec.split(':')[0];
  if (kind0 !== 'csv' && kind0 !== 'parquet') {
    for (const [flag, v] of [['--user-features', options.userFeatures], ['--item-features', options.itemFeatures]] as const) {
      if (v !== undefined) throw new ConfigError(flag, `reads features for --data csv: or parquet: only (got --data ${spec})`);
    }
  }
  if (spec === 'synthetic') return syntheticWorld({ seed: options.seed ?? 0, validation });
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const rest = colon < 0 ? '' : spec.slice(colon + 1);
  if (kind === 'world' && rest) {
    const world = worldByName(rest);
    const o = world.options;
    const k = options.scale ?? 1;
    // the catalogue keeps its size: alignment@10/100 over a catalogue of a few hundred items says little
    const sized = k === 1 ? o : {
      ...o,
      numUsers: Math.max(10, Math.round(k * (o.numUsers ?? 2000))),
      impressions: Math.max(200, Math.round(k * (o.impressions ?? 60_000))),
    };
    return { ...syntheticWorld({ ...sized, seed: options.seed ?? 0, validation }), name: `world:${world.name}` };
  }
  if (kind === 'movielens' && rest) return loadMovieLens(rest, { validation });
  if ((kind === 'csv' || kind === 'parquet') && rest) {
    const [train, test, ...extra] = rest.split(',');
    const shape = kind === 'csv' ? '<train.csv>[,<test.csv>]' : '<file|dir|glob>[,<test>]';
    if (extra.length || !train) throw new ConfigError('--data', `${kind} takes ${shape}, got ${JSON.stringify(rest)}`);
    const load = kind === 'csv' ? loadInteractionCsv : loadInteractionParquet;
    return load({
      train, test: test || undefined, validation, seed: options.seed,
      userFeatures: options.userFeatures, itemFeatures: options.itemFeatures, valueWeights: options.valueWeights,
    }).catch((e: unknown) => {
      // the loader names its option; the user typed the flag
      if (e instanceof ConfigError && e.field === 'valueWeights') throw new ConfigError('--value-weights', e.message.replace(/^valueWeights:?\s*/, ''));
      throw e;
    });
  }
  if (kind === 'sequence' && rest) return loadSequenceFile(rest, { validation, seed: options.seed });
  throw new ConfigError('--data', `must be ${DATA_HELP}, got ${JSON.stringify(spec)}`);
}

/**
 * `spec` with its file paths made absolute (against `cwd`), so a run stored in a checkpoint finds
 * its data again from anywhere (`tt train --resume`). Specs without paths come back unchanged.
 */
export function absoluteDataSpec(spec: string, cwd = process.cwd()): string {
  const colon = spec.indexOf(':');
  if (colon < 0) return spec;
  const kind = spec.slice(0, colon);
  const rest = spec.slice(colon + 1);
  if (!rest || !['csv', 'parquet', 'movielens', 'sequence'].includes(kind)) return spec;
  const paths = kind === 'csv' || kind === 'parquet' ? rest.split(',') : [rest];
  return `${kind}:${paths.map((p) => (p ? resolve(cwd, p) : p)).join(',')}`;
}
