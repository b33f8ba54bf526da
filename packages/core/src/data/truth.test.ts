import { MismatchError, ShapeError, ValueError } from '../errors.js';
import { truthFromTable } from './truth.js';

describe('truthFromTable', () => {
  // V[u][i] = 10 u + i: a table of 3 users and 4 items
  const table = { data: Float32Array.from({ length: 12 }, (_, k) => 10 * Math.floor(k / 4) + (k % 4)), shape: [3, 4] };

  it("reads each user's row and each item's column by the log's own ids, in the dataset's index order", () => {
    // a log that met user 2 first and item "3" first, and never item 1
    const truth = truthFromTable(table, { userIds: [2, '0'], itemIds: ['3', 0, 2] });
    expect(Array.from(truth.valueOfAllItems(0))).toEqual([23, 20, 22]);
    expect(Array.from(truth.valueOfAllItems(1))).toEqual([3, 0, 2]);
  });

  it('names the flag and what it expected for ids outside the table, ids that are not integers, bad shapes and NaN', () => {
    expect(() => truthFromTable(table, { userIds: [3], itemIds: [0] }, '--truth')).toThrow(MismatchError);
    expect(() => truthFromTable(table, { userIds: [3], itemIds: [0] }, '--truth')).toThrow(/--truth: expected a user id below 3/);
    expect(() => truthFromTable(table, { userIds: [0], itemIds: [4] })).toThrow(/item id below 4/);
    expect(() => truthFromTable(table, { userIds: ['u7'], itemIds: [0] })).toThrow(/integers.*"u7"/);
    expect(() => truthFromTable(table, { userIds: [1.5], itemIds: [0] })).toThrow(MismatchError);
    expect(() => truthFromTable({ data: table.data, shape: [12] }, { userIds: [0], itemIds: [0] })).toThrow(ShapeError);
    const holed = Float32Array.from(table.data);
    holed[5] = NaN; // user 1, item 1
    expect(() => truthFromTable({ data: holed, shape: [3, 4] }, { userIds: [1], itemIds: [1] })).toThrow(ValueError);
    // a hole the dataset never reads is no error
    expect(truthFromTable({ data: holed, shape: [3, 4] }, { userIds: [0, 2], itemIds: [0, 1] }).valueOfAllItems(1)[1]).toBe(21);
  });
});
