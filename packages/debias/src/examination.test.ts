import { initBackend, resolveConfig, Rng, Trainer, TwoTowerModel, type Batch, type BatchSource, type DatasetSchema, type ModelData } from '@tt/core';
import { debiasDiagnostics } from './diagnostics.js';
import { debiasStages } from './stages.js';

const P = 5;
const schema: DatasetSchema = { numUsers: 40, numItems: 30, tasks: ['click'], userFeatureDim: 0, itemFeatureDim: 0, numPositions: P, hasRankerScores: false, labelMax: [1] };
const data: ModelData = {
  userIds: Array.from({ length: schema.numUsers }, (_, i) => i),
  itemIds: Array.from({ length: schema.numItems }, (_, i) => i),
  userFeatures: new Float32Array(0),
  itemFeatures: new Float32Array(0),
};
const exposure = (p: number) => 1 / (1 + p);

/**
 * Requests of 5 random items laid out best first by their true relevance (a policy that knows the
 * user: relevance and position confounded), clicks ~ exposure(position) x relevance.
 */
function confounded(seed: number, requests: number): Batch {
  const rng = new Rng(seed);
  const n = requests * P;
  const user = new Int32Array(n);
  const item = new Int32Array(n);
  const position = new Int32Array(n);
  const labels = new Float32Array(n);
  for (let q = 0; q < requests; q++) {
    const u = rng.int(schema.numUsers);
    const slate = Array.from({ length: P }, () => rng.int(schema.numItems));
    // relevance: item quality plus whether the item matches the user's taste
    const relevance = slate.map((i) => 1 / (1 + Math.exp(-(((i % 6) - 3) + ((i + u) % 4 === 0 ? 2 : 0)))));
    const order = slate.map((_, j) => j).sort((a, b) => relevance[b]! - relevance[a]!);
    order.forEach((j, p) => {
      const r = q * P + p;
      user[r] = u;
      item[r] = slate[j]!;
      position[r] = p;
      labels[r] = rng.uniform() < exposure(p) * relevance[j]! ? 1 : 0;
    });
  }
  return { size: n, user, item, position, labels, userFeatures: new Float32Array(0), itemFeatures: new Float32Array(0), historyLength: 0 };
}

describe('the examination model', () => {
  beforeAll(() => initBackend({ backend: 'wasm', log: false }));

  it('recovers the exposure curve where the policy shows its best items first; the raw click rate does not', async () => {
    const source: BatchSource = { schema, rowsPerEpoch: 20 * 500, batches: (epoch) => Array.from({ length: 20 }, (_, k) => confounded(1000 * epoch + k, 100)) };
    const config = resolveConfig(schema, { dim: 8, hidden: 8, historyPooling: 0, stages: [{ name: 'debias-position' }] });
    const model = TwoTowerModel.create(config, data, debiasStages);
    const trainer = new Trainer(model, { epochs: 8, learningRate: 0.02, progress: 'none' });
    await trainer.fit(source);
    const curve = debiasDiagnostics(model).relativePositionCurve!;
    // the raw click rate per position, relative to the top: exposure x the (falling) relevance
    const probe = confounded(99, 4000);
    const clicks = new Float64Array(P);
    const shown = new Float64Array(P);
    for (let r = 0; r < probe.size; r++) (clicks[probe.position![r]!]! += probe.labels[r]!), shown[probe.position![r]!]!++;
    const raw = Array.from(clicks, (c, p) => c / shown[p]! / (clicks[0]! / shown[0]!));
    for (let p = 1; p < P; p++) {
      expect(Math.abs(curve[p]! - exposure(p))).toBeLessThan(0.1);
      expect(raw[p]!).toBeLessThan(exposure(p) - 0.05); // what a regression on position alone would learn
    }
    trainer.dispose();
    model.dispose();
  });
});
