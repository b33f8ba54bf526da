/*
 * Fused multi-head attention for @tt/history-encoder, compiled to WebAssembly SIMD with shared
 * memory, so that threads split the rows (`node tools/scripts/build-wasm.mjs attention` embeds the
 * binary in src/attention-wasm.ts).
 *
 * Why: tfjs's wasm backend runs batched small products ([batch*heads, L, dh] x ...) on a scalar
 * loop, and every layout change between projections, products and softmax is a slow transpose.
 * Here one call does a whole (user, head) block in cache: scores, masked softmax and the value
 * product forward; the four products of the backward pass from the saved probabilities.
 *
 * Layouts (floats; all row strides in floats); rows are ragged (see below the helpers):
 *   q   [rows, heads, dh]    row i at q + i*qs, head h at + h*dh
 *   kv  [rows, 2, heads, dh] keys at column 0, values at column vOff of each row, row stride kvs
 *   bias[kv rows]            added to every score of that key (0, or a large negative for a hole)
 *   o   [q rows, heads, dh]  dense, row stride heads*dh
 *   p   [n, heads, Lq, Lp]   the probabilities, Lp = Lmax rounded up to 4 (padding columns are 0)
 * Gradients dq, dkv have the layouts of q (dense) and kv (dense, stride 2*heads*dh).
 */
#include <wasm_simd128.h>

typedef v128_t f4;

extern unsigned char __heap_base;
__attribute__((export_name("heap_base"))) unsigned heap_base(void) { return (unsigned)&__heap_base; }

static inline f4 splat(float x) { return wasm_f32x4_splat(x); }
static inline f4 madd(f4 acc, f4 a, f4 b) { return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b)); }
static inline float hsum(f4 v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3);
}
static inline float hmax(f4 v) {
  float a = wasm_f32x4_extract_lane(v, 0), b = wasm_f32x4_extract_lane(v, 1), c = wasm_f32x4_extract_lane(v, 2), d = wasm_f32x4_extract_lane(v, 3);
  float m = a > b ? a : b, m2 = c > d ? c : d;
  return m > m2 ? m : m2;
}

/* e^x for x <= 0 (softmax after the max is subtracted); exactly 0 below -87 (masked keys). */
static inline f4 exp_neg(f4 x) {
  const f4 lo = splat(-87.0f);
  f4 keep = wasm_f32x4_ge(x, lo);
  x = wasm_f32x4_max(x, lo);
  f4 k = wasm_f32x4_nearest(wasm_f32x4_mul(x, splat(1.44269504088896341f)));
  f4 r = wasm_f32x4_sub(x, wasm_f32x4_mul(k, splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(k, splat(-2.12194440e-4f)));
  /* Cephes expf polynomial on [-ln2/2, ln2/2] */
  f4 y = splat(1.9875691500e-4f);
  y = madd(splat(1.3981999507e-3f), y, r);
  y = madd(splat(8.3334519073e-3f), y, r);
  y = madd(splat(4.1665795894e-2f), y, r);
  y = madd(splat(1.6666665459e-1f), y, r);
  y = madd(splat(5.0000001201e-1f), y, r);
  f4 r2 = wasm_f32x4_mul(r, r);
  y = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(y, r2), r), splat(1.0f));
  v128_t bits = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(k), wasm_i32x4_splat(127)), 23);
  return wasm_v128_and(wasm_f32x4_mul(y, bits), keep);
}

/* t[d*Lp + j] = m[j*stride + d] for j < L, 0 for L <= j < Lp */
static void pack_transposed(float *t, const float *m, int L, int Lp, int dh, int stride) {
  for (int d = 0; d < dh; d++) {
    float *row = t + d * Lp;
    for (int j = 0; j < L; j++) row[j] = m[j * stride + d];
    for (int j = L; j < Lp; j++) row[j] = 0.0f;
  }
}

/* out[j] = init[j] + scale * sum_d x[d] * t[d*Lp + j] for j < Lp (Lp a multiple of 4) */
static void row_times_packed(float *out, const float *init, const float *x, const float *t, int Lp, int dh, float scale) {
  int j = 0;
  for (; j + 16 <= Lp; j += 16) {
    f4 a0 = wasm_f32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;
    for (int d = 0; d < dh; d++) {
      f4 xd = splat(x[d]);
      const float *r = t + d * Lp + j;
      a0 = madd(a0, xd, wasm_v128_load(r));
      a1 = madd(a1, xd, wasm_v128_load(r + 4));
      a2 = madd(a2, xd, wasm_v128_load(r + 8));
      a3 = madd(a3, xd, wasm_v128_load(r + 12));
    }
    f4 s = splat(scale);
    wasm_v128_store(out + j, madd(wasm_v128_load(init + j), s, a0));
    wasm_v128_store(out + j + 4, madd(wasm_v128_load(init + j + 4), s, a1));
    wasm_v128_store(out + j + 8, madd(wasm_v128_load(init + j + 8), s, a2));
    wasm_v128_store(out + j + 12, madd(wasm_v128_load(init + j + 12), s, a3));
  }
  for (; j < Lp; j += 4) {
    f4 a0 = wasm_f32x4_splat(0);
    for (int d = 0; d < dh; d++) a0 = madd(a0, splat(x[d]), wasm_v128_load(t + d * Lp + j));
    wasm_v128_store(out + j, madd(wasm_v128_load(init + j), splat(scale), a0));
  }
}

/* y[d] = scale * sum_{j<L} w[j] * m[j*stride + d], d < dh */
static void weighted_rows(float *y, const float *w, const float *m, int L, int dh, int stride, float scale) {
  int d = 0;
  for (; d + 16 <= dh; d += 16) {
    f4 a0 = wasm_f32x4_splat(0), a1 = a0, a2 = a0, a3 = a0;
    for (int j = 0; j < L; j++) {
      f4 wj = splat(w[j]);
      const float *r = m + j * stride + d;
      a0 = madd(a0, wj, wasm_v128_load(r));
      a1 = madd(a1, wj, wasm_v128_load(r + 4));
      a2 = madd(a2, wj, wasm_v128_load(r + 8));
      a3 = madd(a3, wj, wasm_v128_load(r + 12));
    }
    f4 s = splat(scale);
    wasm_v128_store(y + d, wasm_f32x4_mul(s, a0));
    wasm_v128_store(y + d + 4, wasm_f32x4_mul(s, a1));
    wasm_v128_store(y + d + 8, wasm_f32x4_mul(s, a2));
    wasm_v128_store(y + d + 12, wasm_f32x4_mul(s, a3));
  }
  for (; d + 4 <= dh; d += 4) {
    f4 a0 = wasm_f32x4_splat(0);
    for (int j = 0; j < L; j++) a0 = madd(a0, splat(w[j]), wasm_v128_load(m + j * stride + d));
    wasm_v128_store(y + d, wasm_f32x4_mul(splat(scale), a0));
  }
  for (; d < dh; d++) {
    float a = 0;
    for (int j = 0; j < L; j++) a += w[j] * m[j * stride + d];
    y[d] = scale * a;
  }
}

/* y[j*ys + d] = scale * sum_{i<n} w[i*ws + j] * x[i*xs + d] for j < L, d < dh (a transposed product, w^T x) */
static void weighted_cols(float *y, int ys, const float *w, int ws, const float *x, int xs, int n, int L, int dh, float scale) {
  const f4 sc = splat(scale);
  int j = 0;
  for (; j + 2 <= L; j += 2) {
    int d = 0;
    for (; d + 16 <= dh; d += 16) {
      f4 a0 = wasm_f32x4_splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
      for (int i = 0; i < n; i++) {
        const float *r = x + i * xs + d;
        f4 x0 = wasm_v128_load(r), x1 = wasm_v128_load(r + 4), x2 = wasm_v128_load(r + 8), x3 = wasm_v128_load(r + 12);
        f4 wa = splat(w[i * ws + j]), wb = splat(w[i * ws + j + 1]);
        a0 = madd(a0, wa, x0); a1 = madd(a1, wa, x1); a2 = madd(a2, wa, x2); a3 = madd(a3, wa, x3);
        b0 = madd(b0, wb, x0); b1 = madd(b1, wb, x1); b2 = madd(b2, wb, x2); b3 = madd(b3, wb, x3);
      }
      float *ya = y + j * ys + d, *yb = ya + ys;
      wasm_v128_store(ya, wasm_f32x4_mul(sc, a0)); wasm_v128_store(ya + 4, wasm_f32x4_mul(sc, a1));
      wasm_v128_store(ya + 8, wasm_f32x4_mul(sc, a2)); wasm_v128_store(ya + 12, wasm_f32x4_mul(sc, a3));
      wasm_v128_store(yb, wasm_f32x4_mul(sc, b0)); wasm_v128_store(yb + 4, wasm_f32x4_mul(sc, b1));
      wasm_v128_store(yb + 8, wasm_f32x4_mul(sc, b2)); wasm_v128_store(yb + 12, wasm_f32x4_mul(sc, b3));
    }
    for (; d + 4 <= dh; d += 4) {
      f4 a0 = wasm_f32x4_splat(0), b0 = a0;
      for (int i = 0; i < n; i++) {
        f4 x0 = wasm_v128_load(x + i * xs + d);
        a0 = madd(a0, splat(w[i * ws + j]), x0);
        b0 = madd(b0, splat(w[i * ws + j + 1]), x0);
      }
      wasm_v128_store(y + j * ys + d, wasm_f32x4_mul(sc, a0));
      wasm_v128_store(y + (j + 1) * ys + d, wasm_f32x4_mul(sc, b0));
    }
    for (; d < dh; d++) {
      float a = 0, b = 0;
      for (int i = 0; i < n; i++) {
        a += w[i * ws + j] * x[i * xs + d];
        b += w[i * ws + j + 1] * x[i * xs + d];
      }
      y[j * ys + d] = scale * a;
      y[(j + 1) * ys + d] = scale * b;
    }
  }
  for (; j < L; j++) {
    for (int d = 0; d < dh; d++) {
      float a = 0;
      for (int i = 0; i < n; i++) a += w[i * ws + j] * x[i * xs + d];
      y[j * ys + d] = scale * a;
    }
  }
}

static inline int round4(int x) { return (x + 3) & ~3; }

/*
 * Rows are ragged: row b has lens[b] keys (its valid prefix; 0 for a row without history) at
 * kv rows [offs[b], offs[b] + lens[b]), and either one query (q1: q row b) or one per key (q rows
 * as kv's). Padding after a row's prefix is never stored or computed; holes inside it are masked by
 * bias. p keeps fixed strides: [n, heads, q1 ? 1 : Lmax, round4(Lmax)].
 */
static inline long qrow(int q1, int b, const int *offs) { return q1 ? b : offs[b]; }

/* Forward for rows [b0, b1) (threads split the rows; each passes its own scratch of (dh + 1) * round4(Lmax) floats). */
__attribute__((export_name("attention_forward")))
void attention_forward(int b0, int b1, int heads, int q1, int Lmax, int dh, float scale,
                       const float *q, int qs, const float *kv, int kvs, int vOff,
                       const float *bias, float *o, float *p, float *scratch, const int *lens, const int *offs) {
  const int D = heads * dh, LqMax = q1 ? 1 : Lmax, LpMax = round4(Lmax);
  float *kt = scratch, *brow = scratch + dh * LpMax;
  for (int b = b0; b < b1; b++) {
    const int L = lens[b], Lp = round4(L), Lq = q1 ? 1 : L;
    const long q0 = qrow(q1, b, offs);
    if (L == 0) {
      if (q1) for (int d = 0; d < D; d++) o[q0 * D + d] = 0.0f;
      continue;
    }
    for (int j = 0; j < L; j++) brow[j] = bias[offs[b] + j];
    for (int j = L; j < Lp; j++) brow[j] = -1e30f;
    for (int h = 0; h < heads; h++) {
      const float *kb = kv + (long)offs[b] * kvs + h * dh;
      pack_transposed(kt, kb, L, Lp, dh, kvs);
      for (int i = 0; i < Lq; i++) {
        float *prow = p + (((long)b * heads + h) * LqMax + i) * LpMax;
        row_times_packed(prow, brow, q + (q0 + i) * qs + h * dh, kt, Lp, dh, scale);
        f4 mv = wasm_v128_load(prow);
        for (int j = 4; j < Lp; j += 4) mv = wasm_f32x4_max(mv, wasm_v128_load(prow + j));
        f4 m = splat(hmax(mv)), sv = wasm_f32x4_splat(0);
        for (int j = 0; j < Lp; j += 4) {
          f4 e = exp_neg(wasm_f32x4_sub(wasm_v128_load(prow + j), m));
          wasm_v128_store(prow + j, e);
          sv = wasm_f32x4_add(sv, e);
        }
        f4 inv = splat(1.0f / hsum(sv));
        for (int j = 0; j < Lp; j += 4) wasm_v128_store(prow + j, wasm_f32x4_mul(wasm_v128_load(prow + j), inv));
        weighted_rows(o + (q0 + i) * D + h * dh, prow, kb + vOff, L, dh, kvs, 1.0f);
      }
    }
  }
}

/*
 * Backward for rows [b0, b1) from the saved probabilities p. dq has q's rows (dense, D wide), dkv
 * kv's (keys' gradient at column 0, values' at column D). scratch: (dh + LqMax + 1) * round4(Lmax) floats.
 */
__attribute__((export_name("attention_backward")))
void attention_backward(int b0, int b1, int heads, int q1, int Lmax, int dh, float scale,
                        const float *q, int qs, const float *kv, int kvs, int vOff,
                        const float *p, const float *dout, float *dq, float *dkv, float *scratch, const int *lens, const int *offs) {
  const int D = heads * dh, LqMax = q1 ? 1 : Lmax, LpMax = round4(Lmax);
  float *vt = scratch, *zero = vt + dh * LpMax, *ds = zero + LpMax;
  for (int j = 0; j < LpMax; j++) zero[j] = 0.0f;
  for (int b = b0; b < b1; b++) {
    const int L = lens[b], Lp = round4(L), Lq = q1 ? 1 : L;
    const long q0 = qrow(q1, b, offs);
    if (L == 0) {
      if (q1) for (int d = 0; d < D; d++) dq[q0 * D + d] = 0.0f;
      continue;
    }
    for (int h = 0; h < heads; h++) {
      const float *kb = kv + (long)offs[b] * kvs + h * dh;
      const float *pb = p + ((long)b * heads + h) * LqMax * LpMax;
      const float *gb = dout + q0 * D + h * dh;
      const float *qb = q + q0 * qs + h * dh;
      pack_transposed(vt, kb + vOff, L, Lp, dh, kvs);
      for (int i = 0; i < Lq; i++) {
        const float *prow = pb + (long)i * LpMax;
        float *dsi = ds + i * Lp;
        /* dP = dO V^T; D_i = sum_j P dP; dS = P (dP - D_i) */
        row_times_packed(dsi, zero, gb + (long)i * D, vt, Lp, dh, 1.0f);
        f4 acc = wasm_f32x4_splat(0);
        for (int j = 0; j < Lp; j += 4) acc = madd(acc, wasm_v128_load(prow + j), wasm_v128_load(dsi + j));
        f4 Di = splat(hsum(acc));
        for (int j = 0; j < Lp; j += 4) wasm_v128_store(dsi + j, wasm_f32x4_mul(wasm_v128_load(prow + j), wasm_f32x4_sub(wasm_v128_load(dsi + j), Di)));
        /* dQ_i = scale dS_i K */
        weighted_rows(dq + (q0 + i) * D + h * dh, dsi, kb, L, dh, kvs, scale);
      }
      /* dK = scale dS^T Q, dV = P^T dO */
      float *dkb = dkv + (long)offs[b] * 2 * D + h * dh;
      weighted_cols(dkb, 2 * D, ds, Lp, qb, qs, Lq, L, dh, scale);
      weighted_cols(dkb + D, 2 * D, pb, LpMax, gb, D, Lq, L, dh, 1.0f);
    }
  }
}
