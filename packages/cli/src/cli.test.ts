import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, FileSystemError, MismatchError } from '@tt/core';
import { DEMO_ROWS, DEMO_WORLDS } from './stages.js';
import { ttLines } from './testing/in-process.js';
import { PYTHON, pythonImportError } from './testing/python.js';

let dir: string;

const tt = ttLines;
const SCORER = resolve(__dirname, '../../../tools/bench/score-retrieved.py');

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
    expect(s).toMatchObject({ backend: 'wasm', epochs: expect.any(Number), examplesPerSec: expect.any(Number), peakRssMb: expect.any(Number) });
    for (const k of ['recall@10', 'recall@20', 'recall@50', 'ndcg@10']) {
      expect(typeof s['metrics'][k]).toBe('number');
      expect(typeof s['popularity'][k]).toBe('number');
    }
    expect(existsSync(join(s['checkpoint'], 'checkpoint.json'))).toBe(true);
    expect(s['funnel']).toBeUndefined(); // a logged dataset has no true value to align with

    const e = lastJson(await tt('eval', '--checkpoint', 'ck', '--data', `csv:${join(dir, 'log.csv')}`, '--json'));
    expect(e['metrics']['recall@20']).toBeCloseTo(s['metrics']['recall@20'], 6);

    const lines = (await tt('retrieve', '--checkpoint', 'ck', '--users', 'users.txt', '--k', '3')).map((l) => JSON.parse(l));
    expect(lines.map((l) => l.user_id)).toEqual(['u1', 'u2']);
    for (const l of lines) {
      expect(l.items).toHaveLength(3);
      expect(l.scores).toHaveLength(3);
    }
  });

  it('train chooses the temperature on validation for a log without timestamps, and says which it kept', async () => {
    const rows = readFileSync(join(dir, 'log.csv'), 'utf8').trim().split('\n').map((l) => l.split(',').filter((_, c) => c !== 2).join(','));
    writeFileSync(join(dir, 'set.csv'), `${rows.join('\n')}\n`);
    const out = await tt('train', '--data', `csv:${join(dir, 'set.csv')}`, '--epochs', '1', '--checkpoint', 'ck-set', '--json');
    const s = lastJson(out);
    expect(s['temperatures'].map((t: { temperature: number }) => t.temperature)).toEqual([0.1, 0.2]);
    const best = s['temperatures'].reduce((a: { validation: number }, b: { validation: number }) => (b.validation > a.validation ? b : a));
    expect(s['temperature']).toBe(best.temperature);
    expect(out.some((l) => l.startsWith(`temperature: ${best.temperature} (chosen on validation: 0.1 -> `))).toBe(true);
    const given = lastJson(await tt('train', '--data', `csv:${join(dir, 'set.csv')}`, '--epochs', '1', '--temperature', '0.2', '--checkpoint', 'ck-set-t', '--json'));
    expect(given['temperatures']).toBeUndefined();
  });

  it('answers users the model does not know (cold start, popularity) and counts them; names bad input', async () => {
    writeFileSync(join(dir, 'mixed.txt'), 'u999\nu3\n{"user_id": "new", "history": ["i3", "i4"], "k": 2}\n');
    const lines = (await tt('retrieve', '--checkpoint', 'ck', '--users', 'mixed.txt', '--k', '3')).map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.user_id, l.path, l.items.length])).toEqual([['u999', 'popularity', 3], ['u3', 'id', 3], ['new', 'history', 2]]);
    // a new user's history items are not served back to it
    expect(lines[2].items).not.toContain('i3');
    writeFileSync(join(dir, 'typo.txt'), '{"userid": "u1"}\n');
    await expect(tt('retrieve', '--checkpoint', 'ck', '--users', 'typo.txt')).rejects.toMatchObject({ code: 'E_VALUE', field: 'typo.txt:1.userid' });
    await expect(tt('retrieve', '--checkpoint', 'ck', '--users', 'missing.txt')).rejects.toThrow(FileSystemError);
    // id dropout (cold-start training) is a model option, stored in the checkpoint
    await tt('train', '--data', `csv:${join(dir, 'log.csv')}`, '--epochs', '1', '--user-id-dropout', '0.3', '--checkpoint', 'ck-dropout');
    expect(JSON.parse(readFileSync(join(dir, 'ck-dropout', 'checkpoint.json'), 'utf8')).model).toMatchObject({ userIdDropout: 0.3, userIdDropoutRows: 0 });
    // without either flag, tt train drops ids per user (20 / (20 + rows)) at temperature 0.1
    expect(JSON.parse(readFileSync(join(dir, 'ck', 'checkpoint.json'), 'utf8')).model).toMatchObject({ userIdDropout: 0, userIdDropoutRows: 20, temperature: 0.1 });
    await expect(tt('train', '--data', `csv:${join(dir, 'log.csv')}`, '--user-id-dropout', '1')).rejects.toMatchObject({ code: 'E_CONFIG', field: 'userIdDropout' });
    await tt('train', '--data', `csv:${join(dir, 'log.csv')}`, '--epochs', '1', '--user-id-dropout-rows', '5', '--checkpoint', 'ck-dropout-rows');
    expect(JSON.parse(readFileSync(join(dir, 'ck-dropout-rows', 'checkpoint.json'), 'utf8')).model.userIdDropoutRows).toBe(5);
    await expect(tt('train', '--data', `csv:${join(dir, 'log.csv')}`, '--user-id-dropout-rows', '-1')).rejects.toMatchObject({ code: 'E_CONFIG', field: 'userIdDropoutRows' });
    await expect(tt('train', '--data', 'orc:x')).rejects.toThrow(ConfigError);
    // every missing input is the file system refusing (exit 2), whichever reader meets it
    for (const args of [['--data', 'parquet:missing.parquet'], ['--data', 'csv:missing.csv'], ['--data', 'sequence:missing.txt'], ['--data', 'movielens:missing'], ['--data', `csv:${join(dir, 'log.csv')}`, '--truth', 'missing.npy']]) {
      await expect(tt('train', ...args)).rejects.toMatchObject({ code: 'E_FILE', operation: 'read', systemCode: 'ENOENT' });
    }
    writeFileSync(join(dir, 'other.csv'), 'user_id,item_id,label_like\na,b,1\na,c,1\n');
    await expect(tt('eval', '--checkpoint', 'ck', '--data', `csv:${join(dir, 'other.csv')}`)).rejects.toThrow(MismatchError);
  });

  it('trains and serves a model with a history encoder (histories stored in the checkpoint)', async () => {
    const s = lastJson(await tt('train', '--data', `csv:${join(dir, 'log.csv')}`, '--epochs', '1', '--stages', 'history', '--history-len', '4', '--checkpoint', 'ckh', '--json'));
    expect(typeof s['metrics']['recall@20']).toBe('number');
    const lines = (await tt('retrieve', '--checkpoint', 'ckh', '--users', 'users.txt', '--k', '2')).map((l) => JSON.parse(l));
    expect(lines.map((l) => l.items.length)).toEqual([2, 2]);
    // a new user with recent items is embedded by the history encoder
    writeFileSync(join(dir, 'new-users.txt'), '{"user_id": "new", "history": ["i3", "i4", "gone"]}\n');
    const [cold] = (await tt('retrieve', '--checkpoint', 'ckh', '--users', 'new-users.txt', '--k', '2')).map((l) => JSON.parse(l));
    expect(cold).toMatchObject({ user_id: 'new', path: 'history', unknown_history: 1 });
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
    // how much the layout depended on the item, and what the stage said about it (also in the run's summary)
    expect(d.itemExposure).toMatchObject({ impressions: expect.any(Number), itemShare: expect.any(Number), correctionSpread: expect.any(Number) });
    expect(d.itemExposure.impressions).toBeGreaterThan(0);
    expect(s['stageNotes']).toEqual(d.notes.map((note: string) => ({ stage: 'debias', note })));
    expect(d.relativePositionCurve[0]).toBe(1);
    for (const f of ['debias-position-curve.svg', 'debias-user-propensity.svg']) expect(readFileSync(join(dir, 'diag', f), 'utf8')).toMatch(/^<svg[\s\S]*<polyline[\s\S]*<\/svg>\n$/);
    const k = lastJson(await tt('train', '--data', `csv:${join(dir, 'ranked.csv')}`, '--epochs', '1', '--stages', 'light-ranker,distill', '--ni', '8', '--diagnostics', 'diag-kd', '--checkpoint', 'ck-kd', '--json'));
    expect(k['diagnostics']).toEqual([join(dir, 'diag-kd', 'distill.json')]);
    const a = JSON.parse(readFileSync(join(dir, 'diag-kd', 'distill.json'), 'utf8'));
    expect(a).toMatchObject({ stage: 'distill', split: 'test', correlation: { like: expect.any(Number) }, rows: expect.any(Number) });
    const none = lastJson(await tt('train', '--data', `csv:${join(dir, 'log.csv')}`, '--epochs', '1', '--diagnostics', 'diag-none', '--checkpoint', 'ck-none', '--json'));
    expect(none['diagnostics']).toEqual([]);
  });

  it('train takes --value-weights (checked: count, sign, NaN name the flag), --monitor, --no-restore-best and feature files', async () => {
    writeFileSync(join(dir, 'two.csv'), ['user_id,item_id,timestamp,label_click,label_like', ...Array.from({ length: 120 }, (_, r) => `u${r % 30},i${(r * 7) % 25},${r},1,${r % 3 === 0 ? 1 : 0}`)].join('\n') + '\n');
    writeFileSync(join(dir, 'items.csv'), ['item_id,f1,f2', ...Array.from({ length: 25 }, (_, i) => `i${i},${i / 25},${(i % 5) / 5}`)].join('\n') + '\n');
    writeFileSync(join(dir, 'users.csv'), ['user_id,g', ...Array.from({ length: 30 }, (_, u) => `u${u},${u % 2}`)].join('\n') + '\n');
    const data = `csv:${join(dir, 'two.csv')}`;
    for (const bad of ['1', '1,-2', '1,nan', '0,0', '1,2,3']) {
      await expect(tt('train', '--data', data, '--epochs', '1', '--value-weights', bad)).rejects.toMatchObject({ code: 'E_CONFIG', field: '--value-weights' });
    }
    const s = lastJson(await tt('train', '--data', data, '--epochs', '3', '--value-weights', '1,2', '--monitor', 'ndcg@10', '--no-restore-best',
      '--user-features', join(dir, 'users.csv'), '--item-features', join(dir, 'items.csv'), '--checkpoint', 'ck-flags', '--json'));
    expect(s['bestEpoch']).toBe(s['epochs']); // the last epoch's weights are kept
    const saved = JSON.parse(readFileSync(join(dir, 'ck-flags', 'checkpoint.json'), 'utf8'));
    expect(JSON.stringify(saved)).toContain('"valueWeights":[1,2]');
    expect(JSON.stringify(saved)).toMatch(/"userFeatureDim":1,"itemFeatureDim":2/);
    await expect(tt('train', '--data', data, '--epochs', '1', '--monitor', 'recall@7')).rejects.toMatchObject({ field: 'monitor' });
    await expect(tt('train', '--data', 'synthetic', '--epochs', '1', '--item-features', join(dir, 'items.csv'))).rejects.toMatchObject({ field: '--item-features' });
  });

  it('train refits by default (a fresh model on the training and validation rows for the epochs early stopping kept); --no-refit keeps the early-stopped one', async () => {
    writeFileSync(join(dir, 'refit.csv'), ['user_id,item_id,timestamp,label_click', ...Array.from({ length: 240 }, (_, r) => `u${r % 40},i${(r * 7) % 30},${r},1`)].join('\n') + '\n');
    const data = `csv:${join(dir, 'refit.csv')}`;
    const plainLines = await tt('train', '--data', data, '--epochs', '3', '--dim', '8', '--no-refit', '--checkpoint', 'ck-plain', '--json');
    const refitLines = await tt('train', '--data', data, '--epochs', '3', '--dim', '8', '--checkpoint', 'ck-refit', '--json');
    const [plain, s] = [lastJson(plainLines), lastJson(refitLines)];
    // with --no-refit, the run says what the validation rows were and that the default refit trains on them
    expect(plainLines.find((l) => l.startsWith('validation rows: 40 ('))).toContain('the default refit trains a fresh model on them too');
    expect(refitLines.some((l) => l.startsWith('validation rows:'))).toBe(false);
    // --refit says the default out loud: the same model
    expect(lastJson(await tt('train', '--data', data, '--epochs', '3', '--dim', '8', '--refit', '--checkpoint', 'ck-refit2', '--json'))['metrics']).toEqual(s['metrics']);
    expect(s['refitEpochs']).toBe(plain['bestEpoch']);
    expect(s['epochs']).toBe(plain['epochs'] + plain['bestEpoch']);
    expect(s['metrics']['recall@20']).toEqual(expect.any(Number));
    expect(plain['refitEpochs']).toBeUndefined();
  });

  it('train on a world also reports alignment and value against its true value, beside popularity', async () => {
    const lines = await tt('train', '--data', 'synthetic', '--epochs', '1', '--dim', '8', '--checkpoint', 'ck-world', '--json');
    expect(lines.join('\n')).toContain("against the world's true value");
    const s = lastJson(lines);
    for (const k of ['alignment@10/100', 'value@10']) {
      for (const who of ['model', 'popularity']) {
        expect(s['funnel'][k][who]).toBeGreaterThan(0);
        expect(s['funnel'][k][who]).toBeLessThanOrEqual(1);
      }
    }
  });

  it('world list names the suite and the held-out worlds; world export writes CSV files tt train reads, and the truth', async () => {
    const list = lastJson(await tt('world', 'list', '--json'));
    expect(list['worlds'].length).toBeGreaterThanOrEqual(7);
    expect(list['worlds'].filter((w: { heldOut: boolean }) => w.heldOut).map((w: { name: string }) => w.name)).toEqual(['held-out', 'held-out-2']);
    const e = lastJson(await tt('world', 'export', 'trending-first', 'w-export', '--seed', '2', '--json'));
    expect(e).toMatchObject({ world: 'trending-first', seed: 2, tasks: ['click', 'like'] });
    for (const f of ['train.csv', 'test.csv', 'users.csv', 'items.csv', 'truth.npy', 'world.json']) expect(existsSync(join(dir, 'w-export', f))).toBe(true);
    const truth = readFileSync(join(dir, 'w-export', 'truth.npy'));
    expect(truth.length).toBeGreaterThan(4 * e['users'] * e['items']);
    // the command it prints (value weights and truth included) trains the model `--data world:` trains, and scores it the same
    expect(e['train']).toContain(`--value-weights 1,0.5 --truth ${join(dir, 'w-export', 'truth.npy')} --seed 2`);
    const printed = (e['train'] as string).split(' ').slice(2); // after `tt train`
    // (a re-ranking model: what it serves is the light ranker's order of retrieval's candidates)
    const t = lastJson(await tt('train', ...printed, '--stages', 'light-ranker', '--epochs', '1', '--checkpoint', 'ck-world', '--json'));
    expect(t['users']).toBeGreaterThan(100);
    const w = lastJson(await tt('train', '--data', 'world:trending-first', '--seed', '2', '--stages', 'light-ranker', '--epochs', '1', '--checkpoint', 'ck-world-w', '--json'));
    expect(t['funnel']).toEqual(w['funnel']);
    expect(t['metrics']).toEqual(w['metrics']);
    // the lists `tt retrieve` serves, scored outside tt (numpy over truth.npy), are what the benchmark scored
    const hasNumpy = pythonImportError('numpy') === undefined;
    if (hasNumpy) {
      const users = [...new Set(readFileSync(join(dir, 'w-export', 'test.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]))];
      writeFileSync(join(dir, 'w-users.txt'), `${users.join('\n')}\n`);
      const served = await tt('retrieve', '--checkpoint', 'ck-world', '--users', 'w-users.txt', '--k', '100');
      writeFileSync(join(dir, 'w-served.jsonl'), `${served.join('\n')}\n`);
      const scored = spawnSync(PYTHON, [SCORER, '--world', join(dir, 'w-export'), '--retrieved', join(dir, 'w-served.jsonl')], { encoding: 'utf8' });
      expect(scored.status).toBe(0);
      const outside = JSON.parse(scored.stdout) as Record<string, number>;
      expect(outside['users']).toBe(users.length);
      expect(outside['alignment@10/100']).toBeCloseTo(t['funnel']['alignment@10/100'].model, 5);
      expect(outside['value@10']).toBeCloseTo(t['funnel']['value@10'].model, 5);
    } else process.stderr.write(`outside scoring of tt retrieve SKIPPED: ${PYTHON} has no numpy\n`);
    const ev = lastJson(await tt('eval', '--checkpoint', 'ck-world', ...printed.slice(0, 6), '--truth', join(dir, 'w-export', 'truth.npy'), '--json'));
    expect(ev['funnel']).toEqual(w['funnel']);
    await expect(tt('eval', '--checkpoint', 'ck-world', ...printed.slice(0, 6), '--truth', join(dir, 'log.csv'))).rejects.toMatchObject({ code: 'E_CORRUPT' });
    await expect(tt('eval', '--checkpoint', 'ck-world-w', '--data', 'world:trending-first', '--truth', join(dir, 'w-export', 'truth.npy'))).rejects.toMatchObject({ field: '--truth' });
    // never into a folder of other files
    writeFileSync(join(dir, 'other-stuff.txt'), 'keep me');
    await expect(tt('world', 'export', 'best-first', '.')).rejects.toMatchObject({ field: 'DIR' });
    expect(readFileSync(join(dir, 'other-stuff.txt'), 'utf8')).toBe('keep me');
    await expect(tt('world', 'export', 'flat', 'w2')).rejects.toMatchObject({ field: 'world' });
  }, 300_000); // two full-size worlds, each trained and refit

  it('baseline reports popularity, item-kNN, EASE and BPR-MF under the train protocol', async () => {
    const s = lastJson(await tt('baseline', '--data', `csv:${join(dir, 'log.csv')}`, '--json'));
    expect(Object.keys(s['baselines'])).toEqual(['popularity', 'item-knn', 'ease', 'bpr-mf']);
    for (const b of Object.values(s['baselines']) as Array<{ metrics: Record<string, number> }>) {
      for (const k of ['recall@10', 'recall@20', 'recall@50', 'ndcg@10']) expect(b.metrics[k]).toBeGreaterThanOrEqual(0);
    }
    expect(s['baselines']['ease']['lambda']).toEqual(expect.any(Number));
    await expect(tt('baseline', '--data', `csv:${join(dir, 'log.csv')}`, '--methods', 'svd')).rejects.toMatchObject({ field: '--methods' });
  });

  it('bench stages trains a world as tt train does and reports the paired effects', async () => {
    const s = lastJson(await tt('bench', 'stages', '--unit', 'no-position-bias:1', '--rows', 'base,reward-align', '--scale', '0.1', '--no-refit', '--json'));
    expect(s['runs'].map((r: { row: string }) => r.row)).toEqual(['popularity', 'base', 'reward-align']);
    const { summariseStages } = await import('./commands/bench-stages.js');
    const runs = [0, 1].flatMap((seed) => ['base', 'debias'].map((row, k) => ({
      world: 'w', seed, row, 'recall@20': 0.1, 'alignment@10/100': 0.2 + 0.1 * k + 0.01 * seed, 'value@10': 0.5 + 0.05 * k, epochs: 1, bestEpoch: 1, seconds: 1,
    })));
    const debias = summariseStages(runs).find((r) => r.row === 'debias')!;
    expect(debias.effects!['alignment@10/100'].mean).toBeCloseTo(0.1, 6);
    expect(debias.effects!['value@10'].perSeed).toEqual([expect.closeTo(0.05, 6), expect.closeTo(0.05, 6)]);
    // by default each row refits as tt train does: the validated run, then its kept epochs again on every row
    const refit = lastJson(await tt('bench', 'stages', '--unit', 'no-position-bias:1', '--rows', 'base', '--scale', '0.1', '--json'))['runs'][1];
    const plain = s['runs'][1];
    expect(refit).toMatchObject({ row: 'base', refit: true, epochs: plain.epochs + plain.bestEpoch, bestEpoch: plain.epochs + plain.bestEpoch });
    expect(plain.refit).toBeUndefined();
    await expect(tt('bench', 'stages', '--worlds', 'flat')).rejects.toMatchObject({ field: 'world' });
    await expect(tt('bench', 'stages', '--scale', '2')).rejects.toMatchObject({ field: '--scale' });
  });

  // three worlds at a tenth of their size, at most one epoch a row, two seeds: this process trains the first
  // world and seed, child `tt demo --rows-only` processes (the built tt) the rest, two at a time
  it('demo --json reports every row of every world over seeds, each stage\'s paired effect, and writes the HTML report', async () => {
    const report = join(dir, 'demo.html');
    const s = lastJson(await tt('demo', '--epochs', '1', '--scale', '0.1', '--seeds', '0,1', '--report', report, '--json'));
    expect(s['worlds'].map((w: { name: string }) => w.name)).toEqual(DEMO_WORLDS);
    expect(s['units']).toHaveLength(DEMO_WORLDS.length * 2);
    for (const world of DEMO_WORLDS) {
      const trained = DEMO_ROWS.filter((r) => !r.worlds || r.worlds.includes(world));
      const rows = s['rows'].filter((r: { world: string }) => r.world === world);
      expect(rows.map((r: { name: string }) => r.name)).toEqual(['popularity', ...trained.map((r) => r.name)]);
      const units = s['units'].filter((u: { world: string }) => u.world === world);
      expect(units.map((u: { seed: number }) => u.seed).sort()).toEqual([0, 1]);
      for (const row of rows) {
        for (const m of ['recall@20', 'alignment@10/100', 'value@10']) expect(row.metrics[m]).toEqual({ mean: expect.any(Number), sd: expect.any(Number) });
        const judged = DEMO_ROWS.find((r) => r.name === row.name)?.judgedOn ?? [];
        expect(row.effects.map((e: { metric: string }) => e.metric)).toEqual(judged);
        for (const e of row.effects) {
          // the effect is the paired difference against base on the same world, seed by seed
          type Row = Record<string, number> & { name: string };
          const seeds = e.perSeed.map((_: number, i: number) => units.find((u: { seed: number }) => u.seed === [0, 1][i])!);
          e.perSeed.forEach((d: number, i: number) => {
            const own = seeds[i].rows.find((x: Row) => x.name === row.name)!;
            const base = seeds[i].rows.find((x: Row) => x.name === 'base')!;
            expect(d).toBeCloseTo(own[e.metric]! - base[e.metric]!, 4);
          });
        }
      }
    }
    const html = readFileSync(report, 'utf8');
    expect(html.match(/<svg /g)!.length).toBe(5 * DEMO_WORLDS.length); // per world: three metrics, two training curves
    for (const w of DEMO_WORLDS) expect(html).toContain(`<h2>${w}</h2>`);
    await expect(tt('demo', '--seeds', '1,1')).rejects.toMatchObject({ field: '--seeds' });
    await expect(tt('demo', '--scale', '3')).rejects.toMatchObject({ field: '--scale' });
  }, 600_000);

  it('bench train --json reports throughput of the pinned reference-shaped model', async () => {
    const s = lastJson(await tt('bench', 'train', '--steps', '3', '--warmup', '1', '--json'));
    expect(s).toMatchObject({ examplesPerSec: expect.any(Number), msPerStep: expect.any(Number), peakRssMb: expect.any(Number), backend: expect.any(String), historyFill: 'none', batchSize: 512 });
    expect(s['model']).toMatchObject({ dim: 64, hidden: 256, mixedNegatives: 0 });
    // the history stage: the data's own histories, then every row at H items, in one run
    const h = lastJson(await tt('bench', 'train', '--stages', 'history', '--history-len', '6', '--batch-size', '64', '--steps', '2', '--warmup', '1', '--json'));
    expect(h).toMatchObject({ stages: ['history'], historyLength: 6, historyFill: 'both', meanValidHistory: 6 });
    expect(h['byFill'].full).toMatchObject({ meanValidHistory: 6, examplesPerSec: expect.any(Number) });
    expect(h['byFill'].data.meanValidHistory).toBeLessThan(6);
    // one fill; --histories is the former name of --history-fill
    const f = lastJson(await tt('bench', 'train', '--stages', 'history', '--history-len', '6', '--history-fill', 'full', '--batch-size', '64', '--steps', '2', '--warmup', '1', '--json'));
    expect(f).toMatchObject({ historyFill: 'full', meanValidHistory: 6 });
    expect(Object.keys(f['byFill'])).toEqual(['full']);
    const old = lastJson(await tt('bench', 'train', '--stages', 'history', '--history-len', '6', '--histories', 'data', '--batch-size', '64', '--steps', '2', '--warmup', '1', '--json'));
    expect(old).toMatchObject({ historyFill: 'data' });
    await expect(tt('bench', 'train', '--history-fill', 'full', '--steps', '1', '--json')).rejects.toMatchObject({ field: '--history-fill' });
    await expect(tt('bench', 'train', '--histories', 'full', '--steps', '1', '--json')).rejects.toMatchObject({ field: '--histories' });
  });
});
