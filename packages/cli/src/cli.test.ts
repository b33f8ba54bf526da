import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, MismatchError, UnknownIdError } from '@tt/core';
import { buildProgram } from './program.js';
import { DEMO_ROWS } from './stages.js';

let dir: string;
let out: string[];

/** Runs `tt ...args` in-process; returns stdout lines. */
async function tt(...args: string[]): Promise<string[]> {
  out = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await buildProgram().exitOverride().parseAsync(['node', 'tt', ...args]);
  } finally {
    write.mockRestore();
    err.mockRestore();
  }
  return out;
}

const lastJson = (lines: string[]) => JSON.parse(lines[lines.length - 1]!) as Record<string, any>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tt-cli-'));
  process.chdir(dir);
  // a small log: 40 users, 30 items; user u likes items u % 30 and (u + 1) % 30 ... repeatedly
  const rows = ['user_id,item_id,timestamp,position,label_like'];
  let t = 0;
  for (let rep = 0; rep < 4; rep++) {
    for (let u = 0; u < 40; u++) {
      rows.push(`u${u},i${(u + rep) % 30},${t++},0,1`);
      rows.push(`u${u},i${(u * 7 + rep) % 30},${t++},1,0`);
    }
  }
  writeFileSync(join(dir, 'log.csv'), `${rows.join('\n')}\n`);
  // the same log plus the ranker's logged probability; every fifth row unscored (empty cell)
  const ranked = ['user_id,item_id,timestamp,position,label_like,ranker_like'];
  t = 0;
  for (let rep = 0; rep < 4; rep++) {
    for (let u = 0; u < 40; u++) {
      ranked.push(`u${u},i${(u + rep) % 30},${t++},0,1,${t % 5 === 0 ? '' : 0.6 + (u % 5) / 20}`);
      ranked.push(`u${u},i${(u * 7 + rep) % 30},${t++},1,0,${t % 5 === 0 ? '' : 0.1 + (u % 4) / 20}`);
    }
  }
  writeFileSync(join(dir, 'ranked.csv'), `${ranked.join('\n')}\n`);
  writeFileSync(join(dir, 'users.txt'), 'u1\n{"user_id": "u2"}\n');
});
afterAll(() => {
  process.chdir(__dirname);
  rmSync(dir, { recursive: true, force: true });
});

describe('tt', () => {
  it('train --json prints the summary as its last line and saves a checkpoint; eval and retrieve read it', async () => {
    const s = lastJson(await tt('train', '--data', `csv:${join(dir, 'log.csv')}`, '--epochs', '2', '--checkpoint', 'ck', '--json', '--backend', 'wasm'));
    expect(s).toMatchObject({ backend: 'wasm', epochs: expect.any(Number), examplesPerSec: expect.any(Number) });
    for (const k of ['recall@10', 'recall@20', 'recall@50', 'ndcg@10']) {
      expect(typeof s['metrics'][k]).toBe('number');
      expect(typeof s['popularity'][k]).toBe('number');
    }
    expect(existsSync(join(s['checkpoint'], 'checkpoint.json'))).toBe(true);

    const e = lastJson(await tt('eval', '--checkpoint', 'ck', '--data', `csv:${join(dir, 'log.csv')}`, '--json'));
    expect(e['metrics']['recall@20']).toBeCloseTo(s['metrics']['recall@20'], 6);

    const lines = (await tt('retrieve', '--checkpoint', 'ck', '--users', 'users.txt', '--k', '3')).map((l) => JSON.parse(l));
    expect(lines.map((l) => l.user_id)).toEqual(['u1', 'u2']);
    for (const l of lines) {
      expect(l.items).toHaveLength(3);
      expect(l.scores).toHaveLength(3);
    }
  });

  it('names bad input: an unknown --data kind, an unknown user, another catalogue', async () => {
    await expect(tt('train', '--data', 'orc:x')).rejects.toThrow(ConfigError);
    writeFileSync(join(dir, 'nobody.txt'), 'u999\n');
    await expect(tt('retrieve', '--checkpoint', 'ck', '--users', 'nobody.txt')).rejects.toThrow(UnknownIdError);
    writeFileSync(join(dir, 'other.csv'), 'user_id,item_id,label_like\na,b,1\na,c,1\n');
    await expect(tt('eval', '--checkpoint', 'ck', '--data', `csv:${join(dir, 'other.csv')}`)).rejects.toThrow(MismatchError);
  });

  it('trains and serves a model with a history encoder (histories stored in the checkpoint)', async () => {
    const s = lastJson(await tt('train', '--data', `csv:${join(dir, 'log.csv')}`, '--epochs', '1', '--stages', 'history', '--history-len', '4', '--checkpoint', 'ckh', '--json'));
    expect(typeof s['metrics']['recall@20']).toBe('number');
    const lines = (await tt('retrieve', '--checkpoint', 'ckh', '--users', 'users.txt', '--k', '2')).map((l) => JSON.parse(l));
    expect(lines.map((l) => l.items.length)).toEqual([2, 2]);
    await expect(tt('train', '--data', `csv:${join(dir, 'log.csv')}`, '--stages', 'nope')).rejects.toThrow(/unknown stage "nope"/);
  });

  it.each([['light-ranker'], ['history,light-ranker'], ['debias,light-ranker'], ['history,debias,light-ranker']])(
    'trains, saves and serves --stages %s (the light ranker with and without the other stages)',
    async (stages) => {
      const ck = `ck-${stages.replace(/,/g, '-')}`;
      const s = lastJson(await tt('train', '--data', `csv:${join(dir, 'log.csv')}`, '--epochs', '1', '--stages', stages, '--ni', '8', '--nu', '2', '--history-len', '3', '--checkpoint', ck, '--json'));
      expect(typeof s['metrics']['recall@20']).toBe('number');
      const lines = (await tt('retrieve', '--checkpoint', ck, '--users', 'users.txt', '--k', '4')).map((l) => JSON.parse(l));
      expect(lines.map((l) => l.items.length)).toEqual([4, 4]);
      // the re-ranking key, best first
      for (const l of lines) expect(l.scores.every((x: number, j: number) => Number.isFinite(x) && (j === 0 || x <= l.scores[j - 1]))).toBe(true);
    },
  );

  it('trains, saves and serves --stages light-ranker,distill on a log whose ranker scored only some rows', async () => {
    const data = `csv:${join(dir, 'ranked.csv')}`; // beforeAll's log with the ranker's scores
    const s = lastJson(await tt('train', '--data', data, '--epochs', '1', '--stages', 'light-ranker,distill', '--ni', '8', '--retrieval-weight', '0.5', '--ranker-item-dim', '4', '--kd-alpha', '0.8', '--kd-temperature', '2', '--listwise', '0.5', '--checkpoint', 'ckd', '--json'));
    expect(Number.isFinite(s['metrics']['recall@20'])).toBe(true);
    const saved = JSON.parse(readFileSync(join(dir, 'ckd', 'checkpoint.json'), 'utf8'));
    expect(JSON.stringify(saved)).toContain('"itemDim":4');
    const lines = (await tt('retrieve', '--checkpoint', 'ckd', '--users', 'users.txt', '--k', '4')).map((l) => JSON.parse(l));
    expect(lines.map((l) => l.items.length)).toEqual([4, 4]);
    await expect(tt('train', '--data', data, '--epochs', '1', '--stages', 'distill')).rejects.toThrow(/add the light-ranker stage/);
    await expect(tt('train', '--data', `csv:${join(dir, 'log.csv')}`, '--epochs', '1', '--stages', 'light-ranker,distill')).rejects.toThrow(/no logged ranker scores/);
    await expect(tt('train', '--data', data, '--epochs', '1', '--stages', 'light-ranker,distill', '--kd-temperature', '0')).rejects.toThrow(/stages\.distill\.temperature/);
  });

  it('train --diagnostics writes what debias learned (JSON + SVG charts) and the distill teacher agreement', async () => {
    const s = lastJson(await tt('train', '--data', `csv:${join(dir, 'log.csv')}`, '--epochs', '1', '--stages', 'debias', '--diagnostics', 'diag', '--checkpoint', 'ck-deb', '--json'));
    expect(s['diagnostics'].map((p: string) => p.slice(join(dir, 'diag').length + 1))).toEqual(['debias.json', 'debias-position-curve.svg', 'debias-user-propensity.svg']);
    const d = JSON.parse(readFileSync(join(dir, 'diag', 'debias.json'), 'utf8'));
    expect(d).toMatchObject({ stage: 'debias', kind: 'both', positionCurve: expect.any(Array), userPropensity: { users: 40 } });
    expect(d.relativePositionCurve[0]).toBe(1);
    for (const f of ['debias-position-curve.svg', 'debias-user-propensity.svg']) expect(readFileSync(join(dir, 'diag', f), 'utf8')).toMatch(/^<svg[\s\S]*<polyline[\s\S]*<\/svg>\n$/);
    const k = lastJson(await tt('train', '--data', `csv:${join(dir, 'ranked.csv')}`, '--epochs', '1', '--stages', 'light-ranker,distill', '--ni', '8', '--diagnostics', 'diag-kd', '--checkpoint', 'ck-kd', '--json'));
    expect(k['diagnostics']).toEqual([join(dir, 'diag-kd', 'distill.json')]);
    const a = JSON.parse(readFileSync(join(dir, 'diag-kd', 'distill.json'), 'utf8'));
    expect(a).toMatchObject({ stage: 'distill', split: 'test', correlation: { like: expect.any(Number) }, rows: expect.any(Number) });
    const none = lastJson(await tt('train', '--data', `csv:${join(dir, 'log.csv')}`, '--epochs', '1', '--diagnostics', 'diag-none', '--checkpoint', 'ck-none', '--json'));
    expect(none['diagnostics']).toEqual([]);
  });

  // seven rows of one epoch each, two seeds: this process trains seed 0 (slow under jest's typed-array
  // loops, about two and a half minutes on 2 cores), a child `tt demo --rows-only` (the built tt) seed 1 beside it
  it('demo --json reports every row over seeds, each stage\'s paired effect, and writes the HTML report', async () => {
    const report = join(dir, 'demo.html');
    const s = lastJson(await tt('demo', '--epochs', '1', '--seeds', '0,1', '--report', report, '--json'));
    expect(s['stages'].map((r: { name: string }) => r.name)).toEqual(DEMO_ROWS.map((r) => r.name));
    expect(DEMO_ROWS.at(-1)!.biasedWorld).toBeFalsy(); // the served model is trained on the main world
    expect(s['runs'].map((r: { seed: number }) => r.seed)).toEqual([0, 1]);
    expect(s['rows'].map((r: { name: string }) => r.name)).toEqual(['popularity', ...DEMO_ROWS.map((r) => r.name)]);
    for (const row of s['rows']) {
      for (const m of ['recall@20', 'alignment@10/100', 'value@10']) expect(row.metrics[m]).toEqual({ mean: expect.any(Number), sd: expect.any(Number) });
      const judged = DEMO_ROWS.find((r) => r.name === row.name)?.judgedOn ?? [];
      expect(row.effects.map((e: { metric: string }) => e.metric)).toEqual(judged);
      for (const e of row.effects) {
        // the effect is the paired difference against its comparison row, seed by seed
        type Row = Record<string, number> & { name: string };
        const against = s['runs'].map((r: { rows: Row[] }) => r.rows.find((x) => x.name === e.against)!);
        const own = s['runs'].map((r: { rows: Row[] }) => r.rows.find((x) => x.name === row.name)!);
        e.perSeed.forEach((d: number, i: number) => expect(d).toBeCloseTo(own[i]![e.metric]! - against[i]![e.metric]!, 4));
      }
    }
    const html = readFileSync(report, 'utf8');
    expect(html.match(/<svg /g)!.length).toBe(5); // three metrics, two training curves
    for (const r of DEMO_ROWS) expect(html).toContain(r.name);
    await expect(tt('demo', '--seeds', '1,1')).rejects.toMatchObject({ field: '--seeds' });
  }, 400_000);

  it('bench train --json reports throughput', async () => {
    const s = lastJson(await tt('bench', 'train', '--steps', '3', '--warmup', '1', '--json'));
    expect(s).toMatchObject({ examplesPerSec: expect.any(Number), msPerStep: expect.any(Number), peakRssMb: expect.any(Number), backend: expect.any(String), histories: 'none' });
    // the history stage on the reference's full-length histories: the same keys, every slot valid
    const h = lastJson(await tt('bench', 'train', '--stages', 'history', '--history-len', '6', '--histories', 'full', '--batch-size', '64', '--steps', '2', '--warmup', '1', '--json'));
    expect(Object.keys(h).sort()).toEqual(Object.keys(s).sort());
    expect(h).toMatchObject({ stages: ['history'], historyLength: 6, histories: 'full', meanValidHistory: 6 });
    await expect(tt('bench', 'train', '--histories', 'full', '--steps', '1', '--json')).rejects.toMatchObject({ field: '--histories' });
  });
});
