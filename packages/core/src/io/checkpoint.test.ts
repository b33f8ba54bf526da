import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '../runtime/tf.js';
import { initBackend } from '../runtime/backend.js';
import { CorruptFileError, FileSystemError, MismatchError } from '../errors.js';
import { resolveConfig } from '../model/config.js';
import { TwoTowerModel } from '../model/two-tower.js';
import { tinyData, tinySchema } from '../model/test-fixtures.js';
import { buildItemIndex } from '../serve/retriever.js';
import { checkCheckpointTarget, loadCheckpoint, manifestText, saveCheckpoint } from './checkpoint.js';

const schema = tinySchema();
const data = tinyData(schema);
let root: string;

beforeAll(async () => {
  await initBackend({ backend: 'wasm', log: false });
  root = mkdtempSync(join(tmpdir(), 'tt-ckpt-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Without history pooling (the loader's own tests); pooling is tested below. */
function model(seed = 1, dim = 8, historyPooling = 0): TwoTowerModel {
  return TwoTowerModel.create(resolveConfig(schema, { dim, hidden: 16, seed, historyPooling }), data);
}

async function saved(name: string): Promise<string> {
  const dir = join(root, name);
  const m = model();
  const index = await buildItemIndex(m);
  await saveCheckpoint(dir, m, { index, seen: [Int32Array.from([1, 2]), new Int32Array(0)], popularity: Float32Array.from({ length: schema.numItems }, (_, i) => i % 7), metadata: { note: 'x' } });
  await index.dispose();
  m.dispose();
  return dir;
}

describe('checkpoints', () => {
  it('rebuild their own model: same embeddings, catalogue, index, seen lists and popularity', async () => {
    const dir = await saved('ok');
    const original = model();
    const { model: loaded, index, seen, popularity, metadata } = await loadCheckpoint(dir);
    expect(Array.from(popularity!)).toEqual(Array.from({ length: schema.numItems }, (_, i) => i % 7));
    const users = Int32Array.from([0, 5, 9]);
    const a = original.queryEmbeddings(original.userInputOf(users));
    const b = loaded.queryEmbeddings(loaded.userInputOf(users));
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(loaded.data.itemIds).toEqual(data.itemIds);
    expect(index!.size).toBe(schema.numItems);
    expect(Array.from(seen![0]!)).toEqual([1, 2]);
    expect(metadata).toEqual({ note: 'x' });
    tf.dispose([a, b]);
    await index!.dispose();
    loaded.dispose();
    original.dispose();
  });

  it('rebuild a model that pools histories: the same queries for the same histories', async () => {
    const dir = join(root, 'pooled');
    const m = model(2, 8, 5);
    const index = await buildItemIndex(m);
    await saveCheckpoint(dir, m, { index });
    await index.dispose();
    const { model: loaded, index: li } = await loadCheckpoint(dir);
    const history = Int32Array.of(3, 1, -1, -1, -1, 7, -1, -1, -1, -1);
    const a = m.queryEmbeddings(m.userInputOf(Int32Array.of(0, 4), history, 5));
    const b = loaded.queryEmbeddings(loaded.userInputOf(Int32Array.of(0, 4), history, 5));
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([a, b]);
    await li!.dispose();
    loaded.dispose();
    m.dispose();
  });

  it('reject a truncated weights file', async () => {
    const dir = await saved('truncated');
    const f = join(dir, 'weights.safetensors');
    truncateSync(f, readFileSync(f).length - 7);
    await expect(loadCheckpoint(dir)).rejects.toThrow(CorruptFileError);
  });

  it('reject an altered file and a missing manifest', async () => {
    const dir = await saved('altered');
    const f = join(dir, 'catalogue.json');
    writeFileSync(f, readFileSync(f, 'utf8').replace('item-1', 'item-X'));
    await expect(loadCheckpoint(dir)).rejects.toThrow(CorruptFileError);
    rmSync(join(dir, 'checkpoint.json'));
    await expect(loadCheckpoint(dir)).rejects.toThrow(/checkpoint.json/);
  });

  it('reject weights that do not fit the config', async () => {
    const dir = await saved('mismatch');
    const manifest = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8'));
    manifest.model.dim = 16;
    manifest.hasIndex = false;
    writeFileSync(join(dir, 'checkpoint.json'), manifestText(manifest)); // re-signed: consistent, but the weights are [.., 8]
    await expect(loadCheckpoint(dir)).rejects.toThrow(MismatchError);
  });

  it.each([
    ['temperature', (m: any) => { m.model.temperature = 0.5; }],
    ['normalize', (m: any) => { m.model.normalize = false; }],
    ['metadata', (m: any) => { m.metadata.note = 'y'; }],
  ])('refuse a checkpoint.json whose %s was edited (it checksums itself)', async (name, edit) => {
    const dir = await saved(`edited-${name}`);
    const path = join(dir, 'checkpoint.json');
    const manifest = JSON.parse(readFileSync(path, 'utf8'));
    edit(manifest);
    writeFileSync(path, `${JSON.stringify(manifest, null, 1)}\n`);
    const e = await loadCheckpoint(dir).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CorruptFileError);
    expect((e as CorruptFileError).path).toBe(path);
  });

  it('load a version 1 checkpoint (no self-checksum) as before', async () => {
    const dir = await saved('v1');
    const path = join(dir, 'checkpoint.json');
    const { sha256: _, ...manifest } = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, JSON.stringify({ ...manifest, version: 1 }, null, 1));
    const { model: loaded, index } = await loadCheckpoint(dir);
    await index?.dispose();
    loaded.dispose();
  });

  it('recover a checkpoint a killed save left only under .DIR.old-*', async () => {
    const dir = await saved('orphan');
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;
    renameSync(dir, join(root, `.orphan.old-${deadPid}-0badc0de`));
    const { model: loaded, index } = await loadCheckpoint(dir);
    expect(existsSync(join(dir, 'checkpoint.json'))).toBe(true);
    await index?.dispose();
    loaded.dispose();
  });

  it('name a missing or non-directory checkpoint path with a FileSystemError', async () => {
    await expect(loadCheckpoint(join(root, 'nothing-here'))).rejects.toThrow(FileSystemError);
    writeFileSync(join(root, 'plain-file'), 'x');
    await expect(loadCheckpoint(join(root, 'plain-file'))).rejects.toThrow(FileSystemError);
    await expect(loadCheckpoint(join(root, 'plain-file', 'below'))).rejects.toThrow(FileSystemError);
  });

  it('leave the previous checkpoint whole when a save fails', async () => {
    const dir = await saved('atomic');
    const before = readFileSync(join(dir, 'weights.safetensors'));
    const m = model(2);
    const failing = { save: async () => { throw new Error('disk full'); } } as never;
    await expect(saveCheckpoint(dir, m, { index: failing })).rejects.toThrow('disk full');
    expect(readFileSync(join(dir, 'weights.safetensors'))).toEqual(before);
    expect(readdirSync(root).filter((n) => n.startsWith('.atomic'))).toEqual([]);
    expect(existsSync(join(dir, 'checkpoint.json'))).toBe(true);
    m.dispose();
  });
});

describe('saveCheckpoint targets', () => {
  it('refuse a folder holding other files (e.g. `.`), and leave the files there', async () => {
    const folder = join(root, 'user-folder');
    mkdirSync(folder);
    writeFileSync(join(folder, 'notes.txt'), 'keep me');
    const m = model();
    expect(() => checkCheckpointTarget(folder)).toThrow(FileSystemError);
    await expect(saveCheckpoint(folder, m)).rejects.toThrow(FileSystemError);
    const cwd = process.cwd();
    process.chdir(folder);
    try {
      await expect(saveCheckpoint('.', m)).rejects.toThrow(FileSystemError);
    } finally {
      process.chdir(cwd);
    }
    expect(readdirSync(folder)).toEqual(['notes.txt']);
    expect(readFileSync(join(folder, 'notes.txt'), 'utf8')).toBe('keep me');
    // force: the caller's explicit choice
    await saveCheckpoint(folder, m, { force: true });
    expect(readdirSync(folder)).toContain('checkpoint.json');
    m.dispose();
  });

  it('accept a new path, an empty directory and an existing checkpoint', async () => {
    const dir = await saved('existing');
    mkdirSync(join(root, 'empty'));
    for (const target of [join(root, 'new', 'deeper'), join(root, 'empty'), dir]) expect(checkCheckpointTarget(target)).toBe(target);
  });

  it('refuse a path under a regular file, or a regular file, before any work', async () => {
    writeFileSync(join(root, 'a-file'), 'x');
    for (const target of [join(root, 'a-file', 'b'), join(root, 'a-file')]) {
      const e = (() => { try { checkCheckpointTarget(target); } catch (x) { return x; } return undefined; })();
      expect(e).toBeInstanceOf(FileSystemError);
      expect((e as FileSystemError).path).toBe(target);
    }
  });
});
