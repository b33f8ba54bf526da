#!/usr/bin/env node
// Training-throughput benchmark: `tt bench train` (the base model pinned to the PyTorch
// reference's shape, on a synthetic set shaped like its data), then the reference itself right
// after, on the same machine; repeated (`--repeat`, default 3) as back-to-back pairs, with the load
// average before each run, and summarised as medians and ranges. Then `tt bench train` with a
// 1,000,000-row user table (row-sparse updates keep the step time flat). Each run is a separate
// process, so neither inherits the other's memory.
//
//   npm run bench:train                        base model: pairs, then the big table
//   npm run bench:train -- --skip-reference    ours only (no Python/torch on this machine)
//   npm run bench:train -- --history           the history encoder at the sketch's setting (3 layers,
//                                              4 heads, H 50): ours on the set's own histories and with
//                                              every row at 50 items (--history-fill both), then the
//                                              reference (full-length histories)
//   --repeat N                                 pairs to run (default 3)
//   --reference FILE                           two_tower_ref.py (default ../shared/reference/ beside the repo)
//
// Progress goes to stderr; the last stdout line is one JSON object:
// {"runs":[{"tt":{examplesPerSec,msPerStep,backend,...},"reference":{examplesPerSec,...}|null,"ratio",
//   "loadavg":[1,5,15 min]}...],"summary":{"tt":{median,min,max},"reference":{...},"ratio":{...}},
//  "bigTable":{...,"stepTimeRatio":ms(1M)/ms(10k)}}
// and with --history the ratios are of the full-length run (tt.byFill.full), with the data run's
// beside them ("ratioDataHistories").
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { values: opt } = parseArgs({
  options: {
    'skip-reference': { type: 'boolean', default: false },
    'skip-big-table': { type: 'boolean', default: false },
    history: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '3' },
    python: { type: 'string', default: '/usr/bin/python3' },
    reference: { type: 'string' },
  },
});
const repeat = Number(opt.repeat);
if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`--repeat must be a positive integer, got ${opt.repeat}`);
// the last JSON object of a program's stdout: ours print it on one line, the reference indents it
const lastJson = (text) => {
  const lines = text.trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!lines[i].startsWith('{')) continue;
    try {
      return JSON.parse(lines.slice(i).join('\n'));
    } catch {
      // an inner line that happens to start with '{': keep looking upwards
    }
  }
  throw new Error(`no JSON object in:\n${text.slice(-500)}`);
};
const tt = (...args) => lastJson(execFileSync(process.execPath, [join(root, 'packages/cli/bin/tt.js'), 'bench', 'train', '--json', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
const refScript = resolve(opt.reference ?? join(root, '../shared/reference/two_tower_ref.py'));
const haveReference = !opt['skip-reference'] && existsSync(refScript) && existsSync(opt.python);
if (!opt['skip-reference'] && !haveReference) process.stderr.write(`bench-train: no reference (${refScript} or ${opt.python} missing); pass --skip-reference\n`);
const reference = () => {
  const refArgs = ['--threads', '2', '--epochs', '1', ...(opt.history ? ['--history', '--history-len', '50'] : [])];
  const out = lastJson(execFileSync(opt.python, [refScript, ...refArgs], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  return { examplesPerSec: out.train?.examples_per_s ?? null, msPerStep: out.train?.ms_per_step_median ?? null, cpuprobe: out.cpuprobe, raw: out.train };
};
const load = () => loadavg().map((x) => Number(x.toFixed(2)));

const historyArgs = ['--stages', 'history', '--history-len', '50', '--history-layers', '3', '--history-fill', 'both'];
const runs = [];
for (let r = 0; r < repeat; r++) {
  const loadTt = load();
  const ours = opt.history ? tt(...historyArgs) : tt();
  const loadRef = load();
  const ref = haveReference ? reference() : null;
  const full = opt.history ? ours.byFill.full : ours;
  const ratio = ref?.examplesPerSec ? full.examplesPerSec / ref.examplesPerSec : null;
  const run = { tt: ours, reference: ref, ratio, loadavg: { tt: loadTt, reference: loadRef } };
  if (opt.history) run.ratioDataHistories = ref?.examplesPerSec ? ours.byFill.data.examplesPerSec / ref.examplesPerSec : null;
  runs.push(run);
  process.stderr.write(`bench-train: pair ${r + 1}/${repeat}: tt ${full.examplesPerSec.toFixed(0)} ex/s, reference ${ref?.examplesPerSec?.toFixed(0) ?? '-'} ex/s, ratio ${ratio?.toFixed(2) ?? '-'} (load ${loadTt.join(' ')})\n`);
}
const spread = (xs) => {
  const v = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  return v.length ? { median: v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2, min: v[0], max: v[v.length - 1] } : null;
};
const summary = {
  tt: spread(runs.map((r) => (opt.history ? r.tt.byFill.full : r.tt).examplesPerSec)),
  reference: spread(runs.map((r) => r.reference?.examplesPerSec)),
  ratio: spread(runs.map((r) => r.ratio)),
  ...(opt.history ? { ttDataHistories: spread(runs.map((r) => r.tt.byFill.data.examplesPerSec)), ratioDataHistories: spread(runs.map((r) => r.ratioDataHistories)) } : {}),
};
let bigTable = null;
if (!opt.history && !opt['skip-big-table']) {
  const big = tt('--user-rows', '1000000');
  bigTable = { ...big, stepTimeRatio: big.msPerStep / runs[runs.length - 1].tt.msPerStep };
}
console.log(JSON.stringify({ runs, summary, bigTable }));
