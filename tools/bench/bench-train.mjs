#!/usr/bin/env node
// Training-throughput benchmark: `tt bench train` (the base model on a synthetic set shaped like
// the PyTorch reference), then the reference itself right after, on the same machine, then
// `tt bench train` again with a 1,000,000-row user table (row-sparse updates keep the step time
// flat). Each run is a separate process, so neither inherits the other's memory.
//
//   npm run bench:train                        all three
//   npm run bench:train -- --skip-reference    ours only (no Python/torch on this machine)
//   npm run bench:train -- --history           the history encoder at the sketch's setting (3 layers,
//                                              4 heads, H 50): ours on full-length histories (as the
//                                              reference's), ours on the set's own, then the reference
//
// Progress goes to stderr; the last stdout line is one JSON object:
// {"tt":{examplesPerSec,msPerStep,peakRssMb,backend},"reference":{examplesPerSec,...}|null,
//  "ratio":tt/reference,"bigTable":{...,"stepTimeRatio":ms(1M)/ms(10k)}}
// and with --history: {"tt":<full histories>,"ttDataHistories":{...},"reference":{...},
//  "ratio":tt/reference,"ratioDataHistories":...}
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { values: opt } = parseArgs({
  options: {
    'skip-reference': { type: 'boolean', default: false },
    'skip-big-table': { type: 'boolean', default: false },
    history: { type: 'boolean', default: false },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
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

const historyArgs = ['--stages', 'history', '--history-len', '50', '--history-layers', '3'];
const ours = opt.history ? tt(...historyArgs, '--histories', 'full') : tt();
const oursData = opt.history ? tt(...historyArgs, '--histories', 'data') : null;
let reference = null;
const refScript = resolve(root, '../shared/reference/two_tower_ref.py');
if (!opt['skip-reference']) {
  if (!existsSync(refScript) || !existsSync(opt.python)) {
    process.stderr.write(`bench-train: no reference (${refScript} or ${opt.python} missing); pass --skip-reference\n`);
  } else {
    const refArgs = ['--threads', '2', '--epochs', '1', ...(opt.history ? ['--history', '--history-len', '50'] : [])];
    const out = lastJson(execFileSync(opt.python, [refScript, ...refArgs], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
    reference = { examplesPerSec: out.train?.examples_per_s ?? null, msPerStep: out.train?.ms_per_step_median ?? null, raw: out.train };
  }
}
const ratio = (x) => (reference?.examplesPerSec && x ? x.examplesPerSec / reference.examplesPerSec : null);
if (opt.history) {
  console.log(JSON.stringify({ tt: ours, ttDataHistories: oursData, reference, ratio: ratio(ours), ratioDataHistories: ratio(oursData) }));
} else {
  const big = opt['skip-big-table'] ? null : tt('--user-rows', '1000000');
  console.log(JSON.stringify({ tt: ours, reference, ratio: ratio(ours), bigTable: big && { ...big, stepTimeRatio: big.msPerStep / ours.msPerStep } }));
}
