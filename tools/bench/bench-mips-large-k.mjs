#!/usr/bin/env node
// HNSW at large k (a ranker's 500 or 1,000 candidates): recall@k against ExactIndex and
// per-query latency with HnswIndex's searchWidening 1 (ef = k) and 2 (the default, ef = 2k),
// on the bench corpus (syntheticEmbeddings, 256 clusters) L2-normalised, as tt's models
// normalise their embeddings.
//
//   node tools/bench/bench-mips-large-k.mjs [--n 100000] [--queries 200] [--ks 10,100,500,1000]
//
// Needs the built package (`npx tsc -b packages/mips/tsconfig.lib.json`). Prints one JSON line.
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExactIndex, HnswIndex, syntheticEmbeddings } from '@tt/mips';

const { values: opt } = parseArgs({
  options: {
    n: { type: 'string', default: '100000' },
    dim: { type: 'string', default: '64' },
    queries: { type: 'string', default: '200' },
    ks: { type: 'string', default: '10,100,500,1000' },
    widenings: { type: 'string', default: '1,2' },
    seed: { type: 'string', default: '1' },
  },
});
const n = Number(opt.n);
const dim = Number(opt.dim);
const Q = Number(opt.queries);
const seed = Number(opt.seed);
const log = (msg) => process.stderr.write(`[bench:mips-large-k] ${msg}\n`);
const unit = (m) => {
  for (let i = 0; i < m.length / dim; i++) {
    const row = m.subarray(i * dim, (i + 1) * dim);
    let s = 0;
    for (const x of row) s += x * x;
    const norm = Math.sqrt(s) || 1;
    for (let j = 0; j < dim; j++) row[j] /= norm;
  }
  return m;
};
const corpus = unit(syntheticEmbeddings({ n, dim, seed, centerSeed: seed }));
const queries = unit(syntheticEmbeddings({ n: Q, dim, seed: seed + 1000003, centerSeed: seed }));
const ids = Array.from({ length: n }, (_, i) => i);
const exact = new ExactIndex({ dim });
exact.add(ids, corpus);
const truth = new Map();
for (const k of opt.ks.split(',').map(Number)) truth.set(k, await exact.search(queries, k));
await exact.dispose();

const rows = [];
let t = performance.now();
const hnsw = new HnswIndex({ dim });
hnsw.add(ids, corpus);
const buildS = (performance.now() - t) / 1000;
log(`hnsw built in ${buildS.toFixed(1)} s`);
for (const w of opt.widenings.split(',').map(Number)) {
  // one graph; searchWidening is a search-time setting, given at load
  const dir = mkdtempSync(join(tmpdir(), 'tt-largek-'));
  await hnsw.save(dir);
  const index = await HnswIndex.load(dir, { searchWidening: w });
  for (const [k, want] of truth) {
    const times = [];
    let hit = 0;
    for (let q = 0; q < Q; q++) {
      t = performance.now();
      const [got] = await index.search(queries.subarray(q * dim, (q + 1) * dim), k);
      times.push(performance.now() - t);
      const s = new Set(want[q].ids);
      hit += got.ids.filter((id) => s.has(id)).length;
    }
    times.sort((a, b) => a - b);
    const row = { k, searchWidening: w, recall: +(hit / (Q * k)).toFixed(4), p50Ms: +times[Math.floor(Q / 2)].toFixed(3), p99Ms: +times[Math.floor(Q * 0.99)].toFixed(3) };
    log(JSON.stringify(row));
    rows.push(row);
  }
  await index.dispose();
  rmSync(dir, { recursive: true, force: true });
}
await hnsw.dispose();
process.stdout.write(`${JSON.stringify({ n, dim, queries: Q, buildS: +buildS.toFixed(1), rows })}\n`);
