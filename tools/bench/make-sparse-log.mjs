// A sparse implicit-feedback log shaped like the public check-in benchmark of issue 19 (29,858
// users, 40,981 items, ~810k training pairs, ~217k test pairs, no timestamps, a fixed random
// 80/20 split per user, every user and item with at least 10 interactions), written as a
// pre-split CSV pair for `tt train --data csv:train.csv,test.csv` and `tt baseline`.
//
// Generative model (seeded): items live in regions (power-law sizes) and have a power-law
// popularity; each user has a home region, three others, and a personal taste vector; a
// check-in comes from the home region (55%), the others (30%) or anywhere by popularity (15%),
// and within a region an item is drawn by popularity x exp(taste . item vector), so both
// neighbourhood structure and latent factors carry signal. Rows are written sorted by user, then
// item id (as the public files are): file order says nothing about time.
//
// Usage: node tools/bench/make-sparse-log.mjs --out DIR [--seed 0] [--users 29858] [--items 47500] [--pairs 1050000]
// (items and pairs before the 10-core filter; the defaults land near the public set's counts)
//   --from FILE: instead of generating, take the (user, item) pairs of a `user item` per line file
//   (e.g. ../shared/data/amazon-games/Video.txt), drop its order and split it the same way: a real
//   log under the benchmark's protocol (users with fewer than --min-per-user pairs are left out).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { mulberry32 } = require('../../packages/mips/dist/index.js');

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
if (!args.out) throw new Error('--out DIR is required');
const seed = Number(args.seed ?? 0);
const numUsers = Number(args.users ?? 29_858);
const numItems = Number(args.items ?? 47_500);
const targetPairs = Number(args.pairs ?? 1_050_000);
const regions = Number(args.regions ?? 400);
const K = 8; // taste dimensions

const uniform = mulberry32((seed * 0x9e3779b1) >>> 0);
const normal = () => {
  let u = 0;
  while (u === 0) u = uniform();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
};
const cdfOf = (w) => {
  const c = new Float64Array(w.length);
  let acc = 0;
  for (let i = 0; i < w.length; i++) c[i] = acc += w[i];
  return c;
};
const draw = (cdf, lo = 0, hi = cdf.length) => {
  const base = lo > 0 ? cdf[lo - 1] : 0;
  const x = base + uniform() * (cdf[hi - 1] - base);
  let a = lo;
  let b = hi - 1;
  while (a < b) {
    const m = (a + b) >> 1;
    if (cdf[m] <= x) a = m + 1;
    else b = m;
  }
  return a;
};

// regions: power-law sizes; items sorted by region so a region is a contiguous id range
const regionWeight = Float64Array.from({ length: regions }, (_, r) => (r + 1) ** -0.3);
const regionCdf = cdfOf(regionWeight);
const itemRegion = Int32Array.from({ length: numItems }, () => draw(regionCdf)).sort();
const regionStart = new Int32Array(regions + 1);
for (const r of itemRegion) regionStart[r + 1]++;
for (let r = 0; r < regions; r++) regionStart[r + 1] += regionStart[r];
// popularity: log-normal, heavy tail; item vectors
const popularity = Float64Array.from({ length: numItems }, () => Math.exp(0.6 * normal()));
const itemVec = Float64Array.from({ length: numItems * K }, () => normal() / Math.sqrt(K));
const globalCdf = cdfOf(popularity);

// activity: 10 + log-normal extra, scaled to the target number of pairs
const extra = Float64Array.from({ length: numUsers }, () => Math.exp(1.1 * normal()));
const scale = (targetPairs - 10 * numUsers) / extra.reduce((a, b) => a + b, 0);

let rows = [];
const within = new Float64Array(numItems);
for (let u = 0; u < (args.from ? 0 : numUsers); u++) {
  const home = draw(regionCdf);
  const others = [draw(regionCdf), draw(regionCdf), draw(regionCdf)];
  const taste = Float64Array.from({ length: K }, () => 1.2 * normal());
  const n = Math.min(10 + Math.round(extra[u] * scale), Math.floor(numItems / 4));
  const mine = new Set();
  // per-region cumulative weights popularity x exp(taste . v), built when the region is first used
  const cdfs = new Map();
  const regionCdfFor = (r) => {
    let c = cdfs.get(r);
    if (!c) {
      const lo = regionStart[r];
      const hi = regionStart[r + 1];
      c = new Float64Array(hi - lo);
      let acc = 0;
      for (let i = lo; i < hi; i++) {
        let d = 0;
        for (let k = 0; k < K; k++) d += taste[k] * itemVec[i * K + k];
        within[i] = popularity[i] * Math.exp(d);
        c[i - lo] = acc += within[i];
      }
      cdfs.set(r, c);
    }
    return c;
  };
  for (let tries = 0; mine.size < n && tries < 50 * n; tries++) {
    const x = uniform();
    let item;
    if (x < 0.15) item = draw(globalCdf);
    else {
      const r = x < 0.7 ? home : others[Math.floor(uniform() * 3)];
      if (regionStart[r + 1] === regionStart[r]) continue;
      item = regionStart[r] + draw(regionCdfFor(r));
    }
    mine.add(item);
  }
  for (const i of mine) rows.push([u, i]);
}

let kept;
if (args.from) {
  const pairs = new Set();
  for (const line of readFileSync(args.from, 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length === 2) pairs.add(`${f[0]} ${f[1]}`);
  }
  rows = [...pairs].map((p) => p.split(' ').map(Number));
  const minPerUser = Number(args['min-per-user'] ?? 2);
  const count = new Map();
  for (const [u] of rows) count.set(u, (count.get(u) ?? 0) + 1);
  kept = rows.filter(([u]) => count.get(u) >= minPerUser);
} else {
  // at least 10 users per item (as the public set's 10-core filter): drop rarer items, then users under 10
  const itemCount = new Int32Array(numItems);
  for (const [, i] of rows) itemCount[i]++;
  kept = rows.filter(([, i]) => itemCount[i] >= 10);
  const userCount = new Int32Array(numUsers);
  for (const [u] of kept) userCount[u]++;
  kept = kept.filter(([u]) => userCount[u] >= 10);
}

// fixed split: 20% of each user's items (at least one) to test, drawn with the seed
const byUser = new Map();
for (const [u, i] of kept) (byUser.get(u) ?? byUser.set(u, []).get(u)).push(i);
const train = ['user_id,item_id,label_checkin'];
const test = ['user_id,item_id,label_checkin'];
let trainPairs = 0;
let testPairs = 0;
const items = new Set();
for (const [u, its] of [...byUser].sort((a, b) => a[0] - b[0])) {
  its.sort((a, b) => a - b);
  const nTest = Math.max(1, Math.round(0.2 * its.length));
  const order = its.map((i) => [uniform(), i]).sort((a, b) => a[0] - b[0]);
  const held = new Set(order.slice(0, nTest).map(([, i]) => i));
  for (const i of its) {
    items.add(i);
    if (held.has(i)) (test.push(`${u},${i},1`), testPairs++);
    else (train.push(`${u},${i},1`), trainPairs++);
  }
}
mkdirSync(args.out, { recursive: true });
writeFileSync(join(args.out, 'train.csv'), `${train.join('\n')}\n`);
writeFileSync(join(args.out, 'test.csv'), `${test.join('\n')}\n`);
console.log(JSON.stringify({ seed, from: args.from, users: byUser.size, items: items.size, trainPairs, testPairs, out: args.out }));
