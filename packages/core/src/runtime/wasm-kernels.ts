/**
 * A WebAssembly SIMD module of the project's own kernels (compiled from C by
 * `tools/scripts/build-wasm.mjs`, embedded as base64), with the float32 buffers one call needs.
 *
 * The module has its own memory, separate from tfjs's: a kernel call copies its inputs in,
 * runs, and copies its outputs out (memcpy speed, a few ms for tens of MB). Each call lays its
 * buffers out afresh from the module's heap base, so no state survives between calls.
 *
 * A module built with shared memory (it imports `env.memory`) can also run one call split over
 * worker threads (`parallel`): each worker instantiates the same module over the same memory and
 * runs its part while the calling thread runs the first; a part whose worker has not started it
 * when the caller is done with its own (the worker's thread not scheduled, as on a busy machine)
 * is taken back and run by the caller. The caller blocks until every part is done, so to the rest
 * of the program a call is as synchronous as a single-threaded one.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** The slice of the WebAssembly API used here (the project's lib settings have no DOM types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: { new (bytes: Uint8Array): object; imports(module: object): { module: string; name: string }[] };
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
}

interface KernelExports {
  readonly memory: WasmMemory;
  heap_base(): number;
}

const wasmApi = () => (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Pages of 64 KiB: the 2 GiB the kernels are linked for. */
const MAX_PAGES = 32768;
/** Per worker: [state, export index, argument count, failed, ready], then the arguments. */
const CONTROL_INTS = 8;
const MAX_ARGS = 32;
/** A worker's job state; the caller moves IDLE -> POSTED and DONE -> IDLE, or takes a job back POSTED -> IDLE. */
const IDLE = 0;
const POSTED = 1;
const RUNNING = 2;
const DONE = 3;

/**
 * The worker's loop: wait for a posted job, claim it (unless the caller took it back first), run
 * the export on its arguments, signal done.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { bytes, memory, control, names } = workerData;
const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
const ctrl = new Int32Array(control, 0, ${CONTROL_INTS});
const args = new Float64Array(control, ${CONTROL_INTS * 4}, ${MAX_ARGS});
Atomics.store(ctrl, 4, 1);
Atomics.notify(ctrl, 4);
for (;;) {
  for (let s = Atomics.load(ctrl, 0); s !== ${POSTED}; s = Atomics.load(ctrl, 0)) Atomics.wait(ctrl, 0, s);
  if (Atomics.compareExchange(ctrl, 0, ${POSTED}, ${RUNNING}) !== ${POSTED}) continue;
  try {
    exports[names[ctrl[1]]](...args.subarray(0, ctrl[2]));
    ctrl[3] = 0;
  } catch (e) {
    ctrl[3] = 1;
  }
  Atomics.store(ctrl, 0, ${DONE});
  Atomics.notify(ctrl, 0);
}
`;

interface KernelWorker {
  readonly worker: Worker;
  readonly ctrl: Int32Array;
  readonly args: Float64Array;
}

/** Options of {@link WasmKernelModule}. */
export interface WasmKernelModuleOptions {
  /**
   * Threads a `parallel` call may use, the caller's included (default: `TT_KERNEL_THREADS`, else
   * the machine's available parallelism, at most 8). Only for modules built with shared memory.
   */
  readonly threads?: number;
}

/** A lazily instantiated kernel module; `E` is its exported functions. */
export class WasmKernelModule<E> {
  private instance?: E & KernelExports;
  private memory?: WasmMemory;
  private bytes?: Uint8Array;
  private shared = false;
  private workers?: KernelWorker[];
  private threadCount?: number;
  /** the exports' names, sorted: a worker finds a job's function by its index here */
  private names: string[] = [];

  constructor(private readonly base64: string, private readonly options: WasmKernelModuleOptions = {}) {}

  /** The module's exports (instantiated on first use). */
  get exports(): E {
    return this.module();
  }

  /** Threads a `parallel` call uses (1 for a module without shared memory); fixed at first use. */
  get threads(): number {
    this.module();
    if (this.threadCount === undefined) {
      const env = Number(process.env['TT_KERNEL_THREADS']);
      const wanted = this.options.threads ?? (Number.isInteger(env) && env > 0 ? env : Math.min(8, availableParallelism()));
      this.threadCount = this.shared ? Math.max(1, Math.floor(wanted)) : 1;
    }
    return this.threadCount;
  }

  /** Byte offsets of float32 buffers of the given lengths for one call, growing memory as needed. */
  layout<const L extends readonly number[]>(lengths: L): { -readonly [K in keyof L]: number } {
    const m = this.module();
    let at = (m.heap_base() + 15) & ~15;
    const offsets = lengths.map((length) => {
      const offset = at;
      at += (length * 4 + 15) & ~15;
      return offset;
    });
    const memory = this.memory!;
    const missing = at - memory.buffer.byteLength;
    if (missing > 0) memory.grow(Math.ceil(missing / 65536));
    return offsets as { -readonly [K in keyof L]: number };
  }

  /** A view of a buffer; valid until the next `layout` (growth detaches it). */
  view(offset: number, length: number): Float32Array {
    this.module();
    return new Float32Array(this.memory!.buffer, offset, length);
  }

  /** The same buffer read as int32 (ids). */
  int32View(offset: number, length: number): Int32Array {
    this.module();
    return new Int32Array(this.memory!.buffer, offset, length);
  }

  /**
   * Runs export `name` once per part, `parts` parts over up to `threads` threads, and returns
   * when all are done. `argsOf(part)` gives each part's arguments (its slice of the work and its
   * own scratch); without workers the parts run one after another here.
   * @throws Error when a part traps
   */
  parallel(name: keyof E & string, parts: number, argsOf: (part: number) => number[]): void {
    const run = (this.module() as unknown as Record<string, (...a: number[]) => void>)[name]!;
    const workers = parts > 1 ? this.startWorkers(parts - 1) : [];
    const started: Array<{ w: KernelWorker; args: number[] }> = [];
    let failed = false;
    let cause: unknown;
    const runHere = (args: number[]) => {
      try {
        run(...args);
      } catch (e) {
        failed = true;
        cause ??= e;
      }
    };
    for (let p = 1; p < parts; p++) {
      const w = workers[p - 1];
      const args = argsOf(p);
      if (!w) {
        runHere(args);
        continue;
      }
      if (args.length > MAX_ARGS) throw new Error(`${name}: at most ${MAX_ARGS} arguments`);
      w.args.set(args);
      w.ctrl[1] = this.names.indexOf(name);
      w.ctrl[2] = args.length;
      Atomics.store(w.ctrl, 0, POSTED);
      Atomics.notify(w.ctrl, 0);
      started.push({ w, args });
    }
    runHere(argsOf(0));
    // every posted part is settled before returning (or throwing): the next call reuses the memory
    for (const { w, args } of started) {
      // a part no worker has begun yet (its thread not scheduled: a busy machine) runs here instead
      if (Atomics.compareExchange(w.ctrl, 0, POSTED, IDLE) === POSTED) {
        runHere(args);
        continue;
      }
      for (let s = Atomics.load(w.ctrl, 0); s !== DONE; s = Atomics.load(w.ctrl, 0)) Atomics.wait(w.ctrl, 0, s);
      failed ||= w.ctrl[3] !== 0;
      Atomics.store(w.ctrl, 0, IDLE);
    }
    if (failed) throw new Error(`${name}: a part failed`, { cause });
  }

  /** Workers for up to `count` parts (fewer where threads are fewer); started once. */
  private startWorkers(count: number): KernelWorker[] {
    if (!this.shared) return [];
    if (!this.workers) {
      this.workers = [];
      for (let i = 0; i < this.threads - 1; i++) {
        try {
          const control = new SharedArrayBuffer(CONTROL_INTS * 4 + MAX_ARGS * 8);
          const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { bytes: this.bytes, memory: this.memory, control, names: this.names } });
          worker.unref(); // never keeps the process alive
          worker.on('error', () => undefined);
          const ctrl = new Int32Array(control, 0, CONTROL_INTS);
          // a worker takes jobs once it said it is ready; one that does not in 10 s is not used
          if (Atomics.wait(ctrl, 4, 0, 10_000) === 'timed-out' && Atomics.load(ctrl, 4) === 0) {
            void worker.terminate();
            break;
          }
          this.workers.push({ worker, ctrl, args: new Float64Array(control, CONTROL_INTS * 4, MAX_ARGS) });
        } catch {
          break; // no worker threads here: the caller runs every part
        }
      }
    }
    return this.workers.slice(0, count);
  }

  private module(): E & KernelExports {
    if (!this.instance) {
      const wasm = wasmApi();
      this.bytes = Buffer.from(this.base64, 'base64');
      const module = new wasm.Module(this.bytes);
      this.shared = wasm.Module.imports(module).some((i) => i.module === 'env' && i.name === 'memory');
      const memory = this.shared ? new wasm.Memory({ initial: 17, maximum: MAX_PAGES, shared: true }) : undefined;
      this.instance = new wasm.Instance(module, memory ? { env: { memory } } : {}).exports as E & KernelExports;
      this.memory = memory ?? this.instance.memory;
      this.names = Object.keys(this.instance).sort();
    }
    return this.instance;
  }
}
