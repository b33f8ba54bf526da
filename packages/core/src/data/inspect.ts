/**
 * What a dataset looks like before anything is trained on it (`tt data inspect`, and the checks
 * `tt train` prints first): sizes, label rates, how rows spread over users and items, duplicates,
 * and whether the test rows can be hit at all under full-ranking evaluation (EVAL.md section 1
 * removes each user's training items from their ranking, so a test row whose item the user has
 * in training is unreachable: no model can rank it).
 */
import { rowValue, seenItemsByUser } from './batches.js';
import { concatLogs } from './split.js';
import type { InteractionDataset, InteractionLog } from './types.js';

/** Smallest, median and largest of a count over users or items. */
export interface Spread3 {
  /** the smallest */
  readonly min: number;
  /** the median (the mean of the middle two for an even count) */
  readonly median: number;
  /** the largest */
  readonly max: number;
}

/** What {@link inspectDataset} found. */
export interface DatasetReport {
  /** the dataset's name */
  readonly name: string;
  /** the training side: train plus validation rows (what evaluation counts as each user's history) */
  readonly training: {
    /** rows */
    readonly rows: number;
    /** distinct users with at least one row */
    readonly users: number;
    /** distinct items with at least one row */
    readonly items: number;
    /** users in the vocabulary (also those known only from a feature file) */
    readonly vocabularyUsers: number;
    /** items in the catalogue (also those known only from a feature file) */
    readonly catalogueItems: number;
    /** per task: the share of rows whose label is above 0 */
    readonly labelRates: Readonly<Record<string, number>>;
    /** the share of rows with a positive value (labels . valueWeights > 0) */
    readonly positiveRate: number;
    /** rows per user, over users with at least one row */
    readonly rowsPerUser: Spread3;
    /** rows per item, over items with at least one row */
    readonly rowsPerItem: Spread3;
    /** rows repeating an earlier row's (user, item) pair */
    readonly duplicateRows: number;
    /** rows out of time order in the file (the loader sorts them); undefined when unknown */
    readonly outOfOrderTimestamps: number | undefined;
  };
  /** the held-out test rows (positives) */
  readonly test: {
    /** rows */
    readonly rows: number;
    /** distinct users of the test file when one was given, else of the test rows */
    readonly users: number;
    /** distinct test users with no training row (including those a test file named that no file knows) */
    readonly unknownUsers: number;
    /** distinct test items with no training row (including those a test file named that no file knows) */
    readonly unknownItems: number;
    /** rows whose item the user already has in training: full ranking removes it, so no model can hit it */
    readonly unreachableRows: number;
    /** `unreachableRows / rows` (0 when there are no rows) */
    readonly unreachableShare: number;
    /** rows of a test file the loader dropped: user or item in no file */
    readonly droppedRows: number;
    /** the median, over test users, of items left to rank once their training items are removed */
    readonly medianCandidates: number;
  };
  /** what deserves a look before training, one sentence each (empty when nothing does) */
  readonly warnings: readonly string[];
}

function spread(counts: readonly number[]): Spread3 {
  if (counts.length === 0) return { min: 0, median: 0, max: 0 };
  const s = [...counts].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { min: s[0]!, median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, max: s[s.length - 1]! };
}

function positiveCounts(values: Int32Array): number[] {
  const out: number[] = [];
  for (const c of values) if (c > 0) out.push(c);
  return out;
}

const pct = (x: number) => `${(100 * x).toFixed(x > 0 && x < 0.001 ? 2 : 1)}%`;

/**
 * Inspects `dataset`: sizes, label rates, rows per user and item, duplicates, and what the test
 * split can measure (unknown users and items, unreachable rows). Reads the logs only.
 */
export function inspectDataset(dataset: InteractionDataset): DatasetReport {
  const { schema, valueWeights } = dataset;
  const T = schema.tasks.length;
  const training: InteractionLog = dataset.validation ? concatLogs([dataset.train, dataset.validation], T) : dataset.train;
  const userRows = new Int32Array(schema.numUsers);
  const itemRows = new Int32Array(schema.numItems);
  const positives = new Float64Array(T);
  let positiveRows = 0;
  // (user, item) pairs as sorted numbers: 8 bytes a row, where a Set would take ~50 on a 20M-row log
  const pairs = new Float64Array(training.size);
  for (let r = 0; r < training.size; r++) {
    const u = training.user[r]!;
    const i = training.item[r]!;
    userRows[u]!++;
    itemRows[i]!++;
    for (let t = 0; t < T; t++) if (training.labels[r * T + t]! > 0) positives[t]!++;
    if (rowValue(training, r, valueWeights) > 0) positiveRows++;
    pairs[r] = u * schema.numItems + i;
  }
  pairs.sort();
  let duplicateRows = 0;
  for (let r = 1; r < pairs.length; r++) if (pairs[r] === pairs[r - 1]) duplicateRows++;
  const perUser = positiveCounts(userRows);
  const perItem = positiveCounts(itemRows);
  const rate = (n: number) => (training.size ? n / training.size : 0);
  const facts = dataset.sourceFacts;

  const seen = seenItemsByUser(training, schema.numUsers);
  const test = dataset.test;
  const testUsers = new Set<number>();
  const coldUsers = new Set<number>();
  const coldItems = new Set<number>();
  let unreachableRows = 0;
  for (let r = 0; r < test.size; r++) {
    const u = test.user[r]!;
    const i = test.item[r]!;
    testUsers.add(u);
    if (userRows[u] === 0) coldUsers.add(u);
    if (itemRows[i] === 0) coldItems.add(i);
    if (binaryHas(seen[u]!, i)) unreachableRows++;
  }
  const candidates = [...testUsers].map((u) => schema.numItems - seen[u]!.length);
  const file = facts?.testFile;
  const report = {
    name: dataset.name,
    training: {
      rows: training.size,
      users: perUser.length,
      items: perItem.length,
      vocabularyUsers: schema.numUsers,
      catalogueItems: schema.numItems,
      labelRates: Object.fromEntries(schema.tasks.map((t, k) => [t, rate(positives[k]!)])),
      positiveRate: rate(positiveRows),
      rowsPerUser: spread(perUser),
      rowsPerItem: spread(perItem),
      duplicateRows,
      outOfOrderTimestamps: facts?.outOfOrderTimestamps,
    },
    test: {
      rows: test.size,
      users: file ? file.users : testUsers.size,
      unknownUsers: coldUsers.size + (file?.unknownUsers ?? 0),
      unknownItems: coldItems.size + (file?.unknownItems ?? 0),
      unreachableRows,
      unreachableShare: test.size ? unreachableRows / test.size : 0,
      droppedRows: (file?.unknownUserRows ?? 0) + (file?.unknownItemRows ?? 0),
      medianCandidates: spread(candidates).median,
    },
  };
  return { ...report, warnings: warningsOf(report) };
}

/** Whether the ascending `list` holds `x`. */
function binaryHas(list: Int32Array, x: number): boolean {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = list[mid]!;
    if (v === x) return true;
    if (v < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

function warningsOf(r: Omit<DatasetReport, 'warnings'>): string[] {
  const w: string[] = [];
  const { training: tr, test: te } = r;
  if (tr.users < 2) {
    w.push(`the training rows have ${tr.users} user${tr.users === 1 ? '' : 's'}: in-batch negatives are other users' items, so the model learns little and the metrics say little`);
  }
  if (tr.positiveRate === 0) w.push('no training row has a positive value (labels . value weights > 0): there is nothing to learn from');
  if (te.rows === 0) {
    w.push(te.droppedRows > 0
      ? `no test row can be evaluated: all ${te.droppedRows} rows of the test file have a user or item the training files do not know`
      : 'the test split is empty: no metrics can be computed');
  } else {
    if (te.unknownUsers === te.users) w.push(`none of the ${te.users} test users has a training row: the model has no embedding trained for them`);
    else if (te.unknownUsers > 0) w.push(`${te.unknownUsers} of ${te.users} test users (${pct(te.unknownUsers / te.users)}) have no training row`);
    if (te.unreachableRows === te.rows) {
      w.push(`every test row (${te.rows}) is unreachable: each user already has the item in training, and full-ranking evaluation removes training items, so recall is 0 for any model (split so that test items are new to each user)`);
    } else if (te.unreachableRows > 0) {
      w.push(`${te.unreachableRows} of ${te.rows} test rows (${pct(te.unreachableShare)}) are unreachable: the user already has the item in training, which full-ranking evaluation removes`);
    }
    if (te.medianCandidates <= 50) w.push(`the median test user has only ${te.medianCandidates} items left to rank once their training items are removed: recall@K for K near that is close to 1 for any ranking`);
  }
  if (te.droppedRows > 0 && te.rows > 0) w.push(`${te.droppedRows} test-file rows were dropped: their user or item is in no training or feature file`);
  return w;
}
