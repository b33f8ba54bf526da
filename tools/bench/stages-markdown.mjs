// Markdown tables of `tt bench stages --out FILE` runs (JSON lines): per world, each row's funnel
// metrics as mean ± sd over seeds and its effect on alignment and value against base (and against
// base-agreement, the base model stopped on the same monitor), paired by seed; then one summary
// table of the effects of every stage on every world.
// Usage: node tools/bench/stages-markdown.mjs runs.jsonl [more.jsonl ...]
import { readFileSync } from 'node:fs';

const runs = process.argv.slice(2).flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
// refit runs (the default; `--refit` before it was) are marked `refit`, `--no-refit` runs are not: pairing the two would read the refit as a stage's effect
const refits = new Set(runs.filter((r) => r.row !== 'popularity').map((r) => r.refit === true));
if (refits.size > 1) {
  console.error('stages-markdown: the files mix refit runs with --no-refit ones (their `refit` field); give them to separate calls');
  process.exit(2);
}
console.log(refits.has(true)
  ? 'Every row refit (the default: a fresh model on the training and validation rows for the kept epochs).'
  : 'Every row the early-stopped model, not refit (`--no-refit`, or runs from before the refit was the default).');
const M = ['recall@20', 'alignment@10/100', 'value@10'];
const stats = (xs) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd };
};
const fmt = ({ mean, sd }, n, d = 3) => (n > 1 ? `${mean.toFixed(d)} ± ${sd.toFixed(d)}` : mean.toFixed(d));
const signed = (x, d = 3) => `${x >= 0 ? '+' : ''}${x.toFixed(d)}`;
const worlds = [...new Set(runs.map((r) => r.world))];
const effect = (here, row, against, m) => {
  const seeds = [...new Set(here.map((r) => r.seed))].sort((a, b) => a - b);
  const d = seeds.map((s) => {
    const a = here.find((r) => r.seed === s && r.row === row);
    const b = here.find((r) => r.seed === s && r.row === against);
    return a && b ? a[m] - b[m] : undefined;
  }).filter((x) => x !== undefined);
  return d.length ? { ...stats(d), n: d.length } : undefined;
};
const beyond = (e) => (e && e.n > 1 && Math.abs(e.mean) > e.sd ? (e.mean > 0 ? ' ▲' : ' ▼') : '');
const summary = [];
for (const world of worlds) {
  const here = runs.filter((r) => r.world === world);
  const n = new Set(here.map((r) => r.seed)).size;
  console.log(`\n#### ${world} (${n} seed${n > 1 ? 's' : ''})\n`);
  console.log('| row | recall@20 | alignment@10/100 | value@10 | alignment vs base | value vs base | alignment vs base-agreement | epochs |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const row of [...new Set(here.map((r) => r.row))]) {
    const per = here.filter((r) => r.row === row);
    const cells = M.map((m) => fmt(stats(per.map((r) => r[m])), n));
    const ea = row !== 'base' && row !== 'popularity' ? effect(here, row, 'base', 'alignment@10/100') : undefined;
    const ev = row !== 'base' && row !== 'popularity' ? effect(here, row, 'base', 'value@10') : undefined;
    const eg = !['base', 'popularity', 'base-agreement'].includes(row) ? effect(here, row, 'base-agreement', 'alignment@10/100') : undefined;
    const e = (x) => (x ? `${signed(x.mean)}${x.n > 1 ? ` ± ${x.sd.toFixed(3)}` : ''}${beyond(x)}` : '');
    const epochs = per[0].epochs ? stats(per.map((r) => r.epochs)).mean.toFixed(1) : '';
    console.log(`| ${row} | ${cells.join(' | ')} | ${e(ea)} | ${e(ev)} | ${e(eg)} | ${epochs} |`);
    if (ea) summary.push({ world, row, ea, ev, eg });
  }
}
console.log('\n#### Effects against base, paired by seed (▲/▼: beyond one sd)\n');
const rows = [...new Set(summary.map((s) => s.row))];
console.log(`| world | ${rows.map((r) => `${r} alignment / value`).join(' | ')} |`);
console.log(`|---|${rows.map(() => '---').join('|')}|`);
for (const world of worlds) {
  console.log(`| ${world} | ${rows.map((row) => {
    const s = summary.find((x) => x.world === world && x.row === row);
    return s ? `${signed(s.ea.mean)}${beyond(s.ea)} / ${signed(s.ev.mean)}${beyond(s.ev)}` : '';
  }).join(' | ')} |`);
}
