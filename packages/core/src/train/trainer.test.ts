import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '../runtime/tf.js';
import { initBackend } from '../runtime/backend.js';
import { ConfigError, EmptyError, MismatchError, OutOfRangeError } from '../errors.js';
import { loadCheckpoint, saveCheckpoint } from '../io/checkpoint.js';
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

  it('updates only the trainable parameters, dense and id tables alike', async () => {
    const model = newModel();
    const names = [...model.params.snapshot().keys()];
    const trained = names.filter((n) => n.startsWith('item.'));
    expect(trained.length).toBeGreaterThan(0);
    expect(trained.length).toBeLessThan(names.length);
    const before = model.params.snapshot();
    const trainer = new Trainer(model, { epochs: 1, learningRate: 1e-2, progress: 'none', trainable: (n) => n.startsWith('item.') });
    await trainer.fit(source(3));
    const after = model.params.snapshot();
    for (const n of names) {
      if (trained.includes(n)) expect(after.get(n)!.values).not.toEqual(before.get(n)!.values);
      else expect(after.get(n)!.values).toEqual(before.get(n)!.values);
    }
    trainer.dispose();
    model.dispose();
  });

  it('with a baseline no epoch beats, ends with the weights it started from', async () => {
    const model = newModel();
    const before = model.params.snapshot();
    const trainer = new Trainer(model, {
      epochs: 5, learningRate: 1e-2, progress: 'none',
      validate: async (epoch) => ({ 'recall@20': [0.2, 0.25, 0.1][epoch] ?? 0 }),
      earlyStopping: { monitor: 'recall@20', patience: 2, baseline: 0.3 },
    });
    const r = await trainer.fit(source(2));
    expect(r.epochs).toBe(2);
    expect(r.bestEpoch).toBe(-1);
    const after = model.params.snapshot();
    for (const [n, v] of before) expect(after.get(n)!.values).toEqual(v.values);
    trainer.dispose();
    model.dispose();
  });

  it('with a baseline an epoch beats, ends with that epoch', async () => {
    const model = newModel();
    const trainer = new Trainer(model, {
      epochs: 4, progress: 'none',
      validate: async (epoch) => ({ 'recall@20': [0.2, 0.35, 0.3, 0.3][epoch]! }),
      earlyStopping: { monitor: 'recall@20', patience: 2, baseline: 0.3 },
    });
    const r = await trainer.fit(source(2));
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

describe('Trainer: interrupt and resume', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: false });
  });
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'tt-resume-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  // logQ (the frequency estimate), mixed negatives (the sampler's random position), id dropout (its
  // random position), a cosine schedule (the step clock) and early stopping whose best epoch is not
  // the last (the best weights)
  const config = () => resolveConfig(schema, { dim: 8, hidden: 16, seed: 3, mixedNegatives: 6, userIdDropout: 0.5 });
  const scores = [0.1, 0.4, 0.3, 0.35, 0.2];
  const options = (signal?: AbortSignal) => ({
    epochs: 5, learningRate: 1e-2, progress: 'none' as const, schedule: { kind: 'cosine' as const, warmupSteps: 3 }, signal,
    validate: async (epoch: number) => ({ score: scores[epoch]! }),
    earlyStopping: { monitor: 'score', patience: 3 },
  });
  /** 5 batches an epoch; `onBatch` sees the running batch count (e.g. to abort) */
  const counted = (onBatch: (n: number) => void = () => undefined): BatchSource => {
    let n = 0;
    return {
      schema, rowsPerEpoch: 5 * 24,
      *batches(epoch) {
        for (let i = 0; i < 5; i++) {
          onBatch(++n);
          yield tinyBatch(schema, data, 24, epoch * 1000 + i);
        }
      },
    };
  };
  const weights = (m: TwoTowerModel) => new Map([...m.params.snapshot()].map(([k, v]) => [k, v.values.slice()]));

  async function uninterrupted() {
    const model = TwoTowerModel.create(config(), data);
    const trainer = new Trainer(model, options());
    const result = await trainer.fit(counted());
    const w = weights(model);
    trainer.dispose();
    model.dispose();
    return { result, w };
  }

  it.each([
    ['in the middle of an epoch', 8, false],
    ['during validation, at an epoch boundary', 10, true],
  ])('stopped %s, saved and loaded, it reaches the uninterrupted run\'s weights', async (_when, at, duringValidation) => {
    const ref = await uninterrupted();
    expect(ref.result.bestEpoch).toBe(1);

    const controller = new AbortController();
    const model = TwoTowerModel.create(config(), data);
    const opts = options(controller.signal);
    const trainer = new Trainer(model, duringValidation
      ? { ...opts, validate: async (epoch: number) => { if (epoch === 1) controller.abort(); return { score: scores[epoch]! }; } }
      : opts);
    const stopped = await trainer.fit(counted((n) => { if (!duringValidation && n === at) controller.abort(); }));
    expect(stopped.interrupted).toBe(true);
    expect(stopped.state!.progress).toMatchObject(duringValidation ? { epoch: 2, batchesDone: 0 } : { epoch: 1, batchesDone: 3, hasBestWeights: true });
    const dir = join(root, `ck-${at}`);
    await saveCheckpoint(dir, model, { training: stopped.state });
    trainer.dispose();
    model.dispose();

    const loaded = await loadCheckpoint(dir);
    expect(loaded.training!.progress.steps).toBe(at);
    const before = tf.memory().numTensors;
    const resumed = new Trainer(loaded.model, options());
    const result = await resumed.fit(counted(), loaded.training);
    expect(result.interrupted).toBe(false);
    expect(result.epochs).toBe(ref.result.epochs);
    expect(result.steps).toBe(ref.result.steps);
    expect(result.bestEpoch).toBe(ref.result.bestEpoch);
    expect(result.history.map((h) => h.loss)).toEqual(ref.result.history.map((h) => h.loss).map((l) => expect.closeTo(l, 6)));
    for (const [name, values] of weights(loaded.model)) {
      const expected = ref.w.get(name)!;
      let worst = 0;
      for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs(values[i]! - expected[i]!));
      expect(worst).toBeLessThanOrEqual(1e-6);
    }
    resumed.dispose();
    expect(tf.memory().numTensors).toBe(before);
    loaded.model.dispose();
  });

  it('an interrupted model holds the best weights so far; a state from another model is refused', async () => {
    const controller = new AbortController();
    const model = TwoTowerModel.create(config(), data);
    const trainer = new Trainer(model, options(controller.signal));
    const r = await trainer.fit(counted((n) => { if (n === 14) controller.abort(); }));
    // stopped in epoch 3 (0-based 2): best so far is epoch 1, whose weights the model holds
    expect(r.state!.progress).toMatchObject({ epoch: 2, bestEpoch: 1, hasBestWeights: true });
    expect(r.bestEpoch).toBe(1);
    const other = TwoTowerModel.create(resolveConfig(schema, { dim: 4, hidden: 16, seed: 3 }), data);
    const t2 = new Trainer(other, options());
    await expect(t2.fit(counted(), r.state)).rejects.toThrow(MismatchError);
    await expect(new Trainer(TwoTowerModel.create(config(), data), { ...options(), epochs: 7 }).fit(counted(), r.state)).rejects.toThrow(ConfigError);
    t2.dispose();
    other.dispose();
    trainer.dispose();
    model.dispose();
  });

  it("a checkpoint whose refit record is malformed does not load, and the error names the field", async () => {
    const controller = new AbortController();
    const model = TwoTowerModel.create(config(), data);
    const trainer = new Trainer(model, options(controller.signal));
    const r = await trainer.fit(counted((n) => { if (n === 3) controller.abort(); }));
    const validated = { epochs: 4, steps: 20, examples: 480, examplesPerSec: 100, history: [], bestEpoch: 1, stoppedEarly: true };
    const save = async (name: string, refit: unknown) => {
      const dir = join(root, name);
      await saveCheckpoint(dir, model, { training: { ...r.state!, progress: { ...r.state!.progress, refit: refit as never } } });
      return loadCheckpoint(dir);
    };
    const good = await save('refit-good', { towerEpochs: 2, stageEpochs: 0, monitor: 'score', validated });
    expect(good.training!.progress.refit).toEqual({ towerEpochs: 2, stageEpochs: 0, monitor: 'score', validated });
    good.model.dispose();
    await expect(save('refit-epochs', { towerEpochs: 0, stageEpochs: 0, monitor: 'score', validated })).rejects.toThrow(/progress\.refit\.towerEpochs/);
    await expect(save('refit-run', { towerEpochs: 2, stageEpochs: 0, monitor: 'score', validated: { ...validated, bestEpoch: 'x' } })).rejects.toThrow(/progress\.refit\.validated\.bestEpoch/);
    trainer.dispose();
    model.dispose();
  });
});
