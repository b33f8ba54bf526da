import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSystemError, recoverDir, writeDirAtomic, writeFileAtomic } from './index.js';

/** A pid that no longer runs: a child that has exited. */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '0']).pid!;

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tt-atomic-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('writeDirAtomic', () => {
  it('removes the temporary folders of killed saves and leaves those of running ones', async () => {
    const dir = join(root, 'ck');
    const pid = deadPid();
    mkdirSync(join(root, `.ck.tmp-${pid}-0123abcd`));
    mkdirSync(join(root, `.ck.tmp-${process.pid}-89abcdef`)); // this process: a save in progress
    mkdirSync(join(root, '.other.tmp-1-0123abcd'));
    await writeDirAtomic(dir, (tmp) => writeFileSync(join(tmp, 'a'), 'new'));
    expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('new');
    expect(readdirSync(root).sort()).toEqual(['.ck.tmp-' + process.pid + '-89abcdef', '.other.tmp-1-0123abcd', 'ck'].sort());
  });

  it('removes an orphaned previous version once the new one is in place', async () => {
    const dir = join(root, 'ck');
    const old = join(root, `.ck.old-${deadPid()}-0123abcd`);
    mkdirSync(old);
    await writeDirAtomic(dir, (tmp) => writeFileSync(join(tmp, 'a'), 'new'));
    expect(existsSync(old)).toBe(false);
    expect(readdirSync(root)).toEqual(['ck']);
  });

  it('turns file-system refusals into a FileSystemError naming the directory', async () => {
    writeFileSync(join(root, 'file'), 'x');
    const target = join(root, 'file', 'ck');
    const e = await writeDirAtomic(target, () => undefined).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(FileSystemError);
    expect((e as FileSystemError).path).toBe(target);
    expect((e as FileSystemError).operation).toBe('write');
    expect(readdirSync(root)).toEqual(['file']);
  });
});

describe('writeFileAtomic', () => {
  it('turns file-system refusals into a FileSystemError naming the file', () => {
    writeFileSync(join(root, 'file'), 'x');
    expect(() => writeFileAtomic(join(root, 'file', 'out.txt'), 'y')).toThrow(FileSystemError);
    mkdirSync(join(root, 'adir'));
    expect(() => writeFileAtomic(join(root, 'adir'), 'y')).toThrow(FileSystemError);
    expect(readdirSync(root).sort()).toEqual(['adir', 'file']);
  });
});

describe('recoverDir', () => {
  it('puts back the newest previous version a save killed between its two renames left', () => {
    const dir = join(root, 'ck');
    const pid = deadPid();
    const older = join(root, `.ck.old-${pid}-00000000`);
    const newer = join(root, `.ck.old-${pid}-11111111`);
    mkdirSync(older);
    writeFileSync(join(older, 'v'), '1');
    mkdirSync(newer);
    writeFileSync(join(newer, 'v'), '2');
    const later = new Date(Date.now() + 10_000);
    utimesSync(newer, later, later);
    expect(recoverDir(dir)).toBe(newer);
    expect(readFileSync(join(dir, 'v'), 'utf8')).toBe('2');
    expect(recoverDir(dir)).toBeUndefined(); // present now: nothing to do
  });

  it('leaves the previous version of a save that still runs', () => {
    mkdirSync(join(root, `.ck.old-${process.pid}-00000000`));
    expect(recoverDir(join(root, 'ck'))).toBeUndefined();
    expect(existsSync(join(root, 'ck'))).toBe(false);
  });
});
