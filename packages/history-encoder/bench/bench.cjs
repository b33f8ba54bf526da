// node packages/history-encoder/bench/bench.cjs [histories=data|full] [optionsJSON] [steps]
// e.g. node packages/history-encoder/bench/bench.cjs data '{"maxLength":50,"layers":3,"heads":4}'
const { benchHistoryTraining } = require('../dist/index.js');
(async () => {
  const [histories = 'data', opts = '{"maxLength":50}', steps = '20'] = process.argv.slice(2);
  const r = await benchHistoryTraining({ backend: 'wasm', histories, steps: Number(steps), ...JSON.parse(opts) });
  console.log(JSON.stringify(r));
})();
