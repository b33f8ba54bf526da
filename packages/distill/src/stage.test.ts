import {
  ConfigError, Trainer, TwoTowerModel, initBackend, inMemorySource, resolveConfig, syntheticWorld, tf,
  type Batch, type InteractionDataset, type LossArgs, type StageConfig, MODEL_DEFAULTS } from '@tt/core';
import { lightRanker, type LightRanker } from '@tt/light-ranker';
import { distill, Distill, softLabelBce, teacherAgreement } from './index.js';

// a small seeded world whose log carries the ranker's scores (EVAL.md section 2)
const world: InteractionDataset = syntheticWorld({ seed: 3, numUsers: 60, numItems: 40, impressions: 1500, latentDim: 4, userFeatureDim: 3, itemFeatureDim: 2, validation: true });

function model(options: Record<string, unknown> = {}, data: InteractionDataset = world, stages?: StageConfig[]): TwoTowerModel {
  const config = resolveConfig(data.schema, {
    dim: 8, hidden: 16, seed: 1, valueWeights: Array.from(data.valueWeights),
    stages: stages ?? [{ name: 'light-ranker' }, { name: 'distill', options }],
  });
  return TwoTowerModel.create(config, data, [lightRanker, distill]);
}

function batches(size: number, count: number, data: InteractionDataset = world, wholeRequests = false): Batch[] {
  const out: Batch[] = [];
  for (const b of inMemorySource(data, { batchSize: size, seed: 0, dropLast: true, wholeRequests, historyLength: MODEL_DEFAULTS.historyPooling }).batches(0) as Iterable<Batch>) {
    if (out.length === count) break;
    out.push(b);
  }
  return out;
}

/** The batch's rows `rows`, every column cut alike. */
function rowsOf(b: Batch, rows: number[], T: number): Batch {
  const cut = <A extends Float32Array | Int32Array>(a: A, width: number): A => {
    const out = new (a.constructor as new (n: number) => A)(rows.length * width);
    rows.forEach((r, j) => out.set(a.subarray(r * width, (r + 1) * width), j * width));
    return out;
  };
  return {
    ...b, size: rows.length, user: cut(b.user, 1), item: cut(b.item, 1), labels: cut(b.labels, T), position: b.position && cut(b.position, 1),
    rankerScores: b.rankerScores && cut(b.rankerScores, T), userFeatures: cut(b.userFeatures, world.schema.userFeatureDim), itemFeatures: cut(b.itemFeatures, world.schema.itemFeatureDim),
    history: b.history && cut(b.history, b.historyLength),
  };
}

const stageOf = (m: TwoTowerModel) => m.stages.find((s): s is Distill => s instanceof Distill)!;
const bce = (z: number, y: number) => Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const logit = (p: number) => Math.log(p / (1 - p));

/** The loss terms of one batch. */
function terms(m: TwoTowerModel, batch: Batch): Map<string, number> {
  const out = new Map<string, number>();
  tf.tidy(() => {
    for (const [k, v] of m.loss(batch).terms) out.set(k, v.dataSync()[0]!);
  });
  return out;
}

/** LossArgs of a batch, as the model builds them. Call inside `tf.tidy`. */
function lossArgs(m: TwoTowerModel, batch: Batch, scores: Float32Array): LossArgs {
  const x = m.userTowerInput(batch, false);
  const q = m.queryFromInput(x);
  const v = m.itemEmbeddings(batch.item);
  const B = batch.size;
  const T = world.schema.tasks.length;
  const mask = Float32Array.from(scores, (s) => (Number.isNaN(s) ? 0 : 1));
  return {
    userInput: x, q, v, logits: tf.matMul(q, v, false, true), weights: tf.ones([B]),
    batch: {
      batch: { ...batch, rankerScores: scores }, labels: tf.tensor2d(batch.labels, [B, T]),
      rankerScores: tf.tensor2d(Float32Array.from(scores, (s) => (Number.isNaN(s) ? 0 : s)), [B, T]), rankerScoreMask: tf.tensor2d(mask, [B, T]),
    },
  };
}

beforeAll(async () => {
  await initBackend({ backend: 'cpu', log: false });
});

describe('soft-label loss', () => {
  it('equals a hand computation: plain BCE against the probabilities at T = 1, T^2 * BCE(z / T, sigmoid(logit(p) / T)) at T = 2', () => {
    const z = [[1.5, -0.5], [0.2, 3]];
    const p = [[0.9, 0.2], [0.5, 0.7]];
    for (const T of [1, 2]) {
      const got = tf.tidy(() => softLabelBce(tf.tensor2d(z), tf.tensor2d(p), T).arraySync());
      z.forEach((row, i) => row.forEach((zi, j) => {
        const want = T * T * bce(zi / T, sigmoid(logit(p[i]![j]!) / T));
        expect(got[i]![j]).toBeCloseTo(want, 5);
      }));
    }
  });

  it('the stage loss is the mean over the logged entries of the distilled logits (task logits by default)', () => {
    const m = model({ listwiseWeight: 0 });
    const stage = stageOf(m);
    const [batch] = batches(8, 1);
    const scores = Float32Array.from(batch!.rankerScores!);
    const T = world.schema.tasks.length;
    // rows 1 and 4 were not scored; row 6 only for its second task
    scores.fill(NaN, 1 * T, 2 * T);
    scores.fill(NaN, 4 * T, 5 * T);
    scores[6 * T] = NaN;
    tf.tidy(() => {
      const args = lossArgs(m, batch!, scores);
      const logits = stage.rowLogits(args, batch!.item).arraySync();
      const direct = tf.squeeze(stage.lightRanker.logits(stage.lightRanker.rowFeatures(args, batch!.item)), [1]).arraySync() as number[][];
      let sum = 0;
      let n = 0;
      for (let r = 0; r < 8; r++) {
        for (let t = 0; t < T; t++) {
          expect(logits[r]![t]).toBeCloseTo(direct[r]![t]!, 6);
          if (Number.isNaN(scores[r * T + t]!)) continue;
          sum += bce(logits[r]![t]!, scores[r * T + t]!);
          n++;
        }
      }
      const loss = stage.auxiliaryHead.loss(args).dataSync()[0]!;
      expect(Number.isFinite(loss)).toBe(true);
      expect(loss).toBeCloseTo(sum / n, 5);
    });
    m.dispose();
  });
});

describe('missing ranker scores', () => {
  const partial = syntheticWorld({ seed: 3, numUsers: 60, numItems: 40, impressions: 1500, latentDim: 4, userFeatureDim: 3, itemFeatureDim: 2, rankerCoverage: 0.5 });

  it('rows without scores are skipped: the term equals that over the scored rows alone, a batch of none gives 0 and no NaN', () => {
    const m = model({ listwiseWeight: 0 }, partial);
    const [batch] = batches(64, 1, partial);
    const T = partial.schema.tasks.length;
    const unscored = Array.from({ length: 64 }, (_, r) => r).filter((r) => Number.isNaN(batch!.rankerScores![r * T]!));
    expect(unscored.length).toBeGreaterThan(10);
    expect(unscored.length).toBeLessThan(54);
    const all = terms(m, batch!).get('distill.head')!;
    expect(Number.isFinite(all)).toBe(true);
    // the term is pointwise: the same as over a batch of the scored rows alone
    const scored = Array.from({ length: 64 }, (_, r) => r).filter((r) => !unscored.includes(r));
    expect(terms(m, rowsOf(batch!, scored, T)).get('distill.head')).toBeCloseTo(all, 5);
    const none = { ...batch!, rankerScores: new Float32Array(64 * T).fill(NaN) };
    const t = terms(m, none);
    expect(t.get('distill.head')).toBe(0);
    expect([...t.values()].every(Number.isFinite)).toBe(true);
    m.dispose();
    // the listwise term too: no scored request, nothing added
    const listwise = model({ alpha: 0 }, partial);
    expect(terms(listwise, none).get('distill.head')).toBe(0);
    listwise.dispose();
  });

  it('alpha weighs soft against hard labels: scored entries lose 1 - alpha of their label BCE, unscored ones keep all of it', () => {
    const [batch] = batches(64, 1, partial);
    const T = partial.schema.tasks.length;
    // the same ranker without distillation (same seed, same parameters): its logits, entry by entry
    // (the ranker's own listwise term off: this test reads its label BCE alone)
    const plain = model({}, partial, [{ name: 'light-ranker', options: { listwiseWeight: 0 } }]);
    const ranker = plain.stages[0] as LightRanker;
    const logits = tf.tidy(() => tf.squeeze(ranker.logits(ranker.rowFeatures(lossArgs(plain, batch!, batch!.rankerScores!), batch!.item)), [1]).arraySync() as number[][]);
    const perEntry = logits.map((row, r) => row.map((z, t) => bce(z, Math.min(1, batch!.labels[r * T + t]!))));
    for (const alpha of [1, 0.25]) {
      const m = model({ alpha }, partial, [{ name: 'light-ranker', options: { listwiseWeight: 0 } }, { name: 'distill', options: { alpha } }]);
      let want = 0;
      perEntry.forEach((row, r) => row.forEach((b, t) => { want += (Number.isNaN(batch!.rankerScores![r * T + t]!) ? 1 : 1 - alpha) * b; }));
      expect(terms(m, batch!).get('light-ranker.head')).toBeCloseTo(want / (64 * T), 5);
      m.dispose();
    }
    plain.dispose();
  });

  it('trains on a log the ranker scored only in part, with finite losses', async () => {
    const m = model({}, partial);
    const trainer = new Trainer(m, { epochs: 1, learningRate: 1e-2, progress: 'none' });
    for (const b of batches(64, 10, partial)) {
      const out = trainer.step(b);
      expect(Object.values(out.terms).every(Number.isFinite)).toBe(true);
    }
    trainer.dispose();
    m.dispose();
  });
});

describe('training', () => {
  function grads(m: TwoTowerModel, batch: Batch, names: string[]): Map<string, number> {
    const vars = names.map((n) => m.params.dense.get(n)!);
    const { value, grads: g } = tf.variableGrads(() => m.loss(batch).terms.get('distill.head')!, vars);
    const out = new Map(names.map((n, i) => [n, g[vars[i]!.name] ? Math.max(...Array.from(tf.abs(g[vars[i]!.name]!).dataSync())) : 0]));
    value.dispose();
    tf.dispose(Object.values(g));
    return out;
  }

  it('the pointwise term trains the light ranker (task logits) or its own head (auxiliary), not retrieval', () => {
    const [batch] = batches(32, 1);
    const task = model({ listwiseWeight: 0 });
    const g = grads(task, batch!, ['stages.light-ranker.head.w', 'stages.light-ranker.user.0.w', 'user.projection.w']);
    expect(g.get('stages.light-ranker.head.w')).toBeGreaterThan(0);
    expect(g.get('stages.light-ranker.user.0.w')).toBeGreaterThan(0);
    expect(g.get('user.projection.w')).toBe(0);
    task.dispose();
    const aux = model({ logits: 'auxiliary', listwiseWeight: 0 });
    const ga = grads(aux, batch!, ['stages.distill.head.w', 'stages.light-ranker.head.w', 'stages.light-ranker.user.0.w']);
    expect(ga.get('stages.distill.head.w')).toBeGreaterThan(0);
    expect(ga.get('stages.light-ranker.head.w')).toBe(0); // the serving head learns from the labels only
    expect(ga.get('stages.light-ranker.user.0.w')).toBeGreaterThan(0); // shared user embeddings
    aux.dispose();
  });

  it('the listwise term reaches retrieval, and training batches then keep requests whole', () => {
    const m = model();
    expect(stageOf(m).needsWholeRequests).toBe(true); // listwise is on by default
    expect(stageOf(m).trainsOnScoredRows).toBe(true); // the listwise term trains the query on them: per-user id dropout counts them
    const pointwise = model({ listwiseWeight: 0 });
    expect(stageOf(pointwise).needsWholeRequests).toBe(false);
    expect(stageOf(pointwise).trainsOnScoredRows).toBe(false);
    pointwise.dispose();
    const [batch] = batches(64, 1, world, true);
    expect(grads(m, batch!, ['user.projection.w']).get('user.projection.w')).toBeGreaterThan(0);
    m.dispose();
  });

  it('lowers its loss over training steps and leaks no tensors (pointwise and listwise)', () => {
    const m = model({ listwiseWeight: 0.5 });
    const trainer = new Trainer(m, { epochs: 1, learningRate: 1e-2, progress: 'none' });
    const all = batches(64, 15, world, true);
    const kd: number[] = [];
    const counts: number[] = [];
    for (let epoch = 0; epoch < 4; epoch++) {
      let sum = 0;
      for (const b of all) {
        sum += trainer.step(b).terms['distill.head']!;
        counts.push(tf.memory().numTensors);
      }
      kd.push(sum / all.length);
    }
    expect(kd[3]).toBeLessThan(kd[0]! - 0.01);
    expect(new Set(counts.slice(2)).size).toBe(1);
    trainer.dispose();
    m.dispose();
  });
});

describe('listwise distillation', () => {
  it.each([false, true])('is KL(softmax(value / tau) || softmax(q . v / temperature)) over each request, averaged over its rows (values z-scored per request: %s)', (standardize) => {
    const m = model({ alpha: 0, listwiseWeight: 1, listwiseTemperature: 0.2, listwiseStandardize: standardize });
    const stage = stageOf(m);
    const [batch0] = batches(64, 1);
    const B = 5;
    const T = world.schema.tasks.length;
    const pick = <A extends Int32Array | Float32Array>(a: A, width: number): A => a.slice(0, B * width) as A;
    const batch: Batch = {
      ...batch0!, size: B, user: Int32Array.of(3, 3, 3, 8, 8), item: Int32Array.of(1, 2, 5, 7, 9),
      userFeatures: pick(batch0!.userFeatures, world.schema.userFeatureDim), itemFeatures: pick(batch0!.itemFeatures, world.schema.itemFeatureDim),
      labels: pick(batch0!.labels, T), position: pick(batch0!.position!, 1), rankerScores: Float32Array.of(0.9, 0.5, 0.2, 0.1, 0.6, 0.3, 0.4, 0.4, 0.7, 0.2),
      history: pick(batch0!.history!, batch0!.historyLength),
    };
    tf.tidy(() => {
      const args = lossArgs(m, batch, batch.rankerScores!);
      const s = tf.matMul(args.q, args.v, false, true).arraySync() as number[][];
      const w = m.config.valueWeights;
      const raw = Array.from({ length: B }, (_, r) => w[0]! * batch.rankerScores![r * T]! + w[1]! * batch.rankerScores![r * T + 1]!);
      const z = (members: number[]) => {
        const mean = members.reduce((a, c) => a + raw[c]!, 0) / members.length;
        const sd = Math.sqrt(members.reduce((a, c) => a + (raw[c]! - mean) ** 2, 0) / members.length);
        return members.map((c) => (standardize ? (raw[c]! - mean) / sd : raw[c]!) / 0.2);
      };
      const kl = (r: number, members: number[]) => {
        const p = softmax(z(members));
        const lq = logSoftmax(members.map((c) => s[r]![c]! / m.config.temperature));
        return p.reduce((acc, pj, j) => acc + pj * (Math.log(pj) - lq[j]!), 0);
      };
      const want = ([0, 1, 2].reduce((a, r) => a + kl(r, [0, 1, 2]), 0) + [3, 4].reduce((a, r) => a + kl(r, [3, 4]), 0)) / 5;
      expect(stage.auxiliaryHead.loss(args).dataSync()[0]).toBeCloseTo(want, 4);
    });
    m.dispose();
  });

  function softmax(xs: number[]): number[] {
    const mx = Math.max(...xs);
    const e = xs.map((x) => Math.exp(x - mx));
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / z);
  }
  function logSoftmax(xs: number[]): number[] {
    return softmax(xs).map(Math.log);
  }
});

describe('composition and options', () => {
  it('needs the light ranker and logged scores; bad options are ConfigErrors naming the field', () => {
    expect(() => model({}, world, [{ name: 'distill' }])).toThrow(/add the light-ranker stage/);
    const unscored = { ...world, schema: { ...world.schema, hasRankerScores: false } };
    expect(() => model({}, unscored)).toThrow(ConfigError);
    expect(() => model({}, unscored)).toThrow(/stages\.distill.*no logged ranker scores/);
    for (const [options, field] of [
      [{ temperature: 0 }, 'stages.distill.temperature'],
      [{ alpha: 1.5 }, 'stages.distill.alpha'],
      [{ logits: 'both' }, 'stages.distill.logits'],
      [{ listwiseTemperature: -0.1 }, 'stages.distill.listwiseTemperature'],
      [{ teacher: 1 }, 'stages.distill.teacher'],
    ] as const) {
      let error: unknown;
      try {
        model(options as Record<string, unknown>);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).field).toBe(field);
    }
  });

  it('teacher agreement: per-task correlation of the distilled logits with the logged scores on held-out rows', async () => {
    const m = model();
    const trainer = new Trainer(m, { epochs: 3, learningRate: 1e-2, progress: 'none' });
    await trainer.fit(inMemorySource(world, { batchSize: 64, seed: 0, historyLength: m.historyLength }));
    trainer.dispose();
    const a = teacherAgreement(m, world);
    expect(Object.keys(a.correlation)).toEqual(world.schema.tasks);
    expect(a.rows).toBe(world.test.size);
    for (const c of Object.values(a.correlation)) expect(c).toBeGreaterThan(0.2);
    const v = teacherAgreement(m, world, 'validation');
    expect(v.rows).toBe(world.validation!.size);
    m.dispose();
  });
});
