#!/usr/bin/env node
// Parquet training benchmark: does a log streamed from Parquet train as fast as the same rows in
// memory, with a peak RSS that does not grow with the number of rows?
//
//   node tools/bench/bench-parquet.mjs --json                         2M and 20M rows
//   node tools/bench/bench-parquet.mjs --rows 200000 --json           a quick look
//
// A seeded generator writes each log as Parquet part files of at most 2.5M rows (row groups of
// 122,880 rows, DuckDB's default; INT64 user_id, item_id, timestamp and a 0/1 label_click), over
// a fixed vocabulary (--users, --items, skewed item popularity), into --dir (kept between runs).
// Then each run is a child process, back to back, so its peak RSS is its own:
//   memory:  the same rows generated into memory (the whole log), then --steps steps of
//            inMemorySource's epoch
//   parquet: streamingParquetSource over the part files: its first pass reads and validates every
//            row of every file, then --steps steps of the streamed, shuffled epoch
// For each round (--rounds), memory then parquet at each size. Same model everywhere: no
// features, --dim, logQ, batch --batch-size. (A full epoch is the same loop for longer: the
// streamed epoch holds one row group and the shuffle buffer whatever its position in the log.)
// Throughput is reported per wall second and per CPU second of the process (on a shared machine
// the second is what the run got). The last stdout line is one JSON object:
// {"runs":[...], "parquetOverMemory":{...}, "parquetOverMemoryCpu":{...}, "loadavg":...}.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initBackend, inMemorySource, MODEL_DEFAULTS, resolveConfig, streamingParquetSource, Trainer, TwoTowerModel } from '@tt/core';
import { mulberry32 } from '@tt/mips';

const { values: opt } = parseArgs({
  options: {
    rows: { type: 'string', default: '2000000,20000000' },
    users: { type: 'string', default: '100000' },
    items: { type: 'string', default: '20000' },
    dim: { type: 'string', default: '32' },
    'batch-size': { type: 'string', default: '512' },
    steps: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '2' },
    dir: { type: 'string', default: '/tmp/tt-bench-parquet' },
    child: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const U = Number(opt.users);
const I = Number(opt.items);
const B = Number(opt['batch-size']);
const dim = Number(opt.dim);
// the default user tower pools each user's latest positives: both sources carry them
const H = MODEL_DEFAULTS.historyPooling;
const PART = 2_500_000;
const GROUP = 122_880;

/** Row r of the seeded log, from one generator stream (the same for both modes). */
function* generate(n) {
  const rand = mulberry32(12345);
  for (let r = 0; r < n; r++) {
    const user = Math.floor(rand() * U);
    const item = Math.floor(Math.pow(rand(), 2) * I); // popular items first
    const click = rand() < 0.3 ? 1 : 0;
    yield { user, item, click, timestamp: r };
  }
}

async function writeLog(n, dir) {
  const { ParquetWriter, fileWriter } = await import('hyparquet-writer');
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const rows = generate(n);
  for (let part = 0; part * PART < n; part++) {
    const count = Math.min(PART, n - part * PART);
    const schema = [
      { name: 'root', num_children: 4 },
      { name: 'user_id', type: 'INT64', repetition_type: 'REQUIRED' },
      { name: 'item_id', type: 'INT64', repetition_type: 'REQUIRED' },
      { name: 'timestamp', type: 'INT64', repetition_type: 'REQUIRED' },
      { name: 'label_click', type: 'INT32', repetition_type: 'REQUIRED' },
    ];
    const writer = new ParquetWriter({ writer: fileWriter(join(tmp, `part-${String(part).padStart(5, '0')}.parquet`)), schema });
    for (let s = 0; s < count; s += GROUP) {
      const m = Math.min(GROUP, count - s);
      const u = new BigInt64Array(m), it = new BigInt64Array(m), ts = new BigInt64Array(m), l = new Int32Array(m);
      for (let i = 0; i < m; i++) {
        const row = rows.next().value;
        u[i] = BigInt(row.user); it[i] = BigInt(row.item); ts[i] = BigInt(row.timestamp); l[i] = row.click;
      }
      writer.write({ columnData: [{ name: 'user_id', data: u }, { name: 'item_id', data: it }, { name: 'timestamp', data: ts }, { name: 'label_click', data: l }], rowGroupSize: m });
    }
    writer.finish();
  }
  renameSync(tmp, dir);
}

function peakRssMb() {
  return process.resourceUsage().maxRSS / 1024;
}

function modelFor(source) {
  const config = resolveConfig(source.schema, { dim, hidden: dim, seed: 0 });
  return TwoTowerModel.create(config, { userIds: source.userIds, itemIds: source.itemIds, userFeatures: new Float32Array(0), itemFeatures: new Float32Array(0) }, []);
}

async function child() {
  const backend = await initBackend({ log: false });
  const [mode, arg] = [opt.child, opt.rows];
  const t0 = performance.now();
  let source;
  let rows;
  if (mode === 'parquet') {
    source = await streamingParquetSource(arg, { batchSize: B, seed: 0, historyLength: H });
    rows = source.rowsPerEpoch;
  } else {
    rows = Number(arg);
    const user = new Int32Array(rows);
    const item = new Int32Array(rows);
    const labels = new Float32Array(rows);
    const timestamp = new Float64Array(rows);
    const seenU = new Uint8Array(U);
    const seenI = new Uint8Array(I);
    let r = 0;
    for (const row of generate(rows)) {
      user[r] = row.user; item[r] = row.item; labels[r] = row.click; timestamp[r] = row.timestamp;
      seenU[row.user] = 1; seenI[row.item] = 1;
      r++;
    }
    // the streaming source's vocabulary: integer ids ascending, only those in the log
    const userIds = []; const userAt = new Int32Array(U).fill(-1);
    seenU.forEach((s, id) => { if (s) { userAt[id] = userIds.length; userIds.push(id); } });
    const itemIds = []; const itemAt = new Int32Array(I).fill(-1);
    seenI.forEach((s, id) => { if (s) { itemAt[id] = itemIds.length; itemIds.push(id); } });
    for (let k = 0; k < rows; k++) { user[k] = userAt[user[k]]; item[k] = itemAt[item[k]]; }
    const schema = { numUsers: userIds.length, numItems: itemIds.length, tasks: ['click'], userFeatureDim: 0, itemFeatureDim: 0, numPositions: 0, hasRankerScores: false, labelMax: [1] };
    const empty = { size: 0, user: new Int32Array(0), item: new Int32Array(0), labels: new Float32Array(0) };
    const dataset = {
      name: 'generated', schema, userIds, itemIds, userFeatures: new Float32Array(0), itemFeatures: new Float32Array(0), valueWeights: Float32Array.from([1]),
      train: { size: rows, user, item, labels, timestamp }, test: empty,
    };
    source = Object.assign(inMemorySource(dataset, { batchSize: B, seed: 0, historyLength: H }), { userIds, itemIds });
  }
  const openS = (performance.now() - t0) / 1000;
  const rssAfterOpenMb = process.memoryUsage().rss / 2 ** 20;
  const model = modelFor(source);
  const maxSteps = Number(opt.steps);
  const trainer = new Trainer(model, { epochs: 1, progress: 'none', log: () => undefined, maxSteps });
  const t1 = performance.now();
  const cpu0 = process.cpuUsage();
  const result = await trainer.fit(source);
  const trainS = (performance.now() - t1) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const trainCpuS = (cpu.user + cpu.system) / 1e6;
  trainer.dispose();
  model.dispose();
  process.stdout.write(`${JSON.stringify({
    mode, rows, users: source.schema.numUsers, items: source.schema.numItems, backend: backend.name,
    openS: Number(openS.toFixed(2)), trainS: Number(trainS.toFixed(1)), steps: result.steps, examples: result.examples,
    examplesPerSec: Math.round(result.examples / trainS), trainCpuS: Number(trainCpuS.toFixed(1)), examplesPerCpuSec: Math.round(result.examples / trainCpuS), rssAfterOpenMb: Math.round(rssAfterOpenMb), peakRssMb: Math.round(peakRssMb()),
  })}\n`);
}

async function parent() {
  const sizes = opt.rows.split(',').map(Number).sort((a, b) => a - b);
  mkdirSync(opt.dir, { recursive: true });
  for (const n of sizes) {
    const dir = join(opt.dir, `log-${n}`);
    if (!existsSync(dir)) {
      const t0 = performance.now();
      process.stderr.write(`[bench] writing ${n} rows to ${dir} ...\n`);
      await writeLog(n, dir);
      process.stderr.write(`[bench] wrote ${readdirSync(dir).length} part files in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    }
  }
  const script = fileURLToPath(import.meta.url);
  const plan = [];
  for (let round = 0; round < Number(opt.rounds); round++) for (const n of sizes) plan.push(['memory', String(n)], ['parquet', join(opt.dir, `log-${n}`)]);
  const runs = [];
  for (const [mode, arg] of plan) {
    const args = [script, '--child', mode, '--rows', arg, '--users', opt.users, '--items', opt.items, '--dim', opt.dim, '--batch-size', opt['batch-size'], '--steps', opt.steps];
    process.stderr.write(`[bench] ${mode} ${arg} (load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}) ...\n`);
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`child ${mode} ${arg} failed (${r.status})`);
    const run = JSON.parse(r.stdout.trim().split('\n').pop());
    process.stderr.write(`[bench]   ${JSON.stringify(run)}\n`);
    runs.push(run);
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  // parquet over memory at the same size, runs paired within a round
  const ratio = (key) => Object.fromEntries(sizes.map((n) => {
    const of = (mode) => runs.filter((r) => r.mode === mode && r.rows === n).map((r) => r[key]);
    return [n, Number((mean(of('parquet')) / mean(of('memory'))).toFixed(3))];
  }));
  const summary = {
    dim, batchSize: B, users: U, items: I, steps: Number(opt.steps), runs,
    // parquet ex/s over in-memory ex/s at the same size: wall clock, and per CPU second
    // (the machine is shared: CPU time is what a run got, wall time includes what others took)
    parquetOverMemory: ratio('examplesPerSec'),
    parquetOverMemoryCpu: ratio('examplesPerCpuSec'),
    loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  };
  if (opt.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else console.log(summary);
}

if (opt.child) await child();
else await parent();
