import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInteractionCsv } from './csv.js';
import { inspectDataset } from './inspect.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tt-inspect-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, lines: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

describe('inspectDataset', () => {
  it('counts rows, users, items, label rates, spreads, duplicates and out-of-order timestamps', async () => {
    const d = await loadInteractionCsv({
      train: file('t.csv', [
        'user_id,item_id,timestamp,label_click,label_buy',
        'a,x,1,1,0', 'a,y,3,1,1', 'a,x,2,0,0', // a,x twice; 2 after 3: out of order
        'b,x,4,1,0', 'b,z,5,0,0', 'c,y,6,1,0', 'c,z,7,1,0', 'c,w,8,1,0',
      ]),
    });
    const r = inspectDataset(d);
    // loo-full: each user's last positive is the test row (a,y  b,x  c,w)
    expect(r.training).toMatchObject({
      rows: 5, users: 3, items: 3, vocabularyUsers: 3, catalogueItems: 4, duplicateRows: 1, outOfOrderTimestamps: 1,
      rowsPerUser: { min: 1, median: 2, max: 2 }, rowsPerItem: { min: 1, median: 2, max: 2 },
    });
    expect(r.training.labelRates['click']).toBeCloseTo(3 / 5);
    expect(r.training.labelRates['buy']).toBe(0);
    expect(r.test).toMatchObject({ rows: 3, users: 3, unknownUsers: 0, unreachableRows: 0, unreachableShare: 0, droppedRows: 0 });
  });

  it('a test file whose items the users already have in training: 100% unreachable, said in a warning', async () => {
    const rows = ['user_id,item_id,label_click'];
    for (let u = 0; u < 8; u++) for (let i = 0; i < 60; i += 7) rows.push(`u${u},i${(i + u) % 60},1`);
    const train = file('train.csv', rows);
    // every test row repeats a training pair
    const test = file('test.csv', ['user_id,item_id,label_click', ...Array.from({ length: 8 }, (_, u) => `u${u},i${u % 60},1`)]);
    const r = inspectDataset(await loadInteractionCsv({ train, test }));
    expect(r.test).toMatchObject({ rows: 8, unreachableRows: 8, unreachableShare: 1 });
    expect(r.warnings.some((w) => w.startsWith('every test row (8) is unreachable'))).toBe(true);
  });

  it('names users and items of the test file that training does not know', async () => {
    const rows = ['user_id,item_id,label_click'];
    for (let u = 0; u < 6; u++) for (let i = 0; i < 70; i += 9) rows.push(`u${u},i${(i + u) % 70},1`);
    const train = file('train.csv', rows);
    const test = file('test.csv', ['user_id,item_id,label_click', 'new1,i1,1', 'new2,i2,1', 'u1,i-new,1', 'u2,i5,1']);
    const r = inspectDataset(await loadInteractionCsv({ train, test }));
    expect(r.test).toMatchObject({ rows: 1, users: 4, unknownUsers: 2, unknownItems: 1, droppedRows: 3, unreachableRows: 0 });
    expect(r.warnings.some((w) => w.includes('2 of 4 test users'))).toBe(true);
    expect(r.warnings.some((w) => w.includes('3 test-file rows were dropped'))).toBe(true);
  });

  it('warns when every test user is unknown to training, and for a log with one user', async () => {
    const train = file('train.csv', ['user_id,item_id,label_click', ...Array.from({ length: 80 }, (_, i) => `solo,i${i},1`)]);
    const test = file('test.csv', ['user_id,item_id,label_click', 'x,i1,1', 'y,i2,1']);
    const r = inspectDataset(await loadInteractionCsv({ train, test }));
    expect(r.test.rows).toBe(0);
    expect(r.warnings.some((w) => w.startsWith('no test row can be evaluated: all 2 rows'))).toBe(true);
    expect(r.warnings.some((w) => w.startsWith('the training rows have 1 user:'))).toBe(true);
  });
});
