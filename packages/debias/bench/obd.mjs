// Open Bandit Dataset check: transform the OBD CSV into the generic interaction CSV (EVAL.md
// section 3) in a temp dir, load it with @tt/core's loader, train with a debias stage, and print
// the learned position curve beside the empirical CTR per position with bootstrap 95% intervals.
// Usage (after `npx tsc -b packages/debias/tsconfig.lib.json`):
//   node packages/debias/bench/obd.mjs [--data ../shared/data/open-bandit-dataset] [--logs random/men,random/women] [--stage debias-position] [--epochs 10] [--seeds 0,1,2] [--svg dir]
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
const require = createRequire(import.meta.url);
const core = require('../../core/dist/index.js');
const deb = require('../dist/index.js');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const root = resolve(args.data ?? '/work/shared/data/open-bandit-dataset');
const logs = (args.logs ?? 'random/men,random/women').split(',');
const stage = args.stage ?? 'debias-position';
const epochs = Number(args.epochs ?? 10);
const seeds = (args.seeds ?? '0,1,2').split(',').map(Number);
const out = mkdtempSync(join(tmpdir(), 'tt-obd-'));

/** OBD rows -> generic CSV: user_id = hash of the 4 user features (OBD has no user id), position 0-based. */
function transform(path, dest) {
  const lines = readFileSync(path, 'utf8').split(/\r?\n/).filter(Boolean);
  const header = lines[0].split(',');
  const col = (name) => header.indexOf(name);
  const [ts, item, pos, click] = ['timestamp', 'item_id', 'position', 'click'].map(col);
  const uf = [0, 1, 2, 3].map((k) => col(`user_feature_${k}`));
  const rows = ['user_id,item_id,timestamp,position,label_click'];
  const raw = [];
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    const user = createHash('sha1').update(uf.map((k) => f[k]).join('|')).digest('hex').slice(0, 12);
    const p = Number(f[pos]) - 1;
    const c = Number(f[click]);
    rows.push(`u${user},${f[item]},${new Date(f[ts].replace(' ', 'T')).toISOString()},${p},${c}`);
    raw.push([p, c]);
  }
  writeFileSync(dest, rows.join('\n') + '\n');
  return raw;
}

/** CTR per position and a percentile bootstrap 95% interval (rows resampled within position). */
function ctrWithBootstrap(raw, P, B = 2000) {
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const byPos = Array.from({ length: P }, () => []);
  for (const [p, c] of raw) byPos[p].push(c);
  return byPos.map((cs) => {
    const n = cs.length;
    const k = cs.reduce((a, b) => a + b, 0);
    const boots = [];
    for (let b = 0; b < B; b++) {
      let m = 0;
      for (let i = 0; i < n; i++) m += cs[Math.floor(rand() * n)];
      boots.push(m / n);
    }
    boots.sort((a, b) => a - b);
    return { rows: n, clicks: k, ctr: k / n, lo: boots[Math.floor(0.025 * B)], hi: boots[Math.floor(0.975 * B)] };
  });
}

await core.initBackend({});
const report = {};
for (const log of logs) {
  const campaign = log.split('/').pop();
  const file = join(out, `${log.replace('/', '-')}.csv`);
  const raw = transform(join(root, log, `${campaign}.csv`), file);
  const dataset = await core.loadInteractionCsv({ train: file });
  const P = dataset.schema.numPositions;
  // the estimator sees the training split (loo-full holds each user's last click out): compare with its CTR
  const T = dataset.schema.tasks.length;
  const trainRows = Array.from({ length: dataset.train.size }, (_, r) => [dataset.train.position[r], dataset.train.labels[r * T]]);
  const ctr = ctrWithBootstrap(trainRows, P);
  const ctrFile = ctrWithBootstrap(raw, P);
  const curves = [];
  for (const seed of seeds) {
    const { model } = await core.fitTwoTower(dataset, { seed, epochs, progress: 'none', stages: deb.debiasStages, model: { seed, stages: [{ name: stage }] } });
    curves.push(deb.debiasDiagnostics(model).positionCurve);
    model.dispose();
  }
  const mean = Array.from({ length: P }, (_, p) => curves.reduce((a, c) => a + c[p], 0) / curves.length);
  report[log] = { file, rows: raw.length, trainRows: trainRows.length, ctrFile, users: dataset.schema.numUsers, items: dataset.schema.numItems, warnings: dataset.warnings, ctr, learnedCurves: curves, learnedMean: mean };
  console.log(`\n${log}: ${raw.length} rows, ${dataset.schema.numUsers} user contexts, ${dataset.schema.numItems} items; stage ${stage}, ${epochs} epochs, seeds ${seeds.join(',')}`);
  console.log(`training split: ${trainRows.length} rows (the loo-full split holds ${raw.length - trainRows.length} rows out); whole-file CTR per position: ${ctrFile.map((c) => `${c.ctr.toFixed(4)} [${c.lo.toFixed(4)}, ${c.hi.toFixed(4)}]`).join(', ')}`);
  console.log('position | train rows | clicks | train CTR [bootstrap 95%] | learned estimate (mean over seeds; per seed)');
  for (let p = 0; p < P; p++) {
    const c = ctr[p];
    console.log(`${String(p).padStart(8)} | ${String(c.rows).padStart(4)} | ${String(c.clicks).padStart(6)} | ${c.ctr.toFixed(4)} [${c.lo.toFixed(4)}, ${c.hi.toFixed(4)}] | ${mean[p].toFixed(4)} (${curves.map((cv) => cv[p].toFixed(4)).join(', ')})${mean[p] >= c.lo && mean[p] <= c.hi ? '  inside' : '  OUTSIDE'}`);
  }
  if (args.svg) {
    mkdirSync(args.svg, { recursive: true });
    const svg = deb.renderSvgChart([
      { label: 'empirical CTR', values: ctr.map((c) => c.ctr), lower: ctr.map((c) => c.lo), upper: ctr.map((c) => c.hi) },
      { label: 'learned', values: mean },
    ], { title: `OBD ${log}: position effect`, xLabel: 'position (0 = left)', yLabel: 'click rate' });
    writeFileSync(join(args.svg, `obd-${log.replace('/', '-')}.svg`), svg);
  }
}
writeFileSync(join(out, 'report.json'), JSON.stringify(report, null, 2));
console.log(`\nreport: ${join(out, 'report.json')}`);
