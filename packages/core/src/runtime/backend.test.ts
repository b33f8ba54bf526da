import * as tf from './tf.js';
import { ConfigError, initBackend, describeBackend, stopGradient } from '../index.js';
import { selfTestPatch, type KernelPatch } from './kernel-patches.js';

function jsMatMulT(a: number[][], b: number[][]): number[][] {
  // a [m,k] x b^T where b is [n,k]
  return a.map((row) => b.map((col) => row.reduce((s, x, i) => s + x * (col[i] as number), 0)));
}

describe('initBackend', () => {
  const lines: string[] = [];
  afterAll(() => initBackend({ backend: 'wasm', log: false }));

  it('picks wasm here (tfjs-node cannot install), with every patch active, and says so in one line', async () => {
    const info = await initBackend({ backend: undefined, log: (l) => lines.push(l) });
    expect(tf.getBackend()).toBe(info.name);
    expect(info.name).toBe(process.env['TT_BACKEND'] || 'wasm');
    if (info.name === 'wasm') {
      expect(info.skipped[0]).toMatch(/^tensorflow: /);
      expect(info.tfjsNode).toBe('absent'); // not in this repo's lockfile
      expect([...info.patches].sort()).toEqual(['BatchMatMul@wasm', 'GatherV2@wasm', 'Identity@wasm', 'Sum@wasm', 'Transpose@wasm', 'UnsortedSegmentSum@wasm', '_FusedMatMul@wasm']);
      expect(info.disabledPatches).toEqual([]);
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(describeBackend(info));
    expect(lines[0]).toMatch(/^\[tt\] backend: \w+ \| patches: /);
  });

  it('tells an absent tfjs-node from one that is installed but does not load (its install script skipped or failed)', () => {
    const base = { name: 'wasm' as const, patches: [], disabledPatches: [] };
    expect(describeBackend({ ...base, skipped: ["tensorflow: Cannot find module '@tensorflow/tfjs-node'"], tfjsNode: 'absent' })).toMatch(/install @tensorflow\/tfjs-node@4.22.0 for native speed$/);
    const broken = describeBackend({ ...base, skipped: ["tensorflow: Cannot find module '/app/node_modules/@tensorflow/tfjs-node/lib/napi-v8/tfjs_binding.node'"], tfjsNode: 'broken' });
    expect(broken).toContain('@tensorflow/tfjs-node is installed but does not load (Cannot find module');
    expect(broken).toContain('npm rebuild @tensorflow/tfjs-node');
    expect(broken).not.toContain('for native speed');
  });

  it('returns the same promise when called again with the same choice', async () => {
    const a = initBackend({ log: false });
    expect(initBackend({ log: false })).toBe(a);
    await a;
  });

  it('honours TT_BACKEND and rejects an unknown one', async () => {
    const saved = process.env['TT_BACKEND'];
    try {
      process.env['TT_BACKEND'] = 'cpu';
      const info = await initBackend({ log: false });
      expect(info.name).toBe('cpu');
      expect(info.patches).toEqual(['UnsortedSegmentSum@cpu']);
      process.env['TT_BACKEND'] = 'gpu-please';
      await expect(initBackend({ log: false })).rejects.toBeInstanceOf(ConfigError);
    } finally {
      if (saved === undefined) delete process.env['TT_BACKEND'];
      else process.env['TT_BACKEND'] = saved;
    }
  });

  it.each(['wasm', 'cpu'] as const)('patched %s computes transposed products, gathers and their gradients correctly', async (name) => {
    await initBackend({ backend: name, log: false });
    const a = [[1, 2, 3], [4, 5, 6]];
    const b = [[1, 0, 1], [2, 1, 0], [0, 0, 1], [1, 1, 1]];
    const got = tf.tidy(() => tf.matMul(tf.tensor2d(a), tf.tensor2d(b), false, true).arraySync());
    expect(got).toEqual(jsMatMulT(a, b));
    // the embedding gradient: stock tf.gather's gradient is UnsortedSegmentSum (missing on stock wasm)
    const table = tf.variable(tf.tensor2d([[1, 1], [2, 2], [3, 3]]));
    const ids = tf.tensor1d([2, 0, 2], 'int32');
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.gather(t, ids)))(table);
    expect(g.arraySync()).toEqual([[1, 1], [0, 0], [2, 2]]);
    tf.dispose([table, ids, g]);
  });

  it("wasm's a^T b kernel and leading-axis sums equal the stock kernels (dense layer weight and bias gradients)", async () => {
    await initBackend({ backend: 'wasm', log: false });
    // K over one cache block (256 rows), M and N with SIMD tiles and remainders
    const [K, M, N] = [700, 13, 21];
    const x = tf.randomNormal([K, M], 0, 1, 'float32', 1);
    const dy = tf.randomNormal([K, N], 0, 1, 'float32', 2);
    const patched = tf.tidy(() => tf.matMul(x, dy, true, false).dataSync());
    const byTranspose = tf.tidy(() => tf.matMul(tf.transpose(x), dy).dataSync());
    expect(patched.length).toBe(M * N);
    patched.forEach((v, i) => expect(v).toBeCloseTo(byTranspose[i]!, 4));
    // a product large enough to be split over the kernel threads
    const [K2, M2, N2] = [4096, 37, 64];
    const x2 = tf.randomNormal([K2, M2], 0, 1, 'float32', 5);
    const dy2 = tf.randomNormal([K2, N2], 0, 1, 'float32', 6);
    const split = tf.tidy(() => tf.matMul(x2, dy2, true, false).dataSync());
    const whole = tf.tidy(() => tf.matMul(tf.transpose(x2), dy2).dataSync());
    split.forEach((v, i) => expect(v).toBeCloseTo(whole[i]!, 3));
    tf.dispose([x2, dy2]);
    // batch-1 3-D operands keep their leading 1
    expect(tf.tidy(() => tf.matMul(tf.reshape(x, [1, K, M]), tf.reshape(dy, [1, K, N]), true, false).shape)).toEqual([1, M, N]);
    // the gradient of a fused dense layer (weights through a^T b, bias through the column sum)
    const w = tf.randomNormal([M, N], 0, 1, 'float32', 3);
    const bias = tf.randomNormal([N], 0, 1, 'float32', 4);
    const [gw, gb] = tf.grads((wt: tf.Tensor, bt: tf.Tensor) => tf.sum(tf.mul(tf.fused.matMul({ a: x as tf.Tensor2D, b: wt as tf.Tensor2D, bias: bt }), dy)))([w, bias]);
    const sums = tf.tidy(() => tf.matMul(tf.ones([1, K]), dy).dataSync());
    gb!.dataSync().forEach((v, i) => expect(v).toBeCloseTo(sums[i]!, 3));
    gw!.dataSync().forEach((v, i) => expect(v).toBeCloseTo(byTranspose[i]!, 4));
    // sums over leading axes, kept or not, and the inner-axis fallback
    const t = tf.reshape(dy, [7, 100, N]);
    const kept = tf.sum(t, [0, 1], true);
    expect(kept.shape).toEqual([1, 1, N]);
    kept.dataSync().forEach((v, i) => expect(v).toBeCloseTo(sums[i]!, 3));
    expect(tf.sum(t, 0).shape).toEqual([100, N]);
    const inner = tf.tidy(() => tf.sum(t, 2).dataSync());
    const dyv = dy.dataSync() as Float32Array;
    for (let r = 0; r < 700; r += 97) expect(inner[r]).toBeCloseTo(dyv.subarray(r * N, (r + 1) * N).reduce((a, b) => a + b, 0), 4);
    tf.dispose([x, dy, w, bias, gw!, gb!, t, kept]);
  });

  it('a patch that disagrees with the reference fails its self-test', async () => {
    await initBackend({ backend: 'wasm', log: false });
    const wrong: KernelPatch = (() => {
      const orig = tf.getKernel('GatherV2', 'wasm');
      return {
        name: 'GatherV2@wasm',
        backend: 'wasm',
        apply() {
          tf.unregisterKernel('GatherV2', 'wasm');
          tf.registerKernel({ ...orig, kernelFunc: (args) => orig.kernelFunc({ ...args, inputs: { ...args.inputs, indices: args.inputs['indices']! }, attrs: { ...args.attrs, axis: 1 } }) });
        },
        revert() {
          tf.unregisterKernel('GatherV2', 'wasm');
          tf.registerKernel(orig);
        },
      };
    })();
    wrong.apply();
    try {
      expect(selfTestPatch(wrong)).toBe(false);
    } finally {
      wrong.revert();
    }
  });
});

describe('stopGradient', () => {
  it('passes values and blocks the gradient: d/dx [x * sg(x)] = x', async () => {
    await initBackend({ backend: 'wasm', log: false });
    const x = tf.tensor1d([1, -2, 3]);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(v, stopGradient(v))))(x);
    expect(Array.from(g.dataSync())).toEqual([1, -2, 3]);
    const before = tf.memory().numTensors;
    const y = stopGradient(x);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(Array.from(y.dataSync())).toEqual([1, -2, 3]);
    tf.dispose([x, g, y]);
  });
});
