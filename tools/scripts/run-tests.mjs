#!/usr/bin/env node
// Runs every project's tests through Nx (no cache: each run really runs) and ends with one
// plain line "N passed, N failed" summed over all projects (skipped tests, if any, on the line before).
//   npm test                      all projects
//   npm test -- --projects=@tt/mips
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const resultsDir = mkdtempSync(join(tmpdir(), 'tt-test-results-'));
const extra = process.argv.slice(2);
const run = spawnSync(
  'npx',
  ['nx', 'run-many', '-t', 'test', '--skip-nx-cache', '--outputStyle=static', ...extra],
  { stdio: 'inherit', env: { ...process.env, TT_TEST_RESULTS_DIR: resultsDir, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' } },
);
let passed = 0;
let failed = 0;
let skipped = 0;
const skippedTitles = [];
for (const f of readdirSync(resultsDir)) {
  const r = JSON.parse(readFileSync(join(resultsDir, f), 'utf8'));
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
  skippedTitles.push(...(r.skippedTitles ?? []));
}
rmSync(resultsDir, { recursive: true, force: true });
// a project whose jest never reported (crashed before running) still fails the run
if (run.status !== 0 && failed === 0) failed = 1;
for (const t of skippedTitles) console.log(`skipped: ${t}`);
if (skipped) console.log(`${skipped} skipped`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 ? 0 : 1);
