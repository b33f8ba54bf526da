// What each validation signal says, epoch by epoch, against the truth (issue 18): a model trained as
// `tt train --data world:W [--stages S] --no-refit` trains it, but for a fixed number of epochs, and after
// every epoch: validation recall@20 (the base model's early-stopping monitor), ranker-agreement on the
// held-out requests (the funnel stages' monitor), and on the test users the world's true
// alignment@10/100 and value@10 (EVAL.md section 2). Then, per world: the epoch each monitor's early
// stopping (patience 3) keeps, the truth there, the best of the epochs, and each monitor's correlation
// with the truth over the epochs.
// Usage (after `npx tsc -b packages/cli/tsconfig.lib.json`):
//   node tools/bench/epoch-curves.mjs --worlds sparse-catalogue,best-first [--seeds 0,1,2] [--epochs 10] [--stages light-ranker]
// Prints one JSON line per world and seed (the per-epoch rows), then one SUMMARY line per world.
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
const require = createRequire(import.meta.url);
const core = require('../../packages/core/dist/index.js');
const { trainingItemsPerUser } = require('../../packages/core/dist/data/batches.js');
const { loadData } = require('../../packages/cli/dist/data-spec.js');
const { fitOptionsOf } = require('../../packages/cli/dist/commands/train.js');

const { values: opt } = parseArgs({
  options: {
    worlds: { type: 'string', default: 'sparse-catalogue' },
    seeds: { type: 'string', default: '0,1,2' },
    epochs: { type: 'string', default: '10' },
    stages: { type: 'string' },
  },
});
const PATIENCE = core.FIT_DEFAULTS.patience;

/** The epoch (0-based) early stopping with restore-best keeps on the series `xs`. */
function kept(xs) {
  let best = -Infinity;
  let at = 0;
  for (let e = 0, stale = 0; e < xs.length && stale < PATIENCE; e++) {
    if (xs[e] > best) [best, at, stale] = [xs[e], e, 0];
    else stale++;
  }
  return at;
}
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
function pearson(a, b) {
  const [ma, mb] = [mean(a), mean(b)];
  let [num, da, db] = [0, 0, 0];
  for (let i = 0; i < a.length; i++) [num, da, db] = [num + (a[i] - ma) * (b[i] - mb), da + (a[i] - ma) ** 2, db + (b[i] - mb) ** 2];
  return num / Math.sqrt(da * db);
}

await core.initBackend({ log: false });
for (const world of opt.worlds.split(',')) {
  const perSeed = [];
  for (const seed of opt.seeds.split(',').map(Number)) {
    const data = `world:${world}`;
    const dataset = await loadData(data, { seed });
    const o = fitOptionsOf({ data, checkpoint: '', seed, stages: opt.stages });
    // the config fitTwoTower resolves for a world (per-user id dropout; a world has timestamps and fewer than 10,000 items)
    const config = core.resolveConfig(dataset.schema, { valueWeights: Array.from(dataset.valueWeights), seed, userIdDropoutRows: core.FIT_DEFAULTS.userIdDropoutRows, ...o.model });
    const model = core.TwoTowerModel.create(config, dataset, o.stages ?? []);
    model.setUserTrainingRows(trainingItemsPerUser(dataset.train, dataset.schema.numUsers, dataset.valueWeights, model.stages.some((s) => s.trainsOnScoredRows)));
    const source = core.inMemorySource(dataset, {
      batchSize: core.FIT_DEFAULTS.batchSize, seed, historyLength: model.historyLength, wholeRequests: model.stages.some((s) => s.needsWholeRequests),
    });
    const rows = [];
    const trainer = new core.Trainer(model, {
      epochs: Number(opt.epochs), learningRate: core.FIT_DEFAULTS.learningRate, progress: 'none',
      validate: async () => {
        const v = await core.evaluateModel(model, dataset, 'validation');
        const agreement = await core.evaluateRankerAgreement(model, dataset);
        const f = await core.evaluateModelFunnel(model, dataset);
        rows.push({ 'recall@20': v['recall@20'], 'ranker-agreement': agreement, 'alignment@10/100': f['alignment@10/100'], 'value@10': f['value@10'] });
        return { 'recall@20': v['recall@20'] };
      },
    });
    await trainer.fit(source);
    trainer.dispose();
    model.dispose();
    console.log(JSON.stringify({ world, seed, stages: opt.stages ?? '', rows }));
    perSeed.push(rows);
  }
  const series = (rows, k) => rows.map((r) => r[k]);
  const at = (rows, e) => ({ alignment: rows[e]['alignment@10/100'], value: rows[e]['value@10'] });
  const summary = { world, seeds: opt.seeds, epochs: Number(opt.epochs) };
  for (const monitor of ['recall@20', 'ranker-agreement']) {
    const epochs = perSeed.map((rows) => kept(series(rows, monitor)));
    summary[monitor] = {
      keptEpochs: epochs.map((e) => e + 1),
      alignment: mean(perSeed.map((rows, i) => at(rows, epochs[i]).alignment)),
      value: mean(perSeed.map((rows, i) => at(rows, epochs[i]).value)),
      corrWithValue: mean(perSeed.map((rows) => pearson(series(rows, monitor), series(rows, 'value@10')))),
      corrWithAlignment: mean(perSeed.map((rows) => pearson(series(rows, monitor), series(rows, 'alignment@10/100')))),
    };
  }
  summary.bestOfEpochs = { alignment: mean(perSeed.map((rows) => Math.max(...series(rows, 'alignment@10/100')))), value: mean(perSeed.map((rows) => Math.max(...series(rows, 'value@10')))) };
  console.log(`SUMMARY ${JSON.stringify(summary)}`);
}
