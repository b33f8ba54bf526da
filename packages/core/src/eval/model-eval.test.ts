import { initBackend } from '../runtime/backend.js';
import { MismatchError, ValueError } from '../errors.js';
import { syntheticWorld } from '../data/synthetic.js';
import { resolveConfig } from '../model/config.js';
import { TwoTowerModel } from '../model/two-tower.js';
import { CatalogueScorer, evaluateModel, evaluateModelFunnel, evaluateRankerAgreement, evaluateScores } from './model-eval.js';
import { requestStarts } from '../data/batches.js';
import { spearman } from './correlation.js';
import type { Candidates, StageDefinition } from '../model/stages.js';
import * as tf from '../runtime/tf.js';

describe('evaluateModelFunnel', () => {
  const world = syntheticWorld({ seed: 1, numUsers: 60, numItems: 40, impressions: 1500, validation: false });
  let model: TwoTowerModel;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: false });
    model = TwoTowerModel.create(resolveConfig(world.schema, { dim: 8, hidden: 8 }), world);
  });
  afterAll(() => model.dispose());

  it('throws a typed error naming dataset.truth for a dataset without ground truth', async () => {
    const logged = { ...world, name: 'csv:log.csv', truth: undefined };
    await expect(evaluateModelFunnel(model, logged)).rejects.toMatchObject({ code: 'E_VALUE', field: 'dataset.truth' });
    await expect(evaluateModelFunnel(model, logged)).rejects.toThrow(ValueError);
    const m = await evaluateModelFunnel(model, world);
    expect(m.users).toBeGreaterThan(0);
  });

  it('refuses a model of another vocabulary and a split the dataset lacks', async () => {
    const other = syntheticWorld({ seed: 1, numUsers: 60, numItems: 41, impressions: 1500, validation: false });
    await expect(evaluateModelFunnel(model, other)).rejects.toThrow(MismatchError);
    await expect(evaluateModel(model, other)).rejects.toThrow(MismatchError);
    await expect(evaluateScores(world, () => new Float32Array(0), 'validation')).rejects.toMatchObject({ code: 'E_VALUE', field: 'dataset.validation' });
  });
});

describe('evaluateRankerAgreement', () => {
  const world = syntheticWorld({ seed: 2, numUsers: 80, numItems: 60, impressions: 4000, validation: true });
  /** A re-ranker that orders its candidates by retrieval's score reversed, and records every item it was asked about. */
  const asked = new Set<string>();
  const reverse: StageDefinition = {
    name: 'reverse',
    create: () => ({
      name: 'reverse',
      candidatesToRerank: 5,
      reranker: {
        rerank: ({ candidates, k }) => candidates.map((c: Candidates) => {
          c.items.forEach((i) => asked.add(String(i)));
          const order = Array.from(c.items.keys()).sort((a, b) => c.scores[a]! - c.scores[b]!).slice(0, k);
          return { items: Int32Array.from(order, (j) => c.items[j]!), scores: Float32Array.from(order, (j) => -c.scores[j]!) };
        }),
      },
    }),
  };
  let plain: TwoTowerModel;
  let reranking: TwoTowerModel;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: false });
    plain = TwoTowerModel.create(resolveConfig(world.schema, { dim: 8, hidden: 8, seed: 3 }), world);
    reranking = TwoTowerModel.create(resolveConfig(world.schema, { dim: 8, hidden: 8, seed: 3, stages: [{ name: 'reverse' }] }), world, [reverse]);
  });
  afterAll(() => {
    plain.dispose();
    reranking.dispose();
  });

  it("is the mean within-request Spearman between retrieval's scores and the logged ranker value", async () => {
    const held = world.validationRequests!;
    const T = world.schema.tasks.length;
    const w = plain.config.valueWeights; // the model's task weights value the ranker's scores
    const scorer = new CatalogueScorer(plain, world.train);
    const N = world.schema.numItems;
    const starts = requestStarts(held);
    let sum = 0;
    let count = 0;
    for (let q = 0; q + 1 < starts.length; q++) {
      const rows = Array.from({ length: starts[q + 1]! - starts[q]! }, (_, j) => starts[q]! + j);
      const scores = scorer.score(Int32Array.of(held.user[rows[0]!]!)).subarray(0, N);
      const value = rows.map((r) => Array.from({ length: T }, (_, t) => w[t]! * held.rankerScores![r * T + t]!).reduce((a, b) => a + b, 0));
      const rho = spearman(rows.map((r) => scores[held.item[r]!]!), value);
      if (rows.length < 2 || Number.isNaN(rho)) continue;
      sum += rho;
      count++;
    }
    scorer.dispose();
    expect(count).toBeGreaterThan(5);
    expect(await evaluateRankerAgreement(plain, world)).toBeCloseTo(sum / count, 6);
  });

  it("judges a re-ranking model by the re-ranker's order of every shown item, seen ones included", async () => {
    const before = tf.memory().numTensors;
    asked.clear();
    const agreement = await evaluateRankerAgreement(reranking, world);
    // the same towers (same seed): reversing retrieval's order negates every request's correlation
    expect(agreement).toBeCloseTo(-(await evaluateRankerAgreement(plain, world))!, 6);
    const held = world.validationRequests!;
    for (let r = 0; r < held.size; r++) expect(asked.has(String(held.item[r]))).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is undefined without held-out requests', async () => {
    expect(await evaluateRankerAgreement(plain, { ...world, validationRequests: undefined })).toBeUndefined();
  });
});
