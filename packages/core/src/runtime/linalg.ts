/**
 * Dense products and the in-batch softmax on the project's own WebAssembly SIMD module
 * (kernels/linalg.c), split over threads, for typed arrays (views of tensors' storage).
 *
 * Each function copies its inputs into the module, runs, and copies the results out: a few
 * microseconds per 100 KB, small beside the products. Threads split rows of the output and never
 * a sum, so a result has the same bits whatever the thread count (`TT_KERNEL_THREADS`).
 */
import { LINALG_WASM_BASE64 } from './linalg-wasm.js';
import { WasmKernelModule } from './wasm-kernels.js';

/** The module's exports (byte offsets for pointers). */
export interface LinalgKernels {
  matmul_tn(K: number, M: number, N: number, m0: number, m1: number, a: number, b: number, out: number): void;
  colsum(K: number, N: number, a: number, out: number): void;
  segment_sum(rows: number, dim: number, x: number, ids: number, numSegments: number, out: number): void;
  pack_b(K: number, N: number, b: number, ldb: number, trans: number, out: number): void;
  gemm(N: number, K: number, m0: number, m1: number, a: number, lda: number, bp: number, c: number, ldc: number, bias: number, relu: number): void;
  softmax_rows_forward(C: number, D: number, r0: number, r1: number, q: number, cp: number, colbias: number, masked: number, mstart: number,
    scale: number, e: number, rowmax: number, rowsum: number, positive: number): void;
  softmax_rows_backward(C: number, D: number, r0: number, r1: number, e: number, rowsum: number, dy: number, scale: number, cp: number, dq: number): void;
  relu_mask(n: number, dy: number, y: number, out: number): void;
  adam_update(n: number, w: number, g: number, m: number, v: number, b1: number, b2: number, step: number, eps: number): void;
}

/** The module, shared by every caller (one set of worker threads). */
export const linalg = new WasmKernelModule<LinalgKernels>(LINALG_WASM_BASE64);

/** Below this many multiply-adds a product runs on the calling thread: a wake-up costs ~50 us. */
const PARALLEL_MIN = 1 << 20;

/** `[r0, r1)` of part `p` of `parts` over `rows` rows, in multiples of `align`. */
function splitRows(rows: number, parts: number, align: number): (p: number) => [number, number] {
  const at = (p: number) => Math.min(rows, align * Math.ceil((p * rows) / parts / align));
  return (p) => [at(p), at(p + 1)];
}

/** How many parts a product of `rows` output rows and `work` multiply-adds is split into. */
function partsFor(rows: number, work: number, align: number): number {
  return work >= PARALLEL_MIN ? Math.max(1, Math.min(linalg.threads, Math.ceil(rows / align))) : 1;
}

/** The panels' length of `pack_b` for a `[K, N]` operand. */
const packedLength = (K: number, N: number) => Math.ceil(N / 8) * 8 * K;

/** Options of {@link gemm}. */
export interface GemmOptions {
  /** `b` is `[N, K]`, used transposed */
  readonly transB?: boolean;
  /** `[N]`, added to every row */
  readonly bias?: Float32Array;
  /** max(0, .) after the bias */
  readonly relu?: boolean;
}

/** `out [M, N] = a [M, K] b [K, N] (+ bias) (relu)`, or `a b^T` for `b [N, K]` with `transB`. */
export function gemm(a: Float32Array, b: Float32Array, out: Float32Array, M: number, K: number, N: number, options: GemmOptions = {}): void {
  const { transB = false, bias, relu = false } = options;
  const [ao, bo, po, oo, biaso] = linalg.layout([M * K, K * N, packedLength(K, N), M * N, bias ? N : 0]);
  linalg.view(ao, M * K).set(a);
  linalg.view(bo, K * N).set(b);
  if (bias) linalg.view(biaso, N).set(bias);
  linalg.exports.pack_b(K, N, bo, transB ? K : N, transB ? 1 : 0, po);
  const parts = partsFor(M, M * K * N, 6);
  const rows = splitRows(M, parts, 6);
  linalg.parallel('gemm', parts, (p) => [N, K, ...rows(p), ao, K, po, oo, N, bias ? biaso : 0, relu ? 1 : 0]);
  out.set(linalg.view(oo, M * N));
}

/** `out [M, N] = a^T b` for `a [K, M]`, `b [K, N]` (K large: a dense layer's weight gradient). */
export function gemmTransposedA(a: Float32Array, b: Float32Array, out: Float32Array, K: number, M: number, N: number): void {
  const [ao, bo, oo] = linalg.layout([K * M, K * N, M * N]);
  linalg.view(ao, K * M).set(a);
  linalg.view(bo, K * N).set(b);
  tn(K, M, N, ao, bo, oo);
  out.set(linalg.view(oo, M * N));
}

/** `a^T b` on module buffers, output rows split over threads (in fours). */
function tn(K: number, M: number, N: number, ao: number, bo: number, oo: number): void {
  const parts = partsFor(M, K * M * N, 4);
  const rows = splitRows(M, parts, 4);
  linalg.parallel('matmul_tn', parts, (p) => [K, M, N, ...rows(p), ao, bo, oo]);
}

/** Column sums of `a [K, N]` into `out [N]`. */
export function columnSums(a: Float32Array, out: Float32Array, K: number, N: number): void {
  const [ao, oo] = linalg.layout([K * N, N]);
  linalg.view(ao, K * N).set(a);
  linalg.exports.colsum(K, N, ao, oo);
  out.set(linalg.view(oo, N));
}

/** The gradients of a dense layer `y = act(x w + b)`, for the parts asked for. */
export interface DenseGradients {
  /** `[M, K]`, the input's */
  readonly dx?: Float32Array;
  /** `[K, N]`, the weights' */
  readonly dw?: Float32Array;
  /** `[N]`, the bias's */
  readonly db?: Float32Array;
}

/**
 * Gradients of `y [M, N] = act(x [M, K] w [K, N] + b)` from `dy`: the gradient before the
 * activation `g = dy * act'(y)` (relu: where y > 0), then `dx = g w^T`, `dw = x^T g`, `db = sum g`,
 * each computed only when its output array is given.
 */
export function denseBackward(
  shapes: { readonly M: number; readonly K: number; readonly N: number; readonly relu: boolean },
  inputs: { readonly dy: Float32Array; readonly y?: Float32Array; readonly x?: Float32Array; readonly w?: Float32Array },
  out: DenseGradients,
): void {
  const { M, K, N, relu } = shapes;
  const { dx, dw, db } = out;
  const [go, yo, xo, wo, po, dxo, dwo, dbo] = linalg.layout([
    M * N, relu ? M * N : 0, dw ? M * K : 0, dx ? K * N : 0, dx ? packedLength(N, K) : 0, dx ? M * K : 0, dw ? K * N : 0, db ? N : 0,
  ]);
  linalg.view(go, M * N).set(inputs.dy);
  if (relu) {
    linalg.view(yo, M * N).set(inputs.y!);
    linalg.exports.relu_mask(M * N, go, yo, go);
  }
  if (dx) {
    // dx = g w^T: w [K, N] read as the transposed operand [N, K]^T
    linalg.view(wo, K * N).set(inputs.w!);
    linalg.exports.pack_b(N, K, wo, N, 1, po);
    const parts = partsFor(M, M * K * N, 6);
    const rows = splitRows(M, parts, 6);
    linalg.parallel('gemm', parts, (p) => [K, N, ...rows(p), go, N, po, dxo, K, 0, 0]);
    dx.set(linalg.view(dxo, M * K));
  }
  if (dw) {
    linalg.view(xo, M * K).set(inputs.x!);
    tn(M, K, N, xo, go, dwo);
    dw.set(linalg.view(dwo, K * N));
  }
  if (db) {
    linalg.exports.colsum(M, N, go, dbo);
    db.set(linalg.view(dbo, N));
  }
}

/** What {@link softmaxRowsForward} keeps for the backward pass. */
export interface SoftmaxRowsState {
  /** `[B, C]` exp(logit - row max) (a pooled buffer: {@link softmaxRowsBackward} hands it back) */
  readonly e: Float32Array;
  /** `[B]` the row sums of `e` */
  readonly rowSum: Float32Array;
}

/** Buffers of finished softmax states, reused: a fresh 1 MB array per step keeps the GC busy. */
const ePool: Float32Array[] = [];

/** The additive terms of the logits of {@link softmaxRowsForward}. */
export interface LogitTerms {
  /** `[C]` added to every row's logits (e.g. -log Q(j)) */
  readonly columnBias: Float32Array;
  /** flat indices `r * C + j` of logits set to -1e9 (e.g. accidental hits), rows ascending */
  readonly masked: Int32Array;
}

/**
 * Per-row softmax cross-entropy with the row's own column as the positive: logits
 * `s = scale * q c^T + columnBias`, masked entries -1e9 (`q [B, D]`, `c [C, D]`, C >= B), and
 * `ce[r] = logsumexp(s[r]) - s[r, r]`, written to `ce [B]`.
 * @returns what the backward pass needs
 */
export function softmaxRowsForward(q: Float32Array, c: Float32Array, terms: LogitTerms, ce: Float32Array, B: number, C: number, D: number, scale: number): SoftmaxRowsState {
  const { columnBias, masked } = terms;
  const [qo, co, po, bo, mko, mso, eo, mo, so, pso] = linalg.layout([B * D, C * D, packedLength(D, C), C, masked.length, B + 1, B * C, B, B, B]);
  linalg.view(qo, B * D).set(q);
  linalg.view(co, C * D).set(c);
  linalg.view(bo, C).set(columnBias);
  linalg.int32View(mko, masked.length).set(masked);
  const starts = linalg.int32View(mso, B + 1);
  for (let k = 0, r = 0; r <= B; r++) {
    while (k < masked.length && masked[k]! < r * C) k++;
    starts[r] = k;
  }
  linalg.exports.pack_b(D, C, co, D, 1, po);
  const parts = partsFor(B, B * C * D, 6);
  const rows = splitRows(B, parts, 6);
  linalg.parallel('softmax_rows_forward', parts, (p) => [C, D, ...rows(p), qo, po, bo, mko, mso, scale, eo, mo, so, pso]);
  const rowMax = linalg.view(mo, B);
  const rowSum = linalg.view(so, B).slice();
  const positive = linalg.view(pso, B);
  for (let r = 0; r < B; r++) ce[r] = rowMax[r]! + Math.log(rowSum[r]!) - positive[r]!;
  const i = ePool.findIndex((buffer) => buffer.length === B * C);
  const e = i >= 0 ? ePool.splice(i, 1)[0]! : new Float32Array(B * C);
  e.set(linalg.view(eo, B * C));
  return { e, rowSum };
}

/**
 * The backward pass of {@link softmaxRowsForward} for `dce [B]`: `dq [B, D]` and `dc [C, D]`
 * (`ds = scale * dce[r] * (softmax - onehot(r))`, `dq = ds c`, `dc = ds^T q`), as views of the
 * module's memory valid until its next call. The state's buffer goes back to the pool.
 */
export function softmaxRowsBackward(state: SoftmaxRowsState, dce: Float32Array, q: Float32Array, c: Float32Array, B: number, C: number, D: number, scale: number): { dq: Float32Array; dc: Float32Array } {
  const [eo, so, dyo, co, po, qo, dqo, dco] = linalg.layout([B * C, B, B, C * D, packedLength(C, D), B * D, B * D, C * D]);
  linalg.view(eo, B * C).set(state.e);
  if (ePool.length < 4) ePool.push(state.e);
  linalg.view(so, B).set(state.rowSum);
  linalg.view(dyo, B).set(dce);
  linalg.view(co, C * D).set(c);
  linalg.view(qo, B * D).set(q);
  linalg.exports.pack_b(C, D, co, D, 0, po);
  const parts = partsFor(B, B * C * D, 6);
  const rows = splitRows(B, parts, 6);
  linalg.parallel('softmax_rows_backward', parts, (p) => [C, D, ...rows(p), eo, so, dyo, scale, po, dqo]);
  tn(B, C, D, eo, qo, dco);
  return { dq: linalg.view(dqo, B * D), dc: linalg.view(dco, C * D) };
}

/** Adam's constants for one step (bias corrections folded into `step` and `epsilon`). */
export interface AdamStep {
  readonly beta1: number;
  readonly beta2: number;
  /** `lr * sqrt(1 - beta2^t) / (1 - beta1^t)` */
  readonly step: number;
  /** `epsilon * sqrt(1 - beta2^t)` */
  readonly epsilon: number;
}

/**
 * One Adam update of `n` weights, vectorised: moments `m`, `v` in place.
 * @returns the new weights `w - step m / (sqrt(v) + epsilon)`, a view of the module's memory valid
 *   until its next call (copy it out, e.g. into a tensor, before anything else runs)
 */
export function adamUpdate(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, a: AdamStep): Float32Array {
  const n = w.length;
  const [wo, go, mo, vo] = linalg.layout([n, n, n, n]);
  linalg.view(wo, n).set(w);
  linalg.view(go, n).set(g.subarray(0, n));
  linalg.view(mo, n).set(m);
  linalg.view(vo, n).set(v);
  linalg.exports.adam_update(n, wo, go, mo, vo, a.beta1, a.beta2, a.step, a.epsilon);
  m.set(linalg.view(mo, n));
  v.set(linalg.view(vo, n));
  return linalg.view(wo, n);
}
