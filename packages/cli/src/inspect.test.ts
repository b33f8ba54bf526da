/**
 * `tt data inspect`, and the same checks in `tt train`: a split whose test items the users already
 * have in training is reported as unreachable, and `tt train` says so beside its metrics.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ttLines, ttOutput } from './testing/in-process.js';

let dir: string;
const cwd = process.cwd();
const lastJson = (lines: string[]) => JSON.parse(lines[lines.length - 1]!) as Record<string, any>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tt-inspect-cli-'));
  process.chdir(dir);
  const train = ['user_id,item_id,timestamp,label_click'];
  let t = 0;
  for (let u = 0; u < 30; u++) for (let r = 0; r < 6; r++) train.push(`u${u},i${(u * 5 + r * 7) % 90},${t++},1`);
  writeFileSync('train.csv', `${train.join('\n')}\n`);
  // a hand-made "split" that repeats one training row per user: every test item is already seen
  const test = ['user_id,item_id,timestamp,label_click', ...Array.from({ length: 30 }, (_, u) => `u${u},i${(u * 5) % 90},${1000 + u},1`)];
  writeFileSync('test.csv', `${test.join('\n')}\n`);
  // a test file of users training never saw
  writeFileSync('strangers.csv', `user_id,item_id,label_click\n${Array.from({ length: 5 }, (_, u) => `s${u},i${u},1`).join('\n')}\n`);
  writeFileSync('one-user.csv', `user_id,item_id,label_click\n${Array.from({ length: 40 }, (_, i) => `solo,i${i % 25},1`).join('\n')}\n`);
});
afterAll(() => {
  process.chdir(cwd);
  rmSync(dir, { recursive: true, force: true });
});

describe('tt data inspect', () => {
  it('reports 100% unreachable on a split whose test items are all in training', async () => {
    const lines = await ttLines('data', 'inspect', '--data', 'csv:train.csv,test.csv', '--json');
    const r = lastJson(lines);
    expect(r['training']).toMatchObject({ rows: 180, users: 30, duplicateRows: 0, outOfOrderTimestamps: 0 });
    expect(r['test']).toMatchObject({ rows: 30, users: 30, unknownUsers: 0, unreachableRows: 30, unreachableShare: 1 });
    expect(lines.join('\n')).toContain('unreachable under full ranking (the user has the item in training): 30 rows (100.0%)');
    expect(r['warnings'].some((w: string) => w.startsWith('every test row (30) is unreachable'))).toBe(true);
  });

  it('reports rows per user and item, label rates, and time order on a loo-full split', async () => {
    const r = lastJson(await ttLines('data', 'inspect', '--data', 'csv:train.csv', '--json'));
    expect(r['training']['labelRates']).toEqual({ click: 1 });
    expect(r['training']['rowsPerUser']).toEqual({ min: 5, median: 5, max: 5 });
    expect(r['test']).toMatchObject({ rows: 30, unreachableRows: 0 });
  });
});

describe('tt train says what its metrics can and cannot mean', () => {
  it('prints the unreachable share beside the metrics, and a warning when every test row is unreachable', async () => {
    const lines = await ttLines('train', '--data', 'csv:train.csv,test.csv', '--epochs', '1', '--checkpoint', 'ck-unreachable', '--json');
    const text = lines.join('\n');
    const table = lines.findIndex((l) => l.startsWith('two-tower'));
    const note = lines.findIndex((l) => l.startsWith('unreachable: 30 of 30 test rows (100.0%). WARNING: every test row is unreachable'));
    expect(table).toBeGreaterThan(0);
    expect(note).toBe(table + 2); // right under the table (model row, popularity row)
    const s = lastJson(lines);
    expect(s['metrics']['recall@20']).toBe(0);
    expect(s['unreachableShare']).toBe(1);
    expect(text).toContain('checkpoint:');
  });

  it('a test file whose users are all unknown: said before training; the model is saved, no zeros printed as metrics', async () => {
    const { stdout: lines, stderr } = await ttOutput('train', '--data', 'csv:train.csv,strangers.csv', '--epochs', '1', '--checkpoint', 'ck-strangers', '--json');
    const warned = stderr.findIndex((l) => l.startsWith('[tt] warning: no test row can be evaluated'));
    const firstEpoch = stderr.findIndex((l) => l.startsWith('[tt] epoch 1/'));
    expect(warned).toBeGreaterThanOrEqual(0);
    expect(warned).toBeLessThan(firstEpoch);
    const s = lastJson(lines);
    expect(s['metrics']).toBeNull();
    expect(s['warnings'][0]).toMatch(/^no test row can be evaluated: all 5 rows of the test file/);
    expect(lines).toContain('metrics: none (the test split has no row to evaluate)');
  });

  it('a log with one user trains with a warning', async () => {
    const s = lastJson(await ttLines('train', '--data', 'csv:one-user.csv', '--epochs', '1', '--checkpoint', 'ck-one', '--json'));
    expect(s['warnings'].some((w: string) => w.startsWith('the training rows have 1 user'))).toBe(true);
  });
});
