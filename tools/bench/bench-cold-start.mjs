#!/usr/bin/env node
// New users (issue 24): recall@K of users held out of training entirely, served by id-less
// requests through `Retriever.serve` (their ids are not in the model's vocabulary), against the
// popularity list the same retriever serves when a request carries nothing the model can use.
//
// The synthetic world of `tt train --data synthetic` (seeded; EVAL.md section 2). A share of the
// users (`--held-out`, default 0.2, every fifth user) is removed from the vocabulary and from every
// split; the model trains on the others with `fitTwoTower`'s defaults (early stopping on the
// validation split). Each held-out user with a positive after their first row is one case: the
// request carries the user's dense features and their earlier positives as history (newest
// first); the target is their last positive; every item of their earlier rows is excluded (as
// loo-full removes training items), for every path alike. Paths measured:
//   popularity        the request carries only the unknown id
//   features          features (zero id vector, an empty history)
//   features+history  features and history (the base model pools the history; the other model
//                     has `--stages history`, the history encoder)
//   history           history only (features left at the average user's)
// and two alternatives to the zero id vector, on the base model: the mean of the trained id rows
// (with the features), and the mean of the history items' embeddings as the query. The history
// paths are measured on the held-out users who have a history, beside popularity on the same users.
//
//   node tools/bench/bench-cold-start.mjs [--seeds 0,1,2] [--held-out 0.2] [--drift 0] [--id-dropout 0] [--no-refit]
//
// `--no-refit`: the early-stopped models, as `tt train --no-refit` (figures dated before 2026-12-07 were measured so).
//
// `--id-dropout p` trains with the model option `userIdDropout` (each training row's id vector
// zeroed with probability p, so the tower learns the input a cold user gets); the known users'
// loo-full recall of each model is printed beside, for what it costs them.
//
// Needs the built packages (`npx tsc -b packages/cli/tsconfig.lib.json`). Progress on stderr; one
// JSON line on stdout: per seed and path recall@10/20/50, and the mean, sd and paired difference
// with popularity over seeds.
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const core = require('../../packages/core/dist/index.js');
const { historyEncoder } = require('../../packages/history-encoder/dist/index.js');

const { values: opt } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2' },
    'held-out': { type: 'string', default: '0.2' },
    drift: { type: 'string', default: '0' },
    'id-dropout': { type: 'string', default: '0' },
    epochs: { type: 'string' },
    'no-refit': { type: 'boolean', default: false },
  },
});
const seeds = opt.seeds.split(',').map(Number);
const heldShare = Number(opt['held-out']);
const idDropout = Number(opt['id-dropout']);
const log = (m) => process.stderr.write(`[bench:cold-start] ${m}\n`);
const KS = [10, 20, 50];
await core.initBackend({ log: false });

/** The world without the held-out users: a vocabulary of the kept users, logs remapped to it. */
function withoutUsers(world, held) {
  const T = world.schema.tasks.length;
  const kept = world.userIds.map((_, u) => u).filter((u) => !held(u));
  const newIndex = new Int32Array(world.userIds.length).fill(-1);
  kept.forEach((u, i) => (newIndex[u] = i));
  const filter = (log) => {
    if (!log) return undefined;
    const rows = [];
    for (let r = 0; r < log.size; r++) if (!held(log.user[r])) rows.push(r);
    const pick = (a, w, C) => {
      if (!a) return undefined;
      const o = new C(rows.length * w);
      rows.forEach((r, i) => o.set(a.subarray(r * w, r * w + w), i * w));
      return o;
    };
    return {
      size: rows.length, user: Int32Array.from(rows, (r) => newIndex[log.user[r]]), item: pick(log.item, 1, Int32Array), labels: pick(log.labels, T, Float32Array),
      position: pick(log.position, 1, Int32Array), rankerScores: pick(log.rankerScores, T, Float32Array), timestamp: pick(log.timestamp, 1, Float64Array),
    };
  };
  const IU = world.schema.userFeatureDim;
  return {
    ...world,
    name: `${world.name} without held-out users`,
    schema: { ...world.schema, numUsers: kept.length },
    userIds: kept.map((u) => world.userIds[u]),
    userFeatures: core.gatherRows(world.userFeatures, IU, Int32Array.from(kept)),
    train: filter(world.train), validation: filter(world.validation), test: filter(world.test),
    truth: undefined,
  };
}

/** One case per held-out user with a positive after their first row: history, excluded items, target. */
function heldOutCases(world, held) {
  const T = world.schema.tasks.length;
  const w = world.valueWeights;
  const rowsOf = new Map();
  for (const log of [world.train, world.validation, world.test]) {
    if (!log) continue;
    for (let r = 0; r < log.size; r++) {
      const u = log.user[r];
      if (!held(u)) continue;
      let v = 0;
      for (let t = 0; t < T; t++) v += log.labels[r * T + t] * w[t];
      if (!rowsOf.has(u)) rowsOf.set(u, []);
      rowsOf.get(u).push({ t: log.timestamp[r], r: rowsOf.get(u).length, item: log.item[r], positive: v > 0 });
    }
  }
  const cases = [];
  for (const [u, rows] of rowsOf) {
    rows.sort((a, b) => a.t - b.t || a.r - b.r);
    let last = -1;
    for (let i = rows.length - 1; i >= 0; i--) if (rows[i].positive) { last = i; break; }
    if (last < 1) continue;
    const earlier = rows.slice(0, last);
    cases.push({
      userId: world.userIds[u],
      features: Array.from(world.userFeatures.subarray(u * world.schema.userFeatureDim, (u + 1) * world.schema.userFeatureDim)),
      history: earlier.filter((x) => x.positive).map((x) => world.itemIds[x.item]).reverse(),
      exclude: [...new Set(earlier.map((x) => world.itemIds[x.item]))],
      target: world.itemIds[rows[last].item],
    });
  }
  return cases;
}

/** recall@K of the index searched with given queries (`[cases * D]`), the same exclusions. */
async function recallOfQueries(index, cases, queries) {
  const hits = Object.fromEntries(KS.map((k) => [k, 0]));
  const found = await index.search(queries, Math.max(...KS), { exclude: cases.map((c) => c.exclude) });
  found.forEach((f, i) => {
    const at = f.ids.indexOf(cases[i].target);
    for (const k of KS) if (at >= 0 && at < k) hits[k]++;
  });
  return Object.fromEntries(KS.map((k) => [`recall@${k}`, +(hits[k] / cases.length).toFixed(4)]));
}

/**
 * The alternatives the zero id vector was chosen over (base model): the mean of the trained id
 * rows with the features, and the mean of the history items' embeddings (normalised) as the query.
 */
async function variants(model, index, cases) {
  const tf = core.tf;
  const D = model.config.dim;
  const meanId = tf.tidy(() => tf.mean(model.userEmbedding.table, 0, true));
  const H = model.historyLength;
  const input = {
    size: cases.length, user: new Int32Array(cases.length).fill(-1), userFeatures: Float32Array.from(cases.flatMap((c) => c.features)),
    history: H > 0 ? new Int32Array(cases.length * H).fill(-1) : undefined, historyLength: H,
  };
  const q = tf.tidy(() => {
    const x = model.userTowerInput(input, false);
    const rest = tf.slice(x, [0, D], [cases.length, x.shape[1] - D]);
    return model.queryFromInput(tf.concat([tf.tile(meanId, [cases.length, 1]), rest], 1));
  });
  const meanIdQueries = q.dataSync().slice();
  tf.dispose([q, meanId]);
  const withHistory = cases.filter((c) => c.history.length > 0);
  const V = model.catalogueEmbeddings();
  const historyQueries = new Float32Array(withHistory.length * D);
  withHistory.forEach((c, r) => {
    const row = historyQueries.subarray(r * D, (r + 1) * D);
    for (const id of c.history.slice(0, 20)) {
      const i = model.itemIndex(id);
      for (let d = 0; d < D; d++) row[d] += V[i * D + d];
    }
    const norm = Math.hypot(...row) || 1;
    for (let d = 0; d < D; d++) row[d] /= norm;
  });
  return {
    'features, mean id vector': await recallOfQueries(index, cases, meanIdQueries),
    'mean of history item vectors': await recallOfQueries(index, withHistory, historyQueries),
  };
}

async function recallOf(retriever, cases, request, expectPath) {
  const hits = Object.fromEntries(KS.map((k) => [k, 0]));
  const paths = {};
  for (let s = 0; s < cases.length; s += 256) {
    const chunk = cases.slice(s, s + 256);
    const answers = await retriever.serve(chunk.map((c) => ({ ...request(c), k: Math.max(...KS), exclude: c.exclude })));
    answers.forEach((a, i) => {
      paths[a.path] = (paths[a.path] ?? 0) + 1;
      const at = a.items.indexOf(chunk[i].target);
      for (const k of KS) if (at >= 0 && at < k) hits[k]++;
    });
  }
  if (Object.keys(paths).join() !== expectPath) throw new Error(`expected every answer by ${expectPath}, got ${JSON.stringify(paths)}`);
  return Object.fromEntries(KS.map((k) => [`recall@${k}`, +(hits[k] / cases.length).toFixed(4)]));
}

const perSeed = [];
for (const seed of seeds) {
  const world = core.syntheticWorld({ seed, validation: true, interestDrift: Number(opt.drift) });
  const every = Math.round(1 / heldShare);
  const held = (u) => u % every === 0;
  const train = withoutUsers(world, held);
  const cases = heldOutCases(world, held);
  log(`seed ${seed}: ${train.schema.numUsers} training users, ${cases.length} held-out users evaluated`);
  const popularity = core.popularityScores(core.trainingLog(train), train.schema.numItems, train.valueWeights, train.schema.tasks.length);
  const row = { seed, users: cases.length };
  const epochs = opt.epochs ? Number(opt.epochs) : undefined;
  for (const [name, stages] of [['base', []], ['history', [{ name: 'history' }]]]) {
    const t0 = performance.now();
    const { model, result } = await core.fitTwoTower(train, { seed, epochs, progress: 'none', refit: opt['no-refit'] ? false : undefined, model: { stages, userIdDropout: idDropout }, stages: stages.length ? [historyEncoder] : [] });
    // what id dropout costs the users the model knows: loo-full on the training users' test rows
    row[`known users (${name} model)`] = Object.fromEntries(Object.entries(await core.evaluateModel(model, train)).filter(([key]) => KS.some((k) => key === `recall@${k}`)).map(([key, v]) => [key, +v.toFixed(4)]));
    const retriever = await core.Retriever.build(model, { data: { popularity } });
    // every held-out id is unknown to the model: the cold path serves them
    if (cases.some((c) => model.hasUser(c.userId))) throw new Error('a held-out user is in the vocabulary');
    const withHistory = cases.filter((c) => c.history.length > 0);
    const at = (path) => `${path} (${name} model)`;
    if (name === 'base') {
      row.popularity = await recallOf(retriever, cases, (c) => ({ userId: c.userId }), 'popularity');
      row['popularity (users with history)'] = await recallOf(retriever, withHistory, (c) => ({ userId: c.userId }), 'popularity');
      row.historyUsers = withHistory.length;
      Object.assign(row, await variants(model, retriever.index, cases));
    }
    row[at('epochs')] = result.epochs;
    row[at('features')] = await recallOf(retriever, cases, (c) => ({ userId: c.userId, userFeatures: c.features }), 'features');
    if (model.historyLength > 0) {
      row[at('features+history')] = await recallOf(retriever, withHistory, (c) => ({ userId: c.userId, userFeatures: c.features, history: c.history }), 'features+history');
      row[at('history')] = await recallOf(retriever, withHistory, (c) => ({ userId: c.userId, history: c.history }), 'history');
    }
    log(`seed ${seed} ${name}: ${result.epochs} epochs, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    await retriever.dispose();
    model.dispose();
  }
  log(JSON.stringify(row));
  perSeed.push(row);
}

const stat = (xs) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean: +mean.toFixed(4), sd: +sd.toFixed(4) };
};
const summary = {};
const paths = [...new Set(perSeed.flatMap((r) => Object.keys(r).filter((key) => typeof r[key] === 'object')))];
for (const path of paths) summary[path] = Object.fromEntries(KS.map((k) => [`recall@${k}`, stat(perSeed.map((r) => r[path][`recall@${k}`]))]));
const paired = (path, against) => ({ ...stat(perSeed.map((r) => r[path]['recall@20'] - r[against]['recall@20'])), seedsAbove: perSeed.filter((r) => r[path]['recall@20'] > r[against]['recall@20']).length });
summary.pairedRecall20 = {};
for (const path of paths.filter((p) => /^(features|history|features\+history) \(/.test(p))) {
  const against = path.startsWith('features (') ? 'popularity' : 'popularity (users with history)';
  summary.pairedRecall20[`${path} - ${against}`] = paired(path, against);
}
process.stdout.write(`${JSON.stringify({ seeds, heldOut: heldShare, drift: Number(opt.drift), userIdDropout: idDropout, perSeed, summary })}\n`);
