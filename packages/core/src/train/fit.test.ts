import * as tf from '../runtime/tf.js';
import { initBackend } from '../runtime/backend.js';
import { ConfigError } from '../errors.js';
import { StageOptions } from '../model/stage-options.js';
import type { StageDefinition } from '../model/stages.js';
import { syntheticWorld } from '../data/synthetic.js';
import { trainingItemsPerUser } from '../data/batches.js';
import { trainingLog } from '../eval/model-eval.js';
import { TwoTowerModel } from '../model/two-tower.js';
import { stopGradient } from '../runtime/stop-gradient.js';
import { checkFitOptions, fitTwoTower, FIT_DEFAULTS, type FitOptions } from './fit.js';

/** A stage whose one option, `rate`, must be in (0, 1]; it needs positions and ranker scores. */
const picky: StageDefinition = {
  name: 'picky',
  create(options, ctx) {
    const o = new StageOptions('picky', options, ['rate']);
    o.number('rate', 0.5, { min: 0, above: true, max: 1 });
    if (!(ctx.config.schema.numPositions > 0) || !ctx.config.schema.hasRankerScores) throw new ConfigError('stages.picky', 'needs positions and ranker scores');
    return { name: 'picky' };
  },
};

beforeAll(async () => {
  await initBackend({ backend: 'wasm', log: false });
});

/** `model` holds `expected`'s parameters, each within 1e-5 (a resumed run against an uninterrupted one). */
function expectSameParams(model: TwoTowerModel, expected: ReadonlyMap<string, { values: Float32Array }>): void {
  const got = model.params.snapshot();
  for (const [name, v] of expected) {
    const values = got.get(name)!.values;
    let worst = 0;
    for (let i = 0; i < v.values.length; i++) worst = Math.max(worst, Math.abs(values[i]! - v.values[i]!));
    expect(worst).toBeLessThanOrEqual(1e-5);
  }
}

describe('checkFitOptions', () => {
  it.each<[string, FitOptions]>([
    ['epochs', { epochs: 0 }],
    ['batchSize', { batchSize: 0 }],
    ['learningRate', { learningRate: 0 }],
    ['learningRate', { learningRate: Number.NaN }],
    ['patience', { patience: -1 }],
    ['temperature', { model: { temperature: 0 } }],
    ['dim', { model: { dim: 0 } }],
    ['mixedNegatives', { model: { mixedNegatives: -1 } }],
    ['userRows', { model: { userRows: 0 } }],
    ['stages.picky.rate', { model: { stages: [{ name: 'picky', options: { rate: 5 } }] }, stages: [picky] }],
    ['stages[0]', { model: { stages: [{ name: 'unknown-stage' }] } }],
    ['refit', { refit: 'yes' as unknown as boolean }],
  ])('refuses a bad %s before any data is read', (field, options) => {
    let error: unknown;
    try {
      checkFitOptions(options);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe(field);
  });

  it('accepts good options, leaves no tensor behind, and leaves data-dependent checks to training', () => {
    const before = tf.memory().numTensors;
    checkFitOptions({});
    checkFitOptions({ epochs: 3, batchSize: 64, learningRate: 1e-3, patience: 0, model: { dim: 16, temperature: 0.1, userRows: 5_000_000, stages: [{ name: 'picky', options: { rate: 1 } }] }, stages: [picky] });
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('fitTwoTower model defaults', () => {
  it('drops ids per user (20 / (20 + rows)) unless the options set either id dropout, even to 0', async () => {
    const world = syntheticWorld({ seed: 3, numUsers: 60, numItems: 40, impressions: 1200, validation: false });
    const fit = async (model: FitOptions['model']) => {
      const { model: m } = await fitTwoTower(world, { epochs: 1, batchSize: 128, model: { dim: 8, hidden: 8, ...model }, progress: 'none', log: () => undefined });
      const { userIdDropout, userIdDropoutRows, temperature } = m.config;
      m.dispose();
      return { userIdDropout, userIdDropoutRows, temperature };
    };
    expect(await fit({})).toEqual({ userIdDropout: 0, userIdDropoutRows: FIT_DEFAULTS.userIdDropoutRows, temperature: 0.1 });
    expect(await fit({ userIdDropout: 0.3 })).toMatchObject({ userIdDropout: 0.3, userIdDropoutRows: 0 });
    expect(await fit({ userIdDropoutRows: 0 })).toMatchObject({ userIdDropoutRows: 0 });
    expect(await fit({ userIdDropout: 0 })).toMatchObject({ userIdDropout: 0, userIdDropoutRows: 0 });
    expect(await fit({ userIdDropoutRows: 5 })).toMatchObject({ userIdDropoutRows: 5 });
  });

  /** The config fitTwoTower gives a model of `dataset` with these model options (one epoch, tiny towers). */
  const configAfterFit = async (dataset: ReturnType<typeof syntheticWorld>, model: FitOptions['model'] = {}) => {
    const { model: m } = await fitTwoTower(dataset, { epochs: 1, batchSize: 128, model: { hidden: 8, ...model }, progress: 'none', log: () => undefined });
    const config = m.config;
    m.dispose();
    return config;
  };

  it('pools 50 of each user\'s positives on a log without timestamps, the 20 newest on one with, unless the options say', async () => {
    const world = syntheticWorld({ seed: 3, numUsers: 60, numItems: 40, impressions: 1200, validation: false });
    const unordered = { ...world, train: { ...world.train, timestamp: undefined } };
    expect((await configAfterFit(world, { dim: 8 })).historyPooling).toBe(20);
    expect((await configAfterFit(unordered, { dim: 8 })).historyPooling).toBe(FIT_DEFAULTS.setHistoryPooling);
    expect((await configAfterFit(unordered, { dim: 8, historyPooling: 10 })).historyPooling).toBe(10);
  });

  it('chooses the temperature on validation for a log without timestamps, unless the options set one or the log has a clock', async () => {
    const world = syntheticWorld({ seed: 4, numUsers: 80, numItems: 40, impressions: 2000, validation: true });
    const unordered = { ...world, train: { ...world.train, timestamp: undefined } };
    const fit = (dataset: typeof world, options: FitOptions = {}) =>
      fitTwoTower(dataset, { epochs: 2, batchSize: 128, progress: 'none', log: () => undefined, refit: false, ...options, model: { dim: 8, hidden: 8, ...options.model } });
    const before = tf.memory().numTensors;
    const searched = await fit(unordered);
    const tried = searched.temperatures!;
    expect(tried.map((t) => t.temperature)).toEqual([...FIT_DEFAULTS.setTemperatures]);
    const best = tried.reduce((a, b) => (b.validation > a.validation ? b : a));
    expect(searched.model.config.temperature).toBe(best.temperature);
    expect(searched.result.history[searched.result.bestEpoch]!.metrics!['recall@20']).toBe(best.validation);
    searched.model.dispose();
    expect(tf.memory().numTensors).toBe(before); // the run not kept is freed
    // the kept run is the very model a plain fit at that temperature gives
    const plain = await fit(unordered, { model: { temperature: best.temperature } });
    expect(plain.temperatures).toBeUndefined();
    expect(plain.result.history.map((h) => h.metrics!['recall@20'])).toEqual(searched.result.history.map((h) => h.metrics!['recall@20']));
    plain.model.dispose();
    const timed = await fit(world);
    expect(timed.temperatures).toBeUndefined();
    expect(timed.model.config.temperature).toBe(0.1);
    timed.model.dispose();
    // said in the log
    const lines: string[] = [];
    const said = await fit(unordered, { progress: 'lines', log: (l) => lines.push(l), epochs: 1 });
    said.model.dispose();
    expect(lines[0]).toMatch(/^\[tt\] model: softmax temperature chosen on validation from 0.1, 0.2 \(no timestamps/);
    expect(lines.at(-1)).toMatch(new RegExp(`^\\[tt\\] kept temperature ${said.model.config.temperature}: validation recall@20 `));
  });

  it('stops a temperature search when interrupted, with the run it was in to save and resume', async () => {
    const world = syntheticWorld({ seed: 4, numUsers: 80, numItems: 40, impressions: 2000, validation: true });
    const unordered = { ...world, train: { ...world.train, timestamp: undefined } };
    const controller = new AbortController();
    controller.abort();
    const before = tf.memory().numTensors;
    const { model, result, temperatures } = await fitTwoTower(unordered, { epochs: 2, batchSize: 128, progress: 'none', signal: controller.signal, model: { dim: 8, hidden: 8 } });
    expect(result.interrupted).toBe(true);
    expect(result.state).toBeDefined();
    expect(temperatures!.map((t) => t.temperature)).toEqual([FIT_DEFAULTS.setTemperatures[0]]);
    expect(model.config.temperature).toBe(FIT_DEFAULTS.setTemperatures[0]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('widens the model to 128 for a catalogue of more than 10,000 items, unless the options set dim', async () => {
    const large = syntheticWorld({ seed: 3, numUsers: 20, numItems: FIT_DEFAULTS.largeCatalogueItems + 1, impressions: 300, validation: false });
    const small = syntheticWorld({ seed: 3, numUsers: 20, numItems: FIT_DEFAULTS.largeCatalogueItems, impressions: 300, validation: false });
    expect((await configAfterFit(small)).dim).toBe(64);
    expect((await configAfterFit(large)).dim).toBe(FIT_DEFAULTS.largeCatalogueDim);
    expect((await configAfterFit(large, { dim: 16 })).dim).toBe(16);
    // and says so
    const lines: string[] = [];
    const { model } = await fitTwoTower(large, { epochs: 1, batchSize: 128, model: { hidden: 8 }, progress: 'lines', log: (l) => lines.push(l) });
    model.dispose();
    expect(lines[0]).toBe(`[tt] model: dim 128 (${FIT_DEFAULTS.largeCatalogueItems + 1} items, more than 10000)`);
  });

  it('counts the scored rows among a user\'s training rows when a stage trains on them', async () => {
    const world = syntheticWorld({ seed: 3, numUsers: 60, numItems: 40, impressions: 1200, validation: false });
    const scoredRows: StageDefinition = { name: 'scored-rows', create: () => ({ name: 'scored-rows', trainsOnScoredRows: true }) };
    const plain: StageDefinition = { name: 'plain', create: () => ({ name: 'plain' }) };
    const rowsSet = async (stage: StageDefinition) => {
      const spy = jest.spyOn(TwoTowerModel.prototype, 'setUserTrainingRows');
      try {
        const { model } = await fitTwoTower(world, { epochs: 1, batchSize: 128, model: { dim: 8, hidden: 8, stages: [{ name: stage.name }] }, stages: [stage], progress: 'none', log: () => undefined });
        model.dispose();
        return Array.from(spy.mock.calls[0]![0]);
      } finally {
        spy.mockRestore();
      }
    };
    const positives = Array.from(trainingItemsPerUser(world.train, 60, world.valueWeights, false));
    const scored = Array.from(trainingItemsPerUser(world.train, 60, world.valueWeights, true));
    expect(scored.reduce((a, b) => a + b, 0)).toBeGreaterThan(positives.reduce((a, b) => a + b, 0));
    expect(await rowsSet(plain)).toEqual(positives);
    expect(await rowsSet(scoredRows)).toEqual(scored);
  });
});

describe('fitTwoTower: stages that refit on the final towers', () => {
  /** A head fitting stopped q . w to 1: its loss leaves the towers alone, so it may refit after them. */
  const head = (refits: boolean): StageDefinition => ({
    name: 'head',
    create(_options, ctx) {
      const w = ctx.params.addDense('stages.head.w', [ctx.config.dim, 1], new Float32Array(ctx.config.dim));
      return {
        name: 'head',
        refitsOnFinalTowers: refits,
        auxiliaryHead: { loss: (args) => tf.mean(tf.square(tf.sub(tf.matMul(stopGradient(args.q), w), 1))) as tf.Scalar },
      };
    },
  });
  const world = syntheticWorld({ seed: 5, numUsers: 80, numItems: 50, impressions: 2000, validation: true });
  const fit = async (refits: boolean) => {
    const { model, result } = await fitTwoTower(world, {
      epochs: 3, batchSize: 128, patience: 1, model: { dim: 8, hidden: 8, stages: [{ name: 'head' }] }, stages: [head(refits)], progress: 'none', log: () => undefined, refit: false,
    });
    const params = model.params.snapshot();
    model.dispose();
    return { result, params };
  };

  it('trains the stage\'s own parameters alone after the towers\' best epoch, and keeps the towers as they were', async () => {
    const before = tf.memory().numTensors;
    const plain = await fit(false);
    const refit = await fit(true);
    expect(tf.memory().numTensors).toBe(before);
    expect(plain.result.history.some((h) => h.stagesOnly)).toBe(false);
    const second = refit.result.history.filter((h) => h.stagesOnly);
    expect(second.length).toBeGreaterThan(0);
    expect(refit.result.epochs).toBe(plain.result.epochs + second.length);
    expect(second[0]!.epoch).toBe(plain.result.epochs);
    // the first phase is the plain run; the second touches nothing outside stages.head.*
    for (const [name, v] of plain.params) {
      if (!name.startsWith('stages.head.')) expect(refit.params.get(name)!.values).toEqual(v.values);
    }
    // the refit head is the best of the second phase, or the restored one when no epoch beat it
    const best = refit.result.bestEpoch;
    if (best >= plain.result.epochs) expect(refit.params.get('stages.head.w')!.values).not.toEqual(plain.params.get('stages.head.w')!.values);
    else expect(refit.params.get('stages.head.w')!.values).toEqual(plain.params.get('stages.head.w')!.values);
  });
});

describe('fitTwoTower refit on all rows', () => {
  const world = syntheticWorld({ seed: 6, numUsers: 80, numItems: 50, impressions: 2000, validation: true });
  const base: FitOptions = { epochs: 4, batchSize: 128, patience: 1, model: { dim: 8, hidden: 8 }, progress: 'none' };
  const fit = async (options: FitOptions, dataset = world) => {
    const { model, result } = await fitTwoTower(dataset, { ...base, ...options });
    const params = model.params.snapshot();
    const temperature = model.config.temperature;
    model.dispose();
    return { result, params, temperature };
  };

  it('by default trains a fresh model on the training and validation rows for the epochs early stopping kept, the test rows untouched', async () => {
    const test = { user: world.test.user.slice(), item: world.test.item.slice() };
    const before = tf.memory().numTensors;
    const plain = await fit({ refit: false });
    const lines: string[] = [];
    const refit = await fit({ progress: 'lines', log: (l) => lines.push(l) });
    expect(tf.memory().numTensors).toBe(before);
    const kept = plain.result.bestEpoch + 1;
    const validated = refit.result.history.filter((h) => !h.allRows);
    const allRows = refit.result.history.filter((h) => h.allRows);
    // the first run is the plain one; the refit runs the kept epochs over every row but the test rows
    expect(validated.map((h) => h.loss)).toEqual(plain.result.history.map((h) => h.loss));
    expect(allRows.map((h) => h.epoch)).toEqual(Array.from({ length: kept }, (_, e) => plain.result.epochs + e));
    const rows = trainingLog(world).size;
    expect(rows).toBeGreaterThan(world.train.size);
    for (const h of allRows) expect(h.examples).toBe(rows);
    expect(allRows.every((h) => h.metrics === undefined)).toBe(true);
    expect(refit.result.epochs).toBe(plain.result.epochs + kept);
    expect(refit.result.bestEpoch).toBe(refit.result.epochs - 1);
    expect(refit.temperature).toBe(plain.temperature);
    expect(refit.params.get('item.embedding')?.values).not.toEqual(plain.params.get('item.embedding')?.values);
    expect(lines).toContain(`[tt] refit: a fresh model on the training and validation rows (${rows} rows) for the ${kept} epoch${kept === 1 ? '' : 's'} early stopping kept`);
    expect({ user: world.test.user, item: world.test.item }).toEqual(test);
  });

  it('changes nothing on a log without validation rows', async () => {
    const unsplit = syntheticWorld({ seed: 6, numUsers: 80, numItems: 50, impressions: 2000, validation: false });
    const plain = await fit({ refit: false }, unsplit);
    const refit = await fit({ refit: true }, unsplit);
    expect(refit.result.history.some((h) => h.allRows)).toBe(false);
    expect(refit.result.history.map((h) => h.loss)).toEqual(plain.result.history.map((h) => h.loss));
  });

  it('frees both models when the refit fails', async () => {
    const before = tf.memory().numTensors;
    let refitting = false;
    const log = (line: string) => {
      if (line.startsWith('[tt] refit:')) refitting = true;
      else if (refitting) throw new Error('failed in the refit');
    };
    await expect(fitTwoTower(world, { ...base, refit: true, progress: 'lines', log })).rejects.toThrow('failed in the refit');
    expect(tf.memory().numTensors).toBe(before);
  });

  it("replays a stage's own phase on the final towers for the epochs it kept", async () => {
    /** A learned query offset that trains on after the towers (the softmax moves it: it changes the monitor). */
    const offset: StageDefinition = {
      name: 'offset',
      create(_options, ctx) {
        const b = ctx.params.addDense('stages.offset.b', [1, ctx.config.dim], new Float32Array(ctx.config.dim));
        return { name: 'offset', refitsOnFinalTowers: true, userInput: { dim: ctx.config.dim, encode: (input) => tf.tile(b, [input.size, 1]) as tf.Tensor2D } };
      },
    };
    const options: FitOptions = { patience: 2, epochs: 6, monitor: 'ndcg@10', model: { dim: 8, hidden: 8, stages: [{ name: 'offset' }] }, stages: [offset] };
    const before = tf.memory().numTensors;
    const plain = await fit({ ...options, refit: false });
    const lines: string[] = [];
    const refit = await fit({ ...options, refit: true, progress: 'lines', log: (l) => lines.push(l) });
    expect(tf.memory().numTensors).toBe(before);
    const towersRun = plain.result.history.filter((h) => !h.stagesOnly).length;
    const towerEpochs = plain.result.history.slice(0, towersRun).reduce((best, h, e, all) => (h.metrics!['ndcg@10']! > all[best]!.metrics!['ndcg@10']! ? e : best), 0) + 1;
    const stageEpochs = plain.result.bestEpoch + 1 - towersRun;
    expect(stageEpochs).toBeGreaterThan(0); // the validated run kept some of its own phase: there is something to replay
    const allRows = refit.result.history.filter((h) => h.allRows);
    expect(allRows.map((h) => h.stagesOnly === true)).toEqual([...new Array<boolean>(towerEpochs).fill(false), ...new Array<boolean>(stageEpochs).fill(true)]);
    expect(allRows.every((h) => h.metrics === undefined && h.examples === trainingLog(world).size)).toBe(true);
    expect(refit.result.bestEpoch).toBe(refit.result.epochs - 1);
    const plural = (n: number) => `${n} epoch${n === 1 ? '' : 's'}`;
    expect(lines).toContain(`[tt] refit: a fresh model on the training and validation rows (${trainingLog(world).size} rows) for the ${plural(towerEpochs)} early stopping kept, then its stages' own parameters for the ${plural(stageEpochs)} their phase kept`);
    // stopped during the replayed phase, the refit is not the schedule it replays: the validated model stays
    const controller = new AbortController();
    const replay = `[tt] training the offset stage's own parameters on the restored towers (${plural(stageEpochs)})`;
    const stopped = await fitTwoTower(world, { ...base, ...options, refit: true, signal: controller.signal, progress: 'lines', log: (l) => l === replay && controller.abort() });
    expect(stopped.result.interrupted).toBe(true);
    expect(stopped.result.history.some((h) => h.allRows)).toBe(false);
    const kept = stopped.model.params.snapshot();
    for (const [name, v] of plain.params) expect(kept.get(name)!.values).toEqual(v.values);
    const pending = stopped.result.state!.progress.refit!;
    expect(pending).toMatchObject({ towerEpochs, stageEpochs });
    expect(pending.towers!.epochs).toBe(towerEpochs); // the refit's tower phase finished; its replay was stopped
    // resuming goes straight to the replay and ends where the uninterrupted refit did
    const resumed = await fitTwoTower(world, { ...base, ...options, refit: true, resume: { model: stopped.model, state: stopped.result.state! } });
    expect(resumed.result.history.map((h) => [h.allRows === true, h.stagesOnly === true])).toEqual(refit.result.history.map((h) => [h.allRows === true, h.stagesOnly === true]));
    expectSameParams(resumed.model, refit.params);
    resumed.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("interrupted during the refit: returns the early-stopped model with the refit's state, and resuming that finishes the refit", async () => {
    const plain = await fit({ refit: false });
    const whole = await fit({ refit: true });
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    const lines: string[] = [];
    const stopped = await fitTwoTower(world, { ...base, refit: true, signal: controller.signal, progress: 'lines', log: (l) => (lines.push(l), l.startsWith('[tt] refit:') && controller.abort()) });
    expect(stopped.result.interrupted).toBe(true);
    expect(stopped.result.history.some((h) => h.allRows)).toBe(false);
    expect(lines).toContain("[tt] refit interrupted: returning the early-stopped model with the refit's state (resuming it finishes the refit)");
    const snapshot = stopped.model.params.snapshot();
    for (const [name, v] of plain.params) expect(snapshot.get(name)!.values).toEqual(v.values);
    const pending = stopped.result.state!.progress.refit!;
    expect(pending).toMatchObject({ towerEpochs: plain.result.bestEpoch + 1, stageEpochs: 0, monitor: 'recall@20' });
    expect(pending.validated.history.map((h) => h.loss)).toEqual(plain.result.history.map((h) => h.loss));
    // the state is JSON in a checkpoint: resume from a copy that went through it
    const state = { ...stopped.result.state!, progress: JSON.parse(JSON.stringify(stopped.result.state!.progress)) };
    const resumedLines: string[] = [];
    const resumed = await fitTwoTower(world, { ...base, refit: true, resume: { model: stopped.model, state }, progress: 'lines', log: (l) => resumedLines.push(l) });
    expect(resumed.model).toBe(stopped.model); // the refit trained in the caller's model
    expect(resumedLines.some((l) => l.startsWith('[tt] refit (resumed):'))).toBe(true);
    expect(resumed.result.interrupted).toBe(false);
    expect(resumed.result.epochs).toBe(whole.result.epochs);
    expect(resumed.result.bestEpoch).toBe(whole.result.bestEpoch);
    resumed.result.history.forEach((h, e) => expect(h.loss).toBeCloseTo(whole.result.history[e]!.loss, 5));
    expectSameParams(resumed.model, whole.params);
    resumed.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
