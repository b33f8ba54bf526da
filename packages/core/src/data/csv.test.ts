import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptFileError, DuplicateIdError, EmptyError, FileSystemError, OutOfRangeError, ValueError } from '../errors.js';
import { historiesOf, inMemorySource } from './batches.js';
import { loadInteractionCsv } from './csv.js';
import { streamingCsvSource, type StreamingCsvSource } from './csv-stream.js';
import type { Batch, InteractionDataset } from './types.js';
import { validateBatch } from './validate.js';
import { errorOf, collect } from '../model/test-fixtures.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tt-csv-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, lines: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** Rows of batches as `user/item/labels/position/history` strings with external ids. */
function rowKeys(batches: readonly Batch[], d: Pick<InteractionDataset, 'userIds' | 'itemIds'>, T: number): string[] {
  return batches.flatMap((b) =>
    Array.from(b.user, (u, i) => {
      const history = b.history ? Array.from(b.history.subarray(i * b.historyLength, (i + 1) * b.historyLength), (h) => (h < 0 ? '-' : d.itemIds[h])) : [];
      return `${d.userIds[u]}/${d.itemIds[b.item[i]!]}/${Array.from(b.labels.subarray(i * T, i * T + T)).join(',')}/${b.position?.[i]}/${history.join(',')}`;
    }),
  );
}

const INTERACTIONS = [
  'user_id,item_id,timestamp,position,label_click,label_watch,ranker_click,ranker_watch,note',
  'alice,i1,10,0,1,30,0.9,0.5,x',
  'alice,i2,12,1,0,0,0.2,0.1,x',
  'bob,i1,11,0,1,2.5,0.7,0.4,x',
  'alice,i3,12,2,1,0,0.6,0.3,x', // same time as i2: file order keeps it after i2, so it is alice's last positive
  'carol,i2,5,3,1,1,0.5,0.5,x', // carol: one row, not evaluated
  'bob,i4,13,1,0,0,0.1,0.1,x', // bob: last positive is i1
];

describe('loadInteractionCsv without a test file (loo-full)', () => {
  it('reads ids, labels, positions, ranker scores, and splits each user by time', async () => {
    const d = await loadInteractionCsv({ train: file('train.csv', INTERACTIONS) });
    expect(d.name).toBe('csv:train.csv');
    expect(d.schema).toEqual({
      numUsers: 3, numItems: 4, tasks: ['click', 'watch'], userFeatureDim: 0, itemFeatureDim: 0,
      numPositions: 4, hasRankerScores: true, labelMax: [1, 30],
    });
    // string ids, in order of first appearance
    expect(d.userIds).toEqual(['alice', 'bob', 'carol']);
    expect(d.itemIds).toEqual(['i1', 'i2', 'i3', 'i4']);
    expect(Array.from(d.valueWeights)).toEqual([1, 1]);
    expect(Array.from(d.test.user, (u) => d.userIds[u])).toEqual(['alice', 'bob']);
    expect(Array.from(d.test.item, (i) => d.itemIds[i])).toEqual(['i3', 'i1']);
    // the rest, chronologically
    expect(Array.from(d.train.item, (i) => d.itemIds[i])).toEqual(['i2', 'i1', 'i2', 'i4']);
    expect(Array.from(d.train.timestamp!)).toEqual([5, 10, 12, 13]);
    expect(Array.from(d.train.rankerScores!)).toEqual([0.5, 0.5, 0.9, 0.5, 0.2, 0.1, 0.1, 0.1].map(Math.fround));
    expect(d.warnings).toEqual([expect.stringMatching(/ignored columns note/)]);
    for (const b of await collect(inMemorySource(d, { batchSize: 3, historyLength: 2 }).batches(0))) validateBatch(b, d.schema);
  });

  it('holds out validation rows and takes value weights', async () => {
    const d = await loadInteractionCsv({ train: file('train.csv', INTERACTIONS), validation: true, valueWeights: [0, 1] });
    // positive = watch > 0: alice i1 (t10); bob i1 (t11); carol i2
    expect(Array.from(d.test.item, (i) => d.itemIds[i])).toEqual(['i1', 'i1']);
    expect(d.validation!.size).toBe(0);
    expect(d.train.size).toBe(4);
  });
});

describe('loadInteractionCsv with a test file (pre-split)', () => {
  it('tests the positive rows of the test file and skips rows it cannot score', async () => {
    const train = file('train.csv', ['user_id,item_id,label_like', '7,100,1', '3,200,0', '7,200,1', '3,100,1']);
    const test = file('test.csv', [
      'item_id,user_id,label_like', // any column order
      '300,7,1', // item 300 has features only: still in the catalogue
      '200,3,1',
      '100,3,0', // not positive: not a test row
      '999,7,1', // unknown item: skipped
      '100,42,1', // unknown user: skipped
    ]);
    const userFeatures = file('users.csv', ['user_id,age,score', '3,0.5,1', '7,-1,2']);
    const itemFeatures = file('items.csv', ['item_id,f1', '100,1', '200,2', '300,3']);
    const d = await loadInteractionCsv({ train, test, userFeatures, itemFeatures });
    // integer ids become numbers, ascending
    expect(d.userIds).toEqual([3, 7]);
    expect(d.itemIds).toEqual([100, 200, 300]);
    expect([d.schema.userFeatureDim, d.schema.itemFeatureDim]).toEqual([2, 1]);
    expect(Array.from(d.userFeatures)).toEqual([0.5, 1, -1, 2]);
    expect(Array.from(d.itemFeatures)).toEqual([1, 2, 3]);
    expect(Array.from(d.test.user, (u) => d.userIds[u])).toEqual([7, 3]);
    expect(Array.from(d.test.item, (i) => d.itemIds[i])).toEqual([300, 200]);
    expect(d.train.size).toBe(4);
    expect(d.validation).toBeUndefined();
    expect(d.warnings).toEqual([expect.stringMatching(/skipped 2 of 5 rows whose user or item is not in the training or feature files/)]);
    expect(d.schema.numPositions).toBe(0);

    const v = await loadInteractionCsv({ train, test, validation: true, validationHoldout: 'previous' });
    // validation = each user's last positive training row (asked for: the file has no timestamp)
    expect(Array.from(v.validation!.item, (i) => v.itemIds[i])).toEqual([100, 200]);
    expect(v.train.size).toBe(2);
    expect(v.itemIds).toEqual([100, 200]);
    expect(v.warnings).toEqual([expect.stringMatching(/skipped 3 of 5 rows/)]);
  });

  it('without timestamps holds out a seeded random positive per user, never a test row', async () => {
    const lines = ['user_id,item_id,label_like'];
    for (let u = 0; u < 40; u++) for (let i = 0; i < 6; i++) lines.push(`${u},${u * 10 + i},${i === 5 ? 0 : 1}`);
    const train = file('train.csv', lines);
    const test = file('test.csv', ['user_id,item_id,label_like', ...Array.from({ length: 40 }, (_, u) => `${u},${((u + 1) % 40) * 10},1`)]);
    const load = (seed: number) => loadInteractionCsv({ train, test, validation: true, seed });
    const [a, b, c] = await Promise.all([load(1), load(1), load(2)]);
    const heldItems = (d: InteractionDataset) => Array.from(d.validation!.item, (i) => d.itemIds[i] as number);
    expect(heldItems(a)).toEqual(heldItems(b)); // seeded
    expect(heldItems(a)).not.toEqual(heldItems(c));
    expect(a.validation!.size).toBe(40); // one per user
    const offsets = heldItems(a).map((item) => item % 10);
    expect(offsets.every((o) => o >= 0 && o < 5)).toBe(true); // a positive row
    expect(new Set(offsets).size).toBeGreaterThan(1); // not always the last in file order
    expect(Array.from(a.test.item, (i) => a.itemIds[i])).toEqual(Array.from({ length: 40 }, (_, u) => ((u + 1) % 40) * 10));
    expect(a.train.size).toBe(40 * 6 - 40);
    expect(a.split).toMatch(/random positive/);
  });

  it('warns about ids without features, and rejects duplicate feature rows', async () => {
    const train = file('train.csv', ['user_id,item_id,label_like', 'a,x,1', 'b,y,1']);
    const d = await loadInteractionCsv({ train, userFeatures: file('u.csv', ['user_id,f', 'a,1']) });
    expect(Array.from(d.userFeatures)).toEqual([1, 0]);
    expect(d.warnings).toContainEqual(expect.stringMatching(/1 of 2 users have no row/));
    const e = await errorOf(loadInteractionCsv({ train, itemFeatures: file('i.csv', ['item_id,f', 'x,1', 'x,2']) }));
    expect(e).toBeInstanceOf(DuplicateIdError);
    expect(e.field).toBe('item_id');
  });
});

describe('loadInteractionCsv bad input', () => {
  it('names a missing user_id / item_id column and lists the header found (ValueError)', async () => {
    const e = await errorOf(loadInteractionCsv({ train: file('t.csv', ['user,item_id,label_click', 'a,b,1']) }));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.field).toBe('user_id');
    expect(e.message).toMatch(/found header \[user, item_id, label_click\]/);
    const item = await errorOf(loadInteractionCsv({ train: file('t.csv', ['user_id,label_click', 'a,1']) }));
    expect(item.field).toBe('item_id');
  });

  it('needs a label column, and the test file needs the same labels (ValueError)', async () => {
    const none = await errorOf(loadInteractionCsv({ train: file('t.csv', ['user_id,item_id,rating', 'a,b,1']) }));
    expect(none).toBeInstanceOf(ValueError);
    expect(none.field).toBe('label_<name>');
    const train = file('t.csv', ['user_id,item_id,label_click', 'a,b,1']);
    const e = await errorOf(loadInteractionCsv({ train, test: file('s.csv', ['user_id,item_id,label_like', 'a,b,1']) }));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.field).toBe('label_click');
  });

  it('rejects a label outside its range and a ranker score outside [0, 1] (OutOfRangeError)', async () => {
    const label = await errorOf(loadInteractionCsv({ train: file('t.csv', ['user_id,item_id,label_click,label_watch', 'a,b,1,3', 'a,c,0,-2']) }));
    expect(label).toBeInstanceOf(OutOfRangeError);
    expect(label.field).toBe('label_watch');
    expect(label.message).toMatch(/t\.csv line 3/);
    const ranker = await errorOf(loadInteractionCsv({ train: file('t.csv', ['user_id,item_id,label_click,ranker_click', 'a,b,1,1.5']) }));
    expect(ranker).toBeInstanceOf(OutOfRangeError);
    expect(ranker.field).toBe('ranker_click');
  });

  it('reads an empty ranker cell as a row the ranker did not score (NaN), a bad one as an error', async () => {
    const d = await loadInteractionCsv({ train: file('t.csv', ['user_id,item_id,label_click,ranker_click', 'a,b,1,', 'a,c,0,0.25', 'a,d,1,']) });
    expect(Array.from(d.train.rankerScores!).map((v) => (Number.isNaN(v) ? 'none' : v))).toEqual(['none', 0.25]);
    const bad = await errorOf(loadInteractionCsv({ train: file('t.csv', ['user_id,item_id,label_click,ranker_click', 'a,b,1,high']) }));
    expect(bad).toBeInstanceOf(ValueError);
    expect(bad.field).toBe('ranker_click');
  });

  it('rejects a non-numeric label, a ranker without its label, and a malformed row', async () => {
    const nan = await errorOf(loadInteractionCsv({ train: file('t.csv', ['user_id,item_id,label_click', 'a,b,yes']) }));
    expect(nan).toBeInstanceOf(ValueError);
    expect(nan.field).toBe('label_click');
    const ranker = await errorOf(loadInteractionCsv({ train: file('t.csv', ['user_id,item_id,label_click,ranker_like', 'a,b,1,0.5']) }));
    expect(ranker).toBeInstanceOf(ValueError);
    expect(ranker.field).toBe('ranker_like');
    const short = await errorOf(loadInteractionCsv({ train: file('t.csv', ['user_id,item_id,label_click', 'a,b,1', 'a,c']) }));
    expect(short).toBeInstanceOf(CorruptFileError);
    expect(short.message).toMatch(/line 3/);
    const missing = await errorOf(loadInteractionCsv({ train: join(dir, 'nope.csv') }));
    expect(missing).toBeInstanceOf(FileSystemError);
    expect(missing).toMatchObject({ path: join(dir, 'nope.csv'), operation: 'read', systemCode: 'ENOENT' });
    const directory = await errorOf(loadInteractionCsv({ train: dir }));
    expect(directory).toBeInstanceOf(FileSystemError);
    expect(directory.message).toMatch(/is a directory, expected a file/);
    const empty = await errorOf(loadInteractionCsv({ train: file('h.csv', ['user_id,item_id,label_click']) }));
    expect(empty).toBeInstanceOf(EmptyError);
  });
});

describe('streamingCsvSource', () => {
  /** a log of 500 rows over 37 users and 23 items, in time order */
  function bigCsv(): string {
    const lines = ['user_id,item_id,timestamp,position,label_click,label_watch'];
    for (let r = 0; r < 500; r++) lines.push(`u${(r * 7) % 37},${(r * 5) % 23},${r},${r % 4},${r % 3 === 0 ? 1 : 0},${r % 5}`);
    return file('big.csv', lines);
  }

  it('yields the same multiset of rows as the in-memory source, shuffled per epoch', async () => {
    const path = bigCsv();
    // a pre-split load keeps every row of the file in train (its one test row is skipped)
    const d = await loadInteractionCsv({ train: path, test: file('t.csv', ['user_id,item_id,label_click,label_watch', 'nobody,0,1,1']) });
    expect(d.train.size).toBe(500);
    const s = await streamingCsvSource(path, { batchSize: 64, seed: 9, shuffleBuffer: 100, historyLength: 3 });
    expect(s.schema).toEqual(d.schema);
    expect(s.rowsPerEpoch).toBe(500);
    const epoch0 = await collect(s.batches(0));
    expect(epoch0.map((b) => b.size)).toEqual([64, 64, 64, 64, 64, 64, 64, 52]);
    for (const b of epoch0) validateBatch(b, s.schema);
    const streamed = rowKeys(epoch0, s, 2);
    const inMemory = rowKeys(await collect(inMemorySource(d, { batchSize: 64, historyLength: 3 }).batches(0)), d, 2);
    expect([...streamed].sort()).toEqual([...inMemory].sort());
    expect(streamed).not.toEqual(rowKeys(await collect(s.batches(1)), s, 2));
    expect(rowKeys(await collect(s.batches(0)), s, 2)).toEqual(streamed);
  });

  it('keeps file order without shuffling, with histories as historiesOf, and drops the last batch', async () => {
    const s: StreamingCsvSource = await streamingCsvSource(bigCsv(), { batchSize: 100, shuffle: false, historyLength: 4, dropLast: false });
    const d = await loadInteractionCsv({ train: bigCsv() });
    const batches = await collect(s.batches(0));
    const user = Int32Array.from(batches.flatMap((b) => Array.from(b.user)));
    const item = Int32Array.from(batches.flatMap((b) => Array.from(b.item)));
    const labels = Float32Array.from(batches.flatMap((b) => Array.from(b.labels)));
    const history = Int32Array.from(batches.flatMap((b) => Array.from(b.history!)));
    expect(Array.from(item.subarray(0, 6), (i) => s.itemIds[i])).toEqual([0, 5, 10, 15, 20, 2]);
    expect(history).toEqual(historiesOf({ size: 500, user, item, labels }, s.valueWeights, 2, 4));
    expect(s.userIds).toEqual(d.userIds);
    const dropped = await streamingCsvSource(bigCsv(), { batchSize: 64, dropLast: true });
    expect(dropped.rowsPerEpoch).toBe(448);
    expect((await collect(dropped.batches(0))).map((b) => b.size)).toEqual([64, 64, 64, 64, 64, 64, 64]);
  });

  it('checks the file on opening', async () => {
    const e = await errorOf(streamingCsvSource(file('t.csv', ['user_id,item_id,label_click', 'a,b,-1']), { batchSize: 4 }));
    expect(e).toBeInstanceOf(OutOfRangeError);
    expect(e.field).toBe('label_click');
  });
});

describe('label and feature precision', () => {
  it.each([['0.1'], ['1e30']])('trains on a label column whose largest value rounds up in float32 (%s)', async (big) => {
    const rows = ['user_id,item_id,label_click'];
    for (let u = 0; u < 6; u++) for (let i = 0; i < 4; i++) rows.push(`u${u},i${(u + i) % 5},${(u + i) % 2 ? big : 0}`);
    const d = await loadInteractionCsv({ train: file('t.csv', rows) });
    for (const b of await collect(inMemorySource(d, { batchSize: 8 }).batches(0))) expect(() => validateBatch(b, d.schema)).not.toThrow();
  });

  it('refuses labels and features beyond float32 at load time, naming the column', async () => {
    const label = await errorOf(loadInteractionCsv({ train: file('l.csv', ['user_id,item_id,label_click', 'a,b,1', 'a,c,1e39']) }));
    expect(label).toBeInstanceOf(OutOfRangeError);
    expect(label.field).toBe('label_click');
    const feature = await errorOf(loadInteractionCsv({
      train: file('f.csv', ['user_id,item_id,label_click', 'a,b,1', 'a,c,1']), itemFeatures: file('if.csv', ['item_id,size', 'b,1', 'c,-4e38']),
    }));
    expect(feature).toBeInstanceOf(OutOfRangeError);
    expect(feature.field).toBe('size');
  });
});
