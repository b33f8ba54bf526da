import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '../runtime/tf.js';
import { initBackend } from '../runtime/backend.js';
import { CorruptFileError, MismatchError } from '../errors.js';
import { resolveConfig } from '../model/config.js';
import { TwoTowerModel } from '../model/two-tower.js';
import { tinyData, tinySchema } from '../model/test-fixtures.js';
import { buildItemIndex } from '../serve/retriever.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';

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
    writeFileSync(join(dir, 'checkpoint.json'), JSON.stringify(manifest));
    await expect(loadCheckpoint(dir)).rejects.toThrow(MismatchError);
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
