import * as tf from '../runtime/tf.js';
import { initBackend, type BackendName } from '../runtime/backend.js';
import { ConfigError, ShapeError, StateError } from '../errors.js';
import { DenseAdam, SparseRowOptimizer } from '../train/optimizers.js';
import { resolveConfig } from './config.js';
import { TwoTowerModel } from './two-tower.js';
import { tinyBatch, tinyData, tinySchema } from './test-fixtures.js';

/** A few manual training steps (the Trainer's step without its validation). */
function losses(backendSteps: number, options = {}): number[] {
  const schema = tinySchema();
  const data = tinyData(schema);
  const model = TwoTowerModel.create(resolveConfig(schema, { dim: 8, hidden: 16, seed: 3, ...options }), data);
  const adam = new DenseAdam();
  const sparse = model.embeddings().map((e) => new SparseRowOptimizer(e, 'adam'));
  const out: number[] = [];
  for (let s = 0; s < backendSteps; s++) {
    const batch = tinyBatch(schema, data, 32, 100 + s);
    model.observeBatch(batch);
    for (const e of model.embeddings()) e.grads.recording = true;
    const vars = [...model.denseVariables(), ...model.embeddings().map((e) => e.anchor)];
    const { value, grads } = tf.variableGrads(() => model.loss(batch).total, vars);
    for (const e of model.embeddings()) e.grads.recording = false;
    out.push(value.dataSync()[0]!);
    value.dispose();
    const dense = new Map(model.denseVariables().map((v) => [v, grads[v.name]!]));
    adam.apply(dense, 1e-2);
    for (const g of Object.values(grads)) g.dispose();
    for (const o of sparse) o.apply(1e-2);
  }
  adam.dispose();
  model.dispose();
  return out;
}

async function on<T>(backend: BackendName, f: () => T): Promise<T> {
  await initBackend({ backend, log: false });
  return f();
}

describe('TwoTowerModel', () => {
  afterAll(async () => {
    await initBackend({ log: false });
  });

  it('gives the same losses on cpu and wasm (1e-5) for a seeded run, and learns', async () => {
    const cpu = await on('cpu', () => losses(12));
    const wasm = await on('wasm', () => losses(12));
    for (let i = 0; i < cpu.length; i++) expect(Math.abs(cpu[i]! - wasm[i]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(cpu[i]!)));
    expect(cpu[cpu.length - 1]!).toBeLessThan(cpu[0]!);
  });

  it.each(['wasm', 'cpu'] as const)('fused kernels give the loss and every gradient of tfjs\'s own ops (%s; logQ, masks, mixed negatives)', async (backend) => {
    await initBackend({ backend, log: false });
    const schema = tinySchema();
    const data = tinyData(schema);
    const run = (fused: boolean) => {
      const saved = process.env['TT_FUSED_OPS'];
      process.env['TT_FUSED_OPS'] = fused ? '1' : '0';
      try {
        const model = TwoTowerModel.create(resolveConfig(schema, { dim: 8, hidden: 16, seed: 5, mixedNegatives: 6 }), data);
        const batch = tinyBatch(schema, data, 24, 7);
        batch.item[3] = batch.item[1]!; // an accidental hit
        model.observeBatch(batch);
        for (const e of model.embeddings()) e.grads.recording = true;
        const vars = model.denseVariables();
        const { value, grads } = tf.variableGrads(() => model.loss(batch).total, [...vars, ...model.embeddings().map((e) => e.anchor)]);
        const out = { loss: value.dataSync()[0]!, grads: vars.map((v) => grads[v.name]!.dataSync().slice() as Float32Array), rows: model.embeddings().map((e) => e.grads.touched.grads.slice(0, e.grads.touched.rows.length * e.dim)) };
        tf.dispose([value, ...Object.values(grads)]);
        model.dispose();
        return out;
      } finally {
        if (saved === undefined) delete process.env['TT_FUSED_OPS'];
        else process.env['TT_FUSED_OPS'] = saved;
      }
    };
    const fused = run(true);
    const ops = run(false);
    expect(fused.loss).toBeCloseTo(ops.loss, 4);
    const close = (a: Float32Array, b: Float32Array) => a.forEach((x, i) => expect(Math.abs(x - b[i]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(b[i]!))));
    expect(fused.grads.length).toBe(ops.grads.length);
    fused.grads.forEach((g, i) => close(g, ops.grads[i]!));
    fused.rows.forEach((g, i) => close(g, ops.rows[i]!));
  });

  it('keeps tf.memory().numTensors constant across steps', async () => {
    await initBackend({ backend: 'wasm', log: false });
    losses(1); // warm kernels
    const before = tf.memory().numTensors;
    losses(3);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('adds no softmax term for a batch without any positive value', async () => {
    await initBackend({ backend: 'cpu', log: false });
    const schema = tinySchema();
    const data = tinyData(schema);
    const model = TwoTowerModel.create(resolveConfig(schema, { dim: 8, hidden: 16 }), data);
    const b = tinyBatch(schema, data, 16, 5);
    const zero = { ...b, labels: new Float32Array(b.labels.length) };
    tf.tidy(() => {
      const { total, terms } = model.loss(zero);
      expect(terms.has('softmax')).toBe(false);
      expect(total.dataSync()[0]).toBe(0);
      expect(model.loss(b).terms.has('softmax')).toBe(true);
    });
    model.dispose();
  });

  it('masks accidental hits: rows that all share one item have nothing to contrast', async () => {
    await initBackend({ backend: 'cpu', log: false });
    const schema = tinySchema();
    const data = tinyData(schema);
    const model = TwoTowerModel.create(resolveConfig(schema, { dim: 8, hidden: 16, logQ: false }), data);
    const b = tinyBatch(schema, data, 8, 6);
    const same = { ...b, item: new Int32Array(8).fill(3), itemFeatures: new Float32Array(16).fill(0.5), labels: new Float32Array(16).fill(1) };
    const loss = tf.tidy(() => model.loss(same).total.dataSync()[0]!);
    expect(loss).toBeCloseTo(0, 5);
    const unmasked = TwoTowerModel.create(resolveConfig(schema, { dim: 8, hidden: 16, logQ: false, removeAccidentalHits: false }), data);
    expect(tf.tidy(() => unmasked.loss(same).total.dataSync()[0]!)).toBeCloseTo(Math.log(8), 4);
    model.dispose();
    unmasked.dispose();
  });

  it('hashes ids beyond a table into it, and trains with mixed negatives', async () => {
    await initBackend({ backend: 'wasm', log: false });
    const l = losses(6, { itemRows: 16, userRows: 8, mixedNegatives: 10 });
    expect(l.every(Number.isFinite)).toBe(true);
    const schema = tinySchema();
    const model = TwoTowerModel.create(resolveConfig(schema, { dim: 4, hidden: 4, itemRows: 16 }), tinyData(schema));
    const rows = model.itemEmbedding.rowIndices([0, 15, 16, 39, -1]);
    expect([rows[0], rows[1], rows[4]]).toEqual([0, 15, -1]);
    expect(rows[2]).toBeGreaterThanOrEqual(0);
    expect(rows[3]).toBeLessThan(16);
    model.dispose();
  });

  it('pools the history with learned position weights: the gradient reaches them and the history items; a missing history is named', async () => {
    await initBackend({ backend: 'wasm', log: false });
    const schema = tinySchema();
    const data = tinyData(schema);
    const model = TwoTowerModel.create(resolveConfig(schema, { dim: 8, hidden: 16, seed: 3, historyPooling: 4 }), data);
    const batch = tinyBatch(schema, data, 16, 7, 4);
    for (const e of model.embeddings()) e.grads.recording = true;
    const positions = model.params.dense.get('user.history.positions')!;
    const { value, grads } = tf.variableGrads(() => model.loss(batch).total, [positions, model.itemEmbedding.anchor]);
    for (const e of model.embeddings()) e.grads.recording = false;
    const g = grads[positions.name]!.dataSync();
    expect(Array.from(g).some((x) => x !== 0)).toBe(true);
    // a history item that is never a batch item still gets a gradient (through the pooling)
    const touched = new Set(model.itemEmbedding.grads.touched.rows);
    const historyOnly = Array.from(batch.history!).filter((i) => i >= 0 && !batch.item.includes(i));
    expect(historyOnly.length).toBeGreaterThan(0);
    for (const i of historyOnly) expect(touched.has(i)).toBe(true);
    for (const e of model.embeddings()) e.grads.clear();
    tf.dispose([value, ...Object.values(grads)]);
    // pooling weights start equal: the plain mean of the valid items; no history -> zeros
    const one = model.userInputOf(Int32Array.of(1, 2), Int32Array.of(5, 9, -1, -1, -1, -1, -1, -1), 4);
    const x = tf.tidy(() => model.userTowerInput(one));
    const D = 8;
    const e = model.itemEmbedding.table.dataSync();
    const pooled = x.dataSync();
    const width = x.shape[1]!;
    const start = 2 * D; // after the id embedding and the feature MLP
    for (let k = 0; k < D; k++) {
      expect(pooled[start + k]).toBeCloseTo((e[5 * D + k]! + e[9 * D + k]!) / 2, 5);
      expect(pooled[width + start + k]).toBe(0);
    }
    x.dispose();
    expect(() => model.queryEmbeddings(model.userInputOf(Int32Array.of(1)))).toThrow(ShapeError);
    model.dispose();
  });

  it('zeroes the id vector of a userIdDropout share of training rows, never at inference, and leaves every stream as it was at 0', async () => {
    await initBackend({ backend: 'wasm', log: false });
    const schema = tinySchema();
    const data = tinyData(schema);
    const model = TwoTowerModel.create(resolveConfig(schema, { dim: 8, hidden: 8, historyPooling: 0, userIdDropout: 0.5 }), data);
    const users = Int32Array.from({ length: 400 }, (_, i) => i % schema.numUsers);
    const zeroRows = (training: boolean) => tf.tidy(() => {
      const id = tf.slice(model.userTowerInput(model.userInputOf(users), training), [0, 0], [users.length, 8]);
      return Array.from(tf.sum(tf.abs(id), 1).dataSync()).filter((x) => x === 0).length;
    });
    expect(zeroRows(false)).toBe(0);
    const dropped = zeroRows(true);
    expect(dropped).toBeGreaterThan(150);
    expect(dropped).toBeLessThan(250);
    model.dispose();
    // the same initial parameters with and without id dropout (its random stream is forked last)
    const off = TwoTowerModel.create(resolveConfig(schema, { dim: 8, hidden: 8, seed: 4 }), data);
    const on = TwoTowerModel.create(resolveConfig(schema, { dim: 8, hidden: 8, seed: 4, userIdDropout: 0.3 }), data);
    const values = (m: TwoTowerModel) => [...m.params.snapshot()].map(([name, v]) => [name, Array.from(v.values)]);
    expect(values(on)).toEqual(values(off));
    off.dispose();
    on.dispose();
    expect(() => resolveConfig(schema, { userIdDropout: 1 })).toThrow(ConfigError);
    expect(() => resolveConfig(schema, { userIdDropout: -0.1 })).toThrow(ConfigError);
  });

  it('userIdDropoutRows drops the id of a user with few training rows often and of one with many rarely', async () => {
    await initBackend({ backend: 'wasm', log: false });
    const schema = tinySchema();
    const model = TwoTowerModel.create(resolveConfig(schema, { dim: 8, hidden: 8, historyPooling: 0, userIdDropoutRows: 10 }), tinyData(schema));
    const users = Int32Array.from({ length: 1000 }, (_, i) => i % 2); // users 0 and 1
    const dropped = () => tf.tidy(() => {
      const id = tf.slice(model.userTowerInput(model.userInputOf(users), true), [0, 0], [users.length, 8]);
      const norms = tf.sum(tf.abs(id), 1).dataSync();
      return [0, 1].map((u) => users.filter((x, i) => x === u && norms[i] === 0).length / 500);
    });
    expect(dropped).toThrow(StateError); // the counts are fitTwoTower's (or the caller's) to give
    expect(() => model.setUserTrainingRows(new Int32Array(3))).toThrow(ShapeError);
    model.setUserTrainingRows(Int32Array.from({ length: schema.numUsers }, (_, u) => (u === 0 ? 2 : 990)));
    const [few, many] = dropped();
    expect(few).toBeGreaterThan(0.75); // 10 / 12 = 0.83
    expect(many).toBeLessThan(0.04); // 10 / 1000 = 0.01
    model.dispose();
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => resolveConfig(schema, { userIdDropoutRows: bad })).toThrow(ConfigError);
  });

  it('names a stage it has no definition for', () => {
    const schema = tinySchema();
    expect(() => TwoTowerModel.create(resolveConfig(schema, { stages: [{ name: 'debias' }] }), tinyData(schema))).toThrow(ConfigError);
  });
});
