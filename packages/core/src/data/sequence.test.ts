import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptFileError, EmptyError, FileSystemError } from '../errors.js';
import { loadSequenceFile } from './sequence.js';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tt-seq-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(text: string): string {
  const path = join(dir, 'seq.txt');
  writeFileSync(path, text);
  return path;
}

describe('loadSequenceFile', () => {
  it("reads `user item` lines in file order: last item tests, the one before validates", async () => {
    const d = await loadSequenceFile(file('1 10\n1 12\n1 11\n2 10\n2 13\n\n3 12\n'), { validation: true });
    expect(d.userIds).toEqual([1, 2, 3]);
    expect(d.itemIds).toEqual([10, 11, 12, 13]);
    expect(d.schema).toMatchObject({ numUsers: 3, numItems: 4, tasks: ['interaction'], numPositions: 0, hasRankerScores: false });
    expect(Array.from(d.test.item, (i) => d.itemIds[i])).toEqual([11, 13]); // user 3 has one row: not evaluated
    expect(Array.from(d.validation!.item, (i) => d.itemIds[i])).toEqual([12, 10]);
    expect(Array.from(d.train.item, (i) => d.itemIds[i])).toEqual([10, 12]);
    expect(d.split).toMatch(/before it/);
  });

  it('takes string ids and tabs', async () => {
    const d = await loadSequenceFile(file('alice\tx\nalice\ty\nbob\tx\r\n'));
    expect(d.userIds).toEqual(['alice', 'bob']);
    expect(d.itemIds).toEqual(['x', 'y']);
    expect(d.validation).toBeUndefined();
  });

  it('names the line of a malformed entry, a missing file and an empty one', async () => {
    const bad = await loadSequenceFile(file('1 10\n1 11 5\n')).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(CorruptFileError);
    expect((bad as CorruptFileError).message).toMatch(/line 2/);
    expect((bad as CorruptFileError).field).toMatch(/seq\.txt$/);
    await expect(loadSequenceFile(join(dir, 'none.txt'))).rejects.toBeInstanceOf(FileSystemError);
    await expect(loadSequenceFile(file('\n\n'))).rejects.toBeInstanceOf(EmptyError);
  });
});
