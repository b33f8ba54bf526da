import * as tf from '../runtime/tf.js';
import { initBackend } from '../runtime/backend.js';
import { EmptyError, OutOfRangeError } from '../errors.js';
import type { Batch, BatchSource } from '../data/types.js';
import { resolveConfig } from '../model/config.js';
import { TwoTowerModel } from '../model/two-tower.js';
import { tinyBatch, tinyData, tinySchema } from '../model/test-fixtures.js';
import { Trainer } from './trainer.js';

const schema = tinySchema();
const data = tinyData(schema);

function source(batches: number, size = 32): BatchSource {
  return { schema, rowsPerEpoch: batches * size, batches: (epoch) => Array.from({ length: batches }, (_, i) => tinyBatch(schema, data, size, epoch * 1000 + i)) };
}

function newModel(seed = 1): TwoTowerModel {
  return TwoTowerModel.create(resolveConfig(schema, { dim: 8, hidden: 16, seed }), data);
}

describe('Trainer', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: false });
  });

  it('trains: the epoch loss falls, and tf.memory().numTensors is the same after every epoch', async () => {
    const model = newModel();
    const counts: number[] = [];
    const trainer = new Trainer(model, {
      epochs: 4, learningRate: 1e-2, progress: 'none',
      validate: async () => {
        counts.push(tf.memory().numTensors);
        return { score: 0 };
      },
    });
    const result = await trainer.fit(source(6));
    expect(result.epochs).toBe(4);
    expect(result.history[3]!.loss).toBeLessThan(result.history[0]!.loss);
    expect(new Set(counts.slice(1)).size).toBe(1);
    trainer.dispose();
    model.dispose();
  });

  it('is deterministic for a seed', async () => {
    const run = async () => {
      const model = newModel(7);
      const trainer = new Trainer(model, { epochs: 2, progress: 'none' });
      const r = await trainer.fit(source(3));
      trainer.dispose();
      model.dispose();
      return r.history.map((h) => h.loss);
    };
    expect(await run()).toEqual(await run());
  });

  it('stops early and restores the best epoch', async () => {
    const model = newModel();
    const scores = [0.1, 0.3, 0.2, 0.2, 0.2, 0.2];
    const trainer = new Trainer(model, {
      epochs: 6, progress: 'none',
      validate: async (epoch) => ({ 'recall@20': scores[epoch]! }),
      earlyStopping: { monitor: 'recall@20', patience: 2 },
    });
    const r = await trainer.fit(source(2));
    expect(r.epochs).toBe(4);
    expect(r.stoppedEarly).toBe(true);
    expect(r.bestEpoch).toBe(1);
    trainer.dispose();
    model.dispose();
  });

  it('rejects a bad batch with a typed error and leaves the weights untouched', () => {
    const model = newModel();
    const trainer = new Trainer(model, { epochs: 1, progress: 'none' });
    const before = model.params.snapshot();
    const good = tinyBatch(schema, data, 8, 1);
    const bad: Batch = { ...good, item: Int32Array.from(good.item, (x, i) => (i === 3 ? schema.numItems + 5 : x)) };
    expect(() => trainer.step(bad)).toThrow(OutOfRangeError);
    const after = model.params.snapshot();
    for (const [name, v] of before) expect(after.get(name)!.values).toEqual(v.values);
    trainer.dispose();
    model.dispose();
  });

  it('steps over a batch with no positive value (and no stage loss) without an error', () => {
    const model = newModel();
    const trainer = new Trainer(model, { epochs: 1, progress: 'none' });
    const b = tinyBatch(schema, data, 8, 2);
    expect(trainer.step({ ...b, labels: new Float32Array(b.labels.length) }).loss).toBe(0);
    trainer.dispose();
    model.dispose();
  });

  it('names an empty source', async () => {
    const model = newModel();
    const trainer = new Trainer(model, { epochs: 1, progress: 'none' });
    await expect(trainer.fit({ schema, batches: () => [] })).rejects.toThrow(EmptyError);
    trainer.dispose();
    model.dispose();
  });
});
