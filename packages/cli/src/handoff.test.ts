/**
 * `tt export` (npy, Parquet, LanceDB), `tt import`, `--data parquet:`, and the PyTorch hand-off:
 * tools/pytorch/tt_torch.py computes the same embeddings as tt, trains, and its weights come back.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { parquetWriteFile } from 'hyparquet-writer';
import {
  CorruptFileError, decodeSafetensors, encodeSafetensors, fitTwoTower, initBackend, loadCheckpoint, MismatchError, syntheticWorld, ValueError,
  type InteractionDataset, type SafetensorsEntry,
} from '@tt/core';
import { historyEncoder } from '@tt/history-encoder';
import { LanceIndex } from '@tt/lancedb';
import { readNpy } from '@tt/mips';
import { saveWithIndex } from './commands/train.js';
import { ttLines } from './testing/in-process.js';
import { PYTHON, pythonImportError } from './testing/python.js';

const SCRIPT = resolve(__dirname, '../../../tools/pytorch/tt_torch.py');
const torchMissing = pythonImportError('torch, numpy');
const hasTorch = torchMissing === undefined;
if (!hasTorch) {
  // said once, plainly, where the PyTorch tests are skipped
  process.stderr.write(`PyTorch hand-off tests SKIPPED: \`${PYTHON} -c 'import torch, numpy'\` failed (${torchMissing}); install Debian's python3-torch to run them\n`);
}

let dir: string;
let world: InteractionDataset;

const tt = ttLines;
const lastJson = (lines: string[]) => JSON.parse(lines[lines.length - 1]!) as Record<string, any>;

async function python(...args: string[]): Promise<Record<string, any>> {
  const { stdout } = await promisify(execFile)(PYTHON, [SCRIPT, ...args], { maxBuffer: 1 << 26 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, any>;
}

/** Trains a small model on the world (one epoch) and saves it as a checkpoint. */
async function checkpoint(name: string, options: { dim: number; history?: Record<string, unknown>; historyPooling?: number }): Promise<string> {
  const stages = options.history ? [{ name: 'history', options: options.history }] : [];
  const model0 = { dim: options.dim, hidden: 16, stages, ...(options.historyPooling !== undefined ? { historyPooling: options.historyPooling } : {}) };
  const { model } = await fitTwoTower(world, { epochs: 1, batchSize: 128, model: model0, stages: [historyEncoder], progress: 'none', log: () => undefined });
  try {
    await saveWithIndex(join(dir, name), model, world, { dataset: world.name });
  } finally {
    model.dispose();
  }
  return join(dir, name);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tt-handoff-'));
  await initBackend({ backend: 'wasm', log: false });
  // dense features on both sides, so every part of both towers is exercised
  world = syntheticWorld({ seed: 4, numUsers: 150, numItems: 120, impressions: 4000, userFeatureDim: 5, itemFeatureDim: 3, validation: false });
  // base and prenorm pool the latest 20 positives in the user tower (the default); history reads
  // its 6 through the encoder only
  await checkpoint('base', { dim: 16 });
  await checkpoint('history', { dim: 16, history: { maxLength: 6, heads: 2, layers: 2 }, historyPooling: 0 });
  await checkpoint('prenorm', { dim: 16, history: { maxLength: 6, heads: 4, layers: 2, block: 'prenorm' } });
  await checkpoint('small', { dim: 8 });
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tt export', () => {
  it('--format npy writes item and user embeddings, ids and the user tower inputs', async () => {
    const out = join(dir, 'npy');
    const s = lastJson(await tt('export', '--checkpoint', join(dir, 'history'), '--format', 'npy', '--out', out, '--json'));
    expect(s).toMatchObject({ items: 120, users: 150, dim: 16, historyLength: 6, format: 'npy' });
    const { model, histories } = await loadCheckpoint(join(dir, 'history'), { stages: [historyEncoder], loadIndex: false });
    try {
      const items = readNpy(join(out, 'items.npy'));
      expect(items.shape).toEqual([120, 16]);
      expect(Array.from(items.data)).toEqual(Array.from(model.catalogueEmbeddings()));
      expect(JSON.parse(readFileSync(join(out, 'item_ids.json'), 'utf8'))).toEqual(model.data.itemIds);
      const users = readNpy(join(out, 'users.npy'));
      const q = model.queryEmbeddings(model.userInputOf(Int32Array.from({ length: 150 }, (_, i) => i), histories, 6));
      expect(Array.from(users.data)).toEqual(Array.from(q.dataSync()));
      q.dispose();
      expect(Array.from(readNpy(join(out, 'user_histories.npy')).data)).toEqual(Array.from(histories!));
      expect(readNpy(join(out, 'user_features.npy')).shape).toEqual([150, 5]);
      expect(readNpy(join(out, 'item_features.npy')).shape).toEqual([120, 3]);
    } finally {
      model.dispose();
    }
  });

  it('--format parquet writes list columns that read back as the npy values', async () => {
    const out = join(dir, 'pq');
    await tt('export', '--checkpoint', join(dir, 'history'), '--format', 'parquet', '--out', out);
    const items = await parquetReadObjects({ file: await asyncBufferFromFile(join(out, 'items.parquet')) });
    const npy = readNpy(join(dir, 'npy', 'items.npy'));
    expect(items).toHaveLength(120);
    items.forEach((row, i) => {
      expect(row['embedding']).toHaveLength(16);
      (row['embedding'] as number[]).forEach((x, d) => expect(x).toBe(npy.data[i * 16 + d]));
      expect(row['features']).toHaveLength(3);
    });
    const ids = JSON.parse(readFileSync(join(dir, 'npy', 'item_ids.json'), 'utf8')) as number[];
    expect(items.map((r) => Number(r['item_id']))).toEqual(ids);
    const users = await parquetReadObjects({ file: await asyncBufferFromFile(join(out, 'users.parquet')) });
    const histories = readNpy(join(dir, 'npy', 'user_histories.npy'));
    users.forEach((row, u) => {
      const expected = Array.from(histories.data.subarray(u * 6, (u + 1) * 6)).filter((i) => i >= 0).map((i) => ids[i]);
      expect((row['history'] as bigint[]).map(Number)).toEqual(expected);
    });
  });

  it('--format lancedb:<dir> fills a table that serves the exact top k; another dimension is a typed error', async () => {
    const uri = join(dir, 'lance');
    const s = lastJson(await tt('export', '--checkpoint', join(dir, 'base'), '--format', `lancedb:${uri}`, '--ann', 'ivf_flat', '--json'));
    expect(s).toMatchObject({ format: 'lancedb', rows: 120, inserted: 120, ann: 'ivf_flat' });
    const index = await LanceIndex.open({ uri, dim: 16, search: { exact: true } });
    const { vectors, found } = await index.getVectors([...Array(120).keys()]);
    expect(found.every(Boolean)).toBe(true);
    const npy = readNpy(join(dir, 'npy', 'items.npy')); // another checkpoint: the vectors differ
    expect(Array.from(vectors)).not.toEqual(Array.from(npy.data));
    await index.dispose();
    // re-export after "retraining" (another checkpoint of the same catalogue): rows replaced, none added
    const again = lastJson(await tt('export', '--checkpoint', join(dir, 'history'), '--format', `lancedb:${uri}`, '--json'));
    expect(again).toMatchObject({ rows: 120, inserted: 0, written: 120 });
    const e = await tt('export', '--checkpoint', join(dir, 'small'), '--format', `lancedb:${uri}`).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(MismatchError);
    expect((e as MismatchError).field).toBe('vector');
    await expect(tt('export', '--checkpoint', join(dir, 'base'), '--format', 'csv')).rejects.toMatchObject({ field: '--format' });
    await expect(tt('export', '--checkpoint', join(dir, 'base'), '--format', 'npy', '--ann', 'ivf_pq')).rejects.toMatchObject({ field: '--ann' });
  });
});

describe('tt train --data parquet:', () => {
  it('trains on a Parquet log and names a missing user_id column', async () => {
    const n = 400;
    const rows = Array.from({ length: n }, (_, r) => ({ u: `u${r % 40}`, i: BigInt((r * 7) % 30), t: BigInt(r), like: r % 2 }));
    parquetWriteFile({
      filename: join(dir, 'log.parquet'),
      columnData: [
        { name: 'user_id', data: rows.map((r) => r.u), type: 'STRING' },
        { name: 'item_id', data: BigInt64Array.from(rows, (r) => r.i), type: 'INT64' },
        { name: 'timestamp', data: BigInt64Array.from(rows, (r) => r.t), type: 'INT64' },
        { name: 'label_like', data: Int32Array.from(rows, (r) => r.like), type: 'INT32' },
      ],
      rowGroupSize: 128,
    });
    const s = lastJson(await tt('train', '--data', `parquet:${join(dir, 'log.parquet')}`, '--epochs', '1', '--checkpoint', join(dir, 'ck-pq'), '--json'));
    expect(s['dataset']).toBe('parquet:log.parquet');
    expect(typeof s['metrics']['recall@20']).toBe('number');
    parquetWriteFile({ filename: join(dir, 'nouser.parquet'), columnData: [{ name: 'item_id', data: BigInt64Array.from([1n, 2n]), type: 'INT64' }, { name: 'label_like', data: Int32Array.from([1, 0]), type: 'INT32' }] });
    const e = await tt('train', '--data', `parquet:${join(dir, 'nouser.parquet')}`).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ValueError);
    expect((e as ValueError).field).toBe('user_id');
  });
});

describe('tt import', () => {
  /** The checkpoint's weights under PyTorch's names, as a state_dict file (what tt_torch.py save writes). */
  function torchFile(from: string, path: string, edit: (t: Record<string, SafetensorsEntry>) => void = () => undefined, metadata?: Record<string, string>): string {
    const weights = decodeSafetensors(readFileSync(join(from, 'weights.safetensors')), from).tensors;
    const out: Record<string, SafetensorsEntry> = {};
    for (const [name, e] of Object.entries(weights)) {
      if (name.endsWith('.w')) {
        const [r, c] = e.shape as [number, number];
        const t = new Float32Array(r * c);
        for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t[j * r + i] = (e.data as Float32Array)[i * c + j]!;
        out[`${name.slice(0, -2)}.weight`] = { dtype: 'F32', shape: [c, r], data: t };
      } else if (name.endsWith('.b')) out[`${name.slice(0, -2)}.bias`] = e;
      else out[`${name}.weight`] = e;
    }
    edit(out);
    writeFileSync(path, Buffer.concat(encodeSafetensors(out, metadata) as Uint8Array[]));
    return path;
  }

  it('reads a state_dict (PyTorch names) into a checkpoint that retrieves as the original', async () => {
    const file = torchFile(join(dir, 'base'), join(dir, 'base.safetensors'));
    const s = lastJson(await tt('import', '--weights', file, '--like', join(dir, 'base'), '--checkpoint', join(dir, 'imported'), '--json'));
    expect(s).toMatchObject({ parameters: 15, imported: 15, kept: 0 }); // two tables, two 2-layer feature MLPs, two projections, the history pooling's position logits
    writeFileSync(join(dir, 'users.txt'), `${world.userIds.slice(0, 5).join('\n')}\n`);
    const a = await tt('retrieve', '--checkpoint', join(dir, 'base'), '--users', join(dir, 'users.txt'), '--k', '5');
    const b = await tt('retrieve', '--checkpoint', join(dir, 'imported'), '--users', join(dir, 'users.txt'), '--k', '5');
    expect(b).toEqual(a);
  });

  it('names the field of a model of another shape', async () => {
    // a dim-8 model's weights into the dim-16 template: the first tensor whose shape differs
    const other = torchFile(join(dir, 'small'), join(dir, 'small.safetensors'));
    const e = await tt('import', '--weights', other, '--like', join(dir, 'base'), '--checkpoint', join(dir, 'bad')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(MismatchError);
    expect((e as MismatchError).field).toMatch(/^(user|item)\.(mlp\.0|mlp\.1|projection|embedding)\.weight$/);
    // with the config in the metadata (as tt_torch.py writes it): the config field
    const config = JSON.parse(readFileSync(join(dir, 'small', 'checkpoint.json'), 'utf8')).model;
    const tagged = torchFile(join(dir, 'small'), join(dir, 'small-tagged.safetensors'), undefined, { 'tt.config': JSON.stringify(config) });
    await expect(tt('import', '--weights', tagged, '--like', join(dir, 'base'), '--checkpoint', join(dir, 'bad'))).rejects.toMatchObject({ field: 'dim' });
    // a history model's weights into the base template: a tensor the template lacks
    const history = torchFile(join(dir, 'history'), join(dir, 'history.safetensors'));
    const extra = await tt('import', '--weights', history, '--like', join(dir, 'base'), '--checkpoint', join(dir, 'bad')).catch((x: unknown) => x);
    expect(extra).toBeInstanceOf(MismatchError);
    expect((extra as MismatchError).field).toMatch(/^(stages\.history\.|user\.projection|user\.history\.)/);
    // a missing tensor, unless --partial keeps the template's
    const partial = torchFile(join(dir, 'base'), join(dir, 'partial.safetensors'), (t) => delete t['item.projection.bias']);
    await expect(tt('import', '--weights', partial, '--like', join(dir, 'base'), '--checkpoint', join(dir, 'bad'))).rejects.toMatchObject({ field: 'item.projection.bias' });
    expect(lastJson(await tt('import', '--weights', partial, '--like', join(dir, 'base'), '--checkpoint', join(dir, 'partial'), '--partial', '--json'))).toMatchObject({ kept: 1 });
    writeFileSync(join(dir, 'junk.safetensors'), 'not a safetensors file');
    await expect(tt('import', '--weights', join(dir, 'junk.safetensors'), '--like', join(dir, 'base'), '--checkpoint', join(dir, 'bad'))).rejects.toBeInstanceOf(CorruptFileError);
    expect(existsSync(join(dir, 'bad'))).toBe(false);
  });
});

(hasTorch ? describe : describe.skip)('PyTorch hand-off (tools/pytorch/tt_torch.py)', () => {
  it.each([['base'], ['history'], ['prenorm']])('computes the user and item embeddings of the %s checkpoint within 1e-5', async (name) => {
    const out = join(dir, `npy-${name}`);
    await tt('export', '--checkpoint', join(dir, name), '--format', 'npy', '--out', out);
    const r = await python('check', '--checkpoint', join(dir, name), '--against', out);
    expect(r).toMatchObject({ users: 150, items: 120, historyLength: name === 'history' ? 6 : 20, ok: true });
    expect(r['userMaxAbsDiff']).toBeLessThanOrEqual(1e-5);
    expect(r['itemMaxAbsDiff']).toBeLessThanOrEqual(1e-5);
  });

  it('trains in PyTorch, and tt import + retrieve serve the PyTorch model', async () => {
    const weights = join(dir, 'torch-trained.safetensors');
    const trained = await python('train', '--checkpoint', join(dir, 'history'), '--out', weights, '--steps', '20', '--batch-size', '128');
    expect(trained['lastLoss']).toBeLessThan(trained['firstLoss']);
    const s = lastJson(await tt('import', '--weights', weights, '--like', join(dir, 'history'), '--checkpoint', join(dir, 'from-torch'), '--json'));
    expect(s['kept']).toBe(0);
    // tt's embeddings of the imported checkpoint are PyTorch's of the trained weights
    const out = join(dir, 'npy-from-torch');
    await tt('export', '--checkpoint', join(dir, 'from-torch'), '--format', 'npy', '--out', out);
    const r = await python('check', '--checkpoint', join(dir, 'history'), '--weights', weights, '--against', out);
    expect(r['ok']).toBe(true);
    await tt('export', '--checkpoint', join(dir, 'history'), '--format', 'npy', '--out', join(dir, 'npy-before-torch'));
    const before = readNpy(join(dir, 'npy-before-torch', 'users.npy')).data;
    expect(Array.from(readNpy(join(out, 'users.npy')).data)).not.toEqual(Array.from(before));
    writeFileSync(join(dir, 'users.txt'), `${world.userIds.slice(0, 3).join('\n')}\n`);
    const lines = (await tt('retrieve', '--checkpoint', join(dir, 'from-torch'), '--users', join(dir, 'users.txt'), '--k', '4')).map((l) => JSON.parse(l));
    expect(lines.map((l) => l.items.length)).toEqual([4, 4, 4]);
  });
});
