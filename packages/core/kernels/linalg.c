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

/*
 * gemm: rows [m0, m1) of out = act(a B + bias), a [M, K] (row stride lda), B packed by pack_b
 * into panels of 8 columns. Each output row is computed the same way whichever block or thread
 * computes it (k ascending, multiply then add), so a split over threads changes no bit.
 */
#define NR 8

/* B [K, N] (b[k*ldb + n], or with trans b[n*ldb + k]) as ceil(N/8) panels of [K][8], zero padded */
__attribute__((export_name("pack_b")))
void pack_b(int K, int N, const float *b, int ldb, int trans, float *out) {
  for (int n0 = 0; n0 < N; n0 += NR) {
    float *panel = out + (long)(n0 / NR) * K * NR;
    const int w = N - n0 < NR ? N - n0 : NR;
    for (int k = 0; k < K; k++) {
      float *dst = panel + k * NR;
      if (!trans && w == NR) {
        wasm_v128_store(dst, wasm_v128_load(b + (long)k * ldb + n0));
        wasm_v128_store(dst + 4, wasm_v128_load(b + (long)k * ldb + n0 + 4));
        continue;
      }
      for (int j = 0; j < NR; j++) dst[j] = j < w ? (trans ? b[(long)(n0 + j) * ldb + k] : b[(long)k * ldb + n0 + j]) : 0.0f;
    }
  }
}

static inline f4 epilogue(f4 c, f4 bias, int relu) {
  c = wasm_f32x4_add(c, bias);
  return relu ? wasm_f32x4_max(c, wasm_f32x4_splat(0.0f)) : c;
}

/* No arrays on the stack in any kernel: the C stack lives in the linear memory, which is shared
 * by the threads of a `parallel` call, and every instance starts its stack pointer at the same
 * address, so two threads' stack arrays would be one array (a race: wrong numbers). Partial
 * vectors are written and read lane by lane instead. */

/* the first w (0-4) lanes of v to c */
static inline void store_lanes(float *c, int w, f4 v) {
  if (w > 0) c[0] = wasm_f32x4_extract_lane(v, 0);
  if (w > 1) c[1] = wasm_f32x4_extract_lane(v, 1);
  if (w > 2) c[2] = wasm_f32x4_extract_lane(v, 2);
  if (w > 3) c[3] = wasm_f32x4_extract_lane(v, 3);
}

/* the first w (0-4) floats of p, zeros after (never reads past them) */
static inline f4 load_lanes(const float *p, int w) {
  return wasm_f32x4_make(w > 0 ? p[0] : 0.0f, w > 1 ? p[1] : 0.0f, w > 2 ? p[2] : 0.0f, w > 3 ? p[3] : 0.0f);
}

static inline void store_row(float *c, int w, f4 c0, f4 c1) {
  if (w == NR) {
    wasm_v128_store(c, c0);
    wasm_v128_store(c + 4, c1);
  } else if (w >= 4) {
    wasm_v128_store(c, c0);
    store_lanes(c + 4, w - 4, c1);
  } else {
    store_lanes(c, w, c0);
  }
}

static inline void bias_of(const float *bias, int n0, int w, f4 *b0, f4 *b1) {
  if (!bias) {
    *b0 = *b1 = wasm_f32x4_splat(0.0f);
  } else if (w == NR) {
    *b0 = wasm_v128_load(bias + n0);
    *b1 = wasm_v128_load(bias + n0 + 4);
  } else if (w >= 4) {
    *b0 = wasm_v128_load(bias + n0);
    *b1 = load_lanes(bias + n0 + 4, w - 4);
  } else {
    *b0 = load_lanes(bias + n0, w);
    *b1 = wasm_f32x4_splat(0.0f);
  }
}

/* rows in blocks of 6 (A's block stays in L1), every panel of B per block (B stays in L2) */
__attribute__((export_name("gemm")))
void gemm(int N, int K, int m0, int m1, const float *a, int lda, const float *bp, float *c, int ldc, const float *bias, int relu) {
  int m = m0;
  for (; m + 6 <= m1; m += 6) {
    const float *a0 = a + (long)m * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda, *a4 = a3 + lda, *a5 = a4 + lda;
    for (int n0 = 0; n0 < N; n0 += NR) {
      const int w = N - n0 < NR ? N - n0 : NR;
      f4 c00 = wasm_f32x4_splat(0.0f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
      f4 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
      const float *p = bp + (long)(n0 / NR) * K * NR;
      for (int k = 0; k < K; k++, p += NR) {
        const f4 p0 = wasm_v128_load(p), p1 = wasm_v128_load(p + 4);
        f4 x = wasm_f32x4_splat(a0[k]);
        c00 = madd(c00, x, p0); c01 = madd(c01, x, p1);
        x = wasm_f32x4_splat(a1[k]);
        c10 = madd(c10, x, p0); c11 = madd(c11, x, p1);
        x = wasm_f32x4_splat(a2[k]);
        c20 = madd(c20, x, p0); c21 = madd(c21, x, p1);
        x = wasm_f32x4_splat(a3[k]);
        c30 = madd(c30, x, p0); c31 = madd(c31, x, p1);
        x = wasm_f32x4_splat(a4[k]);
        c40 = madd(c40, x, p0); c41 = madd(c41, x, p1);
        x = wasm_f32x4_splat(a5[k]);
        c50 = madd(c50, x, p0); c51 = madd(c51, x, p1);
      }
      f4 b0, b1;
      bias_of(bias, n0, w, &b0, &b1);
      float *o = c + (long)m * ldc + n0;
      store_row(o, w, epilogue(c00, b0, relu), epilogue(c01, b1, relu)); o += ldc;
      store_row(o, w, epilogue(c10, b0, relu), epilogue(c11, b1, relu)); o += ldc;
      store_row(o, w, epilogue(c20, b0, relu), epilogue(c21, b1, relu)); o += ldc;
      store_row(o, w, epilogue(c30, b0, relu), epilogue(c31, b1, relu)); o += ldc;
      store_row(o, w, epilogue(c40, b0, relu), epilogue(c41, b1, relu)); o += ldc;
      store_row(o, w, epilogue(c50, b0, relu), epilogue(c51, b1, relu));
    }
  }
  for (; m < m1; m++) {
    const float *a0 = a + (long)m * lda;
    for (int n0 = 0; n0 < N; n0 += NR) {
      const int w = N - n0 < NR ? N - n0 : NR;
      f4 c00 = wasm_f32x4_splat(0.0f), c01 = c00;
      const float *p = bp + (long)(n0 / NR) * K * NR;
      for (int k = 0; k < K; k++, p += NR) {
        const f4 x = wasm_f32x4_splat(a0[k]);
        c00 = madd(c00, x, wasm_v128_load(p));
        c01 = madd(c01, x, wasm_v128_load(p + 4));
      }
      f4 b0, b1;
      bias_of(bias, n0, w, &b0, &b1);
      store_row(c + (long)m * ldc + n0, w, epilogue(c00, b0, relu), epilogue(c01, b1, relu));
    }
  }
}

static inline float hsum(f4 v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3);
}

static inline float hmax(f4 v) {
  const float a = wasm_f32x4_extract_lane(v, 0), b = wasm_f32x4_extract_lane(v, 1), c = wasm_f32x4_extract_lane(v, 2), d = wasm_f32x4_extract_lane(v, 3);
  const float m = a > b ? a : b, m2 = c > d ? c : d;
  return m > m2 ? m : m2;
}

/* e^x for x <= 0 (after a row max is subtracted): the Cephes expf polynomial, exactly 0 below -87
 * (masked entries); the same routine as history-encoder's attention kernel. */
static inline f4 exp_neg(f4 x) {
  const f4 lo = wasm_f32x4_splat(-87.0f);
  f4 keep = wasm_f32x4_ge(x, lo);
  x = wasm_f32x4_max(x, lo);
  f4 k = wasm_f32x4_nearest(wasm_f32x4_mul(x, wasm_f32x4_splat(1.44269504088896341f)));
  f4 r = wasm_f32x4_sub(x, wasm_f32x4_mul(k, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(k, wasm_f32x4_splat(-2.12194440e-4f)));
  f4 y = wasm_f32x4_splat(1.9875691500e-4f);
  y = madd(wasm_f32x4_splat(1.3981999507e-3f), y, r);
  y = madd(wasm_f32x4_splat(8.3334519073e-3f), y, r);
  y = madd(wasm_f32x4_splat(4.1665795894e-2f), y, r);
  y = madd(wasm_f32x4_splat(1.6666665459e-1f), y, r);
  y = madd(wasm_f32x4_splat(5.0000001201e-1f), y, r);
  f4 r2 = wasm_f32x4_mul(r, r);
  y = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(y, r2), r), wasm_f32x4_splat(1.0f));
  v128_t bits = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(k), wasm_i32x4_splat(127)), 23);
  return wasm_v128_and(wasm_f32x4_mul(y, bits), keep);
}

/*
 * Softmax cross-entropy over rows, forward, rows [r0, r1): logits s = scale * q c^T + colbias
 * (q [B, D], c^T packed by pack_b, colbias [C]), with the entries listed in masked (flat indices
 * r * C + j, rows ascending; row r's at masked[mstart[r] .. mstart[r + 1])) set to -1e9; writes
 * e = exp(s - rowmax) into e [B, C] (row stride C), and per row its max, the sum of e, and s at
 * column `row` (the row's own positive). The caller finishes log-sum-exp: lse = max + log(sum).
 */
__attribute__((export_name("softmax_rows_forward")))
void softmax_rows_forward(int C, int D, int r0, int r1, const float *q, const float *cp, const float *colbias, const int *masked,
                          const int *mstart, float scale, float *e, float *rowmax, float *rowsum, float *positive) {
  gemm(C, D, r0, r1, q, D, cp, e, C, 0, 0);
  const int C4 = C & ~3;
  const f4 sc = wasm_f32x4_splat(scale);
  for (int r = r0; r < r1; r++) {
    float *er = e + (long)r * C;
    int j = 0;
    for (; j < C4; j += 4) wasm_v128_store(er + j, madd(wasm_v128_load(colbias + j), sc, wasm_v128_load(er + j)));
    for (; j < C; j++) er[j] = colbias[j] + scale * er[j];
    for (int k = mstart[r]; k < mstart[r + 1]; k++) e[masked[k]] = -1e9f;
    f4 mv = wasm_f32x4_splat(-3.0e38f);
    for (j = 0; j < C4; j += 4) mv = wasm_f32x4_max(mv, wasm_v128_load(er + j));
    float m = hmax(mv);
    for (j = C4; j < C; j++) if (er[j] > m) m = er[j];
    positive[r] = r < C ? er[r] : 0.0f;
    const f4 mm = wasm_f32x4_splat(m);
    f4 sv = wasm_f32x4_splat(0.0f);
    for (j = 0; j < C4; j += 4) {
      const f4 x = exp_neg(wasm_f32x4_sub(wasm_v128_load(er + j), mm));
      wasm_v128_store(er + j, x);
      sv = wasm_f32x4_add(sv, x);
    }
    float sum = hsum(sv);
    for (; j < C; j++) {
      er[j] = wasm_f32x4_extract_lane(exp_neg(wasm_f32x4_make(er[j] - m, 0.0f, 0.0f, 0.0f)), 0);
      sum += er[j];
    }
    rowmax[r] = m;
    rowsum[r] = sum;
  }
}

/*
 * Backward, rows [r0, r1): the logits' gradient ds = scale * dy[r] * (e / rowsum[r] - [j == r])
 * in place of e, then dq = ds c for those rows (c packed by pack_b, not transposed).
 */
__attribute__((export_name("softmax_rows_backward")))
void softmax_rows_backward(int C, int D, int r0, int r1, float *e, const float *rowsum, const float *dy, float scale,
                           const float *cp, float *dq) {
  const int C4 = C & ~3;
  for (int r = r0; r < r1; r++) {
    float *er = e + (long)r * C;
    const float a = scale * dy[r];
    const f4 f = wasm_f32x4_splat(a / rowsum[r]);
    int j = 0;
    for (; j < C4; j += 4) wasm_v128_store(er + j, wasm_f32x4_mul(f, wasm_v128_load(er + j)));
    for (; j < C; j++) er[j] = (a / rowsum[r]) * er[j];
    if (r < C) er[r] -= a;
  }
  gemm(D, C, r0, r1, e, C, cp, dq, D, 0, 0);
}

/* out = dy where y > 0, else 0 (the gradient through a ReLU, from its output) */
__attribute__((export_name("relu_mask")))
void relu_mask(int n, const float *dy, const float *y, float *out) {
  const int n4 = n & ~3;
  const f4 zero = wasm_f32x4_splat(0.0f);
  int i = 0;
  for (; i < n4; i += 4) wasm_v128_store(out + i, wasm_v128_and(wasm_v128_load(dy + i), wasm_f32x4_gt(wasm_v128_load(y + i), zero)));
  for (; i < n; i++) out[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* Adam on n weights in place: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; w -= step m / (sqrt(v) + eps)
 * (the bias corrections folded into step and eps by the caller) */
__attribute__((export_name("adam_update")))
void adam_update(int n, float *w, const float *g, float *m, float *v, float b1, float b2, float step, float eps) {
  const f4 B1 = wasm_f32x4_splat(b1), B1c = wasm_f32x4_splat(1.0f - b1), B2 = wasm_f32x4_splat(b2), B2c = wasm_f32x4_splat(1.0f - b2);
  const f4 S = wasm_f32x4_splat(step), E = wasm_f32x4_splat(eps);
  const int n4 = n & ~3;
  int i = 0;
  for (; i < n4; i += 4) {
    const f4 gi = wasm_v128_load(g + i);
    const f4 mi = wasm_f32x4_add(wasm_f32x4_mul(B1, wasm_v128_load(m + i)), wasm_f32x4_mul(B1c, gi));
    const f4 vi = wasm_f32x4_add(wasm_f32x4_mul(B2, wasm_v128_load(v + i)), wasm_f32x4_mul(B2c, wasm_f32x4_mul(gi, gi)));
    wasm_v128_store(m + i, mi);
    wasm_v128_store(v + i, vi);
    const f4 d = wasm_f32x4_div(wasm_f32x4_mul(S, mi), wasm_f32x4_add(wasm_f32x4_sqrt(vi), E));
    wasm_v128_store(w + i, wasm_f32x4_sub(wasm_v128_load(w + i), d));
  }
  for (; i < n; i++) {
    const float gi = g[i];
    const float mi = m[i] = b1 * m[i] + (1.0f - b1) * gi;
    const float vi = v[i] = b2 * v[i] + (1.0f - b2) * (gi * gi);
    w[i] -= (step * mi) / (__builtin_sqrtf(vi) + eps);
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
