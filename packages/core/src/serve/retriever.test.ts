import * as tf from '../runtime/tf.js';
import { initBackend } from '../runtime/backend.js';
import { OutOfRangeError, ShapeError, StateError, UnknownIdError, ValueError } from '../errors.js';
import { resolveConfig } from '../model/config.js';
import { TwoTowerModel } from '../model/two-tower.js';
import { tinyData, tinySchema } from '../model/test-fixtures.js';
import { Retriever } from './retriever.js';

const schema = tinySchema();
const D = 8;

/** Brute-force top k of one query over the catalogue, by catalogue id, leaving out `skip`. */
function bruteForce(model: TwoTowerModel, q: Float32Array, k: number, skip: ReadonlySet<number> = new Set()): string[] {
  const v = model.itemEmbeddings(Int32Array.from({ length: schema.numItems }, (_, i) => i));
  const V = v.dataSync();
  v.dispose();
  const scores = Array.from({ length: schema.numItems }, (_, i) => [q.reduce((s, x, d) => s + x * V[i * D + d]!, 0), i] as const);
  return scores.filter(([, i]) => !skip.has(i)).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k).map(([, i]) => `item-${i}`);
}

function query(model: TwoTowerModel, user: number, features?: Float32Array): Float32Array {
  const input = model.userInputOf(Int32Array.of(user));
  const q = model.queryEmbeddings(features ? { ...input, userFeatures: features } : input);
  const out = q.dataSync().slice() as Float32Array;
  q.dispose();
  return out;
}

describe('Retriever', () => {
  let model: TwoTowerModel;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: false });
    model = TwoTowerModel.create(resolveConfig(schema, { dim: D, hidden: 16, historyPooling: 0 }), tinyData(schema));
  });
  afterAll(() => model.dispose());

  it('returns the brute-force top K of the catalogue by catalogue id, without seen items', async () => {
    const retriever = await Retriever.build(model, { threads: 1 });
    const users = Int32Array.from([4, 7]);
    const q = model.queryEmbeddings(model.userInputOf(users));
    const v = model.itemEmbeddings(Int32Array.from({ length: schema.numItems }, (_, i) => i));
    const s = tf.matMul(q, v, false, true);
    const scores = s.dataSync();
    tf.dispose([q, v, s]);
    const seen = [Int32Array.from([0, 1, 2]), undefined];
    const results = await retriever.retrieve(users, 5, { exclude: seen });
    users.forEach((_, r) => {
      const row = Array.from(scores.subarray(r * schema.numItems, (r + 1) * schema.numItems));
      const expected = row.map((x, i) => [x, i] as const).filter(([, i]) => !seen[r]?.includes(i)).sort((a, b) => b[0] - a[0]).slice(0, 5).map(([, i]) => `item-${i}`);
      expect(results[r]!.items).toEqual(expected);
    });
    await expect(retriever.retrieve(Int32Array.from([schema.numUsers]), 5)).rejects.toThrow(OutOfRangeError);
    await expect(retriever.retrieve(Int32Array.from([-1]), 5)).rejects.toThrow(OutOfRangeError);
    await expect(retriever.retrieve(users, 0)).rejects.toThrow(OutOfRangeError);
    await retriever.dispose();
  });

  it('serves known ids by their own row (seen items excluded) and up to k = the catalogue size', async () => {
    const seen = Array.from({ length: schema.numUsers }, (_, u) => Int32Array.of(u % schema.numItems, (u + 1) % schema.numItems));
    const retriever = await Retriever.build(model, { threads: 1, data: { seen } });
    // user ids are 1-based in the fixture: id 5 is user index 4
    const [byId, asString, all] = await retriever.serve([{ userId: 5, k: 6 }, { userId: '5', k: 6 }, { userId: 5, k: schema.numItems, includeSeen: true }]);
    expect(byId!.path).toBe('id');
    expect(byId!.items).toEqual(bruteForce(model, query(model, 4), 6, new Set([4, 5])));
    expect(asString!.items).toEqual(byId!.items);
    expect(all!.items).toHaveLength(schema.numItems);
    expect(new Set(all!.items).size).toBe(schema.numItems);
    await expect(retriever.serve([{ userId: 5, k: schema.numItems + 1 }])).rejects.toMatchObject({ code: 'E_RANGE', field: 'requests[0].k' });
    await expect(retriever.serve([{ userId: 5, k: 3 }, { userId: 5, k: 0 }])).rejects.toMatchObject({ code: 'E_RANGE', field: 'requests[1].k' });
    await retriever.dispose();
  });

  it('answers a user without an id row from its features (zero id vector), else from popularity, and says which path served it', async () => {
    const popularity = Float32Array.from({ length: schema.numItems }, (_, i) => (i * 17) % schema.numItems);
    const retriever = await Retriever.build(model, { threads: 1, data: { popularity } });
    const features = Float32Array.of(0.5, -1, 2);
    const [cold, anonymous, nothing, filtered] = await retriever.serve([
      { userId: 'new-user', userFeatures: features, k: 5 },
      { userFeatures: features, k: 5 },
      { userId: 'new-user', k: 4, exclude: ['item-0', 'item-unknown'] },
      { userId: 'new-user', k: 4, filter: { items: ['item-3', 'item-9', 'item-10', 'nope'] } },
    ]);
    expect(cold!.path).toBe('features');
    const q = model.queryEmbeddings({ ...model.userInputOf(Int32Array.of(-1)), userFeatures: features });
    const expectedQ = q.dataSync().slice() as Float32Array;
    q.dispose();
    expect(cold!.items).toEqual(bruteForce(model, expectedQ, 5));
    expect(anonymous!.items).toEqual(cold!.items);
    // -1 really means "no id row": the id part is zero, not any user's row
    const zeroId = tf.tidy(() => tf.slice(model.userTowerInput({ ...model.userInputOf(Int32Array.of(-1)), userFeatures: features }), [0, 0], [1, D]).dataSync());
    expect(Array.from(zeroId, Math.abs)).toEqual(new Array(D).fill(0));
    expect(nothing!.path).toBe('popularity');
    const byPopularity = Array.from({ length: schema.numItems }, (_, i) => i).sort((a, b) => popularity[b]! - popularity[a]! || a - b).filter((i) => i !== 0);
    expect(nothing!.items).toEqual(byPopularity.slice(0, 4).map((i) => `item-${i}`));
    expect(Array.from(nothing!.scores)).toEqual(byPopularity.slice(0, 4).map((i) => popularity[i]!));
    expect(filtered!.items.sort()).toEqual(['item-10', 'item-3', 'item-9']);
    const tensors = tf.memory().numTensors;
    await retriever.serve([{ userId: 3, k: 2 }, { userFeatures: features, k: 2 }, { k: 2 }]);
    expect(tf.memory().numTensors).toBe(tensors);
    await retriever.dispose();
  });

  it('scores an allow-list exactly and excludes a cold user\'s history items', async () => {
    const retriever = await Retriever.build(model, { threads: 1 });
    const features = Float32Array.of(1, 1, 1);
    const allowed = ['item-1', 'item-2', 'item-3', 'item-4', 'item-5'];
    const [r, withHistory] = await retriever.serve([
      { userFeatures: features, k: 3, filter: { items: allowed } },
      { userFeatures: features, k: 5, history: ['item-1', 'gone', 'item-2'] },
    ]);
    const q = model.queryEmbeddings({ ...model.userInputOf(Int32Array.of(-1)), userFeatures: features });
    const expectedQ = q.dataSync().slice() as Float32Array;
    q.dispose();
    const notAllowed = new Set(Array.from({ length: schema.numItems }, (_, i) => i).filter((i) => i < 1 || i > 5));
    expect(r!.items).toEqual(bruteForce(model, expectedQ, 3, notAllowed));
    // this model has no history encoder: the history is not embedded, only left out
    expect(withHistory!.path).toBe('features');
    expect(withHistory!.unknownHistory).toBe(1);
    expect(withHistory!.items).toEqual(bruteForce(model, expectedQ, 5, new Set([1, 2])));
    await retriever.dispose();
  });

  it('rejects bad requests with typed errors naming the request and field', async () => {
    const retriever = await Retriever.build(model, { threads: 1 });
    await expect(retriever.serve([{ userFeatures: [1, 2], k: 3 }])).rejects.toThrow(ShapeError);
    await expect(retriever.serve([{ userFeatures: [1, NaN, 2], k: 3 }])).rejects.toMatchObject({ code: 'E_VALUE', field: 'requests[0].userFeatures' });
    await expect(retriever.serve([{ userId: 1.5, k: 3 }])).rejects.toThrow(ValueError);
    await expect(retriever.serve([{ k: 3, history: [{} as never] }])).rejects.toMatchObject({ field: 'requests[0].history[0]' });
    // nothing to embed and no popularity list
    await expect(retriever.serve([{ userId: 'new', k: 3 }])).rejects.toThrow(StateError);
    await retriever.dispose();
  });
});

describe('TwoTowerModel ids', () => {
  it('answers for a known id or throws UnknownIdError; never hands back undefined', () => {
    const model = TwoTowerModel.create(resolveConfig(schema, { dim: 4, hidden: 4 }), tinyData(schema));
    expect(model.userIndex(1)).toBe(0);
    expect(model.userIndex('1')).toBe(0);
    expect(model.hasUser(999)).toBe(false);
    expect(() => model.userIndex(999)).toThrow(UnknownIdError);
    expect(model.itemIndex('item-3')).toBe(3);
    expect(model.hasItem('item-x')).toBe(false);
    expect(() => model.itemIndex('item-x')).toThrow(UnknownIdError);
    expect(() => model.userInputOf(Int32Array.of(-2))).toThrow(OutOfRangeError);
    expect(() => model.userInputOf(Int32Array.of(schema.numUsers))).toThrow(OutOfRangeError);
    model.dispose();
  });
});
