// Quality of stage combinations over seeds (EVAL.md): funnel metrics on the synthetic world, or
// loo-full recall on MovieLens / a CSV, each run against the first one (paired by seed).
// Usage (after `npx tsc -b packages/cli/tsconfig.lib.json`):
//   node tools/bench/stage-quality.mjs --runs base=,lr=light-ranker,hist-lr=history+light-ranker,kd=light-ranker+distill
//     [--data synthetic|movielens:<dir>|sequence:<file>|csv:<train>[,<test>]] [--seeds 0,1,2] [--epochs N] [--patience N] [--restoreBest false]
//     [--opt light-ranker.lossWeight=0.5,...] [--opt:lr light-ranker.numCandidates=100]
//     [--model temperature=0.1,mixedNegatives=1024] [--model:<run> ...]   model config fields (every run / one run)
//     [--fit learningRate=1e-3,batchSize=1024] [--fit:<run> ...]          fitTwoTower options (every run / one run)
//     [--world numItems=2000,positionBias=1]
//   --opt:<run> reward-align.reward=truth: the synthetic world's true value V(u, i) as a frozen
//   reward model (the upper bound of reward alignment).
// Prints one JSON line per run and seed, then one SUMMARY line per run: mean ± sd over seeds,
// and the mean paired difference to the first run with its sd. Runs with distill also report
// teacher-corr@<task>: the distilled logits' correlation with the logged scores on the test rows;
// runs with a debiasing stage on the synthetic world report spearman@position: the learned
// position curve against the world's true position effect (1 + position)^-positionBias.
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const core = require('../../packages/core/dist/index.js');
const { stageDefinitions } = require('../../packages/cli/dist/stages.js');
const { loadData } = require('../../packages/cli/dist/data-spec.js');
const { teacherAgreement } = require('../../packages/distill/dist/index.js');
const { rewardAlignWith, truthScorer } = require('../../packages/reward-align/dist/index.js');
const { debiasDiagnostics } = require('../../packages/debias/dist/index.js');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const parseValue = (v) => (v === 'true' ? true : v === 'false' ? false : Number.isNaN(Number(v)) ? v : Number(v));
const pairs = (s) => (s ?? '').split(',').filter(Boolean).map((kv) => kv.split('='));
const runs = (args.runs ?? 'base=').split(',').map((r) => {
  const [name, list = ''] = r.split('=');
  return { name, stages: list.split('+').filter(Boolean) };
});
const seeds = (args.seeds ?? '0,1,2').split(',').map(Number);
const epochs = args.epochs ? Number(args.epochs) : undefined;
const patience = args.patience ? Number(args.patience) : undefined;
const restoreBest = args.restoreBest ? args.restoreBest === 'true' : undefined;
const data = args.data ?? 'synthetic';
// --opt applies to every run, --opt:<run> to that run only
const optionsOf = (spec, into = {}) => {
  for (const [k, v] of pairs(spec)) {
    const dot = k.indexOf('.');
    (into[k.slice(0, dot)] ??= {})[k.slice(dot + 1)] = parseValue(v);
  }
  return into;
};
const stageOptions = optionsOf(args.opt);
const flat = (spec) => Object.fromEntries(pairs(spec).map(([k, v]) => [k, parseValue(v)]));
for (const run of runs) {
  run.options = optionsOf(args[`opt:${run.name}`], structuredClone(stageOptions));
  run.model = { ...flat(args.model), ...flat(args[`model:${run.name}`]) };
  run.fit = { ...flat(args.fit), ...flat(args[`fit:${run.name}`]) };
}
// a named world of the suite (--data world:<name>) brings its own options; --world adds to them
const named = data.startsWith('world:') ? core.worldByName(data.slice('world:'.length)).options : {};
const world = { ...named, ...Object.fromEntries(pairs(args.world).map(([k, v]) => [k, parseValue(v)])) };

await core.initBackend({});
const rows = {};
for (const seed of seeds) {
  const dataset = data === 'synthetic' || data.startsWith('world:') ? core.syntheticWorld({ seed, validation: true, ...world }) : await loadData(data, { seed });
  for (const run of runs) {
    const t0 = Date.now();
    const truthReward = run.options['reward-align']?.reward === 'truth';
    if (truthReward && !dataset.truth) throw new Error('reward-align.reward=truth needs the synthetic world');
    const definitions = run.stages.map((n) => (n === 'reward-align' && truthReward ? rewardAlignWith(truthScorer(dataset.truth))
      : stageDefinitions.find((d) => d.name === n) ?? (() => { throw new Error(`unknown stage ${n}`); })()));
    const stages = run.stages.map((name) => ({ name, options: { ...run.options[name], ...(name === 'reward-align' && truthReward ? { reward: 'frozen' } : {}) } }));
    const { model, result, temperatures } = await core.fitTwoTower(dataset, {
      seed, epochs, patience, restoreBest, progress: 'none', stages: definitions, ...run.fit, model: { seed, stages, ...run.model },
    });
    const metrics = dataset.truth ? { ...(await core.evaluateModelFunnel(model, dataset)), ...pick(await core.evaluateModel(model, dataset), ['recall@20']) } : pick(await core.evaluateModel(model, dataset), ['recall@10', 'recall@20', 'ndcg@10']);
    // distillation: correlation of the distilled logits with the ranker's logged scores on the test rows
    const agreement = run.stages.includes('distill') ? Object.fromEntries(Object.entries(teacherAgreement(model, dataset).correlation).map(([t, c]) => [`teacher-corr@${t}`, c])) : {};
    const curve = dataset.truth && run.stages.some((n) => n.startsWith('debias')) ? debiasDiagnostics(model).positionCurve : undefined;
    const position = curve ? { 'spearman@position': core.spearman(curve, curve.map((_, p) => (1 + p) ** -(world.positionBias ?? 0.7))) } : {};
    // each validation metric per epoch (recall@20, and ranker-agreement where requests are held out)
    const valCurve = {};
    for (const h of result.history) for (const [k, v] of Object.entries(h.metrics ?? {})) if (k !== 'users') (valCurve[k] ??= []).push(+v.toFixed(4));
    const row = {
      run: run.name, seed, ...metrics, ...agreement, ...position, epochs: result.epochs, bestEpoch: result.bestEpoch,
      examplesPerSec: Math.round(result.examplesPerSec), seconds: (Date.now() - t0) / 1000, validation: valCurve,
      // a log without timestamps: the temperatures tried and their validation monitor (the kept run's curve above)
      ...(temperatures ? { temperature: model.config.temperature, temperatures } : {}),
    };
    console.log(JSON.stringify(row));
    (rows[run.name] ??= []).push(row);
    model.dispose();
  }
}

function pick(o, keys) {
  return Object.fromEntries(keys.filter((k) => k in o).map((k) => [k, o[k]]));
}
const stats = (xs) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  return { mean: +mean.toFixed(4), sd: +sd.toFixed(4) };
};
const first = rows[runs[0].name];
for (const run of runs) {
  const summary = { run: run.name, stages: run.stages, options: run.options, model: run.model, fit: run.fit, world, data, seeds };
  for (const k of Object.keys(rows[run.name][0]).filter((key) => /@/.test(key))) {
    const xs = rows[run.name].map((r) => r[k]);
    summary[k] = { ...stats(xs), values: xs.map((x) => +x.toFixed(4)) };
    if (run !== runs[0] && k in first[0]) summary[k].diff = stats(xs.map((x, i) => x - first[i][k]));
  }
  console.log(`SUMMARY ${JSON.stringify(summary)}`);
}
