// Acceptance experiment on the synthetic world (EVAL.md section 2): base vs debias stages,
// funnel metrics over seeds, and the learned position curve against the true position effect.
// Usage (after `npx tsc -b packages/debias/tsconfig.lib.json`):
//   node packages/debias/bench/funnel.mjs [--seeds 0,1,2] [--stages base,debias] [--epochs 30] [--positionBias 0.7] [--impressions 60000] [--opt k=v,...]
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const core = require('../../core/dist/index.js');
const deb = require('../dist/index.js');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const seeds = (args.seeds ?? '0,1,2').split(',').map(Number);
const stages = (args.stages ?? 'base,debias').split(',');
const epochs = args.epochs ? Number(args.epochs) : undefined;
const world = {};
for (const k of ['positionBias', 'impressions', 'numUsers', 'numItems', 'zipf', 'slateSize', 'orderAffinity', 'orderPopularity', 'orderNoise']) if (args[k] !== undefined) world[k] = Number(args[k]);
const stageOptions = {};
for (const kv of (args.opt ?? '').split(',').filter(Boolean)) {
  const [k, v] = kv.split('=');
  stageOptions[k] = v === 'true' ? true : v === 'false' ? false : Number(v);
}

await core.initBackend({});
const results = {};
for (const seed of seeds) {
  const dataset = core.syntheticWorld({ seed, validation: true, ...world });
  const pb = world.positionBias ?? 0.7;
  const truth = Array.from({ length: dataset.schema.numPositions }, (_, p) => (1 + p) ** -pb);
  for (const name of stages) {
    const t0 = Date.now();
    const defs = name === 'base' ? [] : deb.debiasStages;
    const { model, result } = await core.fitTwoTower(dataset, {
      seed, epochs, progress: 'none', stages: defs, model: { seed, stages: name === 'base' ? [] : [{ name, options: stageOptions }] },
    });
    const funnel = await core.evaluateModelFunnel(model, dataset);
    const row = { seed, stage: name, ...funnel, epochs: result.epochs, bestEpoch: result.bestEpoch, seconds: (Date.now() - t0) / 1000 };
    if (name !== 'base') {
      const d = deb.debiasDiagnostics(model);
      if (d.positionCurve) {
        row.positionCurve = d.positionCurve;
        row.spearman = core.spearman(d.positionCurve, truth);
      }
      if (d.userPropensity) row.userPropensity = d.userPropensity;
    }
    console.log(JSON.stringify(row));
    (results[name] ??= []).push(row);
    model.dispose();
  }
}
const metricKeys = Object.keys(results[stages[0]][0]).filter((k) => /@|value/.test(k));
for (const name of stages) {
  const rows = results[name];
  const summary = {};
  for (const k of [...metricKeys, 'spearman']) {
    const xs = rows.map((r) => r[k]).filter((x) => typeof x === 'number');
    if (!xs.length) continue;
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
    summary[k] = `${mean.toFixed(4)} ± ${sd.toFixed(4)} [${xs.map((x) => x.toFixed(4)).join(', ')}]`;
  }
  console.log(`SUMMARY ${name}: ${JSON.stringify(summary)}`);
}
