/**
 * Fuzz test of the checkpoint loader: seeded random truncations, byte flips, deletions and
 * appended bytes of every file of a saved checkpoint (its index included), and random values in
 * `checkpoint.json` both as edited (refused by its checksum) and re-signed (a consistent file with
 * bad content). Every case must load or fail with a typed error (TtError); never an untyped one.
 */
import { appendFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { initBackend } from '../runtime/backend.js';
import { TtError } from '../errors.js';
import { resolveConfig } from '../model/config.js';
import { TwoTowerModel } from '../model/two-tower.js';
import { tinyBatch, tinyData, tinySchema } from '../model/test-fixtures.js';
import { Rng } from '../nn/init.js';
import { buildItemIndex } from '../serve/retriever.js';
import { DenseAdam, SparseRowOptimizer } from '../train/optimizers.js';
import { Trainer } from '../train/trainer.js';
import { applyTrainerState } from '../train/trainer-state.js';
import { loadCheckpoint, manifestText, saveCheckpoint } from './checkpoint.js';

const VALUES: unknown[] = [null, true, false, 0, -1, 1.5, 1e308, -0, 2 ** 31, '', 'abc', 'NaN', [], [1, 'x'], {}, { a: 1 }, 64, 3];

let root: string;
let original: string;

beforeAll(async () => {
  await initBackend({ backend: 'wasm', log: false });
  root = mkdtempSync(join(tmpdir(), 'tt-ckpt-fuzz-'));
  original = join(root, 'original');
  const schema = tinySchema();
  const data = tinyData(schema);
  const model = TwoTowerModel.create(resolveConfig(schema, { dim: 8, hidden: 16, seed: 2, mixedNegatives: 3 }), data);
  // an interrupted run: the checkpoint carries a training state too
  const controller = new AbortController();
  const trainer = new Trainer(model, { epochs: 2, progress: 'none', signal: controller.signal });
  const r = await trainer.fit({ schema, batches: (e) => Array.from({ length: 3 }, (_, i) => { if (i === 1) controller.abort(); return tinyBatch(schema, data, 16, e * 10 + i); }) });
  const index = await buildItemIndex(model);
  await saveCheckpoint(original, model, { index, seen: Array.from({ length: schema.numUsers }, (_, u) => Int32Array.from([u % 5])), training: r.state, metadata: { note: 'fuzz' } });
  await index.dispose();
  trainer.dispose();
  model.dispose();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? filesUnder(join(dir, f)) : [join(dir, f)]));
}

/** A random JSON path of `x` and a setter for it. */
function randomSlot(x: unknown, rng: Rng): ((v: unknown) => void) | undefined {
  let parent: Record<string, unknown> | unknown[] | undefined;
  let key: string | number | undefined;
  let node = x;
  for (let depth = 0; depth < 6; depth++) {
    if (typeof node !== 'object' || node === null) break;
    const keys = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    if (keys.length === 0) break;
    parent = node as Record<string, unknown>;
    key = keys[rng.int(keys.length)]!;
    node = (parent as Record<string | number, unknown>)[key];
    if (rng.uniform() < 0.25) break;
  }
  if (parent === undefined || key === undefined) return undefined;
  const p = parent as Record<string | number, unknown>;
  const k = key;
  return (v) => {
    if (v === undefined) delete p[k];
    else p[k] = v;
  };
}

function mutate(dir: string, rng: Rng): string {
  const files = filesUnder(dir);
  const path = files[rng.int(files.length)]!;
  const bytes = readFileSync(path);
  const kind = rng.int(path.endsWith('checkpoint.json') ? 7 : 5);
  if (kind === 0) truncateSync(path, rng.int(bytes.length + 1));
  else if (kind === 1) {
    for (let k = 0, n = 1 + rng.int(3); k < n; k++) bytes[rng.int(bytes.length)] = rng.int(256);
    writeFileSync(path, bytes);
  } else if (kind === 2) rmSync(path);
  else if (kind === 3) appendFileSync(path, Buffer.from([rng.int(256), rng.int(256)]));
  else if (kind === 4) writeFileSync(path, '');
  else {
    // checkpoint.json: a random value somewhere, left as edited (kind 5) or re-signed (kind 6)
    const manifest = JSON.parse(bytes.toString('utf8'));
    const set = randomSlot(manifest, rng);
    set?.(rng.uniform() < 0.1 ? undefined : VALUES[rng.int(VALUES.length)]);
    writeFileSync(path, kind === 6 ? manifestText(manifest) : JSON.stringify(manifest));
  }
  return `${relative(dir, path)} (edit ${kind})`;
}

describe('loadCheckpoint under fuzzing', () => {
  const CASES = Number(process.env.TT_FUZZ_CASES ?? 300);
  it(`${CASES} seeded edits of a saved checkpoint load or fail with a typed error`, async () => {
    const rng = new Rng(Number(process.env.TT_FUZZ_SEED ?? 77));
    const outcomes = new Map<string, number>();
    for (let c = 0; c < CASES; c++) {
      const dir = join(root, `case-${c}`);
      cpSync(original, dir, { recursive: true });
      const what = mutate(dir, rng);
      let result = 'ok';
      try {
        const loaded = await loadCheckpoint(dir);
        try {
          if (loaded.training) {
            const sparse = loaded.model.embeddings().map((e) => new SparseRowOptimizer(e, 'adam'));
            const dense = new DenseAdam();
            try {
              applyTrainerState(loaded.training, loaded.model, dense, sparse);
            } finally {
              dense.dispose();
            }
          }
        } finally {
          await loaded.index?.dispose();
          loaded.model.dispose();
        }
      } catch (e) {
        if (!(e instanceof TtError)) throw new Error(`case ${c}, ${what}: untyped error ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`);
        result = e.code;
      }
      outcomes.set(result, (outcomes.get(result) ?? 0) + 1);
      rmSync(dir, { recursive: true, force: true });
    }
    if (process.env.TT_FUZZ_SEED) console.log(Object.fromEntries(outcomes));
    expect(outcomes.get('E_CORRUPT')).toBeGreaterThan(CASES / 4);
  }, 180_000);
});
