// Retrieve-then-rerank cost (issue "@tt/light-ranker"): a light-ranker model over a 100k-item
// corpus; per-user latency of MIPS top NI + re-rank to K (p50, p99 over single-user requests,
// beside plain MIPS top K), and for a batch of users the MIPS step vs the re-rank step.
// Usage (after `npm run build` or `npx tsc -b packages/cli/tsconfig.lib.json`):
//   node tools/bench/bench-rerank.mjs [--items 100000] [--ni 200] [--k 10] [--batch 256] [--requests 300] [--index exact|hnsw]
// Prints one JSON line.
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const core = require('../../packages/core/dist/index.js');
const { lightRanker } = require('../../packages/light-ranker/dist/index.js');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const numItems = Number(args.items ?? 100_000);
const NI = Number(args.ni ?? 200);
const K = Number(args.k ?? 10);
const batchSize = Number(args.batch ?? 256);
const requests = Number(args.requests ?? 300);
const indexKind = args.index ?? 'exact';

const backend = await core.initBackend({});
const world = core.syntheticWorld({ seed: 0, numUsers: 5000, numItems, impressions: 20_000, validation: false });
const config = core.resolveConfig(world.schema, { dim: 64, hidden: 256, valueWeights: Array.from(world.valueWeights), stages: [{ name: 'light-ranker', options: { numCandidates: NI } }] });
const model = core.TwoTowerModel.create(config, world, [lightRanker]);
// a few steps so the ranker's weights are not at their initial values (latency does not depend on them)
const trainer = new core.Trainer(model, { epochs: 1, learningRate: 3e-3, progress: 'none' });
let steps = 0;
for (const b of core.inMemorySource(world, { batchSize: 512, seed: 0 }).batches(0)) if (steps++ < 20) trainer.step(b);
trainer.dispose();

const t0 = performance.now();
const retriever = await core.Retriever.build(model, { index: indexKind });
const buildSeconds = (performance.now() - t0) / 1000;
const plain = core.Retriever.over(Object.create(model, { stages: { value: [] } }), retriever.index);
const stage = model.stages[0];

const quantile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
async function perUser(r, k) {
  const times = [];
  for (let i = 0; i < requests + 20; i++) {
    const u = Int32Array.of((i * 7919) % world.schema.numUsers);
    const s = performance.now();
    await r.retrieve(u, k);
    if (i >= 20) times.push(performance.now() - s); // the first 20 warm up
  }
  return { p50Ms: +quantile(times, 0.5).toFixed(3), p99Ms: +quantile(times, 0.99).toFixed(3) };
}
const rerankPerUser = await perUser(retriever, K);
const mipsPerUser = await perUser(plain, K);

// a batch of users: the MIPS step (top NI with vectors) and the re-rank step, timed apart
const users = Int32Array.from({ length: batchSize }, (_, i) => (i * 131) % world.schema.numUsers);
const input = model.userInputOf(users);
const mipsTimes = [];
const rerankTimes = [];
for (let rep = 0; rep < 8; rep++) {
  const x = core.tf.tidy(() => model.userTowerInput(input, false));
  const q = core.tf.tidy(() => model.queryFromInput(x));
  const queries = q.dataSync();
  let s = performance.now();
  const found = await retriever.index.search(queries, NI, { includeVectors: true });
  const mipsMs = performance.now() - s;
  const candidates = found.map((r) => ({ items: Int32Array.from(r.ids, (id) => model.itemIndex(id)), scores: r.scores, vectors: r.vectors }));
  s = performance.now();
  stage.reranker.rerank({ users: input, userInput: x, q, candidates, k: K });
  const rerankMs = performance.now() - s;
  core.tf.dispose([x, q]);
  if (rep >= 2) {
    mipsTimes.push(mipsMs);
    rerankTimes.push(rerankMs);
  }
}
const median = (xs) => quantile(xs, 0.5);
const mipsBatchMs = median(mipsTimes);
const rerankBatchMs = median(rerankTimes);
console.log(JSON.stringify({
  bench: 'rerank', backend: backend.name, index: indexKind, corpus: numItems, dim: 64, NI, K, NU: stage.options.numUserEmbeddings, DE: stage.options.itemDim,
  perUser: { rerank: rerankPerUser, mipsOnly: mipsPerUser, requests },
  batch: { users: batchSize, mipsMs: +mipsBatchMs.toFixed(2), rerankMs: +rerankBatchMs.toFixed(2), rerankOverMips: +(rerankBatchMs / mipsBatchMs).toFixed(3) },
  indexBuildSeconds: +buildSeconds.toFixed(2),
}));
await retriever.dispose();
model.dispose();
