/**
 * Ops of the training step as single kernels (runtime/linalg.ts) on the wasm and cpu backends,
 * each with its gradient as kernels of its own, registered with tfjs like its built-in ops:
 *
 * - `denseLayer`: `act(x w + b)`; tfjs's fused matMul differentiates through five to eight ops
 *   (activation mask, two transposed products, a bias sum, reshapes) and always computes every
 *   input's gradient; here each input's gradient is one kernel, run only when the tape needs it
 *   (a first layer's input is data: its gradient is never computed).
 * - `l2NormalizeRows`: `x / sqrt(|x|^2 + 1e-12)` per row, one loop each way instead of ~12 ops.
 * - `softmaxCrossEntropyRows`: the in-batch softmax's per-row cross-entropy from q, the
 *   candidates, a per-column logit bias and masked entries, in one kernel each way (scores, a vectorised exp, the
 *   two gradient products), where tfjs's ops run an elementwise pass per step of the formula.
 *
 * On other backends (tfjs-node), and with `TT_FUSED_OPS=0`, each op is the same formula in tfjs ops.
 */
import * as tf from './tf.js';
import { wasmHeapView, type WasmInternals } from './storage.js';
import { denseBackward, gemm, softmaxRowsBackward, softmaxRowsForward, type LogitTerms } from './linalg.js';

type Info = tf.TensorInfo;
type KernelArgs = Parameters<tf.KernelConfig['kernelFunc']>[0];

interface WasmBackend extends WasmInternals {
  makeOutput(shape: number[], dtype: tf.DataType): Info;
}
interface CpuBackend {
  readSync(dataId: object): ArrayLike<number>;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): Info;
}

const BACKENDS = ['wasm', 'cpu'] as const;
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Output tensors of a kernel and float32 views of its inputs and outputs: on wasm the outputs are
 * allocated first and every view taken after (allocation may grow the heap and detach views).
 */
function kernelIo(args: KernelArgs, inputs: readonly Info[], outShapes: readonly number[][]): { views: Float32Array[]; outs: Info[]; outViews: Float32Array[] } {
  if (tf.getBackend() === 'wasm') {
    const be = args.backend as unknown as WasmBackend;
    const outs = outShapes.map((s) => be.makeOutput(s, 'float32'));
    const view = (t: Info) => wasmHeapView(be, t.dataId, size(t.shape), Float32Array)!;
    return { views: inputs.map(view), outs, outViews: outs.map(view) };
  }
  const be = args.backend as unknown as CpuBackend;
  const outViews = outShapes.map((s) => new Float32Array(size(s)));
  const views = inputs.map((t) => {
    const v = be.readSync(t.dataId);
    return v instanceof Float32Array ? v : Float32Array.from(v);
  });
  return { views, outs: outShapes.map((s, i) => be.makeTensorInfo(s, 'float32', outViews[i]!)), outViews };
}

let registered = false;

/** Registers the kernels and gradients below for wasm and cpu (once). */
function register(): void {
  if (registered) return;
  registered = true;
  const kernel = (kernelName: string, kernelFunc: (args: KernelArgs) => Info | Info[]) => {
    for (const backendName of BACKENDS) if (!tf.getKernel(kernelName, backendName)) tf.registerKernel({ kernelName, backendName, kernelFunc });
  };

  kernel('TtDense', (args) => {
    const { x, w, b } = args.inputs as { x: Info; w: Info; b: Info };
    const relu = (args.attrs as { activation: string }).activation === 'relu';
    const [M, K] = x.shape as [number, number];
    const N = w.shape[1]!;
    const { views, outs, outViews } = kernelIo(args, [x, w, b], [[M, N]]);
    gemm(views[0]!, views[1]!, outViews[0]!, M, K, N, { bias: views[2], relu });
    return outs[0]!;
  });
  // gradients: dy with the layer's output y (for the activation's mask) and x or w
  const denseGrad = (part: 'dx' | 'dw' | 'db') => (args: KernelArgs) => {
    const { dy, y, other } = args.inputs as { dy: Info; y: Info; other?: Info };
    const { activation, inDim } = args.attrs as { activation: string; inDim: number };
    const relu = activation === 'relu';
    const [M, N] = dy.shape as [number, number];
    const K = inDim;
    const outShape = part === 'dx' ? [M, K] : part === 'dw' ? [K, N] : [N];
    const { views, outs, outViews } = kernelIo(args, other ? [dy, y, other] : [dy, y], [outShape]);
    const [dyv, yv, ov] = views;
    denseBackward({ M, K, N, relu }, { dy: dyv!, y: yv, x: part === 'dw' ? ov : undefined, w: part === 'dx' ? ov : undefined }, { [part]: outViews[0] });
    return outs[0]!;
  };
  kernel('TtDenseGradInput', denseGrad('dx'));
  kernel('TtDenseGradWeights', denseGrad('dw'));
  kernel('TtDenseGradBias', denseGrad('db'));
  const gradient = (config: tf.GradConfig) => {
    if (!tf.getGradient(config.kernelName)) tf.registerGradient(config);
  };
  gradient({
    kernelName: 'TtDense',
    inputsToSave: ['x', 'w'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, w, y] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const g = dy as tf.Tensor2D;
      const a = { activation: (attrs as { activation: string }).activation, inDim: x.shape[1] };
      const run = (name: string, inputs: tf.NamedTensorMap) => tf.engine().runKernel(name, inputs, a) as tf.Tensor;
      return {
        x: () => run('TtDenseGradInput', { dy: g, y, other: w }),
        w: () => run('TtDenseGradWeights', { dy: g, y, other: x }),
        b: () => run('TtDenseGradBias', { dy: g, y }),
      };
    },
  });

  kernel('TtL2Normalize', (args) => {
    const { x } = args.inputs as { x: Info };
    const [n, d] = x.shape as [number, number];
    const { views, outs, outViews } = kernelIo(args, [x], [[n, d]]);
    const xs = views[0]!;
    const y = outViews[0]!;
    for (let r = 0; r < n; r++) {
      let s = 0;
      for (let k = r * d; k < (r + 1) * d; k++) s += xs[k]! * xs[k]!;
      const inv = 1 / Math.sqrt(s + 1e-12);
      for (let k = r * d; k < (r + 1) * d; k++) y[k] = xs[k]! * inv;
    }
    return outs[0]!;
  });
  // dx = (dy - y (y . dy)) / |x|, from x and dy
  kernel('TtL2NormalizeGrad', (args) => {
    const { dy, x } = args.inputs as { dy: Info; x: Info };
    const [n, d] = x.shape as [number, number];
    const { views, outs, outViews } = kernelIo(args, [dy, x], [[n, d]]);
    const [g, xs] = views as [Float32Array, Float32Array];
    const dx = outViews[0]!;
    for (let r = 0; r < n; r++) {
      let s = 0;
      let dot = 0;
      for (let k = r * d; k < (r + 1) * d; k++) {
        s += xs[k]! * xs[k]!;
        dot += xs[k]! * g[k]!;
      }
      const inv = 1 / Math.sqrt(s + 1e-12);
      const f = dot * inv * inv;
      for (let k = r * d; k < (r + 1) * d; k++) dx[k] = inv * (g[k]! - xs[k]! * f);
    }
    return outs[0]!;
  });
  gradient({
    kernelName: 'TtL2Normalize',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({ x: () => tf.engine().runKernel('TtL2NormalizeGrad', { dy: dy as tf.Tensor, x: saved[0]! }) as tf.Tensor }),
  });
}

/**
 * Whether the backend in use runs the kernels here (else each op falls back to tfjs ops);
 * `TT_FUSED_OPS=0` turns them off, to compare against tfjs's own ops.
 */
function fast(): boolean {
  const name = tf.getBackend();
  if ((name !== 'wasm' && name !== 'cpu') || process.env['TT_FUSED_OPS'] === '0') return false;
  register();
  return true;
}

/**
 * A dense layer `act(x w + b)`, differentiable in all three.
 * @param x `[n, K]`
 * @param w `[K, N]`
 * @param b `[N]`
 * @returns `[n, N]`, a new tensor
 */
export function denseLayer(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, activation: 'linear' | 'relu'): tf.Tensor2D {
  if (!fast() || x.dtype !== 'float32') return tf.fused.matMul({ a: x, b: w, bias: b, activation }) as tf.Tensor2D;
  return tf.engine().runKernel('TtDense', { x, w, b }, { activation }) as tf.Tensor2D;
}

/**
 * Rows scaled to unit length: `x / sqrt(sum(x^2) + 1e-12)` per row, differentiable.
 * @param x `[n, d]`
 * @returns `[n, d]`, a new tensor
 */
export function l2NormalizeRows(x: tf.Tensor2D): tf.Tensor2D {
  if (!fast() || x.dtype !== 'float32') return tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), 1, true), 1e-12))) as tf.Tensor2D;
  return tf.engine().runKernel('TtL2Normalize', { x }) as tf.Tensor2D;
}

/**
 * Per-row in-batch softmax cross-entropy: logits `s = scale * q c^T + columnBias`, masked entries
 * -1e9, and for row r `logsumexp(s[r]) - s[r, r]` (row r's positive is candidate r).
 * Differentiable in `q` and `c`.
 * @param q `[B, D]` queries
 * @param c `[C, D]` candidates, C >= B: the batch's own items first
 * @param terms `columnBias [C]` (logQ corrections) and the flat indices `r * C + j` of masked
 *   logits (accidental hits), rows ascending; constants
 * @returns `[B]`, a new tensor
 */
export function softmaxCrossEntropyRows(q: tf.Tensor2D, c: tf.Tensor2D, terms: LogitTerms, scale: number): tf.Tensor1D {
  const [B, D] = q.shape;
  const C = c.shape[0];
  if (!fast()) {
    return tf.tidy(() => {
      const bias = new Float32Array(B * C);
      for (let r = 0; r < B; r++) bias.set(terms.columnBias, r * C);
      for (const k of terms.masked) bias[k] = -1e9;
      const logits = tf.add(tf.mul(tf.matMul(q, c, false, true), scale), tf.tensor2d(bias, [B, C]));
      const diagonal = Float32Array.from({ length: B }, (_, i) => bias[i * C + i]!);
      const positive = tf.add(tf.mul(tf.sum(tf.mul(q, tf.slice(c, [0, 0], [B, D])), 1), scale), tf.tensor1d(diagonal));
      return tf.sub(tf.logSumExp(logits, 1), positive) as tf.Tensor1D;
    });
  }
  const op = tf.customGrad(((qT: tf.Tensor2D, cT: tf.Tensor2D, save: (ts: tf.Tensor[]) => void) => {
    const ce = new Float32Array(B);
    const state = softmaxRowsForward(storageOf(qT), storageOf(cT), terms, ce, B, C, D, scale);
    save([qT, cT]);
    return {
      value: tf.tensor1d(ce),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const { dq, dc } = softmaxRowsBackward(state, storageOf(dy), storageOf(saved[0]!), storageOf(saved[1]!), B, C, D, scale);
        // wasm copies a tensor's values into its heap; the cpu backend keeps the array, so it gets a copy
        const own = (x: Float32Array) => (tf.getBackend() === 'wasm' ? x : x.slice());
        return [tf.tensor2d(own(dq), [B, D]), tf.tensor2d(own(dc), [C, D])];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (op as unknown as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor1D)(q, c);
}

/** The values of a float32 tensor on wasm or cpu, without a copy where the backend allows. */
function storageOf(t: tf.Tensor): Float32Array {
  if (tf.getBackend() === 'wasm') return wasmHeapView(tf.backend() as unknown as WasmInternals, t.dataId, t.size, Float32Array)!;
  const v = (tf.backend() as unknown as CpuBackend).readSync(t.dataId);
  return v instanceof Float32Array ? v : Float32Array.from(v);
}
