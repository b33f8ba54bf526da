import {
  CatalogueScorer, ConfigError, Retriever, Trainer, TwoTowerModel, initBackend, inMemorySource, loadCheckpoint, resolveConfig, saveCheckpoint,
  gatherRows, seenItemsByUser, syntheticWorld, tf, topKExcluding, type Batch, type InteractionDataset, MODEL_DEFAULTS } from '@tt/core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lightRanker, LightRanker } from './index.js';

// a small seeded world: 60 users, 40 items, impressions with labels (EVAL.md section 2)
const world: InteractionDataset = syntheticWorld({ seed: 3, numUsers: 60, numItems: 40, impressions: 1500, latentDim: 4, userFeatureDim: 3, itemFeatureDim: 2 });

function model(options: Record<string, unknown> = {}, extra: { dim?: number } = {}): TwoTowerModel {
  const config = resolveConfig(world.schema, {
    // the ranker does not depend on the user tower's history pooling: these tests leave it out
    dim: extra.dim ?? 8, hidden: 16, seed: 1, valueWeights: Array.from(world.valueWeights), historyPooling: 0, stages: [{ name: 'light-ranker', options }],
  });
  return TwoTowerModel.create(config, world, [lightRanker]);
}

function batches(size: number, count: number): Batch[] {
  const out: Batch[] = [];
  for (const b of inMemorySource(world, { batchSize: size, seed: 0, dropLast: true, historyLength: MODEL_DEFAULTS.historyPooling }).batches(0) as Iterable<Batch>) {
    if (out.length === count) break;
    out.push(b);
  }
  return out;
}

const ranker = (m: TwoTowerModel) => m.stages[0] as LightRanker;
const maxAbs = (t: tf.Tensor | undefined) => (t ? Math.max(...Array.from(tf.abs(t).dataSync())) : 0);

beforeAll(async () => {
  await initBackend({ backend: 'cpu', log: false });
});

describe('shapes', () => {
  it('training rows are candidate sets of one: z [B, 1, 2 DI + NU + 1 + DE], logits [B, 1, T]', () => {
    const m = model({ numUserEmbeddings: 3, itemDim: 16 });
    const r = ranker(m);
    const [batch] = batches(16, 1);
    tf.tidy(() => {
      const x = m.userTowerInput(batch!, false);
      const q = m.queryFromInput(x);
      const v = m.itemEmbeddings(batch!.item);
      const z = r.rowFeatures({ userInput: x, q, v }, batch!.item);
      expect(z.shape).toEqual([16, 1, 2 * 8 + 3 + 1 + 16]);
      expect(r.logits(z).shape).toEqual([16, 1, 2]);
      expect(r.value(r.logits(z)).shape).toEqual([16, 1]);
    });
    m.dispose();
  });

  it('NI > 1: A [n, NI, NU], value [n, NI], and each candidate scored as if alone', () => {
    const m = model({ numUserEmbeddings: 2, itemDim: 16 });
    const r = ranker(m);
    const users = Int32Array.of(0, 5, 9);
    const items = Int32Array.of(1, 2, 3, 4, 5, 6, 7);
    tf.tidy(() => {
      const x = m.userTowerInput(m.userInputOf(users), false);
      const q = m.queryFromInput(x);
      const v = m.itemEmbeddings(items); // [7, DI]
      const V = tf.stack([v, v, v]) as tf.Tensor3D; // [3, 7, DI]
      const s = tf.matMul(q, v, false, true) as tf.Tensor2D; // [3, 7]
      const z = r.features(r.userEmbeddings(x), V, s, Int32Array.from({ length: 21 }, (_, k) => items[k % 7]!));
      expect(z.shape).toEqual([3, 7, 2 * 8 + 2 + 1 + 16]);
      const values = r.value(r.logits(z));
      expect(values.shape).toEqual([3, 7]);
      // the pointwise ranker: candidate j of user i scores the same as the pair (i, j) with NI = 1
      const x1 = tf.gather(x, Int32Array.from({ length: 21 }, (_, k) => Math.floor(k / 7))) as tf.Tensor2D;
      const q1 = tf.gather(q, Int32Array.from({ length: 21 }, (_, k) => Math.floor(k / 7))) as tf.Tensor2D;
      const v1 = tf.tile(v, [3, 1]) as tf.Tensor2D;
      const single = r.value(r.logits(r.rowFeatures({ userInput: x1, q: q1, v: v1 }, Int32Array.from({ length: 21 }, (_, k) => items[k % 7]!))));
      const a = values.dataSync();
      const b = single.dataSync();
      for (let k = 0; k < 21; k++) expect(a[k]).toBeCloseTo(b[k]!, 5);
    });
    m.dispose();
  });
});

describe('training', () => {
  /** Gradients of a loss term w.r.t. named dense parameters. */
  function grads(m: TwoTowerModel, term: string | undefined, names: string[]): Map<string, number> {
    const [batch] = batches(32, 1);
    const vars = names.map((n) => m.params.dense.get(n)!);
    const { value, grads: g } = tf.variableGrads(() => {
      const { total, terms } = m.loss(batch!);
      return term ? terms.get(term)! : total;
    }, vars);
    const out = new Map(names.map((n, i) => [n, maxAbs(g[vars[i]!.name])]));
    value.dispose();
    tf.dispose(Object.values(g));
    return out;
  }
  const retrieval = 'user.projection.w';
  const head = 'stages.light-ranker.head.w';
  const userTower = 'stages.light-ranker.user.0.w';

  it('the total loss reaches both heads: retrieval and the ranker', () => {
    const m = model();
    const g = grads(m, undefined, [retrieval, head, userTower]);
    expect(g.get(retrieval)).toBeGreaterThan(0);
    expect(g.get(head)).toBeGreaterThan(0);
    expect(g.get(userTower)).toBeGreaterThan(0);
    m.dispose();
  });

  it("the BCE trains the ranker's own item table, on the batch's items only", () => {
    const m = model({ itemDim: 16 });
    const table = m.params.embeddings.get('stages.light-ranker.item')!;
    expect([table.rows, table.dim]).toEqual([m.config.itemRows, 16]);
    const [batch] = batches(32, 1);
    table.grads.recording = true;
    const { value, grads: g } = tf.variableGrads(() => m.loss(batch!).terms.get('light-ranker.head')!, [table.anchor]);
    table.grads.recording = false;
    const { rows, grads: rowGrads } = table.grads.touched;
    expect([...rows].sort((a, b) => a - b)).toEqual([...new Set(batch!.item)].sort((a, b) => a - b));
    expect(maxAbs(tf.tensor1d(rowGrads.subarray(0, rows.length * 16)))).toBeGreaterThan(0);
    table.grads.clear();
    value.dispose();
    tf.dispose(Object.values(g));
    m.dispose();
  });

  it('features() checks that there is one item index per candidate', () => {
    const m = model();
    const r = ranker(m);
    tf.tidy(() => {
      const x = m.userTowerInput(m.userInputOf(Int32Array.of(0, 1)), false);
      const V = tf.zeros([2, 3, 8]) as tf.Tensor3D;
      expect(() => r.features(r.userEmbeddings(x), V, tf.zeros([2, 3]) as tf.Tensor2D, Int32Array.of(1, 2, 3))).toThrow(/items.*2 x 3/);
    });
    m.dispose();
  });

  it('the BCE trains the towers only with detachRetrieval: false (joint training)', () => {
    const detached = model();
    expect(grads(detached, 'light-ranker.head', [retrieval]).get(retrieval)).toBe(0);
    detached.dispose();
    const joint = model({ detachRetrieval: false });
    expect(grads(joint, 'light-ranker.head', [retrieval]).get(retrieval)).toBeGreaterThan(0);
    joint.dispose();
  });

  it('refits on the final towers when detached (its loss leaves them alone), not when joint', () => {
    const detached = model();
    expect(ranker(detached).refitsOnFinalTowers).toBe(true);
    detached.dispose();
    const joint = model({ detachRetrieval: false });
    expect(ranker(joint).refitsOnFinalTowers).toBe(false);
    joint.dispose();
  });

  it('lowers its BCE over training steps and leaks no tensors', () => {
    const m = model();
    const trainer = new Trainer(m, { epochs: 1, learningRate: 1e-2, progress: 'none' });
    const all = batches(64, 20);
    const bce: number[] = [];
    const counts: number[] = [];
    for (let epoch = 0; epoch < 4; epoch++) {
      let sum = 0;
      for (const b of all) {
        sum += trainer.step(b).terms['light-ranker.head']!;
        counts.push(tf.memory().numTensors);
      }
      bce.push(sum / all.length);
    }
    expect(bce[3]).toBeLessThan(bce[0]! - 0.02);
    expect(new Set(counts.slice(2)).size).toBe(1);
    trainer.dispose();
    m.dispose();
  });

  it('has a configurable NU, hidden width and loss weight; bad options are ConfigErrors naming the field', () => {
    const m = model({ numUserEmbeddings: 5, hidden: 0, lossWeight: 0.5, itemDim: 16 });
    expect(m.params.dense.get('stages.light-ranker.user.0.w')!.shape[1]).toBe(5 * 8);
    expect(m.params.dense.has('stages.light-ranker.user.1.w')).toBe(false);
    expect(m.params.dense.get(head)!.shape).toEqual([2 * 8 + 5 + 1 + 16, 2]);
    m.dispose();
    const noTable = model({ itemDim: 0 });
    expect(noTable.params.dense.get(head)!.shape).toEqual([2 * 8 + 4 + 1, 2]);
    expect(noTable.params.embeddings.has('stages.light-ranker.item')).toBe(false);
    noTable.dispose();
    for (const [options, field] of [
      [{ itemDim: -1 }, 'stages.light-ranker.itemDim'],
      [{ numCandidates: 0 }, 'stages.light-ranker.numCandidates'],
      [{ numUserEmbeddings: 1.5 }, 'stages.light-ranker.numUserEmbeddings'],
      [{ retrievalWeight: -1 }, 'stages.light-ranker.retrievalWeight'],
      [{ listwiseWeight: -0.5 }, 'stages.light-ranker.listwiseWeight'],
      [{ detachRetrieval: 'yes' }, 'stages.light-ranker.detachRetrieval'],
      [{ ni: 200 }, 'stages.light-ranker.ni'],
    ] as const) {
      let error: unknown;
      try {
        model(options as Record<string, unknown>).dispose();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).field).toBe(field);
    }
  });
});

describe('listwise term over logged requests', () => {
  it('is -sum y_r log softmax_request(log value)_r / sum y_r by hand, keeps requests whole, and reaches the ranker only', () => {
    const plain = model({ listwiseWeight: 0 });
    const m = model({ listwiseWeight: 1 });
    expect(ranker(plain).needsWholeRequests).toBe(false);
    expect(ranker(m).needsWholeRequests).toBe(true);
    const [batch0] = batches(64, 1);
    // rows 0-2: one request of user 3 (labels 1/0, 0/0, 1/1); rows 3-4: user 8 with no positive; row 5: alone
    const B = 6;
    const T = 2;
    const pick = <A extends Int32Array | Float32Array>(a: A, width: number): A => a.slice(0, B * width) as A;
    const user = Int32Array.of(3, 3, 3, 8, 8, 5);
    const item = Int32Array.of(1, 2, 5, 7, 9, 4);
    const batch: Batch = {
      ...batch0!, size: B, user, item,
      userFeatures: gatherRows(world.userFeatures, world.schema.userFeatureDim, user), itemFeatures: gatherRows(world.itemFeatures, world.schema.itemFeatureDim, item),
      labels: Float32Array.of(1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1), position: pick(batch0!.position!, 1), rankerScores: pick(batch0!.rankerScores!, T),
    };
    const terms = (x: TwoTowerModel) => {
      const out = new Map<string, number>();
      tf.tidy(() => {
        for (const [k, v] of x.loss(batch).terms) out.set(k, v.dataSync()[0]!);
      });
      return out;
    };
    // the pointwise part is the plain model's (same seed, same parameters)
    const values = tf.tidy(() => {
      const x = plain.userTowerInput(batch, false);
      const r = ranker(plain);
      return Array.from(r.value(r.logits(r.rowFeatures({ userInput: x, q: plain.queryFromInput(x), v: plain.itemEmbeddings(batch.item) }, batch.item))).dataSync());
    });
    const w = plain.config.valueWeights;
    const y = [0, 1, 2].map((r) => w[0]! * batch.labels[r * T]! + w[1]! * batch.labels[r * T + 1]!);
    const logZ = Math.log([0, 1, 2].reduce((a, r) => a + values[r]!, 0)); // softmax of log value = value / sum
    const want = -[0, 1, 2].reduce((a, r) => a + y[r]! * (Math.log(values[r]!) - logZ), 0) / (y[0]! + y[1]! + y[2]!);
    const head = 'light-ranker.head';
    expect(terms(m).get(head)! - terms(plain).get(head)!).toBeCloseTo(want, 4);
    // the towers get nothing from it (detached inputs)
    const vars = [m.params.dense.get('user.projection.w')!];
    const { value, grads } = tf.variableGrads(() => m.loss(batch).terms.get(head)!, vars);
    expect(maxAbs(grads[vars[0]!.name])).toBe(0);
    value.dispose();
    tf.dispose(Object.values(grads));
    plain.dispose();
    m.dispose();
  });
});

describe('retrieve-then-rerank', () => {
  async function trained(options: Record<string, unknown> = {}): Promise<TwoTowerModel> {
    const m = model({ numCandidates: 12, ...options });
    const trainer = new Trainer(m, { epochs: 2, learningRate: 1e-2, progress: 'none' });
    await trainer.fit(inMemorySource(world, { batchSize: 64, seed: 0 }));
    trainer.dispose();
    return m;
  }

  it('re-ranks the NI MIPS candidates in batches: K items among them, by the ranker key, seen items left out', async () => {
    const m = await trained({ retrievalWeight: 0 });
    const retriever = await Retriever.build(m);
    const users = Int32Array.of(0, 1, 2, 3);
    const seen = seenItemsByUser(world.train, world.schema.numUsers);
    const exclude = Array.from(users, (u) => seen[u]);
    const before = tf.memory().numTensors;
    const got = await retriever.retrieve(users, 5, { exclude });
    expect(tf.memory().numTensors).toBe(before);
    // the same users with the ranker taken out: plain MIPS top NI
    const plain = Object.create(m, { stages: { value: [] } }) as TwoTowerModel;
    const mips = await Retriever.over(plain, retriever.index).retrieve(users, 12, { exclude });
    got.forEach((r, i) => {
      expect(r.items).toHaveLength(5);
      for (const id of r.items) {
        expect(mips[i]!.items).toContain(id);
        expect(Array.from(seen[users[i]!]!)).not.toContain(m.itemIndex(id));
      }
      for (let j = 1; j < 5; j++) expect(r.scores[j]).toBeLessThanOrEqual(r.scores[j - 1]!);
    });
    // values in (0, sum w]: the expected reward of each kept candidate
    for (const r of got) for (const s of r.scores) expect(s).toBeGreaterThan(0);
    expect(got.some((r, i) => r.items.join() !== mips[i]!.items.slice(0, 5).join())).toBe(true);
    await retriever.dispose();
    m.dispose();
  });

  it('evaluation reads the list serving returns (CatalogueScorer puts the re-ranked NI first)', async () => {
    const m = await trained();
    const seen = seenItemsByUser(world.train, world.schema.numUsers);
    const users = Int32Array.of(4, 7, 11);
    const scorer = new CatalogueScorer(m, undefined, seen);
    const scores = scorer.score(users);
    scorer.dispose();
    const retriever = await Retriever.build(m);
    const served = await retriever.retrieve(users, 10, { exclude: Array.from(users, (u) => seen[u]) });
    const N = world.schema.numItems;
    users.forEach((u, i) => {
      const top = topKExcluding(scores.subarray(i * N, (i + 1) * N), 10, seen[u]);
      expect(Array.from(top, (j) => m.data.itemIds[j])).toEqual(served[i]!.items);
    });
    await retriever.dispose();
    m.dispose();
  });

  it('a checkpoint rebuilds the ranker: the same re-ranked lists after save and load', async () => {
    const m = await trained();
    const dir = mkdtempSync(join(tmpdir(), 'tt-lr-'));
    try {
      const users = Int32Array.of(0, 9, 20);
      const a = await (await Retriever.build(m)).retrieve(users, 6);
      await saveCheckpoint(join(dir, 'ckpt'), m);
      const loaded = await loadCheckpoint(join(dir, 'ckpt'), { stages: [lightRanker] });
      const b = await (await Retriever.build(loaded.model)).retrieve(users, 6);
      expect(b.map((r) => r.items)).toEqual(a.map((r) => r.items));
      loaded.model.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      m.dispose();
    }
  });
});
