/**
 * `--data` values: `synthetic`, `movielens:<dir>`, `csv:<train.csv>[,<test.csv>]`,
 * `parquet:<file|dir|glob>[,<test>]`, `sequence:<file>`.
 */
import { ConfigError, loadInteractionCsv, loadInteractionParquet, loadMovieLens, loadSequenceFile, syntheticWorld, type InteractionDataset } from '@tt/core';

/** The `--data` help text: the dataset specs {@link loadData} reads. */
export const DATA_HELP = 'synthetic | movielens:<dir> | csv:<train.csv>[,<test.csv>] | parquet:<file|dir|glob>[,<test>] | sequence:<file> ("user item" per line, in time order)';

/** Loads the dataset a `--data` value names (with a validation split for early stopping). */
export async function loadData(spec: string, options: { validation?: boolean; seed?: number } = {}): Promise<InteractionDataset> {
  const validation = options.validation ?? true;
  if (spec === 'synthetic') return syntheticWorld({ seed: options.seed ?? 0, validation });
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const rest = colon < 0 ? '' : spec.slice(colon + 1);
  if (kind === 'movielens' && rest) return loadMovieLens(rest, { validation });
  if (kind === 'csv' && rest) {
    const [train, test, ...extra] = rest.split(',');
    if (extra.length || !train) throw new ConfigError('--data', `csv takes <train.csv>[,<test.csv>], got ${JSON.stringify(rest)}`);
    return loadInteractionCsv({ train, test: test || undefined, validation, seed: options.seed });
  }
  if (kind === 'parquet' && rest) {
    const [train, test, ...extra] = rest.split(',');
    if (extra.length || !train) throw new ConfigError('--data', `parquet takes <file|dir|glob>[,<test>], got ${JSON.stringify(rest)}`);
    return loadInteractionParquet({ train, test: test || undefined, validation, seed: options.seed });
  }
  if (kind === 'sequence' && rest) return loadSequenceFile(rest, { validation, seed: options.seed });
  throw new ConfigError('--data', `must be ${DATA_HELP}, got ${JSON.stringify(spec)}`);
}
