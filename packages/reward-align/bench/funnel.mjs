// Acceptance experiment on the synthetic world (EVAL.md section 2): base vs reward-align with the
// proxy reward model vs reward-align with the true value V(u, i) as a frozen reward model.
// Usage (after `npx tsc -b packages/reward-align/tsconfig.lib.json`):
//   node packages/reward-align/bench/funnel.mjs [--seeds 0,1,2] [--runs base,proxy,truth] [--epochs N] [--opt k=v,...] [--impressions N]
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const core = require('../../core/dist/index.js');
const ra = require('../dist/index.js');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const seeds = (args.seeds ?? '0,1,2').split(',').map(Number);
const runs = (args.runs ?? 'base,proxy,truth').split(',');
const epochs = args.epochs ? Number(args.epochs) : undefined;
const world = {};
for (const k of ['impressions', 'numUsers', 'numItems']) if (args[k] !== undefined) world[k] = Number(args[k]);
const opts = {};
for (const kv of (args.opt ?? '').split(',').filter(Boolean)) {
  const [k, v] = kv.split('=');
  opts[k] = v === 'true' ? true : v === 'false' ? false : Number.isNaN(Number(v)) ? v : Number(v);
}

await core.initBackend({});
const results = {};
for (const seed of seeds) {
  const dataset = core.syntheticWorld({ seed, validation: true, ...world });
  for (const run of runs) {
    const t0 = Date.now();
    const defs = run === 'base' ? [] : run === 'truth' ? [ra.rewardAlignWith(ra.truthScorer(dataset.truth))] : [ra.rewardAlign];
    const stages = run === 'base' ? [] : [{ name: 'reward-align', options: { ...opts, ...(run === 'truth' ? { reward: 'frozen' } : {}) } }];
    const { model, result } = await core.fitTwoTower(dataset, { seed, epochs, progress: 'none', stages: defs, model: { seed, stages } });
    const funnel = await core.evaluateModelFunnel(model, dataset);
    const last = result.history?.[result.history.length - 1];
    const row = { seed, run, ...funnel, epochs: result.epochs, bestEpoch: result.bestEpoch, seconds: (Date.now() - t0) / 1000, terms: last?.terms };
    console.log(JSON.stringify(row));
    (results[run] ??= []).push(row);
    model.dispose();
  }
}
const metricKeys = Object.keys(results[runs[0]][0]).filter((k) => /@|value/.test(k));
for (const run of runs) {
  const rows = results[run];
  const summary = {};
  for (const k of metricKeys) {
    const xs = rows.map((r) => r[k]).filter((x) => typeof x === 'number');
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
    summary[k] = `${mean.toFixed(4)} ± ${sd.toFixed(4)} [${xs.map((x) => x.toFixed(4)).join(', ')}]`;
  }
  console.log(`SUMMARY ${run} ${JSON.stringify(opts)}: ${JSON.stringify(summary)}`);
}
