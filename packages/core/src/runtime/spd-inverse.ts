/**
 * In-place inverse of a symmetric positive-definite matrix too large for one tfjs tensor (EASE's
 * `(X^T X + lambda I)^-1` over a catalogue of tens of thousands of items): blocked Gauss-Jordan
 * elimination without pivoting (every pivot block is a Schur complement of an SPD matrix, so SPD
 * too), whose `[n, b] x [b, n]` updates run as row tiles through the backend's matmul (XNNPACK on
 * wasm) and whose `b x b` pivot inverses run in float64 JS. Cost: 2 n^3 flops.
 *
 * Not done: exploiting symmetry (the in-place iterate is not symmetric between steps).
 */
import * as tf from './tf.js';
import { ShapeError, ValueError } from '../errors.js';
import { takeValues } from './storage.js';

/** Inverse of an SPD `b x b` matrix by Cholesky, in float64 (row-major in and out). */
function smallSpdInverse(a: Float64Array, b: number, field: string): Float64Array {
  const L = new Float64Array(b * b);
  for (let j = 0; j < b; j++) {
    let d = a[j * b + j]!;
    for (let k = 0; k < j; k++) d -= L[j * b + k]! * L[j * b + k]!;
    if (!(d > 0)) throw new ValueError(field, `is not positive definite (pivot ${j} is ${d}); raise the regularisation`);
    const ljj = Math.sqrt(d);
    L[j * b + j] = ljj;
    for (let i = j + 1; i < b; i++) {
      let s = a[i * b + j]!;
      for (let k = 0; k < j; k++) s -= L[i * b + k]! * L[j * b + k]!;
      L[i * b + j] = s / ljj;
    }
  }
  // W = L^-1 (lower triangular), then A^-1 = W^T W
  const W = new Float64Array(b * b);
  for (let i = 0; i < b; i++) {
    W[i * b + i] = 1 / L[i * b + i]!;
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let k = j; k < i; k++) s += L[i * b + k]! * W[k * b + j]!;
      W[i * b + j] = -s / L[i * b + i]!;
    }
  }
  const out = new Float64Array(b * b);
  for (let i = 0; i < b; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < b; k++) s += W[k * b + i]! * W[k * b + j]!;
      out[i * b + j] = s;
      out[j * b + i] = s;
    }
  }
  return out;
}

/**
 * Replaces `a` (`n x n`, row-major, symmetric positive definite) by its inverse.
 * @param block pivot block size (default 1024): larger = fewer, bigger matmuls
 * @throws ShapeError when `a` is not `n x n`; ValueError when a pivot block is not positive definite
 */
export function invertSpdInPlace(a: Float32Array, n: number, field = 'matrix', block = 1024): void {
  if (a.length !== n * n) throw new ShapeError(field, `[${n}, ${n}]`, `${a.length} values`);
  const tile = Math.max(1, Math.min(n, Math.floor(2 ** 25 / Math.max(n, 1)))); // ~32M values per tile
  for (let k0 = 0; k0 < n; k0 += block) {
    const k1 = Math.min(n, k0 + block);
    const b = k1 - k0;
    const pivot = new Float64Array(b * b);
    for (let i = 0; i < b; i++) for (let j = 0; j < b; j++) pivot[i * b + j] = a[(k0 + i) * n + k0 + j]!;
    const pinv = Float32Array.from(smallSpdInverse(pivot, b, field));
    // the column panel C = A[:, K] (rows of K zeroed: they become R below), then A[:, K] = 0
    const C = new Float32Array(n * b);
    for (let i = 0; i < n; i++) {
      if (i >= k0 && i < k1) continue;
      const row = i * n;
      for (let j = 0; j < b; j++) {
        C[i * b + j] = a[row + k0 + j]!;
        a[row + k0 + j] = 0;
      }
    }
    // R = pinv A[K, :], with R[:, K] = pinv: the new rows of K
    const rows = takeValues(tf.tidy(() => tf.matMul(tf.tensor2d(pinv, [b, b]), tf.tensor2d(a.subarray(k0 * n, k1 * n), [b, n]))));
    for (let i = 0; i < b; i++) rows.set(pinv.subarray(i * b, (i + 1) * b), i * n + k0);
    const Rt = tf.tensor2d(rows, [b, n]);
    try {
      // every other row: A[I, :] -= C[I, :] R (which also sets A[I, K] = -C[I, :] pinv)
      for (let r0 = 0; r0 < n; r0 += tile) {
        const r1 = Math.min(n, r0 + tile);
        if (r0 >= k0 && r1 <= k1) continue;
        const values = takeValues(tf.tidy(() => tf.sub(tf.tensor2d(a.subarray(r0 * n, r1 * n), [r1 - r0, n]), tf.matMul(tf.tensor2d(C.subarray(r0 * b, r1 * b), [r1 - r0, b]), Rt))));
        for (let i = r0; i < r1; i++) if (i < k0 || i >= k1) a.set(values.subarray((i - r0) * n, (i - r0 + 1) * n), i * n);
      }
    } finally {
      Rt.dispose();
    }
    a.set(rows, k0 * n);
  }
}
