/**
 * No-copy access to a tensor's backing store, for in-place row writes into embedding tables
 * (RUNTIME.md section 4: O(rows touched) instead of an O(table) copy per step).
 *
 * Safe only for tensors read through `gather` (our embedding tables): wasm's XNNPACK caches
 * packed matMul weights by data id, so an in-place write to a matMul operand would go unseen.
 */
import * as tf from './tf.js';

interface WasmInternals {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
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
  if (name === 'wasm') {
    const w = be as WasmInternals;
    const entry = w.dataIdMap.get(t.dataId);
    if (!entry) return undefined;
    return new Float32Array(w.wasm.HEAPU8.buffer, entry.memoryOffset, t.size);
  }
  if (name === 'cpu') {
    const values = (be as CpuInternals).data.get(t.dataId)?.values;
    return values instanceof Float32Array && values.length === t.size ? values : undefined;
  }
  return undefined;
}
