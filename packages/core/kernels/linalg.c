/*
 * Dense kernels for the wasm backend that XNNPACK does slowly, compiled to WebAssembly SIMD with
 * shared memory, so that threads can split a large product (`node tools/scripts/build-wasm.mjs
 * core`, embedded in src/runtime/linalg-wasm.ts).
 *
 * - matmul_tn: out = a^T b for a [K, M], b [K, N] with K large (the weight gradient of a dense
 *   layer, x^T dy). XNNPACK treats b as weights and repacks all K x N of it on every call
 *   (~35 ns a float: 115 ms for [25600, 128]); here a and b are streamed in K blocks that stay
 *   in cache while 4 x 8 tiles of the output accumulate in registers.
 * - colsum: out = sum over rows of a [K, N] (the bias gradient): tfjs-wasm's Sum over a leading
 *   axis transposes first.
 * - segment_sum: rows of x summed by segment id (the gradient of a gather), vectorised.
 */
#include <wasm_simd128.h>

typedef v128_t f4;

extern unsigned char __heap_base;
__attribute__((export_name("heap_base"))) unsigned heap_base(void) { return (unsigned)&__heap_base; }

#define KB 256

static inline f4 madd(f4 acc, f4 a, f4 b) { return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b)); }

/* rows [m0, m1) of out = a^T b (threads split the rows of out; m0 a multiple of 4) */
__attribute__((export_name("matmul_tn")))
void matmul_tn(int K, int M, int N, int m0, int m1, const float *a, const float *b, float *out) {
  for (long i = (long)m0 * N; i < (long)m1 * N; i++) out[i] = 0.0f;
  const int M4 = m0 + ((m1 - m0) & ~3), N8 = N & ~7;
  for (int k0 = 0; k0 < K; k0 += KB) {
    const int k1 = k0 + KB < K ? k0 + KB : K;
    for (int m = m0; m < M4; m += 4) {
      float *o0 = out + m * N, *o1 = o0 + N, *o2 = o1 + N, *o3 = o2 + N;
      for (int n = 0; n < N8; n += 8) {
        f4 c00 = wasm_v128_load(o0 + n), c01 = wasm_v128_load(o0 + n + 4);
        f4 c10 = wasm_v128_load(o1 + n), c11 = wasm_v128_load(o1 + n + 4);
        f4 c20 = wasm_v128_load(o2 + n), c21 = wasm_v128_load(o2 + n + 4);
        f4 c30 = wasm_v128_load(o3 + n), c31 = wasm_v128_load(o3 + n + 4);
        const float *ak = a + (long)k0 * M + m, *bk = b + (long)k0 * N + n;
        for (int k = k0; k < k1; k++, ak += M, bk += N) {
          f4 b0 = wasm_v128_load(bk), b1 = wasm_v128_load(bk + 4);
          f4 a0 = wasm_f32x4_splat(ak[0]), a1 = wasm_f32x4_splat(ak[1]), a2 = wasm_f32x4_splat(ak[2]), a3 = wasm_f32x4_splat(ak[3]);
          c00 = madd(c00, a0, b0); c01 = madd(c01, a0, b1);
          c10 = madd(c10, a1, b0); c11 = madd(c11, a1, b1);
          c20 = madd(c20, a2, b0); c21 = madd(c21, a2, b1);
          c30 = madd(c30, a3, b0); c31 = madd(c31, a3, b1);
        }
        wasm_v128_store(o0 + n, c00); wasm_v128_store(o0 + n + 4, c01);
        wasm_v128_store(o1 + n, c10); wasm_v128_store(o1 + n + 4, c11);
        wasm_v128_store(o2 + n, c20); wasm_v128_store(o2 + n + 4, c21);
        wasm_v128_store(o3 + n, c30); wasm_v128_store(o3 + n + 4, c31);
      }
      for (int n = N8; n < N; n++) {
        float s0 = o0[n], s1 = o1[n], s2 = o2[n], s3 = o3[n];
        for (int k = k0; k < k1; k++) {
          const float bv = b[(long)k * N + n];
          const float *ak = a + (long)k * M + m;
          s0 += ak[0] * bv; s1 += ak[1] * bv; s2 += ak[2] * bv; s3 += ak[3] * bv;
        }
        o0[n] = s0; o1[n] = s1; o2[n] = s2; o3[n] = s3;
      }
    }
    for (int m = M4; m < m1; m++) {
      float *om = out + m * N;
      for (int k = k0; k < k1; k++) {
        const float av = a[(long)k * M + m];
        const float *bk = b + (long)k * N;
        for (int n = 0; n < N; n++) om[n] += av * bk[n];
      }
    }
  }
}

__attribute__((export_name("colsum")))
void colsum(int K, int N, const float *a, float *out) {
  for (int n = 0; n < N; n++) out[n] = 0.0f;
  const int N4 = N & ~3;
  for (int k = 0; k < K; k++) {
    const float *ak = a + (long)k * N;
    for (int n = 0; n < N4; n += 4) wasm_v128_store(out + n, wasm_f32x4_add(wasm_v128_load(out + n), wasm_v128_load(ak + n)));
    for (int n = N4; n < N; n++) out[n] += ak[n];
  }
}

/* out[s] = sum of the rows r of x [rows, dim] with ids[r] == s, for s < numSegments (others dropped) */
__attribute__((export_name("segment_sum")))
void segment_sum(int rows, int dim, const float *x, const int *ids, int numSegments, float *out) {
  for (long i = 0; i < (long)numSegments * dim; i++) out[i] = 0.0f;
  const int d4 = dim & ~3;
  for (int r = 0; r < rows; r++) {
    const int s = ids[r];
    if (s < 0 || s >= numSegments) continue;
    float *o = out + (long)s * dim;
    const float *xr = x + (long)r * dim;
    for (int k = 0; k < d4; k += 4) wasm_v128_store(o + k, wasm_f32x4_add(wasm_v128_load(o + k), wasm_v128_load(xr + k)));
    for (int k = d4; k < dim; k++) o[k] += xr[k];
  }
}
