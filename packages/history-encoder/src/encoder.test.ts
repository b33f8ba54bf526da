import {
  ConfigError, historiesOf, initBackend, ParameterStore, resolveConfig, Rng, syntheticWorld, tf, Trainer, TwoTowerModel, inMemorySource,
  type Batch, type StageContext, type UserInput,
} from '@tt/core';
import { HistoryEncoder, historyEncoder, positionalTable, resolveHistoryOptions } from './encoder.js';

const D = 8;
const H = 6;
const ITEMS = 20;

beforeAll(async () => {
  await initBackend({ backend: 'wasm', log: false });
});

function makeEncoder(options: Record<string, unknown> = {}, seed = 1): { enc: HistoryEncoder; ctx: StageContext; store: ParameterStore } {
  const store = new ParameterStore(new Rng(seed));
  const itemEmbedding = store.addEmbedding('item.embedding', ITEMS, D, 0.5);
  const userEmbedding = store.addEmbedding('user.embedding', 5, D);
  const ctx = { config: {} as StageContext['config'], params: store, itemEmbedding, userEmbedding, rng: new Rng(seed + 1) } as StageContext;
  const enc = historyEncoder.create({ maxLength: H, heads: 2, layers: 2, ...options }, ctx).userInput as HistoryEncoder;
  return { enc, ctx, store };
}

function input(history: number[]): UserInput {
  const n = history.length / H;
  return { size: n, user: new Int32Array(n), userFeatures: new Float32Array(0), history: Int32Array.from(history), historyLength: H };
}

function encode(enc: HistoryEncoder, history: number[]): Float32Array {
  return tf.tidy(() => enc.encode(input(history), false).dataSync() as Float32Array);
}

const P = -1;

describe.each(['plain', 'prenorm'] as const)('history encoder (%s)', (block) => {
  test('output is [n, 2D]: encoded newest position, then the masked mean', () => {
    const { enc, ctx, store } = makeEncoder({ block });
    expect(enc.dim).toBe(2 * D);
    const out = encode(enc, [3, 5, P, P, P, P]);
    expect(out.length).toBe(2 * D);
    const table = ctx.itemEmbedding.table.arraySync() as number[][];
    for (let k = 0; k < D; k++) expect(out[D + k]).toBeCloseTo((table[3]![k]! + table[5]![k]!) / 2, 5);
    store.dispose();
  });

  test('a padded position changes nothing (table row read at padding, batch mates, trimmed length)', () => {
    const { enc, ctx, store } = makeEncoder({ block });
    const alone = encode(enc, [3, 5, 7, P, P, P]);
    // another row with a full history: the batch is no longer trimmed to 3 positions
    const withLong = encode(enc, [3, 5, 7, P, P, P, 1, 2, 4, 6, 8, 9]).subarray(0, 2 * D);
    expect(Array.from(withLong)).toEqual(Array.from(alone).map((x) => expect.closeTo(x, 5)));
    // padding reads row 0 of the table: changing that row changes nothing
    tf.tidy(() => ctx.itemEmbedding.table.assign(tf.concat([tf.fill([1, D], 9), tf.slice(ctx.itemEmbedding.table, [1, 0], [ITEMS - 1, D])], 0)));
    const changed = encode(enc, [3, 5, 7, P, P, P, 1, 2, 4, 6, 8, 9]).subarray(0, 2 * D);
    expect(Array.from(changed)).toEqual(Array.from(alone).map((x) => expect.closeTo(x, 5)));
    store.dispose();
  });

  test('rows without history give finite zeros', () => {
    const { enc, store } = makeEncoder({ block });
    const out = encode(enc, [P, P, P, P, P, P, 2, P, P, P, P, P]);
    expect(Array.from(out.subarray(0, 2 * D), (x) => x + 0)).toEqual(new Array(2 * D).fill(0));
    expect(out.every(Number.isFinite)).toBe(true);
    const none = encode(enc, [P, P, P, P, P, P]);
    expect(Array.from(none, (x) => x + 0)).toEqual(new Array(2 * D).fill(0));
    store.dispose();
  });

  test('the order of the history matters (positions are encoded)', () => {
    const { enc, store } = makeEncoder({ block });
    const a = encode(enc, [3, 5, P, P, P, P]);
    const b = encode(enc, [5, 3, P, P, P, P]);
    expect(Array.from(a.subarray(D, 2 * D))).toEqual(Array.from(b.subarray(D, 2 * D)).map((x) => expect.closeTo(x, 6))); // same mean
    expect(Math.max(...Array.from(a.subarray(0, D), (x, k) => Math.abs(x - b[k]!)))).toBeGreaterThan(1e-4);
    store.dispose();
  });
});

test('positional encodings are reversed: index 0 (newest) gets the last position', () => {
  const table = positionalTable(H, D);
  // row i is the encoding of position H - 1 - i: sin(pos) in column 0, cos(pos) in column 1
  for (let i = 0; i < H; i++) {
    const pos = H - 1 - i;
    expect(table[i * D]).toBeCloseTo(Math.sin(pos), 6);
    expect(table[i * D + 1]).toBeCloseTo(Math.cos(pos / Math.pow(10000, 2 / D)), 6);
  }
  expect(table[(H - 1) * D]).toBe(0); // the oldest slot gets position 0
  // with no layers the encoded newest position is E[newest] + P[H-1]
  const { enc, ctx, store } = makeEncoder({ layers: 0 });
  const out = encode(enc, [4, 2, P, P, P, P]);
  const row = (ctx.itemEmbedding.table.arraySync() as number[][])[4]!;
  for (let k = 0; k < D; k++) expect(out[k]).toBeCloseTo(row[k]! + table[k]!, 5);
  store.dispose();
});

test.each(['plain', 'prenorm'] as const)('the fused kernels (ragged attention, dense layers) and tfjs ops give the same encoder output and gradients (%s)', (block) => {
  // ragged rows with a hole inside one row's items
  const history = [3, 5, 7, P, P, P, 1, 2, 4, 6, 8, 9, P, P, P, P, P, P, 11, P, 2, P, P, P];
  const run = (attention: 'fused' | 'matmul') => {
    // the reference runs every op of the encoder in tfjs ops (TT_FUSED_OPS=0: no dense-layer kernels)
    const saved = process.env['TT_FUSED_OPS'];
    process.env['TT_FUSED_OPS'] = attention === 'fused' ? '1' : '0';
    const { enc, store } = makeEncoder({ block, attention, layers: 3 });
    const names = [...store.dense.keys()].filter((k) => k.startsWith('stages.history'));
    const vars = names.map((k) => store.dense.get(k)!);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(enc.encode(input(history), false), tf.linspace(-1, 1, 4 * 2 * D).reshape([4, 2 * D]))), vars);
    const out = { value: value.dataSync()[0]!, grads: vars.map((v) => grads[v.name]!.dataSync()) };
    value.dispose();
    tf.dispose(Object.values(grads));
    store.dispose();
    if (saved === undefined) delete process.env['TT_FUSED_OPS'];
    else process.env['TT_FUSED_OPS'] = saved;
    return out;
  };
  const fused = run('fused');
  const ops = run('matmul');
  expect(fused.value).toBeCloseTo(ops.value, 4);
  expect(fused.grads.length).toBeGreaterThan(5);
  fused.grads.forEach((g, i) => g.forEach((x, j) => expect(x).toBeCloseTo(ops.grads[i]![j]!, 4)));
});

test('projecting the first layer per distinct item equals projecting every slot (values and gradients)', () => {
  // one row of 6 distinct items projects every slot; three copies of it (6 distinct of 18 slots) go per item
  const row = [3, 5, 7, 1, 2, P];
  const run = (copies: number) => {
    const { enc, store } = makeEncoder({ layers: 2 });
    const vars = [...store.dense.keys()].filter((k) => k.startsWith('stages.history')).map((k) => store.dense.get(k)!);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.slice(enc.encode(input(new Array<number[]>(copies).fill(row).flat()), false), [0, 0], [1, 2 * D])), vars);
    const out = { out: encode(enc, new Array<number[]>(copies).fill(row).flat()).slice(0, 2 * D), value: value.dataSync()[0]!, grads: vars.map((v) => grads[v.name]!.dataSync()) };
    value.dispose();
    tf.dispose(Object.values(grads));
    store.dispose();
    return out;
  };
  const perSlot = run(1);
  const perItem = run(3);
  Array.from(perItem.out).forEach((x, k) => expect(x).toBeCloseTo(perSlot.out[k]!, 5));
  expect(perItem.value).toBeCloseTo(perSlot.value, 4);
  perItem.grads.forEach((g, i) => g.forEach((x, j) => expect(x).toBeCloseTo(perSlot.grads[i]![j]!, 4)));
});

test('options are checked', () => {
  expect(() => resolveHistoryOptions({ heads: 3 }, 8)).toThrow(ConfigError);
  expect(() => resolveHistoryOptions({ block: 'post' }, 8)).toThrow(ConfigError);
  expect(() => resolveHistoryOptions({ maxLen: 5 }, 8)).toThrow(ConfigError);
  expect(() => resolveHistoryOptions({ dropout: 1 }, 8)).toThrow(ConfigError);
  expect(() => resolveHistoryOptions({ attention: 'depthwise' }, 8)).toThrow(ConfigError);
  expect(resolveHistoryOptions({}, 8).maxLength).toBeGreaterThan(0);
});

describe('training with the history stage', () => {
  const world = syntheticWorld({ seed: 3, numUsers: 60, numItems: 40, impressions: 3000, validation: false });

  function setup(options: Record<string, unknown>) {
    const config = resolveConfig(world.schema, { dim: 8, hidden: 16, seed: 1, valueWeights: Array.from(world.valueWeights), stages: [{ name: 'history', options }] });
    const model = TwoTowerModel.create(config, world, [historyEncoder]);
    const batches: Batch[] = [];
    for (const b of inMemorySource(world, { batchSize: 64, seed: 0, historyLength: model.historyLength }).batches(0) as Iterable<Batch>) batches.push(b);
    return { model, batches };
  }

  test.each(['plain', 'prenorm'] as const)('no tensor leaks across steps, loss finite (%s, dropout)', (block) => {
    const { model, batches } = setup({ maxLength: 8, heads: 2, layers: 2, block, dropout: 0.1 });
    const trainer = new Trainer(model, { epochs: 1, learningRate: 1e-2, progress: 'none' });
    trainer.step(batches[0]!);
    const before = tf.memory().numTensors;
    for (let s = 1; s < 6; s++) expect(Number.isFinite(trainer.step(batches[s]!).loss)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    trainer.dispose();
    model.dispose();
  });

  test('gradient flows into the item table through history lookups', () => {
    const { model, batches } = setup({ maxLength: 8, heads: 2, layers: 1 });
    const batch = batches[1]!;
    const emb = model.itemEmbedding;
    emb.grads.clear();
    emb.grads.recording = true;
    const vars = [...model.denseVariables(), ...model.embeddings().map((e) => e.anchor)];
    const { value, grads } = tf.variableGrads(() => model.loss(batch).total, vars);
    emb.grads.recording = false;
    const touched = new Set(emb.grads.touched.rows);
    const inHistoryOnly = [...new Set(Array.from(batch.history!).filter((i) => i >= 0))].filter((i) => !batch.item.includes(i));
    expect(inHistoryOnly.length).toBeGreaterThan(0);
    for (const i of inHistoryOnly) expect(touched.has(i)).toBe(true);
    emb.grads.clear();
    value.dispose();
    tf.dispose(Object.values(grads));
    model.dispose();
  });

  test('histories hold only earlier positives of the same user (no future leakage)', () => {
    const log = world.train;
    const T = world.schema.tasks.length;
    const hist = historiesOf(log, world.valueWeights, T, 5);
    for (let r = 0; r < log.size; r += 7) {
      const earlier: number[] = [];
      for (let s = 0; s < r; s++) {
        if (log.user[s] !== log.user[r]) continue;
        let v = 0;
        for (let t = 0; t < T; t++) v += log.labels[s * T + t]! * world.valueWeights[t]!;
        if (v > 0) earlier.push(log.item[s]!);
      }
      const expected = earlier.reverse().slice(0, 5);
      expect(Array.from(hist.subarray(r * 5, r * 5 + expected.length))).toEqual(expected);
      for (let j = expected.length; j < 5; j++) expect(hist[r * 5 + j]).toBe(-1);
    }
  });
});
