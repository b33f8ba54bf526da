/**
 * Test fixtures shared by the @tt/* packages' tests (workspace-internal, never published): a
 * tiny schema with its model data and batches (with histories, as the default model pools them),
 * the world suite's worlds at a test size, and helpers for typed errors and tensor leaks.
 */
import { MODEL_DEFAULTS, Rng, syntheticWorld, tf, TtError, worldByName, type Batch, type DatasetSchema, type InteractionDataset, type ModelData } from '@tt/core';

/** A small schema: 50 users, 40 items, two tasks (click, like), 3 user and 2 item features. */
export function tinySchema(over: Partial<DatasetSchema> = {}): DatasetSchema {
  return {
    numUsers: 50, numItems: 40, tasks: ['click', 'like'], userFeatureDim: 3, itemFeatureDim: 2,
    numPositions: 0, hasRankerScores: false, labelMax: [1, 1], ...over,
  };
}

/** Ids and seeded normal features for `schema` (user ids `0..`, item ids `0..`). */
export function tinyData(schema: DatasetSchema, seed = 1): ModelData {
  const rng = new Rng(seed);
  const fill = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  return {
    userIds: Array.from({ length: schema.numUsers }, (_, i) => i),
    itemIds: Array.from({ length: schema.numItems }, (_, i) => i),
    userFeatures: fill(schema.numUsers * schema.userFeatureDim),
    itemFeatures: fill(schema.numItems * schema.itemFeatureDim),
  };
}

/** What a {@link tinyBatch} carries beyond the schema's columns. */
export interface TinyBatchOptions {
  /** H of the histories (default: the model's default history pooling) */
  readonly historyLength?: number;
  /** no row has any value (a batch the softmax has nothing to learn from) */
  readonly zero?: boolean;
  /** positions in `[0, maxPosition)` (default `schema.numPositions`; none when it is 0) */
  readonly maxPosition?: number;
  /** log the ranker's predictions: a noisy copy of each row's label probability, every fifth row unscored */
  readonly rankerScores?: boolean;
}

/**
 * A seeded batch: 60% of the rows are of an item the user likes (`user * 7 mod numItems`, something
 * to learn) and clicked (less often lower down when there are positions), later tasks follow a
 * click half the time; every row has a history of the user's liked item and random ones, -1
 * padded. Without positions or extras it draws exactly what @tt/core's own test batch draws.
 */
export function tinyBatch(schema: DatasetSchema, data: ModelData, size: number, seed: number, options: TinyBatchOptions = {}): Batch {
  const rng = new Rng(seed);
  const T = schema.tasks.length;
  const H = options.historyLength ?? MODEL_DEFAULTS.historyPooling;
  const P = options.maxPosition ?? schema.numPositions;
  const user = new Int32Array(size);
  const item = new Int32Array(size);
  const labels = new Float32Array(size * T);
  const position = P > 0 ? new Int32Array(size) : undefined;
  for (let i = 0; i < size; i++) {
    user[i] = rng.int(schema.numUsers);
    const liked = !options.zero && rng.uniform() < 0.6;
    item[i] = liked ? (user[i]! * 7) % schema.numItems : rng.int(schema.numItems);
    let click = liked;
    if (position) {
      position[i] = rng.int(P);
      click = liked && rng.uniform() < 1 / (1 + position[i]!);
    }
    labels[i * T] = click ? 1 : 0;
    for (let t = 1; t < T; t++) labels[i * T + t] = click && rng.uniform() < 0.5 ? 1 : 0;
  }
  // drawn after the rows, so the rows are the same with or without them
  const history = new Int32Array(size * H).fill(-1);
  for (let i = 0; i < size; i++) {
    const n = rng.int(Math.min(H, 6) + 1);
    for (let j = 0; j < n; j++) history[i * H + j] = j === 0 ? (user[i]! * 7) % schema.numItems : rng.int(schema.numItems);
  }
  let rankerScores: Float32Array | undefined;
  if (options.rankerScores) {
    rankerScores = new Float32Array(size * T);
    for (let i = 0; i < size; i++) {
      const liked = item[i] === (user[i]! * 7) % schema.numItems;
      for (let t = 0; t < T; t++) rankerScores[i * T + t] = i % 5 === 4 ? NaN : Math.min(0.99, Math.max(0.01, (liked ? 0.7 : 0.2) / (t + 1) + 0.1 * rng.normal()));
    }
  }
  const gather = (table: Float32Array, idx: Int32Array, d: number) => {
    const out = new Float32Array(idx.length * d);
    idx.forEach((r, i) => out.set(table.subarray(r * d, r * d + d), i * d));
    return out;
  };
  return {
    size, user, item, labels, position, rankerScores, history: H > 0 ? history : undefined, historyLength: H,
    userFeatures: gather(data.userFeatures, user, schema.userFeatureDim),
    itemFeatures: gather(data.itemFeatures, item, schema.itemFeatureDim),
  };
}

/**
 * A world of the suite (`tt world list`) at a test size: its own knobs, 300 users, 200 items and
 * `impressions` rows (default 6000), with a validation split.
 */
export function testWorld(name: string, seed = 0, impressions = 6000): InteractionDataset {
  return syntheticWorld({ ...worldByName(name).options, numUsers: 300, numItems: 200, impressions, seed, validation: true });
}

/** The tt error a promise rejects with. @throws when it resolves or rejects with anything else */
export async function errorOf(p: Promise<unknown>): Promise<TtError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  if (e instanceof TtError) return e;
  throw new Error(`expected a TtError, got ${String(e)}`);
}

/**
 * Runs `f` twice (the first warms kernels and caches) and checks that the second leaves exactly
 * `kept` more tensors than before it (what `f` returns and the caller owns).
 */
export function expectNoLeakedTensors(f: () => unknown, kept = 0): void {
  tf.dispose(f() as tf.Tensor);
  const before = tf.memory().numTensors;
  const out = f();
  expect(tf.memory().numTensors).toBe(before + kept);
  tf.dispose(out as tf.Tensor);
}
