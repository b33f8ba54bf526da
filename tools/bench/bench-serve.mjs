#!/usr/bin/env node
// Load test of `tt serve`: the real command in a child process on 127.0.0.1, driven by
// autocannon (9.0.0, pinned at the root) from this process on the same machine.
//
// The checkpoint is a real one that `tt serve` loads, built without training: a two-tower model
// over a synthetic catalogue whose item-id table holds `syntheticEmbeddings` (256 clusters,
// shaped like trained item vectors), 10,000 users with 16 dense features, D = 64, item popularity
// (zipf) and each user's 20 "seen" items (excluded from answers; also their history, pooled into
// the user tower by the default `historyPooling`), saved with an exact or HNSW
// index. It is built once per (items, index) into --dir and reused.
//
//   node tools/bench/bench-serve.mjs --items 100000 --index hnsw --k 10 --duration 20
//   node tools/bench/bench-serve.mjs --items 100000 --index hnsw --k 10 --duration 300 --swap   (RSS + hot swap)
//   node tools/bench/bench-serve.mjs --items 1000000 --index exact --k 500 --duration 20
//
// Options: --connections (default 16), --cold (share of requests from users without an id row,
// carrying features; default 0), --swap (POST /admin/reload of a second checkpoint halfway),
// --rss-every seconds (default 5), --dir (default $TMPDIR/tt-bench-serve), --build-only (make the
// checkpoints and stop).
// Needs the built CLI (`npx tsc -b packages/cli/tsconfig.lib.json`). Progress on stderr, one JSON
// line on stdout: requests/s, latency p50/p90/p99/max (ms), errors and non-2xx, the server's CPU
// per request (ms; 1000 / it = what one core of the server answers, however busy the machine) and
// the CPU shares of server and load generator, RSS samples, swap.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import autocannon from 'autocannon';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const bin = resolve(here, '../../packages/cli/dist/bin.js');
const { values: opt } = parseArgs({
  options: {
    items: { type: 'string', default: '100000' },
    users: { type: 'string', default: '10000' },
    index: { type: 'string', default: 'hnsw' },
    k: { type: 'string', default: '10' },
    duration: { type: 'string', default: '20' },
    connections: { type: 'string', default: '16' },
    cold: { type: 'string', default: '0' },
    swap: { type: 'boolean', default: false },
    'rss-every': { type: 'string', default: '5' },
    dir: { type: 'string', default: join(tmpdir(), 'tt-bench-serve') },
    port: { type: 'string', default: '0' },
    'build-only': { type: 'boolean', default: false },
  },
});
const numItems = Number(opt.items);
const numUsers = Number(opt.users);
const k = Number(opt.k);
const duration = Number(opt.duration);
const connections = Number(opt.connections);
const cold = Number(opt.cold);
const IU = 16;
const D = 64;
const log = (m) => process.stderr.write(`[bench:serve] ${m}\n`);
if (!existsSync(bin)) throw new Error(`build the CLI first: npx tsc -b packages/cli/tsconfig.lib.json (${bin} is missing)`);

/** A real checkpoint over a synthetic catalogue (no training): see the header. */
async function buildCheckpoint(dir, seed) {
  if (existsSync(join(dir, 'checkpoint.json'))) return dir;
  const core = require('../../packages/core/dist/index.js');
  const { syntheticEmbeddings, mulberry32 } = require('../../packages/mips/dist/index.js');
  await core.initBackend({ log: false });
  const t0 = performance.now();
  const rand = mulberry32(seed + 1);
  const data = {
    userIds: Array.from({ length: numUsers }, (_, i) => i),
    itemIds: Array.from({ length: numItems }, (_, i) => i),
    userFeatures: Float32Array.from({ length: numUsers * IU }, () => rand() * 2 - 1),
    itemFeatures: new Float32Array(0),
  };
  const schema = { numUsers, numItems, tasks: ['click'], userFeatureDim: IU, itemFeatureDim: 0, numPositions: 0, hasRankerScores: false, labelMax: [1] };
  const model = core.TwoTowerModel.create(core.resolveConfig(schema, { dim: D, hidden: 64, seed }), data);
  const values = model.params.snapshot();
  values.set('item.embedding', { shape: [numItems, D], values: syntheticEmbeddings({ n: numItems, dim: D, seed, centerSeed: 1 }) });
  values.set('user.embedding', { shape: [numUsers, D], values: syntheticEmbeddings({ n: numUsers, dim: D, seed: seed + 7, centerSeed: 1 }) });
  model.params.restore(values, 'bench');
  const index = await core.buildItemIndex(model, { index: opt.index });
  const popularity = Float32Array.from({ length: numItems }, (_, i) => 1e6 / (1 + ((i * 2654435761) % numItems)));
  const seen = Array.from({ length: numUsers }, () => Int32Array.from({ length: 20 }, () => Math.floor(rand() * numItems)));
  // the users' latest histories, pooled into the user tower (historyPooling, 20 by default): their seen items
  const H = model.historyLength;
  const histories = H > 0 ? new Int32Array(numUsers * H).fill(-1) : undefined;
  if (histories) seen.forEach((items, u) => histories.set(items.subarray(0, H), u * H));
  await core.saveCheckpoint(dir, model, { index, popularity, seen, histories, metadata: { bench: 'bench-serve', items: numItems, index: opt.index, seed } });
  await index.dispose();
  model.dispose();
  log(`built ${dir} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return dir;
}

const base = join(opt.dir, `${numItems}-${opt.index}`);
mkdirSync(opt.dir, { recursive: true });
const ckA = await buildCheckpoint(`${base}-a`, 1);
const ckB = opt.swap ? await buildCheckpoint(`${base}-b`, 2) : undefined;
if (opt['build-only']) process.exit(0);

// the server: the real `tt serve` in its own process
const server = spawn(process.execPath, [bin, 'serve', '--checkpoint', ckA, '--port', opt.port], { stdio: ['ignore', 'ignore', 'pipe'] });
let serverErr = '';
server.stderr.on('data', (d) => (serverErr += d.toString()));
const exited = new Promise((ok) => server.on('close', (code) => ok(code)));
let url;
for (let i = 0; i < 1200 && !url; i++) {
  url = /listening on (http:\/\/\S+)/.exec(serverErr)?.[1];
  if (!url) await new Promise((ok) => setTimeout(ok, 100));
}
if (!url) {
  server.kill('SIGKILL');
  throw new Error(`tt serve did not start:\n${serverErr}`);
}
log(`server ${url} (pid ${server.pid}), ${numItems} items, ${opt.index}, k ${k}, ${connections} connections, ${duration} s`);

/** CPU seconds the server process has used (user + system), from /proc. */
const serverCpuS = () => {
  const f = readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
};
const rssMb = () => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
};
const features = Array.from({ length: IU }, (_, i) => Math.sin(i));
let counter = 0;
const body = () => {
  counter++;
  const user = (counter * 7919) % numUsers;
  return cold > 0 && (counter % 1000) / 1000 < cold
    ? JSON.stringify({ user_id: `new-${counter}`, user_features: features, k })
    : JSON.stringify({ user_id: user, k });
};

// warm-up (not measured), then the timed run
await autocannon({ url: `${url}/retrieve`, connections, duration: 3, requests: [{ method: 'POST', headers: { 'content-type': 'application/json' }, setupRequest: (r) => ({ ...r, body: body() }) }] });
const rss = [{ t: 0, mb: rssMb() }];
const t0 = performance.now();
const sampler = setInterval(() => rss.push({ t: Math.round((performance.now() - t0) / 1000), mb: rssMb() }), Number(opt['rss-every']) * 1000);
let swap;
const swapTimer = ckB && setTimeout(async () => {
  const s = performance.now();
  const res = await fetch(`${url}/admin/reload`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ checkpoint: ckB }) });
  swap = { atS: Math.round((s - t0) / 1000), status: res.status, seconds: +((performance.now() - s) / 1000).toFixed(2), generation: (await res.json()).generation };
  log(`hot swap: ${JSON.stringify(swap)}`);
}, (duration * 1000) / 2);
const load = [...loadavg()];
const cpuBefore = serverCpuS();
const clientCpuBefore = process.cpuUsage();
const result = await autocannon({
  url: `${url}/retrieve`, connections, duration,
  requests: [{ method: 'POST', headers: { 'content-type': 'application/json' }, setupRequest: (r) => ({ ...r, body: body() }) }],
});
const serverCpu = serverCpuS() - cpuBefore;
const clientCpu = process.cpuUsage(clientCpuBefore);
clearInterval(sampler);
clearTimeout(swapTimer);
rss.push({ t: Math.round((performance.now() - t0) / 1000), mb: rssMb() });
const metrics = await (await fetch(`${url}/metrics`)).text();
const series = (name) => Number(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
server.kill('SIGINT');
const exitCode = await exited;

const mbs = rss.map((r) => r.mb);
const steady = rss.filter((r) => r.t >= Math.min(30, duration / 4)).map((r) => r.mb); // after the first 30 s (allocator warm-up)
const out = {
  items: numItems, index: opt.index, k, connections, durationS: duration, cold, cores: cpus().length, loadAvgBefore: load.map((x) => +x.toFixed(2)), loadAvgAfter: loadavg().map((x) => +x.toFixed(2)),
  requests: result.requests.total, requestsPerSec: Math.round(result.requests.average),
  latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max, mean: +result.latency.average.toFixed(2) },
  errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx,
  // what a request costs the server in CPU, whatever else the machine runs: 1000 / this is the
  // requests/s one core of the server can answer
  serverCpuMsPerRequest: +((1000 * serverCpu) / result.requests.total).toFixed(3),
  serverCpuShare: +(serverCpu / duration).toFixed(2),
  clientCpuShare: +((clientCpu.user + clientCpu.system) / 1e6 / duration).toFixed(2),
  microBatchMean: +(series('tt_retrieve_batch_size_sum') / series('tt_retrieve_batch_size_count')).toFixed(2),
  rssMb: { first: mbs[0], last: mbs[mbs.length - 1], min: Math.min(...mbs), max: Math.max(...mbs), steadySpreadPct: steady.length ? +((100 * (Math.max(...steady) - Math.min(...steady))) / Math.min(...steady)).toFixed(1) : null, samples: rss },
  swap, serverExit: exitCode,
};
log(`${out.requestsPerSec} req/s, p50 ${out.latencyMs.p50} ms, p99 ${out.latencyMs.p99} ms, errors ${out.errors}, non-2xx ${out.non2xx}`);
process.stdout.write(`${JSON.stringify(out)}\n`);
