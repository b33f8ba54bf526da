/**
 * The data model every loader produces and the trainer consumes.
 *
 * Users and items are dense indices `0..numUsers-1` / `0..numItems-1` into a vocabulary of the
 * catalogue's own ids (strings or integers). Dense features live in per-user and per-item tables,
 * not per row: the item tower runs over the whole catalogue at serving time from the same table.
 * Everything is columnar typed arrays, so a batch is a few `subarray`/copy calls, not objects.
 */
import type { ItemId } from '@tt/mips';

export type { ItemId };

/** What every batch of a dataset looks like. */
export interface DatasetSchema {
  /** users in the vocabulary; user indices are `0..numUsers-1` */
  readonly numUsers: number;
  /** items in the catalogue; item indices are `0..numItems-1` */
  readonly numItems: number;
  /** reward task names (T = tasks.length >= 1), e.g. `['click']` */
  readonly tasks: readonly string[];
  /** dense user features per user (IU, may be 0) */
  readonly userFeatureDim: number;
  /** dense item features per item (II, may be 0) */
  readonly itemFeatureDim: number;
  /** positions are `0..numPositions-1`; 0 when the log has no position column */
  readonly numPositions: number;
  /** whether rows carry the main ranker's logged predictions (`rankerScores`) */
  readonly hasRankerScores: boolean;
  /**
   * Upper bound of each label, per task: 1 for 0/1 labels; a value label is checked against
   * `[0, labelMax[t]]`.
   */
  readonly labelMax: readonly number[];
}

/** An interaction log: one row per impression, in chronological order. */
export interface InteractionLog {
  /** number of rows */
  readonly size: number;
  /** `[size]` user indices */
  readonly user: Int32Array;
  /** `[size]` item indices */
  readonly item: Int32Array;
  /** `[size * T]` immediate rewards, row-major */
  readonly labels: Float32Array;
  /** `[size]` slate positions (0 = top), when the schema has positions */
  readonly position?: Int32Array;
  /** `[size * T]` the main ranker's logged probabilities, when the schema has them; NaN = not scored */
  readonly rankerScores?: Float32Array;
  /** `[size]` seconds (or any monotone clock), when known */
  readonly timestamp?: Float64Array;
}

/** Ground truth of a synthetic world (EVAL.md section 2). */
export interface GroundTruth {
  /** true value V(u, i) = sum_t w_t p_t(u, i) of every item for one user: `[numItems]` */
  valueOfAllItems(user: number): Float32Array;
}

/** A loaded dataset: vocabulary, feature tables and the split logs. */
export interface InteractionDataset {
  /** e.g. `movielens-100k`, `synthetic`, `csv:train.csv` */
  readonly name: string;
  /** shape of the dataset's batches: vocabulary sizes, tasks, feature widths */
  readonly schema: DatasetSchema;
  /** user index -> the dataset's own user id */
  readonly userIds: readonly ItemId[];
  /** item index -> the catalogue's item id */
  readonly itemIds: readonly ItemId[];
  /** `[numUsers * userFeatureDim]` */
  readonly userFeatures: Float32Array;
  /** `[numItems * itemFeatureDim]` */
  readonly itemFeatures: Float32Array;
  /** value weights `w [T]` of `nuv = labels . w` (default: all ones) */
  readonly valueWeights: Float32Array;
  /** rows to train on (every impression, positives and zero-value rows) */
  readonly train: InteractionLog;
  /** held-out positives for early stopping (one per user at most), when split */
  readonly validation?: InteractionLog;
  /** whole logged requests held out of training for the funnel monitor (logs with ranker scores) */
  readonly validationRequests?: InteractionLog;
  /** held-out positives to evaluate on (loo-full: each user's last positive) */
  readonly test: InteractionLog;
  /** the synthetic world's truth, when known */
  readonly truth?: GroundTruth;
  /** how the rows were split into train, validation and test, in a line (for logs) */
  readonly split?: string;
  /** what the loader saw in its files before sorting and filtering, when it reads files */
  readonly sourceFacts?: SourceFacts;
}

/** What a loader saw in its files that the loaded logs no longer show (read by `inspectDataset`). */
export interface SourceFacts {
  /** rows of the training file whose timestamp is earlier than the previous row's (the loader sorts them) */
  readonly outOfOrderTimestamps?: number;
  /** a held-out test file, when one was given */
  readonly testFile?: {
    /** its path */
    readonly path: string;
    /** its data rows */
    readonly rows: number;
    /** its distinct users */
    readonly users: number;
    /** rows dropped because their user is in no training or feature file */
    readonly unknownUserRows: number;
    /** distinct users of those rows */
    readonly unknownUsers: number;
    /** rows (of known users) dropped because their item is in no training or feature file */
    readonly unknownItemRows: number;
    /** distinct items of those rows */
    readonly unknownItems: number;
  };
}

/**
 * One training batch, columnar. Row i is one impression. Built by `inMemorySource` / `streamingCsvSource` or by hand;
 * `validateBatch` checks it against a schema at the boundary.
 */
export interface Batch {
  /** B, the number of rows */
  readonly size: number;
  /** `[B]` user indices */
  readonly user: Int32Array;
  /** `[B]` item indices */
  readonly item: Int32Array;
  /** `[B * IU]` the users' dense features */
  readonly userFeatures: Float32Array;
  /** `[B * II]` the items' dense features */
  readonly itemFeatures: Float32Array;
  /** `[B * T]` rewards */
  readonly labels: Float32Array;
  /** `[B]` positions, when the schema has positions */
  readonly position?: Int32Array;
  /** `[B * T]` logged ranker probabilities, when the schema has them; NaN = not scored */
  readonly rankerScores?: Float32Array;
  /** `[B * H]` earlier positive item indices, newest first, -1 = padding (when H > 0) */
  readonly history?: Int32Array;
  /** H of `history` (0 when absent) */
  readonly historyLength: number;
}

/** Something the trainer can iterate once per epoch. */
export interface BatchSource {
  /** the schema every batch of the source satisfies */
  readonly schema: DatasetSchema;
  /** rows per epoch, when known (for progress and ETA) */
  readonly rowsPerEpoch?: number;
  /** the batches of one epoch; `epoch` seeds the shuffle */
  batches(epoch: number): Iterable<Batch> | AsyncIterable<Batch>;
}
