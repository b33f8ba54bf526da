/**
 * The common format of public sequential datasets (SASRec, BERT4Rec, ...): one interaction per
 * line, `user item` separated by whitespace, each user's lines in chronological order (the file's
 * order is the only clock). Every line is a positive of one task, `interaction`; there are no
 * negatives, positions or features. Split: loo-full (EVAL.md section 1), validation = each user's
 * item before the test item.
 *
 * Ids are strings or integers as in the CSV loader (integers: indices follow ascending id).
 */
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { CorruptFileError, EmptyError } from '../errors.js';
import { checkInputPath } from './input-file.js';
import { splitDataset, type ValidationHoldout } from './split.js';
import { Vocabulary } from './vocabulary.js';
import type { InteractionDataset, InteractionLog } from './types.js';

/** Options of {@link loadSequenceFile}. */
export interface SequenceFileOptions {
  /** hold out each user's item before the test item for early stopping (default false) */
  readonly validation?: boolean;
  /** how the validation row is chosen (default `'previous'`: the file's order is its clock) */
  readonly validationHoldout?: ValidationHoldout;
  /** seed of a random validation holdout (default 0) */
  readonly seed?: number;
}

const SEPARATOR = /\s+/;

/**
 * Loads a `user item` per line file.
 * @throws FileSystemError for a missing file; CorruptFileError (field = the path) for a line without
 *   exactly two fields (with its line number); EmptyError for a file without interactions
 */
export async function loadSequenceFile(path: string, options: SequenceFileOptions = {}): Promise<InteractionDataset> {
  checkInputPath(path);
  const users: string[] = [];
  const items: string[] = [];
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let no = 0;
  try {
    for await (const raw of lines) {
      no++;
      const line = raw.trim();
      if (line === '') continue;
      const f = line.split(SEPARATOR);
      if (f.length !== 2) {
        throw new CorruptFileError(path, `line ${no}: expected "user item" (two fields separated by whitespace), got ${f.length} field${f.length === 1 ? '' : 's'}: ${JSON.stringify(line.slice(0, 80))}`);
      }
      users.push(f[0]!);
      items.push(f[1]!);
    }
  } finally {
    lines.close();
  }
  if (users.length === 0) throw new EmptyError(path, 'the file has no interactions');
  const userVocab = new Vocabulary(users);
  const itemVocab = new Vocabulary(items);
  const n = users.length;
  const log: InteractionLog = {
    size: n,
    user: Int32Array.from(users, (u) => userVocab.indexOf(u)!),
    item: Int32Array.from(items, (i) => itemVocab.indexOf(i)!),
    labels: new Float32Array(n).fill(1),
    // the line order is the clock: one request per line
    timestamp: Float64Array.from({ length: n }, (_, r) => r),
  };
  const valueWeights = Float32Array.of(1);
  const split = splitDataset(log, userVocab.ids.length, valueWeights, undefined, {
    validation: options.validation, validationHoldout: options.validationHoldout ?? 'previous', seed: options.seed,
  });
  return {
    name: `sequence:${basename(path)}`,
    schema: {
      numUsers: userVocab.ids.length, numItems: itemVocab.ids.length, tasks: ['interaction'], userFeatureDim: 0, itemFeatureDim: 0,
      numPositions: 0, hasRankerScores: false, labelMax: [1],
    },
    userIds: userVocab.ids,
    itemIds: itemVocab.ids,
    userFeatures: new Float32Array(0),
    itemFeatures: new Float32Array(0),
    valueWeights,
    train: split.train,
    validation: split.validation,
    validationRequests: split.validationRequests,
    test: split.test,
    split: split.description,
  };
}
