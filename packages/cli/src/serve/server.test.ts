import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  buildItemIndex, initBackend, loadCheckpoint, popularityScores, resolveConfig, Retriever, saveCheckpoint, syntheticWorld, trainingItems, trainingLog, TwoTowerModel,
  type InteractionDataset,
} from '@tt/core';
import { historyEncoder } from '@tt/history-encoder';
import { createServer, type TtServer } from './server.js';
import { serve } from '../commands/serve.js';

let root: string;
let world: InteractionDataset;
const silent = () => undefined;

/** Saves an untrained model over `world` (different seeds answer differently) as a real checkpoint. */
async function checkpoint(name: string, seed: number, history = false): Promise<string> {
  const dir = join(root, name);
  const stages = history ? [{ name: 'history', options: { maxLength: 5, layers: 0 } }] : [];
  // no history pooling in the base tower: the first checkpoint reads no history, the second only its encoder's 5
  const model = TwoTowerModel.create(resolveConfig(world.schema, { dim: 8, hidden: 8, historyPooling: 0, seed, stages }), world, history ? [historyEncoder] : []);
  const index = await buildItemIndex(model, { threads: 1 });
  const popularity = popularityScores(trainingLog(world), world.schema.numItems, world.valueWeights, world.schema.tasks.length);
  await saveCheckpoint(dir, model, { index, seen: trainingItems(world), popularity });
  await index.dispose();
  model.dispose();
  return dir;
}

async function post(url: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<{ status: number; body: any; generation: string | null }> {
  const res = await fetch(url, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, body: await res.json(), generation: res.headers.get('x-tt-generation') };
}

/** The answer Retriever.serve gives for the same request, straight from the checkpoint. */
async function direct(dir: string, request: { userId?: number | string; userFeatures?: number[]; k: number }): Promise<string> {
  const loaded = await loadCheckpoint(dir, { stages: [historyEncoder] });
  const retriever = await Retriever.fromCheckpoint(loaded);
  const [r] = await retriever.serve([request]);
  await retriever.dispose();
  loaded.model.dispose();
  return JSON.stringify(r!.items);
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm', log: false });
  root = mkdtempSync(join(tmpdir(), 'tt-serve-'));
  world = syntheticWorld({ seed: 3, numUsers: 120, numItems: 300, impressions: 4000, userFeatureDim: 4, itemFeatureDim: 3, validation: false });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('createServer (real HTTP on 127.0.0.1)', () => {
  let server: TtServer;
  let url: string;
  let a: string;
  let b: string;
  beforeAll(async () => {
    a = await checkpoint('a', 1);
    b = await checkpoint('b', 2, true);
    server = await createServer({ checkpoint: a, port: 0, log: silent, maxBatch: 50 });
    url = await server.listen();
  });
  afterAll(async () => server.close());

  it('answers by id, by features (cold start) and by popularity, up to k = the catalogue, and says which path served it', async () => {
    const health = await (await fetch(`${url}/health`)).json();
    expect(health).toMatchObject({ status: 'ok', generation: 1, items: 300, users: 120, index: 'exact', userFeatures: 4, historyLength: 0 });
    const byId = await post(`${url}/retrieve`, { user_id: 7, k: 10 });
    expect(byId.status).toBe(200);
    expect(byId.generation).toBe('1');
    expect(byId.body).toMatchObject({ user_id: 7, path: 'id' });
    expect(JSON.stringify(byId.body.items)).toBe(await direct(a, { userId: 7, k: 10 }));
    const cold = await post(`${url}/retrieve`, { user_id: 'someone-new', user_features: [0.5, -1, 0, 2], k: 5 });
    expect(cold.body.path).toBe('features');
    expect(JSON.stringify(cold.body.items)).toBe(await direct(a, { userId: 'someone-new', userFeatures: [0.5, -1, 0, 2], k: 5 }));
    const nothing = await post(`${url}/retrieve`, { user_id: 'someone-new', k: 3, exclude: [0] });
    expect(nothing.body.path).toBe('popularity');
    expect(nothing.body.items).not.toContain(0);
    const all = await post(`${url}/retrieve`, { user_id: 7, k: 300, include_seen: true });
    expect(new Set(all.body.items).size).toBe(300);
    const filtered = await post(`${url}/retrieve`, { user_id: 7, k: 2, include_seen: true, filter: { items: [5, 6, 7, 'nope'] } });
    expect(filtered.body.items.every((i: number) => [5, 6, 7].includes(i))).toBe(true);
    const batch = await post(`${url}/retrieve/batch`, { requests: [{ user_id: 7, k: 10 }, { k: 2 }, { user_features: [0.5, -1, 0, 2], k: 5 }] });
    expect(batch.status).toBe(200);
    expect(batch.body.results.map((r: { path: string }) => r.path)).toEqual(['id', 'popularity', 'features']);
    expect(batch.body.results[0].items).toEqual(byId.body.items);
    expect(batch.body.results[2].items).toEqual(cold.body.items);
  });

  it('gives bad requests a 4xx with a typed error body, and keeps serving', async () => {
    const cases: Array<[string, unknown, Record<string, string> | undefined, number, string, string | null]> = [
      ['unknown field', { user_id: 7, k: 5, userid: 7 }, undefined, 400, 'E_VALUE', 'userid'],
      ['k = 0', { user_id: 7, k: 0 }, undefined, 400, 'E_VALUE', 'k'],
      ['k missing', { user_id: 7 }, undefined, 400, 'E_VALUE', 'k'],
      ['k a string', { user_id: 7, k: '5' }, undefined, 400, 'E_VALUE', 'k'],
      ['k > catalogue', { user_id: 7, k: 301 }, undefined, 400, 'E_RANGE', 'k'],
      ['features of the wrong length', { user_features: [1, 2], k: 5 }, undefined, 400, 'E_SHAPE', 'user_features'],
      ['a fractional id', { user_id: 1.5, k: 5 }, undefined, 400, 'E_VALUE', 'user_id'],
      ['malformed JSON', '{"k": 5,', undefined, 400, 'E_JSON', null],
      ['an empty body', '', undefined, 400, 'E_JSON', null],
      ['a 10 MB body', JSON.stringify({ k: 5, exclude: Array.from({ length: 1_200_000 }, (_, i) => `item-${i}`) }), undefined, 413, 'E_TOO_LARGE', null],
      ['text/plain', 'k=5', { 'content-type': 'text/plain' }, 415, 'E_MEDIA_TYPE', null],
    ];
    for (const [name, body, headers, status, code, field] of cases) {
      const r = await post(`${url}/retrieve`, body, headers);
      expect({ name, status: r.status, code: r.body.code, field: r.body.field }).toEqual({ name, status, code, field });
      expect(typeof r.body.message).toBe('string');
    }
    const tooMany = await post(`${url}/retrieve/batch`, { requests: Array.from({ length: 51 }, () => ({ k: 1 })) });
    expect([tooMany.status, tooMany.body.code, tooMany.body.field]).toEqual([400, 'E_VALUE', 'requests']);
    const badOne = await post(`${url}/retrieve/batch`, { requests: [{ k: 1 }, { k: 1, user_features: [1] }] });
    expect([badOne.status, badOne.body.code, badOne.body.field]).toEqual([400, 'E_SHAPE', 'requests[1].user_features']);
    const missing = await fetch(`${url}/nope`);
    expect([missing.status, ((await missing.json()) as { code: string }).code]).toEqual([404, 'E_NOT_FOUND']);
    // the server is still serving, and one client's bad request never fails its neighbours' answers
    const mixed = await Promise.all([post(`${url}/retrieve`, { user_id: 7, k: 3 }), post(`${url}/retrieve`, { k: 3, user_features: [1] }), post(`${url}/retrieve`, { user_id: 8, k: 3 })]);
    expect(mixed.map((r) => r.status)).toEqual([200, 400, 200]);
  });

  it('exposes request counts, a latency histogram and the paths in Prometheus text format', async () => {
    await post(`${url}/retrieve`, { user_features: [1, 1, 1, 1], k: 2 });
    const res = await fetch(`${url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}"[\]().+]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('tt_http_requests_total{route="/retrieve",method="POST",status="200"}')).toBeGreaterThanOrEqual(7);
    expect(value('tt_http_requests_total{route="/retrieve",method="POST",status="400"}')).toBeGreaterThanOrEqual(9);
    expect(value('tt_http_request_duration_seconds_count{route="/retrieve"}')).toBeGreaterThanOrEqual(20);
    expect(value('tt_http_request_duration_seconds_bucket{le="+Inf",route="/retrieve"}')).toBe(value('tt_http_request_duration_seconds_count{route="/retrieve"}'));
    expect(value('tt_retrievals_total{path="features"}')).toBeGreaterThanOrEqual(3);
    expect(value('tt_retrievals_total{path="popularity"}')).toBeGreaterThanOrEqual(2);
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('tt serve on a port already taken: one error line, exit code 1', async () => {
    const port = Number(new URL(url).port);
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await serve({ checkpoint: a, port, log: silent });
      expect(process.exitCode).toBe(1);
      expect(err.mock.calls.map((c) => String(c[0])).join('')).toMatch(/tt: error \[EADDRINUSE\] cannot listen on 127.0.0.1:\d+/);
    } finally {
      err.mockRestore();
      process.exitCode = 0;
    }
  });

  it('hot-swaps a new checkpoint under load without failing a request, and keeps the old one when a load fails', async () => {
    let stop = false;
    const seen: string[] = [];
    let failed = 0;
    const client = async () => {
      while (!stop) {
        const r = await post(`${url}/retrieve`, { user_id: 11, k: 5 });
        if (r.status !== 200) failed++;
        seen.push(r.generation!);
      }
    };
    const clients = Array.from({ length: 8 }, client);
    await new Promise((ok) => setTimeout(ok, 100));
    const swap = await post(`${url}/admin/reload`, { checkpoint: b });
    expect(swap.status).toBe(200);
    expect(swap.body).toMatchObject({ status: 'ok', generation: 2, historyLength: 5 });
    await new Promise((ok) => setTimeout(ok, 100));
    stop = true;
    await Promise.all(clients);
    expect(failed).toBe(0);
    expect(seen).toContain('1');
    expect(seen[seen.length - 1]).toBe('2');
    // the new checkpoint answers now: it has a history encoder, so a new user's recent items embed it
    const after = await post(`${url}/retrieve`, { user_id: 11, k: 5 });
    expect(JSON.stringify(after.body.items)).toBe(await direct(b, { userId: 11, k: 5 }));
    const history = await post(`${url}/retrieve`, { history: [3, 4, 'gone'], user_features: [0, 0, 1, 0], k: 5 });
    expect(history.body).toMatchObject({ path: 'features+history', unknown_history: 1 });

    // a damaged checkpoint: 422 with the typed error, and generation 2 keeps serving
    const broken = join(root, 'broken');
    cpSync(b, broken, { recursive: true });
    truncateSync(join(broken, 'weights.safetensors'), 100);
    const refused = await post(`${url}/admin/reload`, { checkpoint: broken });
    expect([refused.status, refused.body.code]).toEqual([422, 'E_CORRUPT']);
    expect(refused.body.serving).toMatchObject({ generation: 2 });
    const still = await post(`${url}/retrieve`, { user_id: 11, k: 5 });
    expect([still.status, still.generation]).toEqual([200, '2']);
    expect(still.body.items).toEqual(after.body.items);
    await expect(server.reload(join(root, 'nowhere'))).rejects.toMatchObject({ code: 'E_FILE' });
    expect(server.info().generation).toBe(2);
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toMatch(/^tt_checkpoint_loads_total\{result="failed"\} 2$/m);
    expect(text).toMatch(/^tt_model_generation 2$/m);
  });
});

describe('tt serve (the real command in a child process)', () => {
  const bin = resolve(__dirname, '..', '..', 'dist', 'bin.js');
  it('reloads on SIGHUP, keeps the old checkpoint when the new one fails, and exits 130 on SIGINT', async () => {
    expect(existsSync(bin)).toBe(true); // the built CLI (npm ci / npx tsc -b packages/cli/tsconfig.lib.json)
    const dir = await checkpoint('served', 1);
    const child = spawn(process.execPath, [bin, 'serve', '--checkpoint', dir, '--port', '0', '--backend', 'wasm'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((ok) => child.on('close', (code) => ok(code)));
    const waitFor = async (re: RegExp, from = 0) => {
      for (let i = 0; i < 600 && !re.test(err.slice(from)); i++) await new Promise((ok) => setTimeout(ok, 50));
      return re.exec(err.slice(from));
    };
    try {
      const url = (await waitFor(/listening on (http:\/\/\S+)/))![1]!;
      expect((await post(`${url}/retrieve`, { user_id: 7, k: 3 })).generation).toBe('1');
      // a new checkpoint written into the served directory (as `tt train --checkpoint DIR` does), then SIGHUP
      const other = await checkpoint('other', 2);
      cpSync(other, dir, { recursive: true, force: true });
      let mark = err.length;
      child.kill('SIGHUP');
      expect(await waitFor(/swapped to .* \(generation 2\)/, mark)).not.toBeNull();
      expect((await post(`${url}/retrieve`, { user_id: 7, k: 3 })).generation).toBe('2');
      // a damaged directory: the reload fails and generation 2 keeps serving
      truncateSync(join(dir, 'catalogue.json'), 10);
      mark = err.length;
      child.kill('SIGHUP');
      expect(await waitFor(/reload of .* failed, still serving .* \(generation 2\)/, mark)).not.toBeNull();
      const still = await post(`${url}/retrieve`, { user_id: 7, k: 3 });
      expect([still.status, still.generation]).toEqual([200, '2']);
      child.kill('SIGINT');
      expect(await exited).toBe(130);
    } finally {
      child.kill('SIGKILL');
    }
    expect(readFileSync(join(dir, 'checkpoint.json'), 'utf8')).toContain('tt.checkpoint');
  });
});
