/**
 * The exit-code convention through the real `tt` executable (a child process of the built CLI):
 * 0 success, 2 usage, 1 runtime failure; 130 (interrupted) is in interrupt.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCli, runTt } from './testing/cli-process.js';
import { EXIT } from './exit-codes.js';

let dir: string;
beforeAll(() => {
  buildCli();
  dir = mkdtempSync(join(tmpdir(), 'tt-exit-'));
  const rows = ['user_id,item_id,label_like'];
  for (let u = 0; u < 30; u++) for (let r = 0; r < 4; r++) rows.push(`u${u},i${(u * 3 + r) % 20},1`);
  writeFileSync(join(dir, 'log.csv'), `${rows.join('\n')}\n`);
  writeFileSync(join(dir, 'users.txt'), 'u1\nu2\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tt exit codes', () => {
  it('0: a successful run, and --help', () => {
    const train = runTt(['train', '--data', 'csv:log.csv', '--epochs', '1', '--checkpoint', 'ck', '--backend', 'wasm'], dir);
    expect(train.status).toBe(EXIT.success);
    expect(runTt(['retrieve', '--checkpoint', 'ck', '--users', 'users.txt', '--k', '2'], dir).status).toBe(EXIT.success);
    const help = runTt(['--help'], dir);
    expect(help.status).toBe(EXIT.success);
    expect(help.stdout).toContain('Exit codes: 0 success; 2 usage');
  });

  it.each([
    ['an unknown command', ['trian']],
    ['an unknown flag', ['train', '--bogus']],
    ['no command', []],
    ['a bad value (before any data is read)', ['train', '--data', 'csv:does-not-exist.csv', '--epochs', '0']],
    ['a flag value commander rejects', ['train', '--epochs', 'many']],
    ['a missing input file', ['retrieve', '--checkpoint', 'ck', '--users', 'missing.txt']],
    ['a missing checkpoint', ['retrieve', '--checkpoint', 'no-such-checkpoint', '--users', 'users.txt']],
    ['a missing data file', ['train', '--data', 'csv:missing.csv', '--checkpoint', 'ck2']],
  ])('2: %s', (_what, args) => {
    const r = runTt(args, dir);
    expect(r.status).toBe(EXIT.usage);
    expect(r.stderr).not.toContain('internal error');
  });

  it('1: a run that fails after it started (training diverges)', () => {
    const r = runTt(['train', '--data', 'csv:log.csv', '--epochs', '3', '--lr', '1e38', '--checkpoint', 'ck-diverged', '--backend', 'wasm'], dir);
    expect(r.status).toBe(EXIT.runtimeFailure);
    expect(r.stderr).toContain('[E_NUMERIC]');
  });
});
