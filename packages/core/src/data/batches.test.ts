import { ConfigError } from '../errors.js';
import { historiesOf, inMemorySource, requestGroups, requestStarts, seenItemsByUser, trainingItemsPerUser } from './batches.js';
import type { Batch, InteractionDataset, InteractionLog } from './types.js';
import { validateBatch } from './validate.js';
import { collect } from '../model/test-fixtures.js';

/** A log from `[user, item, label]` rows (T = 1). */
function logOf(rows: readonly (readonly [number, number, number])[]): InteractionLog {
  return {
    size: rows.length,
    user: Int32Array.from(rows, (r) => r[0]),
    item: Int32Array.from(rows, (r) => r[1]),
    labels: Float32Array.from(rows, (r) => r[2]),
  };
}

function datasetOf(log: InteractionLog, numUsers: number, numItems: number): InteractionDataset {
  return {
    name: 'tiny',
    schema: { numUsers, numItems, tasks: ['like'], userFeatureDim: 2, itemFeatureDim: 3, numPositions: 0, hasRankerScores: false, labelMax: [1] },
    userIds: Array.from({ length: numUsers }, (_, i) => `u${i}`),
    itemIds: Array.from({ length: numItems }, (_, i) => i),
    // feature j of user u = 10u + j; of item i = 100i + j: checkable after gathering
    userFeatures: Float32Array.from({ length: numUsers * 2 }, (_, k) => 10 * Math.floor(k / 2) + (k % 2)),
    itemFeatures: Float32Array.from({ length: numItems * 3 }, (_, k) => 100 * Math.floor(k / 3) + (k % 3)),
    valueWeights: Float32Array.of(1),
    train: log,
    test: logOf([]),
  };
}

describe('historiesOf', () => {
  it('lists earlier positives of the same user, newest first, -1 padded', () => {
    const log = logOf([
      [0, 5, 1], // u0: history []
      [1, 7, 1], // u1: []
      [0, 6, 0], // u0: [5]          (a zero-value row is not a history item)
      [0, 8, 1], // u0: [5]
      [0, 9, 1], // u0: [8, 5]
      [1, 2, 0], // u1: [7]
      [0, 3, 1], // u0: [9, 8, 5] -> H = 3 keeps the newest three
      [0, 4, 1], // u0: [3, 9, 8]
    ]);
    const h = historiesOf(log, [1], 1, 3);
    const rows = Array.from({ length: log.size }, (_, r) => Array.from(h.subarray(r * 3, r * 3 + 3)));
    expect(rows).toEqual([
      [-1, -1, -1], [-1, -1, -1], [5, -1, -1], [5, -1, -1], [8, 5, -1], [7, -1, -1], [9, 8, 5], [3, 9, 8],
    ]);
    expect(historiesOf(log, [1], 1, 0)).toHaveLength(0);
  });

  it('counts a row as positive by labels . valueWeights', () => {
    // T = 2: task 0 has weight 0, so only rows with task 1 positive count
    const log: InteractionLog = { size: 3, user: Int32Array.of(0, 0, 0), item: Int32Array.of(1, 2, 3), labels: Float32Array.of(1, 0, 0, 1, 0, 0) };
    expect(Array.from(historiesOf(log, [0, 1], 2, 2))).toEqual([-1, -1, -1, -1, 2, -1]);
    expect(() => historiesOf(log, [1], 2, 2)).toThrow(ConfigError);
  });
});

describe('trainingItemsPerUser', () => {
  it('counts distinct positive items, and with countScored also the items of scored rows', () => {
    // user 0: item 1 twice (positive), item 2 scored only, item 3 neither; user 1: item 4 scored only
    const log = { ...logOf([[0, 1, 1], [0, 1, 1], [0, 2, 0], [0, 3, 0], [1, 4, 0]]), rankerScores: Float32Array.of(0.5, 0.5, 0.2, Number.NaN, 0.1) };
    expect(Array.from(trainingItemsPerUser(log, 3, [1], false))).toEqual([1, 0, 0]);
    expect(Array.from(trainingItemsPerUser(log, 3, [1], true))).toEqual([2, 1, 0]);
    expect(Array.from(trainingItemsPerUser(logOf([[0, 1, 0]]), 1, [1], true))).toEqual([0]); // no scores at all
  });
});

describe('seenItemsByUser', () => {
  it('gives the distinct items of each user, ascending', () => {
    const seen = seenItemsByUser(logOf([[0, 5, 1], [0, 2, 0], [2, 1, 1], [0, 5, 0]]), 3);
    expect(seen.map((s) => Array.from(s))).toEqual([[2, 5], [], [1]]);
  });
});

describe('inMemorySource', () => {
  const rows = Array.from({ length: 103 }, (_, r) => [r % 7, (r * 3) % 11, r % 2] as const);
  const data = datasetOf(logOf(rows), 7, 11);

  it('visits every row once per epoch, shuffled by seed + epoch', async () => {
    const source = inMemorySource(data, { batchSize: 10, seed: 4 });
    const epoch0 = await collect(source.batches(0));
    expect(epoch0.map((b) => b.size)).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
    const key = (bs: Batch[]) => bs.flatMap((b) => Array.from(b.user, (u, i) => `${u}/${b.item[i]}/${b.labels[i]}`));
    const original = rows.map((r) => `${r[0]}/${r[1]}/${r[2]}`);
    expect([...key(epoch0)].sort()).toEqual([...original].sort());
    expect(key(epoch0)).not.toEqual(original);
    expect(key(await collect(inMemorySource(data, { batchSize: 10, seed: 4 }).batches(0)))).toEqual(key(epoch0));
    expect(key(await collect(source.batches(1)))).not.toEqual(key(epoch0));
    expect(key(await collect(inMemorySource(data, { batchSize: 10, seed: 5 }).batches(0)))).toEqual(key(await collect(source.batches(1))));
    expect(key(await collect(inMemorySource(data, { batchSize: 10, shuffle: false }).batches(3)))).toEqual(original);
  });

  it('keeps requests whole when asked: a request (one user, one timestamp) stays in consecutive rows, requests shuffled', async () => {
    // 12 requests of 1-4 rows; user 5 makes two requests in a row (told apart by the timestamp)
    const sizes = [3, 1, 4, 2, 2, 3, 1, 4, 2, 3, 1, 2];
    const users = [0, 1, 2, 3, 5, 5, 4, 6, 7, 0, 1, 2];
    const log: InteractionLog = {
      size: sizes.reduce((a, b) => a + b, 0),
      user: Int32Array.from(sizes.flatMap((n, q) => new Array<number>(n).fill(users[q]!))),
      item: Int32Array.from(sizes.flatMap((n, q) => Array.from({ length: n }, (_, j) => (q + j) % 10))),
      labels: new Float32Array(28).fill(1),
      timestamp: Float64Array.from(sizes.flatMap((n, q) => new Array<number>(n).fill(q))),
    };
    expect(Array.from(requestStarts(log))).toEqual([0, 3, 4, 8, 10, 12, 15, 16, 20, 22, 25, 26, 28]);
    expect(Array.from(requestStarts({ ...log, timestamp: undefined }))).toEqual([0, 3, 4, 8, 10, 15, 16, 20, 22, 25, 26, 28]);
    const d = datasetOf(log, 8, 10);
    const rowsOf = (bs: Batch[]) => bs.flatMap((b) => Array.from(b.user, (u, i) => `${u}/${b.item[i]}`));
    for (const seed of [0, 1, 2]) {
      const order = rowsOf(await collect(inMemorySource(d, { batchSize: 7, seed, wholeRequests: true }).batches(0)));
      expect([...order].sort()).toEqual(Array.from(log.user, (u, r) => `${u}/${log.item[r]}`).sort());
      // each request's rows appear together and in log order
      let at = 0;
      const firstRows = new Set<string>();
      while (at < order.length) {
        const q = sizes.findIndex((_, k) => `${users[k]}/${k % 10}` === order[at] && !firstRows.has(`${k}`));
        expect(q).toBeGreaterThanOrEqual(0);
        firstRows.add(`${q}`);
        for (let j = 0; j < sizes[q]!; j++) expect(order[at + j]).toBe(`${users[q]}/${(q + j) % 10}`);
        at += sizes[q]!;
      }
      expect(firstRows.size).toBe(12);
    }
    const a = rowsOf(await collect(inMemorySource(d, { batchSize: 7, seed: 0, wholeRequests: true }).batches(0)));
    const b = rowsOf(await collect(inMemorySource(d, { batchSize: 7, seed: 0, wholeRequests: true }).batches(1)));
    expect(a).not.toEqual(b);
  });

  it('groups a batch into requests for listwise losses: runs of one user, included rows only, two or more', () => {
    const scores = [0.1, NaN, 0.3, 0.5, 0.2, 0.9, 0.4];
    const g = requestGroups(Int32Array.of(4, 4, 4, 7, 2, 2, 4), (r) => !Number.isNaN(scores[r]!));
    const B = 7;
    const inside = (r: number) => Array.from({ length: B }, (_, c) => c).filter((c) => g.outside[r * B + c] === 0);
    expect(inside(0)).toEqual([0, 2]);
    expect(inside(1)).toEqual([1]); // not included: alone
    expect(inside(3)).toEqual([3]); // a request of one
    expect(inside(4)).toEqual([4, 5]);
    expect(inside(6)).toEqual([6]); // user 4 again, but a later run
    expect(Array.from(g.inRequest)).toEqual([1, 0, 1, 0, 1, 1, 0]);
    expect(g.rows).toBe(4);
    expect(requestGroups(Int32Array.of(1, 1, 2)).rows).toBe(2);
  });

  it('gathers features and histories, and drops the last batch when asked', async () => {
    const source = inMemorySource(data, { batchSize: 16, historyLength: 2, dropLast: true });
    expect(source.rowsPerEpoch).toBe(96);
    const batches = await collect(source.batches(0));
    expect(batches.map((b) => b.size)).toEqual([16, 16, 16, 16, 16, 16]);
    const histories = historiesOf(data.train, data.valueWeights, 1, 2);
    for (const b of batches) {
      validateBatch(b, data.schema);
      for (let i = 0; i < b.size; i++) {
        expect(Array.from(b.userFeatures.subarray(2 * i, 2 * i + 2))).toEqual([10 * b.user[i]!, 10 * b.user[i]! + 1]);
        expect(b.itemFeatures[3 * i + 2]).toBe(100 * b.item[i]! + 2);
      }
    }
    // with shuffle off, row r's history is historiesOf's row r (the log's order as its clock)
    const ordered = await collect(inMemorySource(data, { batchSize: 103, historyLength: 2, shuffle: false, historyOrder: 'time' }).batches(0));
    expect(ordered[0]!.history).toEqual(histories);
  });

  it("without timestamps samples each row's history from the user's other positives, anew each epoch", async () => {
    const H = 3;
    const source = inMemorySource(data, { batchSize: 103, historyLength: H, shuffle: false });
    const [e0, e0again, e1] = [await collect(source.batches(0)), await collect(source.batches(0)), await collect(source.batches(1))];
    expect(e0again[0]!.history).toEqual(e0[0]!.history); // seeded
    expect(e1[0]!.history).not.toEqual(e0[0]!.history); // re-drawn per epoch
    const positives = new Map<number, Set<number>>();
    for (let r = 0; r < data.train.size; r++) {
      if (data.train.labels[r]! > 0) positives.set(data.train.user[r]!, (positives.get(data.train.user[r]!) ?? new Set()).add(data.train.item[r]!));
    }
    const b = e0[0]!;
    for (let i = 0; i < b.size; i++) {
      const mine = [...(positives.get(b.user[i]!) ?? [])].filter((x) => x !== b.item[i]);
      const h = Array.from(b.history!.subarray(i * H, (i + 1) * H)).filter((x) => x >= 0);
      expect(h.length).toBe(Math.min(H, mine.length));
      expect(new Set(h).size).toBe(h.length);
      for (const x of h) expect(mine).toContain(x);
    }
  });

  it('rejects a bad batch size or history length (ConfigError)', () => {
    expect(() => inMemorySource(data, { batchSize: 0 })).toThrow(ConfigError);
    expect(() => inMemorySource(data, { batchSize: 8, historyLength: -1 })).toThrow(ConfigError);
  });
});
