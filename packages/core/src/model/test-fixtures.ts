/**
 * A tiny seeded world for unit tests (not exported from the package).
 */
import { Rng } from '../nn/init.js';
import type { Batch, DatasetSchema } from '../data/types.js';
import { TtError } from '../errors.js';
import type { ModelData } from './two-tower.js';
import { MODEL_DEFAULTS } from './config.js';

export function tinySchema(over: Partial<DatasetSchema> = {}): DatasetSchema {
  return {
    numUsers: 50, numItems: 40, tasks: ['click', 'like'], userFeatureDim: 3, itemFeatureDim: 2,
    numPositions: 0, hasRankerScores: false, labelMax: [1, 1], ...over,
  };
}

export function tinyData(schema: DatasetSchema, seed = 1): ModelData {
  const rng = new Rng(seed);
  const fill = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  return {
    userIds: Array.from({ length: schema.numUsers }, (_, i) => i + 1),
    itemIds: Array.from({ length: schema.numItems }, (_, i) => `item-${i}`),
    userFeatures: fill(schema.numUsers * schema.userFeatureDim),
    itemFeatures: fill(schema.numItems * schema.itemFeatureDim),
  };
}

/**
 * A batch whose rows like items with index = user index mod 7 (something to learn), each row with
 * a history of `historyLength` items (the user's liked item and random ones, -1 padded), as the
 * model's default history pooling reads.
 */
export function tinyBatch(schema: DatasetSchema, data: ModelData, size: number, seed: number, historyLength: number = MODEL_DEFAULTS.historyPooling): Batch {
  const rng = new Rng(seed);
  const T = schema.tasks.length;
  const user = new Int32Array(size);
  const item = new Int32Array(size);
  const labels = new Float32Array(size * T);
  for (let i = 0; i < size; i++) {
    user[i] = rng.int(schema.numUsers);
    const liked = rng.uniform() < 0.6;
    item[i] = liked ? (user[i]! * 7) % schema.numItems : rng.int(schema.numItems);
    labels[i * T] = liked ? 1 : 0;
    if (T > 1) labels[i * T + 1] = liked && rng.uniform() < 0.5 ? 1 : 0;
  }
  const gather = (table: Float32Array, idx: Int32Array, d: number) => {
    const out = new Float32Array(idx.length * d);
    idx.forEach((r, i) => out.set(table.subarray(r * d, r * d + d), i * d));
    return out;
  };
  const H = historyLength;
  const history = new Int32Array(size * H).fill(-1);
  for (let i = 0; i < size; i++) {
    const n = rng.int(Math.min(H, 6) + 1);
    for (let j = 0; j < n; j++) history[i * H + j] = j === 0 ? (user[i]! * 7) % schema.numItems : rng.int(schema.numItems);
  }
  return {
    size, user, item, labels, history: H > 0 ? history : undefined, historyLength: H,
    userFeatures: gather(data.userFeatures, user, schema.userFeatureDim),
    itemFeatures: gather(data.itemFeatures, item, schema.itemFeatureDim),
  };
}

/** The tt error a promise rejects with. @throws when it resolves or rejects with anything else */
export async function errorOf(p: Promise<unknown>): Promise<TtError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  if (e instanceof TtError) return e;
  throw new Error(`expected a TtError, got ${String(e)}`);
}

/** Every batch of a (sync or async) batch source. */
export async function collect(it: Iterable<Batch> | AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) out.push(b);
  return out;
}
