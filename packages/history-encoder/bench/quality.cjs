// node packages/history-encoder/bench/quality.cjs <ml100k|synthetic> <seed> ['{"maxLength":20}' | base]
const core = require('@tt/core');
const { historyEncoder } = require('../dist/index.js');
(async () => {
  const [data = 'ml100k', seedArg = '0', opt = 'base'] = process.argv.slice(2);
  const seed = Number(seedArg);
  await core.initBackend({ backend: 'wasm', log: false });
  const ds = data === 'ml100k' ? await core.loadMovieLens('/work/shared/data/ml-100k', { validation: true }) : core.syntheticWorld({ seed, validation: true });
  const t0 = performance.now();
  const fit = opt === 'base' ? {} : { stages: [historyEncoder], model: { stages: [{ name: 'history', options: JSON.parse(opt) }] } };
  const { model, result } = await core.fitTwoTower(ds, { ...fit, seed, progress: 'none' });
  const m = await core.evaluateModel(model, ds);
  // variant: histories from train + validation for the test split (what core's CatalogueScorer does not do)
  let m2;
  if (opt !== 'base') {
    const scorer = new core.CatalogueScorer(model, core.trainingLog(ds));
    m2 = await core.evaluateRetrieval({ numItems: ds.schema.numItems, test: ds.test, valueWeights: ds.valueWeights, numTasks: ds.schema.tasks.length, seen: core.trainingItems(ds, 'test'), score: (u) => scorer.score(u) });
    scorer.dispose();
  }
  console.log(JSON.stringify({ data, seed, opt, recall20: m['recall@20'], recall20TrainValHistory: m2 && m2['recall@20'], epochs: result.epochs, bestEpoch: result.bestEpoch, exPerSec: Math.round(result.examplesPerSec), seconds: ((performance.now() - t0) / 1000).toFixed(0), trainRows: ds.train.size }));
  model.dispose();
})();
