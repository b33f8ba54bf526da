/**
 * No-copy access to a tensor's backing store, for in-place row writes into embedding tables
 * (RUNTIME.md section 4: O(rows touched) instead of an O(table) copy per step).
 *
 * Safe only for tensors read through `gather` (our embedding tables): wasm's XNNPACK caches
 * packed matMul weights by data id, so an in-place write to a matMul operand would go unseen;
 * and clones share storage (cpu's Identity, and wasm's with our patch), so a clone of a table
 * sees the writes too.
 */
import * as tf from './tf.js';

/** The parts of the wasm backend's internals a view needs (tfjs-backend-wasm 4.22). */
export interface WasmInternals {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
}

/**
 * A view of `length` elements of a wasm-backend tensor's heap storage, by data id (kernels see
 * tensor infos, not tensors), or undefined when the backend does not hold it. Take it after any
 * allocation: heap growth detaches earlier views.
 */
export function wasmHeapView<T extends Float32Array | Int32Array>(
  be: WasmInternals, dataId: object, length: number, type: new (buffer: ArrayBuffer, offset: number, length: number) => T,
): T | undefined {
  const entry = be.dataIdMap.get(dataId);
  return entry ? new type(be.wasm.HEAPU8.buffer as ArrayBuffer, entry.memoryOffset, length) : undefined;
}
interface CpuInternals {
  data: { get(id: object): { values?: unknown } | undefined };
}

/**
 * A Float32Array aliasing `t`'s storage, or undefined where the backend keeps it out of reach
 * (tfjs-node). Take a fresh view each time: wasm memory growth detaches earlier views.
 */
export function storageView(t: tf.Tensor): Float32Array | undefined {
  if (t.dtype !== 'float32') return undefined;
  const name = tf.getBackend();
  const be = tf.backend() as unknown;
  if (name === 'wasm') return wasmHeapView(be as WasmInternals, t.dataId, t.size, Float32Array);
  if (name === 'cpu') {
    const values = (be as CpuInternals).data.get(t.dataId)?.values;
    return values instanceof Float32Array && values.length === t.size ? values : undefined;
  }
  return undefined;
}

/**
 * The values of a float32 tensor the caller is done with, as an array of their own, and the
 * tensor disposed (also when reading fails). Read it outside `tf.tidy`: tidy would walk a
 * returned typed array value by value looking for tensors.
 */
export function takeValues(t: tf.Tensor): Float32Array {
  try {
    return t.dataSync() as Float32Array;
  } finally {
    t.dispose();
  }
}
