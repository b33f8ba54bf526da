import * as tf from '../runtime/tf.js';
import { initBackend } from '../runtime/backend.js';
import { OutOfRangeError } from '../errors.js';
import { resolveConfig } from '../model/config.js';
import { TwoTowerModel } from '../model/two-tower.js';
import { tinyData, tinySchema } from '../model/test-fixtures.js';
import { Retriever } from './retriever.js';

describe('Retriever', () => {
  it('returns the brute-force top K of the catalogue by catalogue id, without seen items', async () => {
    await initBackend({ backend: 'wasm', log: false });
    const schema = tinySchema();
    const model = TwoTowerModel.create(resolveConfig(schema, { dim: 8, hidden: 16, historyPooling: 0 }), tinyData(schema));
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
    await expect(retriever.retrieve(users, 0)).rejects.toThrow(OutOfRangeError);
    await retriever.dispose();
    model.dispose();
  });
});
