#!/usr/bin/env node
// Multi-head attention alone, forward + backward, on the current backend: @tt/history-encoder's
// fused WebAssembly SIMD kernel against the same attention in tfjs ops (batched tf.matMul and
// softmax), at the sketch's shape (B 512 users, H 50 keys, D 64, 4 heads). One JSON line.
//   node tools/bench/bench-attention.mjs [--users 512] [--length 50] [--dim 64] [--heads 4] [--reps 5]
// (after `npx tsc -b packages/cli/tsconfig.lib.json`)
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
const require = createRequire(import.meta.url);
const core = require('../../packages/core/dist/index.js');
const { fusedAttention } = require('../../packages/history-encoder/dist/index.js');

const { values } = parseArgs({ options: { users: { type: 'string', default: '512' }, length: { type: 'string', default: '50' }, dim: { type: 'string', default: '64' }, heads: { type: 'string', default: '4' }, reps: { type: 'string', default: '5' } } });
const [n, L, D, heads, reps] = ['users', 'length', 'dim', 'heads', 'reps'].map((k) => Number(values[k]));
const backend = await core.initBackend({ log: false });
const tf = core.tf;
const dh = D / heads;
const keyBias = new Float32Array(n * L);
const q = tf.randomNormal([n * L, D], 0, 1, 'float32', 1);
const kv = tf.randomNormal([n * L, 2 * D], 0, 1, 'float32', 2);
const w = tf.randomNormal([n * L, D], 0, 1, 'float32', 3);
const bias4 = tf.tensor4d(keyBias, [n, 1, 1, L]);
const toHeads = (t, len) => tf.reshape(tf.transpose(tf.reshape(t, [n, len, heads, dh]), [0, 2, 1, 3]), [n * heads, len, dh]);
const ops = (a, b) => {
  const [k, v] = tf.split(b, 2, 1);
  const s = tf.matMul(toHeads(tf.mul(a, 1 / Math.sqrt(dh)), L), toHeads(k, L), false, true);
  const p = tf.softmax(tf.add(tf.reshape(s, [n, heads, L, L]), bias4));
  const o = tf.matMul(tf.reshape(p, [n * heads, L, L]), toHeads(v, L));
  return tf.reshape(tf.transpose(tf.reshape(o, [n, heads, L, dh]), [0, 2, 1, 3]), [n * L, D]);
};
const fused = (a, b) => fusedAttention(a, b, { n, heads, queries: L, keys: L, keyBias });
const time = (f) => {
  const once = () => tf.dispose(tf.tidy(() => tf.grads((a, b) => tf.sum(tf.mul(f(a, b), w)))([q, kv])));
  once();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) once();
  return (performance.now() - t0) / reps;
};
const fusedMs = time(fused);
const opsMs = time(ops);
const flops = 3 * 2 * 2 * n * heads * L * L * dh; // two products forward, four backward
console.log(JSON.stringify({ backend: backend.name, users: n, length: L, dim: D, heads, fusedMs, opsMs, speedup: opsMs / fusedMs, fusedGflops: flops / fusedMs / 1e6, opsGflops: flops / opsMs / 1e6 }));
process.exit(0);
