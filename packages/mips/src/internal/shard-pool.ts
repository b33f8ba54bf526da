/**
 * A pool of exact-search shard workers and the request/response plumbing around them.
 *
 * Workers are unref'd while idle so that an index never keeps a process alive, and ref'd while
 * a request is in flight so that an awaited search is never cut short by the process exiting.
 */
import { Worker } from 'node:worker_threads';
import { StateError, TtError } from '../errors.js';
import { shardWorkerMain, type ShardRequest, type ShardResponse, type ShardWorkerData } from './shard-worker.js';

type Pending = { resolve: (r: ShardResponse) => void; reject: (e: Error) => void };
type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
export type ShardRequestBody = DistributiveOmit<ShardRequest, 'id'>;

class ShardWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;

  constructor(source: string, workerData: ShardWorkerData) {
    this.worker = new Worker(source, { eval: true, workerData });
    this.worker.unref();
    this.worker.on('message', (r: ShardResponse) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (this.pending.size === 0) this.worker.unref();
      if (r.ok) p.resolve(r);
      else p.reject(new TtError('E_STATE', `exact-search worker failed: ${r.error}`));
    });
    const failAll = (e: Error) => {
      this.failure = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', (e) => failAll(new TtError('E_STATE', `exact-search worker crashed: ${e.message}`, { cause: e })));
    this.worker.on('exit', (code) => {
      if (this.pending.size > 0) failAll(new StateError(`exact-search worker exited (code ${code})`));
    });
  }

  request(body: ShardRequestBody, transfer: ArrayBuffer[] = []): Promise<ShardResponse> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<ShardResponse>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ ...body, id }, transfer);
    });
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

export class ShardPool {
  readonly workers: ShardWorker[];
  /** the tfjs backend the workers run on (`wasm`, or `cpu` where wasm cannot start) */
  backend = 'unknown';

  private constructor(workers: ShardWorker[]) {
    this.workers = workers;
  }

  static async start(threads: number, dim: number, queryBlock: number): Promise<ShardPool> {
    const workerData: ShardWorkerData = {
      dim,
      queryBlock,
      tfjsCorePath: require.resolve('@tensorflow/tfjs-core'),
      tfjsWasmPath: require.resolve('@tensorflow/tfjs-backend-wasm'),
    };
    const source = `(${shardWorkerMain.toString()})();`;
    const pool = new ShardPool(Array.from({ length: threads }, () => new ShardWorker(source, workerData)));
    const replies = await Promise.all(pool.workers.map((w) => w.request({ op: 'init' })));
    pool.backend = (replies[0] as { backend?: string }).backend ?? 'unknown';
    return pool;
  }

  async terminate(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
