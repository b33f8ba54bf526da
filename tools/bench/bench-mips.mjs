#!/usr/bin/env node
// MIPS benchmark: ExactIndex and HnswIndex of @tt/mips on a seeded synthetic corpus shaped like
// item embeddings (mixture of 256 Gaussian clusters, varied norms), queries drawn the same way.
//
//   npm run bench:mips -- --json                      N=100k, D=64, Q=1000, k=10
//   npm run bench:mips -- --n 1000000 --json
//   npm run bench:mips -- --dump /tmp/mips            also write corpus.npy and queries.npy
//
// Progress goes to stderr; the last stdout line is one JSON object:
// {"n","dim","queries","k","exact":{"qps","batchQps","buildS",...},"ann":{"qps","recallAt10","buildS","params",...},"peakRssMb"}
// qps = one query per call; batchQps = all queries in one call (median of 3 timed runs).
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { ExactIndex, HnswIndex, syntheticEmbeddings, writeNpy } from '@tt/mips';

const { values: opt } = parseArgs({
  options: {
    n: { type: 'string', default: '100000' },
    dim: { type: 'string', default: '64' },
    queries: { type: 'string', default: '1000' },
    k: { type: 'string', default: '10' },
    seed: { type: 'string', default: '1' },
    threads: { type: 'string' },
    'single-queries': { type: 'string', default: '300' },
    connectivity: { type: 'string', default: '16' },
    'expansion-add': { type: 'string', default: '128' },
    'expansion-search': { type: 'string', default: '16,24,32,48,64,128' },
    'recall-target': { type: 'string', default: '0.95' },
    'skip-ann': { type: 'boolean', default: false },
    dump: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

const n = Number(opt.n);
const dim = Number(opt.dim);
const Q = Number(opt.queries);
const k = Number(opt.k);
const seed = Number(opt.seed);
const threads = opt.threads ? Number(opt.threads) : Math.min(4, availableParallelism());
const singleCount = Math.min(Q, Number(opt['single-queries']));
const log = (msg) => process.stderr.write(`[bench:mips] ${msg}\n`);
const now = () => performance.now();
const rssMb = () => process.resourceUsage().maxRSS / 1024;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

log(`corpus n=${n} dim=${dim}, queries=${Q}, k=${k}, seed=${seed}`);
const corpus = syntheticEmbeddings({ n, dim, seed, centerSeed: seed });
const queries = syntheticEmbeddings({ n: Q, dim, seed: seed + 1000003, centerSeed: seed });
const ids = Array.from({ length: n }, (_, i) => i);
if (opt.dump) {
  mkdirSync(opt.dump, { recursive: true });
  writeNpy(join(opt.dump, 'corpus.npy'), { data: corpus, shape: [n, dim] });
  writeNpy(join(opt.dump, 'queries.npy'), { data: queries, shape: [Q, dim] });
  log(`wrote ${join(opt.dump, 'corpus.npy')} and ${join(opt.dump, 'queries.npy')}`);
}

async function timeSingle(index, count) {
  const t0 = now();
  for (let q = 0; q < count; q++) await index.search(queries.subarray(q * dim, (q + 1) * dim), k);
  return count / ((now() - t0) / 1000);
}

// ---- exact
const exact = new ExactIndex({ dim, threads });
let t0 = now();
exact.add(ids, corpus);
await exact.search(queries.subarray(0, dim), k); // starts the workers and uploads the blocks
const exactBuildS = (now() - t0) / 1000;
const backend = await exact.backend();
log(`exact: built in ${exactBuildS.toFixed(2)} s on ${threads} ${backend} workers`);
let truth;
const batchTimes = [];
for (let rep = 0; rep < 4; rep++) {
  t0 = now();
  const r = await exact.search(queries, k);
  if (rep > 0) batchTimes.push(now() - t0); // the first run warms up
  truth = r;
}
const exactBatchQps = Q / (median(batchTimes) / 1000);
log(`exact: batch ${Math.round(exactBatchQps)} q/s (runs ${batchTimes.map((t) => Math.round(t)).join(', ')} ms)`);
const exactQps = await timeSingle(exact, singleCount);
log(`exact: single ${Math.round(exactQps)} q/s over ${singleCount} queries`);
await exact.dispose();
const exactPeakRssMb = rssMb();

// ---- ann
let ann = null;
if (!opt['skip-ann']) {
  const params = {
    connectivity: Number(opt.connectivity),
    expansionAdd: Number(opt['expansion-add']),
    quantization: 'f32',
    threads: availableParallelism(),
  };
  const hnsw = new HnswIndex({ dim, ...params });
  t0 = now();
  hnsw.add(ids, corpus);
  const buildS = (now() - t0) / 1000;
  log(`hnsw: built in ${buildS.toFixed(1)} s (M=${params.connectivity}, efConstruction=${params.expansionAdd}, ${params.threads} threads)`);
  const truthSets = truth.map((r) => new Set(r.ids));
  const sweep = [];
  for (const ef of opt['expansion-search'].split(',').map(Number)) {
    hnsw.setExpansionSearch(ef);
    // batch (all threads) for recall and batch throughput, then single queries on one thread
    t0 = now();
    const got = await hnsw.search(queries, k);
    const batchQps = Q / ((now() - t0) / 1000);
    let hit = 0;
    got.forEach((r, q) => (hit += r.ids.filter((id) => truthSets[q].has(id)).length));
    const recall = hit / (Q * k);
    const qps = await timeSingle(hnsw, Q);
    sweep.push({ expansionSearch: ef, recallAt10: round(recall, 4), qps: Math.round(qps), batchQps: Math.round(batchQps) });
    log(`hnsw: ef=${ef} recall@${k}=${recall.toFixed(4)} single ${Math.round(qps)} q/s, batch ${Math.round(batchQps)} q/s`);
  }
  const target = Number(opt['recall-target']);
  const pick = sweep.find((s) => s.recallAt10 >= target) ?? sweep.reduce((a, b) => (b.recallAt10 > a.recallAt10 ? b : a));
  ann = {
    library: 'usearch',
    qps: pick.qps,
    batchQps: pick.batchQps,
    recallAt10: pick.recallAt10,
    buildS: round(buildS, 2),
    params: { ...params, expansionSearch: pick.expansionSearch, metric: 'ip', recallTarget: target },
    sweep,
  };
  await hnsw.dispose();
}

const result = {
  n,
  dim,
  queries: Q,
  k,
  exact: {
    qps: Math.round(exactQps),
    batchQps: Math.round(exactBatchQps),
    buildS: round(exactBuildS, 2),
    backend,
    threads,
    batchMs: batchTimes.map((t) => round(t)),
    peakRssMb: Math.round(exactPeakRssMb),
  },
  ann,
  peakRssMb: Math.round(rssMb()),
};
console.log(opt.json ? JSON.stringify(result) : JSON.stringify(result, null, 2));
