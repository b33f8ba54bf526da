/**
 * Kernel patches for the tfjs wasm and cpu backends (RUNTIME.md sections 1-2 and 7).
 *
 * - `UnsortedSegmentSum` (wasm: missing; cpu: one tensor op per segment, ~24 s per embedding
 *   gradient): a typed-array kernel (SIMD on wasm), so the stock `tf.gather` gradient works and is fast.
 * - wasm `BatchMatMul` / `_FusedMatMul`: XNNPACK runs only untransposed batch-1 products and
 *   every gradient product is transposed; transposing first keeps them on the fast path (~10x).
 * - wasm `BatchMatMul` with `a` transposed (a dense layer's weight gradient, x^T dy) or `b`
 *   transposed (scores `q v^T`, input gradients `dy w^T`), with `_FusedMatMul`'s bias and relu:
 *   our own SIMD kernels (kernels/linalg.c), split over threads. XNNPACK repacks the whole
 *   `[K, N]` operand on every call, which costs 3x the product itself at K = 25,600 rows.
 * - wasm `Sum` over leading axes (bias gradients): a SIMD column sum; the stock kernel transposes.
 * - wasm `GatherV2`: row copies on heap views instead of the generic kernel (~28x).
 * - wasm `Transpose` by the identity permutation (two per gather gradient): shares storage too.
 * - wasm `Identity` (`tf.clone`, and every tensor a gradient saves for the backward pass): shares
 *   the storage by reference count, as wasm's own Reshape does and the cpu backend's Identity,
 *   instead of copying it (a history step saved ~100 tensors of up to 13 MB each).
 *
 * Each patch is an override registered with `tf.registerKernel` that falls back to the original
 * kernel for cases it does not handle, and each is checked by a self-test against values computed
 * in plain JavaScript; a patch that disagrees is removed again (the original kernel restored).
 */
import * as tf from './tf.js';
import { gemm, gemmTransposedA, linalg } from './linalg.js';
import { wasmHeapView, type WasmInternals } from './storage.js';

type KernelFunc = tf.KernelConfig['kernelFunc'];
type KernelArgs = Parameters<KernelFunc>[0];
type Info = tf.TensorInfo;

/** The parts of the wasm backend's internals the patches use (tfjs-backend-wasm 4.22). */
interface WasmBackendInternals extends WasmInternals {
  makeOutput(shape: number[], dtype: tf.DataType): Info;
  disposeData(id: object): boolean;
}

/** A kernel override and how to undo it. */
export interface KernelPatch {
  readonly name: string;
  readonly backend: string;
  apply(): void;
  revert(): void;
}

function override(kernelName: string, backend: string, make: (orig: tf.KernelConfig | undefined) => KernelFunc): KernelPatch {
  let original: tf.KernelConfig | undefined;
  return {
    name: `${kernelName}@${backend}`,
    backend,
    apply() {
      original = tf.getKernel(kernelName, backend);
      if (original) tf.unregisterKernel(kernelName, backend);
      tf.registerKernel({ kernelName, backendName: backend, setupFunc: original?.setupFunc, kernelFunc: make(original) });
    },
    revert() {
      tf.unregisterKernel(kernelName, backend);
      if (original) tf.registerKernel(original);
    },
  };
}

const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/**
 * UnsortedSegmentSum: sums rows of x into numSegments rows by segment id (the gradient of a
 * gather); float32 on wasm through the SIMD kernel, everything else in typed arrays.
 */
export function unsortedSegmentSumPatch(backend: string): KernelPatch {
  return override('UnsortedSegmentSum', backend, () => (args: KernelArgs) => {
    const { x, segmentIds } = args.inputs as { x: Info; segmentIds: Info };
    const numSegments = (args.attrs as { numSegments: number }).numSegments;
    const inner = product(x.shape.slice(segmentIds.shape.length));
    const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
    const rows = product(segmentIds.shape);
    if (backend === 'wasm' && x.dtype === 'float32' && segmentIds.dtype === 'int32') {
      const be = args.backend as unknown as WasmBackendInternals;
      const out = be.makeOutput(outShape, 'float32');
      const [xo, io, oo] = linalg.layout([rows * inner, rows, numSegments * inner]);
      linalg.view(xo, rows * inner).set(heapView(be, x));
      linalg.int32View(io, rows).set(wasmHeapView(be, segmentIds.dataId, rows, Int32Array)!);
      linalg.exports.segment_sum(rows, inner, xo, io, numSegments, oo);
      heapView(be, out).set(linalg.view(oo, numSegments * inner));
      return out;
    }
    const be = args.backend as unknown as { readSync(id: object): ArrayLike<number>; write(values: Float32Array | Int32Array, shape: number[], dtype: tf.DataType): object };
    const xv = be.readSync(x.dataId);
    const ids = be.readSync(segmentIds.dataId);
    const out = x.dtype === 'int32' ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
    for (let r = 0; r < ids.length; r++) {
      const s = ids[r] as number;
      if (s < 0 || s >= numSegments) continue; // as the reference kernel: out-of-range ids are dropped
      const o = s * inner;
      const i = r * inner;
      for (let k = 0; k < inner; k++) out[o + k] = (out[o + k] as number) + (xv[i + k] as number);
    }
    return { dataId: be.write(out, outShape, x.dtype), shape: outShape, dtype: x.dtype };
  });
}

/** A float32 view of a wasm-backend tensor info's whole storage; take it after any allocation. */
function heapView(be: WasmBackendInternals, t: Info): Float32Array {
  return wasmHeapView(be, t.dataId, product(t.shape), Float32Array)!;
}

/** Most floats a product may stage in the kernel module (its memory never shrinks): 256 MB. */
const STAGED_MAX = 1 << 26;

/** `a^T b` for batch-1 float32 `a [.., K, M]`, `b [.., K, N]` on the linalg module. */
function matMulTransposedA(be: WasmBackendInternals, a: Info, b: Info): Info {
  const [K, M] = a.shape.slice(-2) as [number, number];
  const N = b.shape[b.shape.length - 1]!;
  const batch = (a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2);
  const out = be.makeOutput([...batch, M, N], 'float32');
  gemmTransposedA(heapView(be, a), heapView(be, b), heapView(be, out), K, M, N);
  return out;
}

/** `act(a b^T + bias)` for batch-1 float32 `a [.., M, K]`, `b [.., N, K]` on the linalg module. */
function matMulTransposedB(be: WasmBackendInternals, a: Info, b: Info, bias: Info | undefined, relu: boolean): Info {
  const [M, K] = a.shape.slice(-2) as [number, number];
  const N = b.shape[b.shape.length - 2]!;
  const batch = (a.shape.length >= b.shape.length ? a.shape : b.shape).slice(0, -2);
  const out = be.makeOutput([...batch, M, N], 'float32');
  gemm(heapView(be, a), heapView(be, b), heapView(be, out), M, K, N, { transB: true, bias: bias && heapView(be, bias), relu });
  return out;
}

/**
 * wasm matmul: `a^T b` and `a b^T` (with a fused bias and relu) on our threaded kernels; other
 * transposed products are transposed explicitly, then run on the untransposed (XNNPACK) kernel,
 * which keeps untransposed products (it caches packed weights across calls).
 */
export function wasmMatMulPatches(): KernelPatch[] {
  return ['BatchMatMul', '_FusedMatMul'].map((kernelName) =>
    override(kernelName, 'wasm', (orig) => {
      if (!orig) throw new Error(`${kernelName} is not registered for wasm`);
      const transpose = tf.getKernel('Transpose', 'wasm')!.kernelFunc;
      return (args: KernelArgs) => {
        const inputs = args.inputs as { a: Info; b: Info; bias?: Info; preluActivationWeights?: Info };
        const attrs = args.attrs as { transposeA: boolean; transposeB: boolean; activation?: string };
        const { a, b } = inputs;
        const batchOne = product(a.shape.slice(0, -2)) === 1 && product(b.shape.slice(0, -2)) === 1;
        if ((!attrs.transposeA && !attrs.transposeB) || !batchOne) return orig.kernelFunc(args);
        const be = args.backend as unknown as WasmBackendInternals;
        const f32 = a.dtype === 'float32' && b.dtype === 'float32';
        const outer = (t: Info, transposed: boolean) => t.shape[t.shape.length - (transposed ? 1 : 2)]!;
        const staged = product(a.shape) + 2 * product(b.shape) + outer(a, attrs.transposeA) * outer(b, !attrs.transposeB);
        if (f32 && staged <= STAGED_MAX && kernelName === 'BatchMatMul' && attrs.transposeA && !attrs.transposeB) {
          return matMulTransposedA(be, a, b);
        }
        const activation = attrs.activation ?? 'linear';
        const bias = inputs.bias;
        const n = b.shape[b.shape.length - 2]!;
        const simpleBias = !bias || (bias.dtype === 'float32' && product(bias.shape) === n && bias.shape[bias.shape.length - 1] === n);
        if (f32 && staged <= STAGED_MAX && !attrs.transposeA && attrs.transposeB && simpleBias && !inputs.preluActivationWeights && (activation === 'linear' || activation === 'relu')) {
          return matMulTransposedB(be, a, b, bias, activation === 'relu');
        }
        const swapLast = (rank: number) => [...Array(rank - 2).keys(), rank - 1, rank - 2];
        const temps: Info[] = [];
        const flip = (t: Info) => {
          const r = transpose({ inputs: { x: t }, backend: args.backend, attrs: { perm: swapLast(t.shape.length) } }) as Info;
          temps.push(r);
          return r;
        };
        const a2 = attrs.transposeA ? flip(a) : a;
        const b2 = attrs.transposeB ? flip(b) : b;
        const out = orig.kernelFunc({
          ...args,
          inputs: { ...args.inputs, a: a2, b: b2 },
          attrs: { ...args.attrs, transposeA: false, transposeB: false },
        });
        temps.forEach((t) => be.disposeData(t.dataId));
        return out;
      };
    }),
  );
}

/** wasm Sum over leading axes of a float32 tensor (bias gradients) as a SIMD column sum; other cases fall back. */
export function wasmSumPatch(): KernelPatch {
  return override('Sum', 'wasm', (orig) => {
    if (!orig) throw new Error('Sum is not registered for wasm');
    return (args: KernelArgs) => {
      const { x } = args.inputs as { x: Info };
      const attrs = args.attrs as { axis: number | number[]; keepDims: boolean };
      const rank = x.shape.length;
      const axes = [...new Set((Array.isArray(attrs.axis) ? attrs.axis : [attrs.axis]).map((a) => (a < 0 ? a + rank : a)))].sort((p, q) => p - q);
      const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
      if (!leading || x.dtype !== 'float32') return orig.kernelFunc(args);
      const be = args.backend as unknown as WasmBackendInternals;
      const K = product(x.shape.slice(0, axes.length));
      const N = product(x.shape.slice(axes.length));
      const outShape = attrs.keepDims ? [...axes.map(() => 1), ...x.shape.slice(axes.length)] : x.shape.slice(axes.length);
      const out = be.makeOutput(outShape, 'float32');
      const [xo, oo] = linalg.layout([K * N, N]);
      linalg.view(xo, K * N).set(heapView(be, x));
      linalg.exports.colsum(K, N, xo, oo);
      heapView(be, out).set(linalg.view(oo, N));
      return out;
    };
  });
}

/** wasm GatherV2 for the embedding case (axis 0, float32 2-D table); other cases fall back. */
export function wasmGatherPatch(): KernelPatch {
  return override('GatherV2', 'wasm', (orig) => {
    if (!orig) throw new Error('GatherV2 is not registered for wasm');
    return (args: KernelArgs) => {
      const { x, indices } = args.inputs as { x: Info; indices: Info };
      const attrs = args.attrs as { axis: number; batchDims?: number };
      const axis = attrs.axis < 0 ? attrs.axis + x.shape.length : attrs.axis;
      if (axis !== 0 || (attrs.batchDims ?? 0) !== 0 || x.dtype !== 'float32' || x.shape.length !== 2) {
        return orig.kernelFunc(args);
      }
      const be = args.backend as unknown as WasmBackendInternals;
      const [rows, dim] = x.shape as [number, number];
      const count = product(indices.shape);
      const out = be.makeOutput([...indices.shape, dim], 'float32'); // allocate first: the heap may grow
      const heap = be.wasm.HEAPU8.buffer; // then take views
      const src = new Float32Array(heap, be.dataIdMap.get(x.dataId)!.memoryOffset, rows * dim);
      const io = be.dataIdMap.get(indices.dataId)!.memoryOffset;
      const idx = indices.dtype === 'int32' ? new Int32Array(heap, io, count) : new Float32Array(heap, io, count);
      const dst = new Float32Array(heap, be.dataIdMap.get(out.dataId)!.memoryOffset, count * dim);
      for (let r = 0; r < count; r++) {
        const i = idx[r] as number;
        if (i < 0 || i >= rows) dst.fill(0, r * dim, (r + 1) * dim);
        else dst.set(src.subarray(i * dim, (i + 1) * dim), r * dim);
      }
      return out;
    };
  });
}

/** wasm Transpose with the identity permutation (tfjs's gather gradient makes two per lookup): shares storage; others fall back. */
export function wasmTransposePatch(): KernelPatch {
  return override('Transpose', 'wasm', (orig) => {
    if (!orig) throw new Error('Transpose is not registered for wasm');
    return (args: KernelArgs) => {
      const { x } = args.inputs as { x: Info };
      const { perm } = args.attrs as { perm: number[] };
      if (x.dtype === 'string' || !perm.every((p, i) => p === i)) return orig.kernelFunc(args);
      (args.backend as unknown as { incRef(id: object): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    };
  });
}

/** wasm Identity: the same storage under a second reference (tensors are immutable). */
export function wasmIdentityPatch(): KernelPatch {
  return override('Identity', 'wasm', (orig) => {
    if (!orig) throw new Error('Identity is not registered for wasm');
    return (args: KernelArgs) => {
      const { x } = args.inputs as { x: Info };
      if (x.dtype === 'string') return orig.kernelFunc(args);
      (args.backend as unknown as { incRef(id: object): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    };
  });
}

// ---- self-tests: each patched op against values computed in plain JavaScript

function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

function jsMatMul(a: Float32Array, b: Float32Array, m: number, k: number, n: number, ta: boolean, tb: boolean): Float32Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (a[ta ? p * m + i : i * k + p] as number) * (b[tb ? j * k + p : p * n + j] as number);
      out[i * n + j] = s;
    }
  return out;
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-4): boolean {
  if (actual.length !== expected.length) return false;
  for (let i = 0; i < actual.length; i++) if (!(Math.abs((actual[i] as number) - (expected[i] as number)) <= tol)) return false;
  return true;
}

/** Runs the check of one patch on the current backend; true when it agrees with the reference. */
export function selfTestPatch(patch: KernelPatch): boolean {
  try {
    return tf.tidy(() => {
      const kernel = patch.name.split('@')[0];
      if (kernel === 'UnsortedSegmentSum') {
        // 6 columns: one SIMD block and a remainder; id 5 is out of range and dropped
        const x = seeded(24, 1);
        const ids = [2, 0, 2, 5];
        const want = new Float32Array(4 * 6);
        ids.forEach((s, r) => {
          if (s < 4) for (let k = 0; k < 6; k++) want[s * 6 + k]! += x[r * 6 + k]!;
        });
        const got = tf.unsortedSegmentSum(tf.tensor2d(x, [4, 6]), tf.tensor1d(ids, 'int32'), 4).dataSync();
        return close(got, want, 1e-6);
      }
      if (kernel === 'GatherV2') {
        const table = seeded(6 * 4, 2);
        const ids = [5, 0, 3, 3, 1, 0];
        const got = tf.gather(tf.tensor2d(table, [6, 4]), tf.tensor2d(ids, [2, 3], 'int32')).dataSync();
        const want = Float32Array.from(ids.flatMap((i) => Array.from(table.subarray(i * 4, i * 4 + 4))));
        return close(got, want, 0);
      }
      if (kernel === 'Transpose') {
        const x = tf.tensor2d(seeded(6, 8), [2, 3]);
        const same = tf.transpose(x, [0, 1]);
        const flipped = tf.transpose(x, [1, 0]).dataSync();
        const v = x.dataSync();
        return close(same.dataSync(), v, 0) && close(flipped, [v[0]!, v[3]!, v[1]!, v[4]!, v[2]!, v[5]!], 0);
      }
      if (kernel === 'Identity') {
        // a clone outlives its source and the source its clone
        const values = seeded(10, 7);
        const a = tf.tensor1d(values);
        const b = tf.clone(a);
        a.dispose();
        const c = tf.clone(b);
        const ok = close(b.dataSync(), values, 0);
        b.dispose();
        return ok && close(c.dataSync(), values, 0);
      }
      if (kernel === 'Sum') {
        // leading axes (the patched case, with a remainder column) and an inner axis (the fallback)
        const x = seeded(3 * 100 * 5, 6);
        const want = new Float32Array(5);
        const inner = new Float32Array(3 * 100);
        for (let r = 0; r < 300; r++)
          for (let c = 0; c < 5; c++) {
            want[c]! += x[r * 5 + c]!;
            inner[r]! += x[r * 5 + c]!;
          }
        const t = tf.tensor3d(x, [3, 100, 5]);
        const kept = tf.sum(t, [1, 0], true);
        return close(kept.dataSync(), want) && kept.shape.join() === '1,1,5' && close(tf.sum(t, 2).dataSync(), inner);
      }
      // BatchMatMul / _FusedMatMul: every transpose combination, with bias + relu for the fused one;
      // the larger shape runs our a^T b kernel's SIMD tiles, remainders and K blocks
      for (const [m, k, n] of [[5, 7, 3], [9, 300, 19]] as const) {
        const a = seeded(m * k, 3);
        const b = seeded(k * n, 4);
        const bias = seeded(n, 5);
        for (const ta of [false, true])
          for (const tb of [false, true]) {
            const at = tf.tensor2d(a, ta ? [k, m] : [m, k]);
            const bt = tf.tensor2d(b, tb ? [n, k] : [k, n]);
            const ref = jsMatMul(a, b, m, k, n, ta, tb);
            if (kernel === 'BatchMatMul') {
              if (!close(tf.matMul(at, bt, ta, tb).dataSync(), ref)) return false;
            } else {
              const want = ref.map((v, i) => Math.max(0, v + (bias[i % n] as number)));
              const got = tf.fused.matMul({ a: at, b: bt, transposeA: ta, transposeB: tb, bias: tf.tensor1d(bias), activation: 'relu' });
              if (!close(got.dataSync(), want)) return false;
            }
          }
      }
      return true;
    });
  } catch {
    return false;
  }
}
