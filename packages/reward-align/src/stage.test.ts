import {
  ConfigError, ParameterStore, Rng, Trainer, TwoTowerModel, ValueError, initBackend, resolveConfig, tf,
  type Batch, type DatasetSchema, type LossArgs, type ModelData, type StageContext,
} from '@tt/core';
import { tinyBatch as sharedBatch, tinyData as sharedData } from '@tt/test-utils';
import { LinearProxy, resolveRewardAlignOptions, rewardAlign, rewardAlignWith, softmaxKl, TowerProxy, truthScorer, warmupWeight, type RewardAlignStage } from './index.js';

const schema: DatasetSchema = {
  numUsers: 50, numItems: 40, tasks: ['click', 'like'], userFeatureDim: 3, itemFeatureDim: 2,
  numPositions: 0, hasRankerScores: false, labelMax: [1, 1],
};

const tinyData = (seed = 1): ModelData => sharedData(schema, seed);
const tinyBatch = (data: ModelData, size: number, seed: number): Batch => sharedBatch(schema, data, size, seed, { historyLength: 0 });

/** A stage over its own parameter store, and loss arguments from free q / v variables. */
function standalone(options: Record<string, unknown>, B = 16, DI = 8, numPositions = 0) {
  const config = resolveConfig({ ...schema, numPositions }, { dim: DI, hidden: 16, valueWeights: [1, 0.5] });
  const params = new ParameterStore(new Rng(7));
  const ctx = { config, params, rng: new Rng(9) } as unknown as StageContext;
  const stage = rewardAlign.create(options, ctx) as RewardAlignStage;
  const rng = new Rng(3);
  const qVar = tf.variable(tf.tensor2d(Float32Array.from({ length: B * DI }, () => rng.normal()), [B, DI]));
  const vVar = tf.variable(tf.tensor2d(Float32Array.from({ length: B * DI }, () => rng.normal()), [B, DI]));
  const batch = tinyBatch(tinyData(), B, 5);
  const args = (): LossArgs => {
    const norm = (x: tf.Tensor2D) => tf.mul(x, tf.rsqrt(tf.sum(tf.square(x), 1, true))) as tf.Tensor2D;
    const q = norm(qVar);
    const v = norm(vVar);
    const logits = tf.mul(tf.matMul(q, v, false, true), 1 / config.temperature) as tf.Tensor2D;
    const labels = tf.tensor2d(batch.labels, [B, 2]);
    return { userInput: q, q, v, logits, weights: tf.ones([B]) as tf.Tensor1D, batch: { batch, labels } };
  };
  const dispose = () => {
    params.dispose();
    qVar.dispose();
    vVar.dispose();
  };
  return { stage, qVar, vVar, args, params, dispose };
}

beforeAll(async () => {
  await initBackend({ backend: 'cpu', log: false });
});

describe('softmaxKl', () => {
  it('is zero when the two distributions match (also up to a per-row shift, and with masked columns)', () => {
    const x = tf.tensor2d([[1, 2, 3, -1e9], [0.5, -2, 4, 1]]);
    const shifted = tf.add(x, tf.tensor2d([[5], [-3]]));
    expect(Math.abs(softmaxKl(x, x).dataSync()[0]!)).toBeLessThan(1e-6);
    expect(Math.abs(softmaxKl(x, shifted as tf.Tensor2D).dataSync()[0]!)).toBeLessThan(1e-5);
    const other = tf.tensor2d([[3, 2, 1, -1e9], [0, 0, 0, 0]]);
    expect(softmaxKl(x, other).dataSync()[0]!).toBeGreaterThan(0.1);
    tf.dispose([x, shifted, other]);
  });
});

describe('warm-up', () => {
  it('ramps the KL weight from 0 at step 0 to the full weight after warmupSteps', () => {
    expect(warmupWeight(0.5, 100, 0)).toBe(0);
    expect(warmupWeight(0.5, 100, 50)).toBeCloseTo(0.25);
    expect(warmupWeight(0.5, 100, 100)).toBe(0.5);
    expect(warmupWeight(0.5, 100, 1000)).toBe(0.5);
    expect(warmupWeight(0.5, 0, 0)).toBe(0.5);
  });

  it('counts its own steps: at step 0 the loss is the proxy BCE alone, the KL joins later', () => {
    const s = standalone({ warmupSteps: 4, weight: 1 });
    const noKl = standalone({ warmupSteps: 4, weight: 0 });
    const run = (x: typeof s) => tf.tidy(() => x.stage.batchLoss!.loss(x.args()).dataSync()[0]!);
    expect(s.stage.currentWeight()).toBe(0);
    expect(run(s)).toBeCloseTo(run(noKl), 6); // step 0: weight 0
    expect(s.stage.steps).toBe(1);
    expect(s.stage.currentWeight()).toBeCloseTo(0.25);
    for (let i = 0; i < 3; i++) run(s);
    expect(s.stage.currentWeight()).toBe(1);
    for (let i = 0; i < 3; i++) run(noKl);
    expect(run(s)).toBeGreaterThan(run(noKl) + 1e-4); // full weight: the KL adds to the BCE
    s.dispose();
    noKl.dispose();
  });

  it('saves its step count with an interrupted run and continues the ramp from it when resumed', () => {
    const s = standalone({ warmupSteps: 10, weight: 1 });
    const run = (x: typeof s) => tf.tidy(() => x.stage.batchLoss!.loss(x.args()).dataSync()[0]!);
    for (let i = 0; i < 3; i++) run(s);
    const saved = s.stage.trainingState!.save();
    expect(saved).toEqual({ step: 3 });
    const resumed = standalone({ warmupSteps: 10, weight: 1 });
    resumed.stage.trainingState!.restore(JSON.parse(JSON.stringify(saved)));
    expect(resumed.stage.steps).toBe(3);
    expect(resumed.stage.currentWeight()).toBeCloseTo(0.3);
    expect(() => resumed.stage.trainingState!.restore({ step: -1 })).toThrow(ValueError);
    s.dispose();
    resumed.dispose();
  });
});

describe('proxy on ranker scores', () => {
  it('fits only the scored entries: what an unscored row holds does not matter, none scored adds 0', () => {
    const s = standalone({ proxyTarget: 'ranker', weight: 0 });
    const B = 16;
    const loss = (scores: number[], mask: number[]) => tf.tidy(() => {
      const a = s.args();
      const batch = { ...a.batch, rankerScores: tf.tensor2d(scores, [B, 2]), rankerScoreMask: tf.tensor2d(mask, [B, 2]) };
      return s.stage.batchLoss!.loss({ ...a, batch }).dataSync()[0]!;
    });
    const scores = Array.from({ length: 2 * B }, (_, i) => (i % 7) / 7);
    const mask = Array.from({ length: 2 * B }, (_, i) => (Math.floor(i / 2) % 3 === 0 ? 0 : 1));
    const other = scores.map((x, i) => (mask[i] === 0 ? 1 - x : x));
    expect(loss(other, mask)).toBeCloseTo(loss(scores, mask), 6);
    expect(loss(scores, mask)).not.toBeCloseTo(loss(scores, mask.map(() => 1)), 3);
    expect(loss(scores, mask.map(() => 0))).toBe(0);
    s.dispose();
  });
});

describe('gradients', () => {
  it.each(['towers', 'linear'])('the KL term trains the towers, never the reward model (target stopped; %s proxy)', (proxyModel) => {
    const s = standalone({ warmupSteps: 0, weight: 1, proxyLossWeight: 0, proxyModel });
    const vars = s.stage.proxy!.variables;
    const { value, grads } = tf.variableGrads(() => s.stage.batchLoss!.loss(s.args()), [...vars, s.qVar, s.vVar]);
    expect(value.dataSync()[0]!).toBeGreaterThan(0);
    for (const v of vars) expect(Math.max(...Array.from(tf.abs(grads[v.name]!).dataSync()))).toBe(0);
    expect(Math.max(...Array.from(tf.abs(grads[s.qVar.name]!).dataSync()))).toBeGreaterThan(0);
    tf.dispose([value, ...Object.values(grads)]);
    s.dispose();
  });

  it('the gradient reaching q and v is that of KL(constant target || softmax(S))', () => {
    const opts = { warmupSteps: 0, weight: 1, proxyLossWeight: 0, standardize: false, tau: 0.05, proxyModel: 'linear' };
    const s = standalone(opts);
    const { grads } = tf.variableGrads(() => s.stage.batchLoss!.loss(s.args()), [s.qVar, s.vVar]);
    // the same target, computed outside the tape and passed in as a constant
    const s2 = standalone(opts);
    const target = tf.tidy(() => {
      const a = s2.args();
      const p = (s2.stage.proxy as LinearProxy).layer;
      const DI = 8;
      const B = 16;
      const w = [1, 0.5];
      let acc: tf.Tensor2D = tf.zeros([B, B]);
      for (let t = 0; t < 2; t++) {
        const wq = tf.slice(p.w, [0, t], [DI, 1]);
        const wv = tf.slice(p.w, [DI, t], [DI, 1]);
        const wd = tf.slice(p.w, [2 * DI, t], [1, 1]);
        const l = tf.add(tf.add(tf.add(tf.matMul(a.q, wq), tf.reshape(tf.matMul(a.v, wv), [1, B])), tf.mul(tf.matMul(a.q, a.v, false, true), wd)), tf.slice(p.b, [t], [1]));
        acc = tf.add(acc, tf.mul(tf.sigmoid(l), w[t]!)) as tf.Tensor2D;
      }
      return tf.div(acc, 0.05) as tf.Tensor2D;
    });
    const ref = tf.variableGrads(() => softmaxKl(target, s2.args().logits), [s2.qVar, s2.vVar]);
    for (const [a, b] of [[s.qVar, s2.qVar], [s.vVar, s2.vVar]] as const) {
      const ga = grads[a.name]!.dataSync();
      const gb = ref.grads[b.name]!.dataSync();
      for (let i = 0; i < ga.length; i++) expect(Math.abs(ga[i]! - gb[i]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(gb[i]!)));
    }
    tf.dispose([target, ref.value, ...Object.values(ref.grads), ...Object.values(grads)]);
    s.dispose();
    s2.dispose();
  });

  it.each(['towers', 'linear'])('training a model with only the KL term leaves the proxy weights unchanged (%s proxy)', (proxyModel) => {
    const s = standalone({ warmupSteps: 0, weight: 1, proxyLossWeight: 0, proxyModel });
    const vars = s.stage.proxy!.variables;
    const before = vars.map((v) => Array.from(v.dataSync()));
    const q0 = s.qVar.dataSync().slice();
    const optimizer = tf.train.sgd(0.5);
    for (let i = 0; i < 5; i++) {
      const cost = optimizer.minimize(() => s.stage.batchLoss!.loss(s.args()), true, [...vars, s.qVar, s.vVar]);
      cost?.dispose();
    }
    expect(vars.map((v) => Array.from(v.dataSync()))).toEqual(before);
    expect(Array.from(s.qVar.dataSync())).not.toEqual(Array.from(q0));
    optimizer.dispose();
    s.dispose();
  });

  it.each(['towers', 'linear'])('the proxy BCE trains the proxy and not the towers (%s proxy)', (proxyModel) => {
    const s = standalone({ warmupSteps: 1000, weight: 1, proxyModel }); // weight 0 at step 0: BCE only
    const vars = s.stage.proxy!.variables;
    const { grads } = tf.variableGrads(() => s.stage.batchLoss!.loss(s.args()), [...vars, s.qVar]);
    expect(Math.max(...vars.map((v) => Math.max(...Array.from(tf.abs(grads[v.name]!).dataSync()))))).toBeGreaterThan(0);
    const toTowers = grads[s.qVar.name]; // none at all when the proxy never reads q
    expect(toTowers ? Math.max(...Array.from(tf.abs(toTowers).dataSync())) : 0).toBe(0);
    tf.dispose(Object.values(grads));
    s.dispose();
  });

  it('the towers proxy learns the position effect in training only: its pair values do not depend on positions', () => {
    const s = standalone({ warmupSteps: 0, weight: 1, proxyLossWeight: 0 }, 16, 8, 4);
    const withPositions = (position: Int32Array) => {
      const [loss, values] = tf.tidy(() => {
        const a = s.args();
        const batch = { ...a.batch, batch: { ...a.batch.batch, position } };
        const r = (s.stage.proxy as TowerProxy).step({ ...a, batch }, a.batch.labels, undefined, true);
        return [r.loss, r.values!] as [tf.Scalar, tf.Tensor2D];
      });
      const out = { loss: loss.dataSync()[0]!, values: Array.from(values.dataSync()) };
      tf.dispose([loss, values]);
      return out;
    };
    // give the position term something to say
    tf.tidy(() => (s.stage.proxy as TowerProxy).positionBias!.table.assign(tf.tensor2d([2, 1, 0, 0, -1, -1, -2, -2], [4, 2])));
    const a = withPositions(new Int32Array(16));
    const b = withPositions(Int32Array.from({ length: 16 }, (_, i) => i % 4));
    const c = withPositions(Int32Array.from({ length: 16 }, () => 9)); // beyond the table: the last bucket
    expect(b.values).toEqual(a.values);
    expect(Math.abs(b.loss - a.loss)).toBeGreaterThan(1e-3);
    expect(c.loss).toBeCloseTo(withPositions(Int32Array.from({ length: 16 }, () => 3)).loss, 6);
    s.dispose();
  });
});

describe('logged weights', () => {
  it("weigh each scored row by the ranker's logged value over the batch's largest; unscored rows keep their label value", () => {
    const { stage } = standalone({});
    const B = 4;
    const batch = { ...sharedBatch(schema, sharedData(schema), B, 5, { historyLength: 0 }), rankerScores: Float32Array.of(0.8, 0.4, 0.2, 0.2, NaN, NaN, 0.1, 0) };
    // values 0.8 + 0.5 * 0.4 = 1.0, 0.2 + 0.1 = 0.3, unscored, 0.1 + 0 = 0.1 (w = [1, 0.5])
    const w = tf.tidy(() => {
      const labels = tf.tensor1d([0, 1, 0.7, 0]);
      return Array.from(stage.weighting!.weigh({
        weights: labels, nuv: labels, q: tf.zeros([B, 8]) as tf.Tensor2D, pairScore: tf.zeros([B]) as tf.Tensor1D,
        batch: { batch, labels: tf.tensor2d(batch.labels, [B, 2]) },
      }).weights.dataSync());
    });
    [1, 0.3, 0.7, 0.1].forEach((x, i) => expect(w[i]).toBeCloseTo(x, 6));
    expect(resolveRewardAlignOptions({ loggedWeights: false }).loggedWeights).toBe(false);
    // so per-user id dropout counts a user's scored rows too (fitTwoTower reads this)
    expect(stage.trainsOnScoredRows).toBe(true);
    const off = standalone({ loggedWeights: false, weight: 0 });
    expect(off.stage.trainsOnScoredRows).toBe(false);
    off.dispose();
  });

  it('say when the log had no ranker scores to align with (the proxy then fits the labels)', () => {
    const unscored = standalone({});
    expect(unscored.stage.notes!()).toEqual([expect.stringMatching(/no ranker scores .*proxy fitted to the labels/)]);
    unscored.dispose();
    const config = resolveConfig({ ...schema, hasRankerScores: true }, { dim: 8, hidden: 16 });
    const params = new ParameterStore(new Rng(7));
    const scored = rewardAlign.create({}, { config, params, rng: new Rng(9) } as unknown as StageContext) as RewardAlignStage;
    expect(scored.notes!()).toEqual([]);
    params.dispose();
  });

  it('give a batch without any clicked row a softmax term (its rows have logged value)', () => {
    const config = resolveConfig({ ...schema, hasRankerScores: true }, { dim: 8, hidden: 16, seed: 3, historyPooling: 0, stages: [{ name: 'reward-align', options: { weight: 0 } }] });
    const model = TwoTowerModel.create(config, sharedData(schema), [rewardAlign]);
    const batch = { ...sharedBatch(schema, sharedData(schema), 16, 9, { historyLength: 0, zero: true, rankerScores: true }) };
    const terms = tf.tidy(() => [...model.loss(batch).terms.keys()]);
    expect(terms).toContain('softmax');
    model.dispose();
  });
});

describe('in a model', () => {
  function trainSteps(definitions: Parameters<typeof TwoTowerModel.create>[2], options: Record<string, unknown>, steps: number) {
    const data = tinyData();
    const config = resolveConfig(schema, { dim: 8, hidden: 16, seed: 3, historyPooling: 0, stages: [{ name: 'reward-align', options }] });
    const model = TwoTowerModel.create(config, data, definitions);
    const trainer = new Trainer(model, { epochs: 1, learningRate: 1e-2, progress: 'none' });
    const counts: number[] = [];
    const losses: number[] = [];
    for (let i = 0; i < steps; i++) {
      const { loss, terms } = trainer.step(tinyBatch(data, 32, 100 + i));
      losses.push(loss);
      expect(terms['reward-align.batch']).toBeDefined();
      counts.push(tf.memory().numTensors);
    }
    trainer.dispose();
    model.dispose();
    return { counts, losses };
  }

  it.each(['towers', 'linear'])('trains with the %s proxy without leaking tensors over steps', (proxyModel) => {
    const { counts, losses } = trainSteps([rewardAlign], { warmupSteps: 3, weight: 1, proxyModel }, 8);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(counts[7]).toBe(counts[2]);
  });

  it('trains with a frozen scorer without leaking tensors, and names its parameters', () => {
    const truth = { valueOfAllItems: (u: number) => Float32Array.from({ length: schema.numItems }, (_, i) => ((u * 7) % schema.numItems === i ? 1 : 0.1)) };
    const { counts, losses } = trainSteps([rewardAlignWith(truthScorer(truth))], { reward: 'frozen', warmupSteps: 2 }, 6);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(counts[5]).toBe(counts[2]);
    const model = TwoTowerModel.create(resolveConfig(schema, { dim: 8, historyPooling: 0, stages: [{ name: 'reward-align' }] }), tinyData(), [rewardAlign]);
    expect([...model.params.dense.keys()]).toEqual(expect.arrayContaining(['stages.reward-align.proxy.bias', 'stages.reward-align.proxy.userFeatures.w', 'stages.reward-align.proxy.itemFeatures.w']));
    expect([...model.params.embeddings.keys()]).toEqual(expect.arrayContaining(['stages.reward-align.proxy.user', 'stages.reward-align.proxy.item', 'stages.reward-align.proxy.itemBias']));
    model.dispose();
    const linear = TwoTowerModel.create(resolveConfig(schema, { dim: 8, historyPooling: 0, stages: [{ name: 'reward-align', options: { proxyModel: 'linear' } }] }), tinyData(), [rewardAlign]);
    expect([...linear.params.dense.keys()]).toEqual(expect.arrayContaining(['stages.reward-align.proxy.w', 'stages.reward-align.proxy.b']));
    linear.dispose();
  });

  it('truthScorer gives V(u, i) row-major', () => {
    const truth = { valueOfAllItems: (u: number) => Float32Array.from({ length: 5 }, (_, i) => u * 10 + i) };
    expect(Array.from(truthScorer(truth)(Int32Array.of(1, 2), Int32Array.of(0, 4)))).toEqual([10, 14, 20, 24]);
  });

  it('rejects bad options, and a frozen reward without its scorer when it is needed', () => {
    const create = (o: Record<string, unknown>) => standalone(o).dispose();
    expect(() => create({ tau: 0 })).toThrow(ConfigError);
    expect(() => create({ weight: -1 })).toThrow(ConfigError);
    expect(() => create({ reward: 'ranker' })).toThrow(ConfigError);
    expect(() => create({ bogus: 1 })).toThrow(ConfigError);
    expect(() => create({ proxyTarget: 'clicks' })).toThrow(ConfigError);
    expect(() => create({ proxyModel: 'mlp' })).toThrow(ConfigError);
    expect(() => create({ proxyDim: 0 })).toThrow(ConfigError);
    const r = standalone({ proxyTarget: 'ranker' });
    expect(() => tf.tidy(() => r.stage.batchLoss!.loss(r.args()))).toThrow(/rankerScores/);
    r.dispose();
    const s = standalone({ reward: 'frozen', warmupSteps: 0 });
    expect(s.stage.proxy).toBeUndefined();
    expect(() => tf.tidy(() => s.stage.batchLoss!.loss(s.args()))).toThrow(/scor/);
    s.dispose();
  });
});
