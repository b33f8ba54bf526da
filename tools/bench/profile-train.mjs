#!/usr/bin/env node
// Where the milliseconds of one training step go, on the model `tt bench train` times (BENCH_MODEL,
// B 512): wall time and the main thread's CPU time per step; the step's phases (forward + backward,
// dense Adam, sparse Adam); our WebAssembly kernels by name (compute, including waits for worker
// threads); the copies staging tensors into and out of the kernels' memory; tfjs's own kernels
// (tf.profile); tensors and bytes the kernels allocate per step; and the remainder, JavaScript between ops
// (engine bookkeeping, the tape, typed-array work such as collecting embedding-row gradients).
// Each part is measured in its own pass over the same batches, so the timers do not slow the others.
//
//   node tools/bench/profile-train.mjs [--history] [--fill full|data] [--steps 40] [--root <tree>] [--clock wall|cpu]
// (after `npx tsc -b packages/cli/tsconfig.lib.json`; --history: the sketch's setting, 3 layers,
// 4 heads, H 50; --root: the built packages of another checkout, e.g. an older commit's, profiled
// the same way). Prints one JSON line.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({ options: { history: { type: 'boolean', default: false }, fill: { type: 'string', default: 'full' }, steps: { type: 'string' }, root: { type: 'string' }, clock: { type: 'string', default: 'wall' } } });
// --clock cpu: every timer reads the process's CPU time instead of the wall clock, so a busy machine
// (this process descheduled) does not inflate the parts; run it with TT_KERNEL_THREADS=1 so the
// worker threads' CPU does not count twice
const now = opt.clock === 'cpu' ? () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
} : () => performance.now();
const require = createRequire(opt.root ? `${opt.root.replace(/\/$/, '')}/tools/bench/` : import.meta.url);
const core = require('../../packages/core/dist/index.js');
const linalg = (() => {
  try {
    return require('../../packages/core/dist/runtime/linalg.js');
  } catch {
    return {}; // a tree from before the kernels of runtime/linalg.ts
  }
})();
// the bench's pinned model (older trees: the same values, which were then the defaults)
const {
  BENCH_MODEL = { dim: 64, hidden: 256, normalize: true, temperature: 0.05, logQ: true, logQAlpha: 0.05, removeAccidentalHits: true, mixedNegatives: 0, seed: 0 },
  BENCH_TRAINING = { batchSize: 512, learningRate: 1e-3 },
} = require('../../packages/cli/dist/index.js');
const { stagesFromFlags } = require('../../packages/cli/dist/stages.js');
const { mulberry32 } = require('../../packages/mips/dist/index.js');

const steps = Number(opt.steps ?? (opt.history ? 6 : 40));
const backend = await core.initBackend({ log: false });
const tf = core.tf;
const world = core.syntheticWorld({ seed: 0, numUsers: 10_000, numItems: 5_000, impressions: 100_000, userFeatureDim: 16, itemFeatureDim: 16, validation: false });
const { definitions, configs } = stagesFromFlags(opt.history ? 'history' : '', { historyLen: 50, historyLayers: 3 });
const config = core.resolveConfig(world.schema, { ...BENCH_MODEL, valueWeights: Array.from(world.valueWeights), stages: configs });
const model = core.TwoTowerModel.create(config, world, definitions);
const trainer = new core.Trainer(model, { epochs: 1, learningRate: BENCH_TRAINING.learningRate, progress: 'none' });
const batches = [];
const random = mulberry32(7);
for (const b of core.inMemorySource(world, { batchSize: BENCH_TRAINING.batchSize, seed: 0, dropLast: true, historyLength: model.historyLength }).batches(0)) {
  if (opt.history && opt.fill === 'full') for (let i = 0; i < b.history.length; i++) b.history[i] = Math.floor(random() * world.schema.numItems);
  batches.push(b);
}
const warmup = 10;
for (let s = 0; s < warmup; s++) trainer.step(batches[s]);
const pass = (f) => {
  for (let s = 0; s < steps; s++) f(batches[warmup + (s % (batches.length - warmup))]);
};
const perStep = (ms) => Number((ms / steps).toFixed(3));

// 1. plain: wall per step (median) and the main thread's CPU time (Linux /proc; null elsewhere)
const mainCpuMs = () => {
  try {
    const f = readFileSync(`/proc/${process.pid}/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // clock ticks of 10 ms
  } catch {
    return null;
  }
};
const times = [];
const cpu0 = mainCpuMs();
const all0 = process.cpuUsage();
pass((b) => {
  const t = performance.now();
  trainer.step(b);
  times.push(performance.now() - t);
});
const cpuMain = cpu0 === null ? null : perStep(mainCpuMs() - cpu0);
const allCpu = process.cpuUsage(all0);
times.sort((a, b) => a - b);
const wall = times[times.length >> 1];

// 2. phases, our kernels, and tfjs's top-level kernels: timers around the optimizers, the kernel
// module's calls, the staging functions and the engine's kernel runner (top level only, so custom
// ops' forward passes count once, with the kernels they run inside)
const engine = tf.engine();
let inOptimizer = false;
const phase = { denseAdam: 0, sparseAdam: 0 };
const wrap = (obj, key, add) => {
  const f = obj[key];
  obj[key] = function (...args) {
    const depth = engine.state.kernelDepth;
    const t = now();
    try {
      return f.apply(this, args);
    } finally {
      add(now() - t, args, depth);
    }
  };
};
const optimizer = (key) => (obj) => {
  const f = obj.apply;
  obj.apply = function (...args) {
    inOptimizer = true;
    const t = now();
    try {
      return f.apply(this, args);
    } finally {
      phase[key] += now() - t;
      inOptimizer = false;
    }
  };
};
optimizer('denseAdam')(trainer.dense);
for (const s of trainer.sparse) optimizer('sparseAdam')(s);
const kernels = {};
let oursOutside = 0; // our kernels run by custom ops' backward passes (outside any tfjs kernel)
const addKernel = (name, ms, depth) => {
  const k = (kernels[name] ??= { ms: 0, calls: 0 });
  k.ms += ms;
  k.calls++;
  if (depth === 0 && !inOptimizer) oursOutside += ms;
};
const proto = core.WasmKernelModule.prototype;
wrap(proto, 'parallel', (ms, [name], depth) => addKernel(name, ms, depth));
const exportsGetter = Object.getOwnPropertyDescriptor(proto, 'exports').get;
const wrapped = new WeakMap();
Object.defineProperty(proto, 'exports', {
  get() {
    const raw = exportsGetter.call(this);
    if (!wrapped.has(raw)) {
      const w = {};
      for (const [name, f] of Object.entries(raw)) {
        w[name] = typeof f === 'function' ? (...a) => {
          const depth = engine.state.kernelDepth;
          const t = now();
          try {
            return f(...a);
          } finally {
            addKernel(name, now() - t, depth);
          }
        } : f;
      }
      wrapped.set(raw, w);
    }
    return wrapped.get(raw);
  },
});
let staged = 0;
let stagedOutside = 0;
for (const name of ['gemm', 'gemmTransposedA', 'columnSums', 'denseBackward', 'softmaxRowsForward', 'softmaxRowsBackward', 'adamUpdate']) {
  if (linalg[name]) wrap(linalg, name, (ms, _a, depth) => {
    staged += ms;
    if (depth === 0 && !inOptimizer) stagedOutside += ms;
  });
}
const topLevel = {};
wrap(engine, 'runKernelFunc', (ms, [params], depth) => {
  if (depth !== 0 || inOptimizer) return;
  const k = (topLevel[params.kernelName ?? 'custom op (forward)'] ??= { ms: 0, calls: 0 });
  k.ms += ms;
  k.calls++;
});
let stepMs = 0;
pass((b) => {
  const t = now();
  trainer.step(b);
  stepMs += now() - t;
});
// freeze pass 2's numbers: the timers stay installed through pass 3
const ours = structuredClone(kernels);
const tops = structuredClone(topLevel);
const phases = { ...phase };
const [stagedMs, stagedOutsideMs, oursOutsideMs] = [staged, stagedOutside, oursOutside];
const oursMs = Object.values(ours).reduce((a, k) => a + k.ms, 0);
// the staging functions include the kernels they call; the attention kernels stage their own (inside custom ops)
const oursStagedMs = Object.entries(ours).filter(([n]) => !n.startsWith('attention') && n !== 'adam_update').reduce((a, [, k]) => a + k.ms, 0);
const topMs = Object.values(tops).reduce((a, k) => a + k.ms, 0);

// 3. what the kernels allocate per step, from tf.profile
// (tfjs kernels that wrap others are skipped: custom ops' forwards and fused-op scopes)
const scopes = new Set(['forward', 'fusedMatMul__op']);
let newTensors = 0;
let newBytes = 0;
for (let s = 0; s < steps; s++) {
  const info = await tf.profile(() => trainer.step(batches[warmup + (s % (batches.length - warmup))]));
  for (const k of info.kernels) {
    if (scopes.has(k.name)) continue;
    newTensors += k.outputShapes.length;
    newBytes += 4 * k.outputShapes.reduce((a, shape) => a + (shape ?? []).reduce((x, y) => x * y, 1), 0);
  }
}

const round = (o) => Object.fromEntries(Object.entries(o).sort((a, b) => b[1].ms - a[1].ms).map(([n, k]) => [n, { msPerStep: perStep(k.ms), callsPerStep: k.calls / steps }]));
const fwdBwd = stepMs - phases.denseAdam - phases.sparseAdam;
console.log(JSON.stringify({
  setting: opt.history ? { stage: 'history', layers: 3, heads: 4, H: 50, fill: opt.fill } : { stage: 'base' }, clock: opt.clock,
  backend: backend.name, kernelThreads: linalg.linalg?.threads ?? null, steps, loadavg: loadavg().map((x) => Number(x.toFixed(2))),
  msPerStepMedian: Number(wall.toFixed(3)), msPerStepTimedPass: perStep(stepMs),
  mainThreadCpuMsPerStep: cpuMain, allThreadsCpuMsPerStep: perStep((allCpu.user + allCpu.system) / 1000),
  phases: { forwardBackward: perStep(fwdBwd), denseAdam: perStep(phases.denseAdam), sparseAdam: perStep(phases.sparseAdam) },
  // forward + backward in disjoint parts: top-level tfjs kernels (ours inside them included), our
  // kernels and their staging run by custom ops' backward passes, and JavaScript between ops
  forwardBackward: {
    tfjsKernels: perStep(topMs),
    customBackwardKernels: perStep(oursOutsideMs + Math.max(0, stagedOutsideMs - oursOutsideMs)),
    jsBetweenOps: perStep(fwdBwd - topMs - oursOutsideMs - Math.max(0, stagedOutsideMs - oursOutsideMs)),
  },
  // across the step: our kernels' compute (worker waits included) and the copies staging their inputs and outputs
  ourKernelsTotal: perStep(oursMs),
  stagingCopies: linalg.gemm ? perStep(stagedMs - oursStagedMs) : null,
  ourKernels: round(ours),
  tfjsKernels: round(tops),
  kernelOutputsPerStep: { tensors: newTensors / steps, megabytes: Number((newBytes / steps / 2 ** 20).toFixed(2)) },
}));
process.exit(0);
