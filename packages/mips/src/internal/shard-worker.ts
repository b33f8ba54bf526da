/**
 * The body of one exact-search shard worker.
 *
 * Each worker owns some blocks of the corpus, stored transposed as `[D, n]` tensors on its own
 * tfjs wasm backend, so that `queries [q,D] x block [D,n]` takes XNNPACK's untransposed fast
 * path and reuses its packed weights (cached per tensor). Scores of a block are scanned in
 * place on the wasm heap into per-query top-k lists, so memory stays bounded by
 * `queryBlock x blockSize` whatever the corpus size.
 *
 * The function is shipped to `new Worker(source, { eval: true })` as text, so it must be
 * self-contained: no imports, only `require` of the absolute paths passed in `workerData`.
 * Running workers in their own realm keeps this package's tfjs engine separate from the
 * application's (a `@tt/core` user may run tfjs on another backend in the main thread).
 */

/** Messages from the main thread. */
export type ShardRequest =
  | { op: 'init'; id: number }
  | {
      op: 'setBlock';
      id: number;
      block: number;
      start: number;
      /** row-major `[n, dim]` */
      rows: Float32Array;
      /** tie-break key per row (smaller wins on equal scores) */
      keys: Float64Array;
      /** 1 where the slot holds no live vector */
      dead: Uint8Array;
    }
  | {
      op: 'search';
      id: number;
      /** row-major `[q, dim]` */
      queries: Float32Array;
      k: number;
      /** CSR lists of excluded slots per query: offsets `[q+1]`, slots */
      excludeOffsets?: Int32Array;
      excludeSlots?: Int32Array;
    };

export type ShardResponse =
  | { id: number; ok: true; backend?: string; slots?: Int32Array; scores?: Float32Array; keys?: Float64Array }
  | { id: number; ok: false; error: string };

export interface ShardWorkerData {
  dim: number;
  queryBlock: number;
  tfjsCorePath: string;
  tfjsWasmPath: string;
}

/* istanbul ignore next: runs in a worker from its source text */
export function shardWorkerMain(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parentPort, workerData } = require('node:worker_threads') as typeof import('node:worker_threads');
  const data = workerData as ShardWorkerData;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tf = require(data.tfjsCorePath) as typeof import('@tensorflow/tfjs-core');
  const dim = data.dim;

  interface Block {
    start: number;
    n: number;
    t: import('@tensorflow/tfjs-core').Tensor2D; // [dim, n]
    keys: Float64Array;
    dead: Uint8Array;
  }
  const blocks = new Map<number, Block>();
  let heapView: ((t: import('@tensorflow/tfjs-core').Tensor) => Float32Array) | undefined;

  async function init(): Promise<string> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(data.tfjsWasmPath);
    tf.env().set('PROD', true); // silences the "running in Node.js" banner (IS_TEST would add leak checks)
    let ok = false;
    try {
      ok = await tf.setBackend('wasm');
    } catch {
      ok = false;
    }
    if (!ok) await tf.setBackend('cpu');
    const be = tf.backend() as unknown as {
      wasm?: { HEAPU8: Uint8Array };
      dataIdMap?: { get(id: object): { memoryOffset: number } | undefined };
    };
    if (tf.getBackend() === 'wasm' && be.wasm && be.dataIdMap) {
      const wasm = be.wasm;
      const map = be.dataIdMap;
      // a no-copy view of a tensor's storage; taken right after the op that made it, because a
      // later allocation may grow (and so move) the heap
      heapView = (t) => {
        const entry = map.get(t.dataId);
        if (entry === undefined) return t.dataSync() as Float32Array;
        return new Float32Array(wasm.HEAPU8.buffer, entry.memoryOffset, t.size);
      };
    }
    return tf.getBackend();
  }

  function setBlock(msg: Extract<ShardRequest, { op: 'setBlock' }>): void {
    const n = msg.keys.length;
    blocks.get(msg.block)?.t.dispose();
    // transpose straight into the tensor's storage (no intermediate copy: at 1M items these add
    // up to the corpus size); written before its first matMul, so XNNPACK packs the final values
    const t = tf.zeros([dim, n], 'float32') as import('@tensorflow/tfjs-core').Tensor2D;
    const tr = heapView ? heapView(t) : new Float32Array(dim * n);
    for (let j = 0; j < n; j++) {
      for (let d = 0; d < dim; d++) tr[d * n + j] = msg.rows[j * dim + d] as number;
    }
    const block = heapView ? t : (t.dispose(), tf.tensor2d(tr, [dim, n]));
    blocks.set(msg.block, { start: msg.start, n, t: block, keys: msg.keys, dead: msg.dead });
  }

  function search(msg: Extract<ShardRequest, { op: 'search' }>): ShardResponse {
    const { queries, k } = msg;
    const q = queries.length / dim;
    const slots = new Int32Array(q * k).fill(-1);
    const scores = new Float32Array(q * k).fill(-Infinity);
    const keys = new Float64Array(q * k).fill(Infinity);
    const excl: (Set<number> | undefined)[] = new Array(q);
    if (msg.excludeOffsets && msg.excludeSlots) {
      for (let r = 0; r < q; r++) {
        const a = msg.excludeOffsets[r] as number;
        const b = msg.excludeOffsets[r + 1] as number;
        if (b > a) excl[r] = new Set(msg.excludeSlots.subarray(a, b));
      }
    }
    const ordered = [...blocks.values()].sort((x, y) => x.start - y.start);
    for (let q0 = 0; q0 < q; q0 += data.queryBlock) {
      const qb = Math.min(data.queryBlock, q - q0);
      const qt = tf.tensor2d(queries.subarray(q0 * dim, (q0 + qb) * dim), [qb, dim]);
      for (const blk of ordered) {
        const s = tf.matMul(qt, blk.t); // [qb, n]
        const v = heapView ? heapView(s) : (s.dataSync() as Float32Array);
        const n = blk.n;
        for (let r = 0; r < qb; r++) {
          const o = (q0 + r) * k;
          const last = o + k - 1;
          const ex = excl[q0 + r];
          let thr = scores[last] as number;
          let thrKey = keys[last] as number;
          const ro = r * n;
          const end = ro + n;
          for (let i = ro; ; i++) {
            // skip scores below the current k-th, four at a time (most of the work, ~0.8 ns each)
            while (i + 4 <= end && (v[i] as number) < thr && (v[i + 1] as number) < thr && (v[i + 2] as number) < thr && (v[i + 3] as number) < thr) i += 4;
            while (i < end && (v[i] as number) < thr) i++;
            if (i >= end) break;
            const x = v[i] as number;
            const j = i - ro;
            const key = blk.keys[j] as number;
            if (x === thr && key >= thrKey) continue;
            if (blk.dead[j] === 1) continue;
            const slot = blk.start + j;
            if (ex !== undefined && ex.has(slot)) continue;
            // insertion into the sorted list (score desc, key asc)
            let p = last;
            while (p > o) {
              const ps = scores[p - 1] as number;
              if (ps > x || (ps === x && (keys[p - 1] as number) < key)) break;
              scores[p] = ps;
              keys[p] = keys[p - 1] as number;
              slots[p] = slots[p - 1] as number;
              p--;
            }
            scores[p] = x;
            keys[p] = key;
            slots[p] = slot;
            thr = scores[last] as number;
            thrKey = keys[last] as number;
          }
        }
        s.dispose();
      }
      qt.dispose();
    }
    return { id: msg.id, ok: true, slots, scores, keys };
  }

  parentPort!.on('message', (msg: ShardRequest) => {
    const reply = (r: ShardResponse, transfer: ArrayBuffer[] = []) => parentPort!.postMessage(r, transfer);
    const fail = (e: unknown) =>
      reply({ id: msg.id, ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    try {
      switch (msg.op) {
        case 'init':
          init().then((backend) => reply({ id: msg.id, ok: true, backend }), fail);
          return;
        case 'setBlock':
          setBlock(msg);
          reply({ id: msg.id, ok: true });
          return;
        case 'search': {
          const r = search(msg);
          reply(r, r.ok && r.slots && r.scores && r.keys ? [r.slots.buffer, r.scores.buffer, r.keys.buffer] as ArrayBuffer[] : []);
          return;
        }
      }
    } catch (e) {
      fail(e);
    }
  });
}
