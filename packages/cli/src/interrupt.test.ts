/**
 * Ctrl-C keeps the work: SIGINT to a real `tt train` child process after its first epoch exits 130
 * with a checkpoint `tt retrieve` loads, and `tt train --resume` reaches the weights of an
 * uninterrupted run (stopped during the refit too); a second signal exits at once without touching
 * any checkpoint.
 */
import { readFileSync, readdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors } from '@tt/core';
import { buildCli, runTt, startTt } from './testing/cli-process.js';
import { EXIT } from './exit-codes.js';

let dir: string;
// 5 epochs of ~75 steps: long enough that a signal sent after the first epoch lands mid-run
const RUN = ['--data', 'csv:log.csv', '--epochs', '5', '--patience', '10', '--batch-size', '64', '--seed', '3'];

beforeAll(() => {
  buildCli();
  dir = mkdtempSync(join(tmpdir(), 'tt-interrupt-'));
  const rows = ['user_id,item_id,timestamp,label_like'];
  let t = 0;
  for (let rep = 0; rep < 12; rep++) {
    for (let u = 0; u < 300; u++) {
      rows.push(`u${u},i${(u * 7 + rep * 13) % 200},${t++},1`);
      if ((u + rep) % 3 === 0) rows.push(`u${u},i${(u * 11 + rep) % 200},${t++},0`);
    }
  }
  writeFileSync(join(dir, 'log.csv'), `${rows.join('\n')}\n`);
  writeFileSync(join(dir, 'users.txt'), 'u1\nu2\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const weights = (ck: string) => decodeSafetensors(readFileSync(join(dir, ck, 'weights.safetensors')), ck).tensors;
const manifest = (ck: string) => JSON.parse(readFileSync(join(dir, ck, 'checkpoint.json'), 'utf8'));
/** Checkpoint `ck` holds the same tensors as `reference`, each within 1e-5. */
function expectSameWeights(ck: string, reference: string): void {
  const a = weights(reference);
  const b = weights(ck);
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  for (const [name, e] of Object.entries(a)) {
    const other = b[name]!.data;
    let worst = 0;
    for (let i = 0; i < e.data.length; i++) worst = Math.max(worst, Math.abs(e.data[i]! - other[i]!));
    expect(worst).toBeLessThanOrEqual(1e-5);
  }
}

/** Starts `tt ...args` and sends `signals` once its first epoch is reported; resolves with its exit. */
async function interruptAfterFirstEpoch(args: string[], signals: NodeJS.Signals[]) {
  const run = startTt(args, dir);
  let sent = false;
  run.child.stderr!.on('data', () => {
    if (!sent && /epoch 1\/5: loss/.test(run.out.stderr)) {
      sent = true;
      for (const s of signals) run.child.kill(s);
    }
  });
  const exit = await run.exit;
  expect(sent).toBe(true);
  return { ...exit, ...run.out };
}

describe('tt train interrupted', () => {
  it('SIGINT after the first epoch: exit 130, a loadable checkpoint, and --resume reaches the uninterrupted run\'s weights', async () => {
    const full = runTt(['train', ...RUN, '--checkpoint', 'full'], dir);
    expect(full.status).toBe(EXIT.success);

    const stopped = await interruptAfterFirstEpoch(['train', ...RUN, '--checkpoint', 'part'], ['SIGINT']);
    expect(stopped.code).toBe(EXIT.interrupted);
    expect(stopped.stderr).toMatch(/interrupted in epoch \d of 5 .*saved the best weights so far .*tt train --resume/);
    const m = manifest('part');
    expect(m.training).toMatchObject({ interrupted: true, stoppedInEpoch: expect.any(Number), epochsFinished: expect.any(Number) });
    expect(m.training.epochsFinished).toBeGreaterThanOrEqual(1);
    expect(m.training.stoppedInEpoch).toBeLessThanOrEqual(5);

    // the interrupted checkpoint serves
    const served = runTt(['retrieve', '--checkpoint', 'part', '--users', 'users.txt', '--k', '3'], dir);
    expect(served.status).toBe(EXIT.success);
    expect(served.stdout.trim().split('\n').map((l) => JSON.parse(l).items.length)).toEqual([3, 3]);

    const resumed = runTt(['train', '--resume', 'part'], dir);
    expect(resumed.status).toBe(EXIT.success);
    expect(manifest('part').training).toBeUndefined(); // a finished run now
    expectSameWeights('part', 'full');
  }, 240_000);

  it('SIGINT during the refit: the early-stopped model is saved and serves, and --resume finishes the refit', async () => {
    // 'full' (the test above) is the uninterrupted run, its refit included
    const run = startTt(['train', ...RUN, '--checkpoint', 'in-refit'], dir);
    let sent = false;
    run.child.stderr!.on('data', () => {
      if (!sent && /\[tt\] refit: /.test(run.out.stderr)) {
        sent = true;
        run.child.kill('SIGINT');
      }
    });
    const stopped = await run.exit;
    expect(sent).toBe(true);
    expect(stopped.code).toBe(EXIT.interrupted);
    expect(run.out.stderr).toMatch(/interrupted in the refit \(epoch \d of \d\): saved the early-stopped model \(epoch \d\) .*tt train --resume/);
    expect(manifest('in-refit').training.progress.refit).toMatchObject({ towerEpochs: expect.any(Number), monitor: 'recall@20' });
    const served = runTt(['retrieve', '--checkpoint', 'in-refit', '--users', 'users.txt', '--k', '3'], dir);
    expect(served.status).toBe(EXIT.success);

    const resumed = runTt(['train', '--resume', 'in-refit'], dir);
    expect(resumed.status).toBe(EXIT.success);
    expect(resumed.stderr).toMatch(/resuming in-refit: the refit, epoch 1\/\d/);
    expect(manifest('in-refit').training).toBeUndefined();
    expectSameWeights('in-refit', 'full');
  }, 240_000);

  it('a second signal exits at once with 130 and leaves the existing checkpoint untouched', async () => {
    const files = () => readdirSync(join(dir, 'full')).filter((f) => f !== 'index').map((f) => [f, readFileSync(join(dir, 'full', f)).toString('base64')]);
    const before = files();
    // SIGINT and SIGTERM together: two signals (two SIGINTs sent at once may arrive as one)
    const r = await interruptAfterFirstEpoch(['train', ...RUN, '--seed', '4', '--checkpoint', 'full'], ['SIGINT', 'SIGTERM']);
    expect(r.code).toBe(EXIT.interrupted);
    expect(r.stderr).toContain('again: exiting now; nothing is saved');
    expect(files()).toEqual(before);
  }, 120_000);

  it('--resume refuses training flags beside it and a finished run (usage, exit 2)', () => {
    const flags = runTt(['train', '--resume', 'full', '--epochs', '9'], dir);
    expect(flags.status).toBe(EXIT.usage);
    expect(flags.stderr).toContain('drop --epochs');
    const finished = runTt(['train', '--resume', 'full'], dir);
    expect(finished.status).toBe(EXIT.usage);
    expect(finished.stderr).toContain('a finished run, not an interrupted one');
  });
});
