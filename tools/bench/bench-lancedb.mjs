#!/usr/bin/env node
// LanceDB benchmark: @tt/lancedb's LanceIndex over an embedded table beside @tt/mips's HnswIndex,
// on the same vectors (bench-mips.mjs's corpus and queries), recall@10 against ExactIndex.
//
//   node tools/bench/bench-lancedb.mjs --json                   1M x 64, 1,000 queries, k = 10
//   node tools/bench/bench-lancedb.mjs --n 100000 --json
//
// The parent makes the corpus and queries, the exact top 10 (ExactIndex, batched), and writes
// them to --dir; each index is then built and searched in its own child process (its own peak
// RSS), back to back:
//   lancedb: upsert in chunks of 100k (build = upsert + ANN index), then per ANN setting: recall@10
//            and q/s, one query per call (`single`) and 1,000 per call (`batch`, 8 in flight)
//   hnsw:    HnswIndex (usearch, M 16, efConstruction 128, 2 threads) and its efSearch sweep
//            (--skip-hnsw: LanceDB only)
// Times are wall clock, each beside the process's CPU seconds (all threads; the machine is shared,
// so CPU time is what a step really cost): builds in CPU s, searches also per CPU s.
// The last stdout line is one JSON object.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ExactIndex, HnswIndex, readNpy, syntheticEmbeddings, writeNpy } from '@tt/mips';

const { values: opt } = parseArgs({
  options: {
    n: { type: 'string', default: '1000000' },
    dim: { type: 'string', default: '64' },
    queries: { type: 'string', default: '1000' },
    k: { type: 'string', default: '10' },
    seed: { type: 'string', default: '1' },
    dir: { type: 'string', default: '/tmp/tt-bench-lancedb' },
    // ANN settings: ivf_pq partitions and sub-vectors; nprobes x refineFactor sweep; hnsw_pq ef sweep
    partitions: { type: 'string', default: '256' },
    'sub-vectors': { type: 'string', default: '16' },
    nprobes: { type: 'string', default: '5,10,20,40' },
    refine: { type: 'string', default: '1,10' },
    'hnsw-pq-ef': { type: 'string', default: '50,100,200' },
    'skip-hnsw-pq': { type: 'boolean', default: false },
    'skip-hnsw': { type: 'boolean', default: false },
    'single-queries': { type: 'string', default: '300' },
    'expansion-search': { type: 'string', default: '16,32,64,128' },
    child: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const n = Number(opt.n);
const dim = Number(opt.dim);
const Q = Number(opt.queries);
const k = Number(opt.k);
const seed = Number(opt.seed);
const log = (msg) => process.stderr.write(`[bench:lancedb] ${msg}\n`);
const now = () => performance.now();
const rssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);
// CPU seconds of this process (all its threads): on a shared machine, what a build really cost
const cpuS = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const round = (x, d = 4) => Math.round(x * 10 ** d) / 10 ** d;

function loadShared() {
  const corpus = readNpy(join(opt.dir, 'corpus.npy')).data;
  const queries = readNpy(join(opt.dir, 'queries.npy')).data;
  const truth = readNpy(join(opt.dir, 'truth.npy')).data;
  const sets = Array.from({ length: Q }, (_, q) => new Set(truth.subarray(q * k, (q + 1) * k)));
  return { corpus, queries, sets };
}

function recallOf(results, sets) {
  let hit = 0;
  results.forEach((r, q) => (hit += r.ids.filter((id) => sets[q].has(id)).length));
  return hit / (Q * k);
}

/** One query per call: queries per wall second and per CPU second of this process. */
async function timeSingle(index, queries, count, options) {
  const t0 = now();
  const c0 = cpuS();
  for (let q = 0; q < count; q++) await index.search(queries.subarray(q * dim, (q + 1) * dim), k, options);
  return { qps: count / ((now() - t0) / 1000), qpcs: count / (cpuS() - c0) };
}

async function lancedbChild() {
  const { LanceIndex } = await import('@tt/lancedb');
  const { corpus, queries, sets } = loadShared();
  const uri = join(opt.dir, 'lance');
  rmSync(uri, { recursive: true, force: true });
  const index = await LanceIndex.open({ uri, dim, mode: 'overwrite' });
  let t0 = now();
  let c0 = cpuS();
  const chunk = 100_000;
  for (let s = 0; s < n; s += chunk) {
    const m = Math.min(chunk, n - s);
    await index.upsert(Array.from({ length: m }, (_, i) => s + i), corpus.subarray(s * dim, (s + m) * dim));
  }
  const upsertS = (now() - t0) / 1000;
  const upsertCpuS = cpuS() - c0;
  log(`lancedb: upserted ${n} rows in ${upsertS.toFixed(1)} s (${upsertCpuS.toFixed(1)} CPU s)`);
  const flat = await timeSingle(index, queries, 20, { ann: { exact: true } });
  log(`lancedb: brute force (no index) ${flat.qps.toFixed(1)} q/s single, ${flat.qpcs.toFixed(1)} per CPU s`);
  const types = [];
  const ivf = { type: 'ivf_pq', numPartitions: Number(opt.partitions), numSubVectors: Number(opt['sub-vectors']) };
  const settings = [];
  for (const nprobes of opt.nprobes.split(',').map(Number)) for (const refineFactor of opt.refine.split(',').map(Number)) settings.push({ nprobes, ...(refineFactor > 1 ? { refineFactor } : {}) });
  types.push({ options: ivf, settings });
  if (!opt['skip-hnsw-pq']) {
    types.push({
      options: { type: 'hnsw_pq', numSubVectors: Number(opt['sub-vectors']), m: 16, efConstruction: 128 },
      settings: opt['hnsw-pq-ef'].split(',').map(Number).map((ef) => ({ ef, refineFactor: 10 })),
    });
  }
  const out = [];
  for (const { options, settings: sweep } of types) {
    t0 = now();
    c0 = cpuS();
    await index.createAnnIndex(options);
    const indexS = (now() - t0) / 1000;
    const indexCpuS = cpuS() - c0;
    log(`lancedb: ${options.type} built in ${indexS.toFixed(1)} s, ${indexCpuS.toFixed(1)} CPU s (${JSON.stringify(options)})`);
    const rows = [];
    for (const ann of sweep) {
      t0 = now();
      const c1 = cpuS();
      const got = await index.search(queries, k, { ann });
      const batchQps = Q / ((now() - t0) / 1000);
      const batchQpcs = Q / (cpuS() - c1);
      const recall = recallOf(got, sets);
      const single = await timeSingle(index, queries, Number(opt['single-queries']), { ann });
      rows.push({ ...ann, recallAt10: round(recall), qps: Math.round(single.qps), qpsPerCpuS: Math.round(single.qpcs), batchQps: Math.round(batchQps), batchQpsPerCpuS: Math.round(batchQpcs) });
      log(`lancedb: ${options.type} ${JSON.stringify(ann)} recall@${k}=${recall.toFixed(4)} single ${Math.round(single.qps)} q/s (${Math.round(single.qpcs)} per CPU s), batch ${Math.round(batchQps)} q/s (${Math.round(batchQpcs)} per CPU s)`);
    }
    out.push({ index: options, indexBuildS: round(indexS, 1), indexBuildCpuS: round(indexCpuS, 1), buildS: round(upsertS + indexS, 1), buildCpuS: round(upsertCpuS + indexCpuS, 1), sweep: rows });
  }
  await index.dispose();
  return { upsertS: round(upsertS, 1), upsertCpuS: round(upsertCpuS, 1), bruteForceQps: round(flat.qps, 1), bruteForceQpsPerCpuS: round(flat.qpcs, 1), types: out, peakRssMb: rssMb() };
}

async function hnswChild() {
  const { corpus, queries, sets } = loadShared();
  const params = { connectivity: 16, expansionAdd: 128, quantization: 'f32', threads: availableParallelism() };
  const hnsw = new HnswIndex({ dim, ...params });
  const t0 = now();
  const c0 = cpuS();
  hnsw.add(Array.from({ length: n }, (_, i) => i), corpus);
  const buildS = (now() - t0) / 1000;
  const buildCpuS = cpuS() - c0;
  log(`hnsw: built in ${buildS.toFixed(1)} s, ${buildCpuS.toFixed(1)} CPU s`);
  const sweep = [];
  for (const ef of opt['expansion-search'].split(',').map(Number)) {
    hnsw.setExpansionSearch(ef);
    const t1 = now();
    const c1 = cpuS();
    const got = await hnsw.search(queries, k);
    const batchQps = Q / ((now() - t1) / 1000);
    const batchQpcs = Q / (cpuS() - c1);
    const recall = recallOf(got, sets);
    const single = await timeSingle(hnsw, queries, Q);
    sweep.push({ expansionSearch: ef, recallAt10: round(recall), qps: Math.round(single.qps), qpsPerCpuS: Math.round(single.qpcs), batchQps: Math.round(batchQps), batchQpsPerCpuS: Math.round(batchQpcs) });
    log(`hnsw: ef=${ef} recall@${k}=${recall.toFixed(4)} single ${Math.round(single.qps)} q/s (${Math.round(single.qpcs)} per CPU s), batch ${Math.round(batchQps)} q/s (${Math.round(batchQpcs)} per CPU s)`);
  }
  await hnsw.dispose();
  return { params, buildS: round(buildS, 1), buildCpuS: round(buildCpuS, 1), sweep, peakRssMb: rssMb() };
}

async function parent() {
  const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  mkdirSync(opt.dir, { recursive: true });
  log(`corpus n=${n} dim=${dim}, queries=${Q}, k=${k}, seed=${seed} (load ${loadavg()})`);
  const corpus = syntheticEmbeddings({ n, dim, seed, centerSeed: seed });
  const queries = syntheticEmbeddings({ n: Q, dim, seed: seed + 1000003, centerSeed: seed });
  const exact = new ExactIndex({ dim });
  exact.add(Array.from({ length: n }, (_, i) => i), corpus);
  const truth = await exact.search(queries, k);
  await exact.dispose();
  writeNpy(join(opt.dir, 'corpus.npy'), { data: corpus, shape: [n, dim] });
  writeNpy(join(opt.dir, 'queries.npy'), { data: queries, shape: [Q, dim] });
  writeNpy(join(opt.dir, 'truth.npy'), { data: Int32Array.from(truth.flatMap((r) => r.ids)), shape: [Q, k] });
  const script = fileURLToPath(import.meta.url);
  const result = { n, dim, queries: Q, k };
  for (const which of opt['skip-hnsw'] ? ['lancedb'] : ['lancedb', 'hnsw']) {
    const args = [script, '--child', which, ...Object.entries(opt).filter(([key, v]) => key !== 'child' && key !== 'json' && v !== false).flatMap(([key, v]) => (v === true ? [`--${key}`] : [`--${key}`, String(v)]))];
    log(`${which} (load ${loadavg()}) ...`);
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LANCEDB_LOG: process.env.LANCEDB_LOG ?? 'error' } });
    if (r.status !== 0) throw new Error(`child ${which} failed (${r.status})`);
    result[which] = JSON.parse(r.stdout.trim().split('\n').pop());
  }
  result.loadavg = loadavg();
  console.log(opt.json ? JSON.stringify(result) : JSON.stringify(result, null, 2));
}

if (opt.child === 'lancedb') console.log(JSON.stringify(await lancedbChild()));
else if (opt.child === 'hnsw') console.log(JSON.stringify(await hnswChild()));
else await parent();
