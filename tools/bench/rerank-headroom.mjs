// What a re-ranker inside retrieval can move (issue "funnel stages"): a light ranker re-orders
// retrieval's top NI and hands on the first 100, so alignment@10/100 can only rise as far as the
// share of the true top 10 inside that top NI. Per world and seed, a model trained as
// `tt train --data world:W --stages S` trains it, then over the test users:
//   mips@100 / mips@NI / mips@2NI  share of the true top 10 (unseen items) in retrieval's own top 100 / NI / 2 NI
//   reranked@100                   the same for the re-ranker's first 100 of the NI (as served)
//   value-alone@100                the same when the ranker's expected reward alone orders the NI (retrievalWeight 0)
//   value@10 reranked / mips       true value of the first 10 over the ideal 10's, as served / in retrieval's order
//   rho value / rho mips           per-user Spearman with the true value over the NI candidates: the ranker's
//                                  expected reward / retrieval's score
//   reranked@100 beta=B, value@10 beta=B   with --weights B,...: the same model served with retrievalWeight B
//   monitor beta=B                 the funnel monitor (ranker-agreement on the held-out requests) at each B (and the trained one)
// Usage (after `npx tsc -b packages/cli/tsconfig.lib.json`):
//   node tools/bench/rerank-headroom.mjs --worlds stale-ranker,best-first --seeds 0 [--stages light-ranker] [--weights 2,4] [--no-refit]
// (`--no-refit`: the early-stopped model, as `tt train --no-refit`; figures dated before 2026-12-07 were measured so)
// Prints one JSON line per world and seed.
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const core = require('../../packages/core/dist/index.js');
const { loadData } = require('../../packages/cli/dist/data-spec.js');
const { fitOptionsOf } = require('../../packages/cli/dist/commands/train.js');
const { tf } = core;

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const worlds = (args.worlds ?? 'stale-ranker').split(',');
const seeds = (args.seeds ?? '0').split(',').map(Number);
const stages = args.stages ?? 'light-ranker';
const weights = (args.weights ?? '').split(',').filter(Boolean).map(Number);
const refit = 'no-refit' in args ? false : undefined;
const TOP = 10;
const HANDED_ON = 100;

const found = (list, top) => list.reduce((n, i) => n + (top.has(i) ? 1 : 0), 0) / top.size;
const valueOfTop = (list, values, ideal) => list.subarray(0, TOP).reduce((s, i) => s + values[i], 0) / ideal;

await core.initBackend({});
for (const world of worlds) {
  for (const seed of seeds) {
    const data = `world:${world}`;
    const dataset = await loadData(data, { seed });
    const { model } = await core.fitTwoTower(dataset, { ...fitOptionsOf({ data, checkpoint: '', stages, seed, refit }), progress: 'none' });
    const stage = model.stages.find((s) => s.reranker);
    if (!stage) throw new Error(`--stages ${stages}: no stage re-ranks`);
    const NI = stage.candidatesToRerank;
    const history = core.trainingLog(dataset);
    const seen = core.seenItemsByUser(history, dataset.schema.numUsers);
    const users = Int32Array.from(new Set(dataset.test.user));
    const N = dataset.schema.numItems;
    const D = model.config.dim;
    const vectors = model.catalogueEmbeddings();
    const items = tf.tensor2d(vectors, [N, D]);
    const H = model.historyLength;
    const histories = H > 0 ? core.latestHistories(history, model.data.userIds.length, model.config.valueWeights, H) : undefined;
    const sum = {};
    const add = (k, x) => (sum[k] = (sum[k] ?? 0) + x);
    const weight = stage.options.retrievalWeight;
    for (let start = 0; start < users.length; start += 256) {
      const batch = users.slice(start, start + 256);
      const h = histories && core.gatherRows(histories, H, batch);
      const input = model.userInputOf(batch, h, h ? H : 0);
      const x = tf.tidy(() => model.userTowerInput(input, false));
      const q = tf.tidy(() => model.queryFromInput(x));
      const scores = core.takeValues(tf.matMul(q, items, false, true));
      const truth = [];
      const candidates = Array.from(batch, (u, b) => {
        const row = scores.subarray(b * N, (b + 1) * N);
        const values = dataset.truth.valueOfAllItems(u);
        const top = new Set(core.topKExcluding(values, TOP, seen[u]));
        const ideal = [...top].reduce((s, i) => s + values[i], 0);
        const wide = core.topKExcluding(row, 2 * NI, seen[u]);
        truth.push({ values, top, ideal });
        add('mips@100', found(wide.subarray(0, HANDED_ON), top));
        add(`mips@${NI}`, found(wide.subarray(0, NI), top));
        add(`mips@${2 * NI}`, found(wide, top));
        add('value@10 mips', valueOfTop(wide, values, ideal));
        const c = wide.slice(0, NI);
        return { items: c, scores: Float32Array.from(c, (i) => row[i]), vectors: core.gatherRows(vectors, D, c) };
      });
      const served = stage.reranker.rerank({ users: input, userInput: x, q, candidates, k: HANDED_ON });
      stage.options.retrievalWeight = 0; // the ranker's expected reward alone (its scores are then that reward)
      const alone = stage.reranker.rerank({ users: input, userInput: x, q, candidates, k: NI });
      const reweighted = weights.map((beta) => {
        stage.options.retrievalWeight = beta;
        return [beta, stage.reranker.rerank({ users: input, userInput: x, q, candidates, k: HANDED_ON })];
      });
      stage.options.retrievalWeight = weight;
      tf.dispose([x, q]);
      batch.forEach((_, b) => {
        const { values, top, ideal } = truth[b];
        add('reranked@100', found(served[b].items, top));
        add('value@10 reranked', valueOfTop(served[b].items, values, ideal));
        add('value-alone@100', found(alone[b].items.subarray(0, HANDED_ON), top));
        for (const [beta, lists] of reweighted) {
          add(`reranked@100 beta=${beta}`, found(lists[b].items, top));
          add(`value@10 beta=${beta}`, valueOfTop(lists[b].items, values, ideal));
        }
        const reward = new Map(Array.from(alone[b].items, (i, j) => [i, alone[b].scores[j]]));
        const c = candidates[b];
        const v = Array.from(c.items, (i) => values[i]);
        add('rho value', core.spearman(Array.from(c.items, (i) => reward.get(i)), v));
        add('rho mips', core.spearman(Array.from(c.scores), v));
      });
    }
    items.dispose();
    const out = { world, seed, stages, NI, users: users.length };
    for (const [k, s] of Object.entries(sum)) out[k] = +(s / users.length).toFixed(4);
    for (const beta of weights.length > 0 ? [weight, ...weights] : []) {
      stage.options.retrievalWeight = beta;
      out[`monitor beta=${beta}`] = +(await core.evaluateRankerAgreement(model, dataset)).toFixed(4);
    }
    stage.options.retrievalWeight = weight;
    model.dispose();
    console.log(JSON.stringify(out));
  }
}
