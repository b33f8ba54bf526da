// Open Bandit Dataset check of the position estimate (issue 18): train a debias stage on the
// Bernoulli Thompson Sampling campaign (`bts`: the policy's choice of item and slot follows its
// belief in the item, so positions and relevance are confounded) and compare the learned relative
// exposure curve theta(p) / theta(0) with the uniformly random campaign's click-rate ratio
// CTR(p) / CTR(0) (items put in slots at random: no confounding), with a percentile bootstrap 95%
// interval of that ratio. The bts log's own raw CTR ratio is printed beside it (what a regression
// on position alone would learn).
// Usage (after `npx tsc -b packages/cli/tsconfig.lib.json`):
//   node packages/debias/bench/obd.mjs [--data ../shared/data/open-bandit-dataset] [--campaigns men,women]
//     [--stage debias-position] [--estimator examination] [--epochs 60] [--seeds 0,1,2] [--json]
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
const require = createRequire(import.meta.url);
const core = require('../../core/dist/index.js');
const deb = require('../dist/index.js');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const root = resolve(args.data ?? '/work/shared/data/open-bandit-dataset');
const campaigns = (args.campaigns ?? 'men,women').split(',');
const stage = args.stage ?? 'debias-position';
const estimator = args.estimator ?? 'examination';
const epochs = Number(args.epochs ?? 60);
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

/** CTR(p) / CTR(0) per position with a percentile bootstrap 95% interval (rows resampled within each position). */
function ratioWithBootstrap(raw, P, B = 4000) {
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const byPos = Array.from({ length: P }, () => []);
  for (const [p, c] of raw) byPos[p].push(c);
  const ctr = byPos.map((cs) => cs.reduce((a, b) => a + b, 0) / cs.length);
  const boots = Array.from({ length: P }, () => []);
  for (let b = 0; b < B; b++) {
    const m = byPos.map((cs) => {
      let k = 0;
      for (let i = 0; i < cs.length; i++) k += cs[Math.floor(rand() * cs.length)];
      return k / cs.length;
    });
    for (let p = 0; p < P; p++) boots[p].push(m[0] > 0 ? m[p] / m[0] : NaN);
  }
  return byPos.map((cs, p) => {
    const xs = boots[p].filter(Number.isFinite).sort((a, b) => a - b);
    return { rows: cs.length, clicks: cs.reduce((a, b) => a + b, 0), ratio: ctr[p] / ctr[0], lo: xs[Math.floor(0.025 * xs.length)], hi: xs[Math.floor(0.975 * xs.length)] };
  });
}

await core.initBackend({ log: false });
const report = { stage, estimator, epochs, seeds, campaigns: {} };
for (const campaign of campaigns) {
  const bts = transform(join(root, 'bts', campaign, `${campaign}.csv`), join(out, `bts-${campaign}.csv`));
  const random = transform(join(root, 'random', campaign, `${campaign}.csv`), join(out, `random-${campaign}.csv`));
  const dataset = await core.loadInteractionCsv({ train: join(out, `bts-${campaign}.csv`) });
  const P = dataset.schema.numPositions;
  const reference = ratioWithBootstrap(random, P);
  const btsRaw = ratioWithBootstrap(bts, P, 1);
  const curves = [];
  for (const seed of seeds) {
    // a fixed budget: the curve is what is measured here, not retrieval (early stopping would end it after a few epochs)
    const { model } = await core.fitTwoTower(dataset, {
      seed, epochs, patience: epochs, restoreBest: false, progress: 'none', stages: deb.debiasStages,
      model: { seed, historyPooling: 0, stages: [{ name: stage, options: { estimator } }] },
    });
    curves.push(deb.debiasDiagnostics(model).relativePositionCurve);
    model.dispose();
  }
  const mean = Array.from({ length: P }, (_, p) => curves.reduce((a, c) => a + c[p], 0) / curves.length);
  const inside = mean.map((m, p) => m >= reference[p].lo && m <= reference[p].hi);
  report.campaigns[campaign] = { btsRows: bts.length, randomRows: random.length, reference, btsRawRatio: btsRaw.map((r) => r.ratio), learned: curves, learnedMean: mean, inside };
  console.log(`\n${campaign}: trained on bts (${bts.length} rows), ${stage} (${estimator}), ${epochs} epochs, seeds ${seeds.join(',')}`);
  console.log('position | random CTR ratio [bootstrap 95%] | bts raw CTR ratio | learned exposure ratio (mean; per seed)');
  for (let p = 0; p < P; p++) {
    const r = reference[p];
    console.log(`${String(p).padStart(8)} | ${r.ratio.toFixed(3)} [${r.lo.toFixed(3)}, ${r.hi.toFixed(3)}] | ${btsRaw[p].ratio.toFixed(3)} | ${mean[p].toFixed(3)} (${curves.map((c) => c[p].toFixed(3)).join(', ')})${inside[p] ? '  inside' : '  OUTSIDE'}`);
  }
}
writeFileSync(join(out, 'report.json'), JSON.stringify(report, null, 2));
if (args.json !== undefined) console.log(JSON.stringify(report));
console.log(`\nreport: ${join(out, 'report.json')}`);
