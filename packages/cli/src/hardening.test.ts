/**
 * Regression tests of the bad-input audit (issue 24): flags are checked before any data is read,
 * the output path before training, and file-system errors are typed and name their path.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, FileSystemError } from '@tt/core';
import { rejection, ttLines } from './testing/in-process.js';

let dir: string;
const cwd = process.cwd();
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tt-hardening-'));
  process.chdir(dir);
  const rows = ['user_id,item_id,label_like'];
  for (let u = 0; u < 20; u++) for (let r = 0; r < 3; r++) rows.push(`u${u},i${(u * 3 + r) % 15},1`);
  writeFileSync(join(dir, 'log.csv'), `${rows.join('\n')}\n`);
});
afterAll(() => {
  process.chdir(cwd);
  rmSync(dir, { recursive: true, force: true });
});

describe('tt train checks before it reads data', () => {
  it.each([
    ['epochs', ['--epochs', '0']],
    ['temperature', ['--temperature', '0']],
    ['batchSize', ['--batch-size', '0']],
    ['learningRate', ['--lr', '0']],
    ['dim', ['--dim', '0']],
    ['stages.distill.alpha', ['--stages', 'light-ranker,distill', '--kd-alpha', '3']],
  ])('a bad %s is a ConfigError, even when the data file does not exist', async (field, flags) => {
    const e = await rejection(ttLines('train', '--data', 'csv:no-such-file.csv', ...flags));
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).field).toBe(field);
  });

  it('refuses --checkpoint . in a folder with other files, and the files are still there', async () => {
    const folder = join(dir, 'project');
    mkdirSync(folder);
    writeFileSync(join(folder, 'notes.txt'), 'mine');
    mkdirSync(join(folder, 'src'));
    process.chdir(folder);
    try {
      const e = await rejection(ttLines('train', '--data', `csv:${join(dir, 'log.csv')}`, '--epochs', '1', '--checkpoint', '.'));
      expect(e).toBeInstanceOf(FileSystemError);
      expect((e as FileSystemError).path).toBe(folder);
    } finally {
      process.chdir(dir);
    }
    expect(readdirSync(folder).sort()).toEqual(['notes.txt', 'src']);
    expect(readFileSync(join(folder, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('refuses --checkpoint a/b where a is a regular file, before training (the missing data is never read)', async () => {
    writeFileSync(join(dir, 'a'), 'x');
    const e = await rejection(ttLines('train', '--data', 'csv:no-such-file.csv', '--checkpoint', 'a/b'));
    expect(e).toBeInstanceOf(FileSystemError);
    expect((e as FileSystemError).path).toBe(join(dir, 'a', 'b'));
    const d = await rejection(ttLines('train', '--data', 'csv:no-such-file.csv', '--diagnostics', 'a/diag'));
    expect(d).toBeInstanceOf(FileSystemError);
    expect((d as FileSystemError).path).toBe(join(dir, 'a', 'diag'));
  });

  it('--force saves into a folder that holds other files', async () => {
    mkdirSync(join(dir, 'forced'));
    writeFileSync(join(dir, 'forced', 'old.txt'), 'x');
    await ttLines('train', '--data', `csv:${join(dir, 'log.csv')}`, '--epochs', '1', '--checkpoint', 'forced', '--force');
    expect(readdirSync(join(dir, 'forced'))).toContain('checkpoint.json');
  });
});

describe('file-system errors are typed and name the path', () => {
  it('tt retrieve --users missing.txt', async () => {
    await ttLines('train', '--data', `csv:${join(dir, 'log.csv')}`, '--epochs', '1', '--checkpoint', 'ck');
    const e = await rejection(ttLines('retrieve', '--checkpoint', 'ck', '--users', 'missing.txt'));
    expect(e).toBeInstanceOf(FileSystemError);
    expect((e as FileSystemError).path).toBe('missing.txt');
    expect((e as FileSystemError).systemCode).toBe('ENOENT');
  });

  it('tt retrieve and tt eval on a checkpoint path that does not exist or is a file', async () => {
    writeFileSync(join(dir, 'users.txt'), 'u1\n');
    for (const ck of ['no-such-dir', 'log.csv']) {
      const e = await rejection(ttLines('retrieve', '--checkpoint', ck, '--users', 'users.txt'));
      expect(e).toBeInstanceOf(FileSystemError);
      const v = await rejection(ttLines('eval', '--checkpoint', ck, '--data', `csv:${join(dir, 'log.csv')}`));
      expect(v).toBeInstanceOf(FileSystemError);
    }
  });
});
