import { initBackend, resolveConfig, tf, TwoTowerModel, Trainer, Rng, ValueError, type Batch, type DatasetSchema, type ModelData, type StageConfig } from '@tt/core';
import { tinyData } from '@tt/test-utils';
import { debias, debiasPosition, debiasStages, debiasUser, DebiasStage, setDebiasWarningHandler } from './index.js';
import { debiasDiagnostics, renderSvgChart } from './diagnostics.js';

const schema: DatasetSchema = {
  numUsers: 30, numItems: 25, tasks: ['click', 'like'], userFeatureDim: 3, itemFeatureDim: 2,
  numPositions: 5, hasRankerScores: false, labelMax: [1, 1],
};

const data = (seed = 1): ModelData => tinyData(schema, seed);

/** Clicks more likely at top positions; `zero` gives a batch without any value. */
function batchOf(d: ModelData, size: number, seed: number, opts: { zero?: boolean; maxPosition?: number } = {}): Batch {
  const rng = new Rng(seed);
  const T = schema.tasks.length;
  const user = new Int32Array(size);
  const item = new Int32Array(size);
  const position = new Int32Array(size);
  const labels = new Float32Array(size * T);
  const P = opts.maxPosition ?? schema.numPositions;
  for (let i = 0; i < size; i++) {
    user[i] = rng.int(schema.numUsers);
    item[i] = rng.int(schema.numItems);
    position[i] = rng.int(P);
    const click = !opts.zero && rng.uniform() < 0.6 / (1 + position[i]!) ? 1 : 0;
    labels[i * T] = click;
    labels[i * T + 1] = click && rng.uniform() < 0.5 ? 1 : 0;
  }
  const gather = (table: Float32Array, idx: Int32Array, dd: number) => {
    const out = new Float32Array(idx.length * dd);
    idx.forEach((r, i) => out.set(table.subarray(r * dd, r * dd + dd), i * dd));
    return out;
  };
  return {
    size, user, item, labels, position, historyLength: 0,
    userFeatures: gather(d.userFeatures, user, schema.userFeatureDim),
    itemFeatures: gather(d.itemFeatures, item, schema.itemFeatureDim),
  };
}

function modelWith(stage: StageConfig, d = data()): TwoTowerModel {
  const config = resolveConfig(schema, { dim: 8, hidden: 16, valueWeights: [1, 0.5], historyPooling: 0, stages: [stage] });
  return TwoTowerModel.create(config, d, debiasStages);
}

function stageOf(model: TwoTowerModel): DebiasStage {
  return model.stages[0] as DebiasStage;
}

/** Gradients of one named loss term (or the total) w.r.t. every dense variable and table row. */
function gradientsOf(model: TwoTowerModel, batch: Batch, term: string | undefined): { dense: Map<string, Float32Array>; rows: Map<string, number> } {
  const embeddings = model.embeddings();
  const names = new Map([...model.params.dense].map(([n, v]) => [v.name, n]));
  const variables = [...model.denseVariables(), ...embeddings.map((e) => e.anchor)];
  for (const e of embeddings) e.grads.recording = true;
  const out = { dense: new Map<string, Float32Array>(), rows: new Map<string, number>() };
  try {
    const { value, grads } = tf.variableGrads(() => {
      const { total, terms } = model.loss(batch);
      return term ? terms.get(term)! : total;
    }, variables);
    value.dispose();
    for (const [vname, g] of Object.entries(grads)) {
      const n = names.get(vname);
      if (n) out.dense.set(n, g.dataSync() as Float32Array);
      g.dispose();
    }
    for (const e of embeddings) {
      const { rows, grads: gs } = e.grads.touched;
      let m = 0;
      for (let i = 0; i < rows.length * e.dim; i++) m = Math.max(m, Math.abs(gs[i]!));
      out.rows.set(e.name, m);
    }
  } finally {
    for (const e of embeddings) {
      e.grads.recording = false;
      e.grads.clear();
    }
  }
  return out;
}

const maxAbs = (a: Float32Array | undefined) => (a ? a.reduce((m, x) => Math.max(m, Math.abs(x)), 0) : 0);

describe('debias stages', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: false });
  });
  let warnings: string[];
  let previous: (m: string) => void;
  beforeEach(() => {
    warnings = [];
    previous = setDebiasWarningHandler((m) => warnings.push(m));
  });
  afterEach(() => setDebiasWarningHandler(previous));

  it('exports three definitions with the issue names', () => {
    expect([debiasPosition.name, debiasUser.name, debias.name]).toEqual(['debias-position', 'debias-user', 'debias']);
  });

  it.each(['debias-position', 'debias-user', 'debias'])('%s (regression estimator): the softmax loss leaves the estimator without gradient', (name) => {
    const model = modelWith({ name, options: { estimator: 'regression' } });
    const batch = batchOf(model.data, 64, 3);
    const main = gradientsOf(model, batch, 'softmax');
    const own = gradientsOf(model, batch, `${name}.weighting`);
    if (name !== 'debias-position') {
      expect(maxAbs(main.dense.get(`stages.${name}.estimator.w`))).toBe(0);
      expect(maxAbs(main.dense.get(`stages.${name}.estimator.b`))).toBe(0);
      expect(maxAbs(own.dense.get(`stages.${name}.estimator.b`))).toBeGreaterThan(0);
      // the regression loss does not train the user tower either (detachQuery)
      expect(maxAbs(own.dense.get('user.projection.w'))).toBe(0);
    }
    if (name !== 'debias-user') {
      expect(main.rows.get(`stages.${name}.position`) ?? 0).toBe(0);
      expect(own.rows.get(`stages.${name}.position`)).toBeGreaterThan(0);
    }
    // and the main loss still trains the towers
    expect(maxAbs(main.dense.get('user.projection.w'))).toBeGreaterThan(0);
    model.dispose();
  });

  it('training on the main loss alone leaves the (regression) estimator unchanged', () => {
    const model = modelWith({ name: 'debias', options: { estimator: 'regression' } });
    const stage = stageOf(model);
    const before = [stage.positionTable!.table.dataSync().slice(), stage.estimator!.w.dataSync().slice(), stage.estimator!.b.dataSync().slice()];
    const trainer = new Trainer(model, { epochs: 1, learningRate: 0.05, progress: 'none' });
    // lossWeight 0 model: the regression term contributes nothing, so only the softmax trains
    const zeroModel = modelWith({ name: 'debias', options: { lossWeight: 0, estimator: 'regression' } });
    const zs = stageOf(zeroModel);
    const zBefore = [zs.positionTable!.table.dataSync().slice(), zs.estimator!.w.dataSync().slice(), zs.estimator!.b.dataSync().slice()];
    const zTrainer = new Trainer(zeroModel, { epochs: 1, learningRate: 0.05, progress: 'none' });
    const towerBefore = zeroModel.params.dense.get('user.projection.w')!.dataSync().slice();
    for (let s = 0; s < 5; s++) zTrainer.step(batchOf(zeroModel.data, 64, 10 + s));
    expect(Array.from(zs.positionTable!.table.dataSync())).toEqual(Array.from(zBefore[0]!));
    expect(Array.from(zs.estimator!.w.dataSync())).toEqual(Array.from(zBefore[1]!));
    expect(Array.from(zs.estimator!.b.dataSync())).toEqual(Array.from(zBefore[2]!));
    expect(Array.from(zeroModel.params.dense.get('user.projection.w')!.dataSync())).not.toEqual(Array.from(towerBefore));
    // with its own loss the estimator does move
    for (let s = 0; s < 5; s++) trainer.step(batchOf(model.data, 64, 10 + s));
    expect(Array.from(stage.positionTable!.table.dataSync())).not.toEqual(Array.from(before[0]!));
    trainer.dispose();
    zTrainer.dispose();
    model.dispose();
    zeroModel.dispose();
  });

  it.each(['debias-position', 'debias-user', 'debias'])('%s (examination estimator): its likelihood trains its own parameters only, the softmax none of them', (name) => {
    const model = modelWith({ name });
    const batch = batchOf(model.data, 64, 3);
    const main = gradientsOf(model, batch, 'softmax');
    const own = gradientsOf(model, batch, `${name}.weighting`);
    const prefix = `stages.${name}.examination`;
    expect(maxAbs(main.dense.get(`${prefix}.exposureBias`))).toBe(0);
    expect(maxAbs(own.dense.get(`${prefix}.exposureBias`))).toBeGreaterThan(0);
    expect(maxAbs(main.dense.get(`${prefix}.relevanceBias`))).toBe(0);
    expect(maxAbs(own.dense.get(`${prefix}.relevanceBias`))).toBeGreaterThan(0);
    expect(main.rows.get(`${prefix}.itemVectors`) ?? 0).toBe(0);
    expect(own.rows.get(`${prefix}.itemVectors`)).toBeGreaterThan(0);
    if (name !== 'debias-user') {
      expect(main.rows.get(`${prefix}.position`) ?? 0).toBe(0);
      expect(own.rows.get(`${prefix}.position`)).toBeGreaterThan(0);
    }
    // it reads a stopped q: the towers learn from the softmax alone
    expect(maxAbs(own.dense.get('user.projection.w'))).toBe(0);
    expect(maxAbs(main.dense.get('user.projection.w'))).toBeGreaterThan(0);
    model.dispose();
  });

  it("divides by the slot's exposure (correction 'row') or by the item's mean exposure so far ('item')", () => {
    const weigh = (correction: string, shrink = false) => {
      const model = modelWith({ name: 'debias-position', options: { correction, shrink, relativeFloor: 0, normalizeWeights: false } });
      const stage = stageOf(model);
      // exposure sigmoid(alpha_p + 1): alpha = logit(theta) - 1 for theta = 0.8, 0.4, 0.2, 0.1, 0.1
      const theta = [0.8, 0.4, 0.2, 0.1, 0.1];
      tf.tidy(() => stage.exam!.positionTable!.table.assign(tf.tensor2d(theta.map((t) => [Math.log(t / (1 - t)) - 1]))));
      const batch = batchOf(model.data, 4, 6);
      (batch as { position: Int32Array }).position = Int32Array.from([0, 1, 2, 0]);
      (batch as { item: Int32Array }).item = Int32Array.from([7, 7, 3, 3]); // item 7 at slots 0 and 1, item 3 at 2 and 0
      const w = tf.tidy(() => {
        const nuv = tf.ones([4]) as tf.Tensor1D;
        return Array.from(stage.weighting!.weigh({
          weights: nuv, nuv, q: tf.zeros([4, 8]) as tf.Tensor2D, pairScore: tf.zeros([4]) as tf.Tensor1D,
          batch: { batch, labels: tf.tensor2d(batch.labels, [4, 2]), position: tf.tensor1d(batch.position!, 'int32') },
        }).weights.dataSync());
      });
      model.dispose();
      return w;
    };
    [1 / 0.8, 1 / 0.4, 1 / 0.2, 1 / 0.8].forEach((x, i) => expect(weigh('row')[i]).toBeCloseTo(x, 3));
    [2 / 1.2, 2 / 1.2, 2 / 1.0, 2 / 1.0].forEach((x, i) => expect(weigh('item')[i]).toBeCloseTo(x, 3));
    // shrunk (the default): the two items' divisors move towards their common mean
    const shrunk = weigh('item', true);
    expect(Math.abs(shrunk[0]! - shrunk[2]!)).toBeLessThan(2 / 1.0 - 2 / 1.2);
  });

  it('says when the layout does not depend on the item (its correction leaves the weights ~uniform), and not when it does', () => {
    const notesAfter = (slotOf: (item: number, r: number) => number) => {
      const model = modelWith({ name: 'debias-position' });
      const stage = stageOf(model);
      tf.tidy(() => stage.exam!.positionTable!.table.assign(tf.tensor2d([[2], [0.5], [-0.5], [-1], [-1.5]])));
      expect(stage.notes()).toEqual([]); // nothing to say before training
      const rng = new Rng(3);
      for (let b = 0; b < 40; b++) {
        const batch = batchOf(model.data, 64, 100 + b);
        (batch as { position: Int32Array }).position = Int32Array.from(batch.item, (i, r) => slotOf(i, rng.int(1000) + r));
        tf.tidy(() => {
          const nuv = tf.ones([64]) as tf.Tensor1D;
          stage.weighting!.weigh({
            weights: nuv, nuv, q: tf.zeros([64, 8]) as tf.Tensor2D, pairScore: tf.zeros([64]) as tf.Tensor1D,
            batch: { batch, labels: tf.tensor2d(batch.labels, [64, 2]), position: tf.tensor1d(batch.position!, 'int32') },
          });
        });
      }
      const out = { notes: stage.notes(), summary: stage.itemExposureSummary()!, diagnostics: debiasDiagnostics(model) };
      model.dispose();
      return out;
    };
    const random = notesAfter((_, r) => r % 5);
    expect(random.notes).toHaveLength(1);
    expect(random.notes[0]).toMatch(/exposure hardly depended on the item/);
    expect(random.diagnostics.notes).toEqual(random.notes);
    expect(random.summary.impressions).toBe(40 * 64);
    const byItem = notesAfter((item) => item % 5); // each item always in the same slot
    expect(byItem.notes).toEqual([]);
    expect(byItem.summary.itemShare).toBeGreaterThan(0.5);
  });

  it('diagnostics read the examination model: the exposure curve, 1 at the top', () => {
    const model = modelWith({ name: 'debias' });
    const d = debiasDiagnostics(model);
    expect(d.positionCurve).toHaveLength(5);
    expect(d.relativePositionCurve![0]).toBe(1);
    model.dispose();
  });

  it('clamps positions beyond the table into the last bucket, warning once', () => {
    const model = modelWith({ name: 'debias-position', options: { positions: 3 } });
    const stage = stageOf(model);
    const batch = batchOf(model.data, 64, 4, { maxPosition: 5 });
    const outOfRange = Array.from(batch.position!).filter((p) => p >= 3).length;
    expect(outOfRange).toBeGreaterThan(0);
    expect(stage.bucketsOf(Int32Array.from([0, 2, 3, 4, 99]))).toEqual(Int32Array.from([0, 2, 2, 2, 2]));
    const loss = tf.tidy(() => model.loss(batch).total.dataSync()[0]!);
    expect(Number.isFinite(loss)).toBe(true);
    tf.tidy(() => model.loss(batch).total);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/3 position buckets but saw position/);
    expect(stage.clampedRows).toBe(3 + 2 * outOfRange);
    expect(debiasDiagnostics(model).positionCurve).toHaveLength(3);
    // a resumed run carries the count on and does not warn a second time
    const saved = model.getTrainingState().stages['debias-position']!;
    expect(saved).toEqual({ clampedRows: 3 + 2 * outOfRange, warned: true });
    const resumed = modelWith({ name: 'debias-position', options: { positions: 3 } });
    resumed.setTrainingState({ ...resumed.getTrainingState(), stages: { 'debias-position': JSON.parse(JSON.stringify(saved)) } });
    tf.tidy(() => resumed.loss(batch).total);
    expect(warnings).toHaveLength(1);
    expect(stageOf(resumed).clampedRows).toBe(3 + 3 * outOfRange);
    expect(() => resumed.setTrainingState({ ...resumed.getTrainingState(), stages: {} })).toThrow(ValueError);
    resumed.dispose();
    model.dispose();
  });

  it('a batch with all-zero values: no softmax term, finite weights, estimates pulled toward 0 (regression estimator)', () => {
    const model = modelWith({ name: 'debias', options: { estimator: 'regression' } });
    const stage = stageOf(model);
    const batch = batchOf(model.data, 64, 5, { zero: true });
    const terms = tf.tidy(() => {
      const t = model.loss(batch).terms;
      return Object.fromEntries([...t].map(([k, v]) => [k, v.dataSync()[0]!]));
    });
    expect(terms.softmax).toBeUndefined();
    expect(Number.isFinite(terms['debias.weighting']!)).toBe(true);
    const w = tf.tidy(() => {
      const B = batch.size;
      const nuv = tf.ones([B]) as tf.Tensor1D; // what core passes for such a batch (1e-6 / 1e-6)
      const q = tf.randomNormal([B, 8]) as tf.Tensor2D;
      const labels = tf.tensor2d(batch.labels, [B, 2]);
      return stage.weighting!.weigh({ weights: nuv, nuv, q, pairScore: tf.zeros([B]) as tf.Tensor1D, batch: { batch, labels, position: tf.tensor1d(batch.position!, 'int32') } }).weights.dataSync();
    });
    expect(Array.from(w).every(Number.isFinite)).toBe(true);
    const before = stage.positionTable!.table.dataSync()[0]!;
    const trainer = new Trainer(model, { epochs: 1, learningRate: 0.01, progress: 'none' });
    for (let s = 0; s < 3; s++) trainer.step(batch);
    expect(stage.positionTable!.table.dataSync()[0]!).toBeLessThan(before);
    trainer.dispose();
    model.dispose();
  });

  it.each([
    // absolute floor only (MODEL.md's clamp): [-1, 0, 0.01] -> 0.05
    [0, [20, 20, 20, 2, 0.5]],
    // and half of the batch mean of the floored estimates (0.53): 0.265
    [0.5, [1 / 0.265, 1 / 0.265, 1 / 0.265, 2, 0.5]],
  ])('floors the estimate in the division (relativeFloor %s)', (relativeFloor, expected) => {
    const model = modelWith({ name: 'debias-position', options: { floor: 0.05, relativeFloor, normalizeWeights: false, estimator: 'regression' } });
    const stage = stageOf(model);
    tf.tidy(() => stage.positionTable!.table.assign(tf.tensor2d([[-1], [0], [0.01], [0.5], [2]])));
    const batch = batchOf(model.data, 5, 6);
    (batch as { position: Int32Array }).position = Int32Array.from([0, 1, 2, 3, 4]);
    const w = tf.tidy(() => {
      const nuv = tf.tensor1d([1, 1, 1, 1, 1]);
      return Array.from(stage.weighting!.weigh({
        weights: nuv, nuv, q: tf.zeros([5, 8]) as tf.Tensor2D, pairScore: tf.zeros([5]) as tf.Tensor1D,
        batch: { batch, labels: tf.tensor2d(batch.labels, [5, 2]), position: tf.tensor1d(batch.position!, 'int32') },
      }).weights.dataSync());
    });
    w.forEach((x, i) => expect(x).toBeCloseTo(expected[i]!, 4));
    model.dispose();
  });

  it('self-normalises the weights to the incoming sum by default', () => {
    const model = modelWith({ name: 'debias-position', options: { estimator: 'regression' } });
    const stage = stageOf(model);
    tf.tidy(() => stage.positionTable!.table.assign(tf.tensor2d([[0.5], [0.25], [0.1], [0.1], [0.1]])));
    const batch = batchOf(model.data, 5, 6);
    (batch as { position: Int32Array }).position = Int32Array.from([0, 1, 2, 3, 4]);
    const w = tf.tidy(() => {
      const nuv = tf.tensor1d([1, 1, 0.5, 0, 0]);
      return Array.from(stage.weighting!.weigh({
        weights: nuv, nuv, q: tf.zeros([5, 8]) as tf.Tensor2D, pairScore: tf.zeros([5]) as tf.Tensor1D,
        batch: { batch, labels: tf.tensor2d(batch.labels, [5, 2]), position: tf.tensor1d(batch.position!, 'int32') },
      }).weights.dataSync());
    });
    expect(w.reduce((a, b) => a + b, 0)).toBeCloseTo(2.5, 4);
    expect(w[1]! / w[0]!).toBeCloseTo(2, 4);
    model.dispose();
  });

  it('rejects unknown options and position stages without positions', () => {
    expect(() => modelWith({ name: 'debias', options: { floors: 1 } })).toThrow(/unknown option/);
    expect(() => modelWith({ name: 'debias', options: { floor: 0 } })).toThrow(/floor/);
    const config = resolveConfig({ ...schema, numPositions: 0 }, { dim: 8, hidden: 16, stages: [{ name: 'debias-position' }] });
    expect(() => TwoTowerModel.create(config, data(), debiasStages)).toThrow(/position/);
    const userOnly = resolveConfig({ ...schema, numPositions: 0 }, { dim: 8, hidden: 16, stages: [{ name: 'debias-user' }] });
    TwoTowerModel.create(userOnly, data(), debiasStages).dispose();
  });

  it('diagnostics: position curve, propensity quantiles, JSON, SVG (regression estimator)', () => {
    const model = modelWith({ name: 'debias', options: { estimator: 'regression' } });
    const d = debiasDiagnostics(model);
    expect(d.positionCurve).toHaveLength(5);
    expect(d.userPropensity!.users).toBe(30);
    expect(d.userPropensity!.p50).toBeCloseTo(0.1, 5); // zero-initialised weights, bias = init
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
    const svg = renderSvgChart(d.positionCurve!, { title: 'position <curve>', xLabel: 'position' });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('&lt;curve&gt;');
    expect(svg).toContain('<polyline');
    const two = renderSvgChart([{ label: 'a', values: [1, 2, 3], lower: [0.5, 1, 2], upper: [2, 3, 4] }, { label: 'b', values: [3, 2, 1] }]);
    expect(two).toContain('<polygon');
    model.dispose();
  });

  it('renderSvgChart: tick values on both axes; a one-value series is a marked point with its value', () => {
    const svg = renderSvgChart([{ label: 'loss', values: [0.4231] }, { label: 'recall', values: [0.125] }], { xStart: 1, xLabel: 'epoch' });
    expect(svg).not.toContain('<polyline');
    expect(svg.match(/<circle [^>]*r="5"/g)).toHaveLength(2);
    expect(svg).toContain('>0.423</text>');
    expect(svg).toContain('>0.125</text>');
    // x: a tick mark with its label (epoch 1); y: five labelled ticks
    expect(svg).toMatch(/<line [^>]*y2="[\d.]+" stroke="#333"\/>\n<text [^>]*>1<\/text>/);
    expect((svg.match(/text-anchor="end" dominant-baseline="middle">/g) ?? []).length).toBe(5);
  });
});
