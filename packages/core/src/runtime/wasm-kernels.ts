/**
 * A WebAssembly SIMD module of the project's own kernels (compiled from C by
 * `tools/scripts/build-wasm.mjs`, embedded as base64), with the float32 buffers one call needs.
 *
 * The module has its own memory, separate from tfjs's: a kernel call copies its inputs in,
 * runs, and copies its outputs out (memcpy speed, a few ms for tens of MB). Each call lays its
 * buffers out afresh from the module's heap base, so no state survives between calls.
 */

/** The slice of the WebAssembly API used here (the project's lib settings have no DOM types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
}

interface KernelExports {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  heap_base(): number;
}

/** A lazily instantiated kernel module; `E` is its exported functions. */
export class WasmKernelModule<E> {
  private instance?: E & KernelExports;

  constructor(private readonly base64: string) {}

  /** The module's exports (instantiated on first use). */
  get exports(): E {
    return this.module();
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
    const missing = at - m.memory.buffer.byteLength;
    if (missing > 0) m.memory.grow(Math.ceil(missing / 65536));
    return offsets as { -readonly [K in keyof L]: number };
  }

  /** A view of a buffer; valid until the next `layout` (growth detaches it). */
  view(offset: number, length: number): Float32Array {
    return new Float32Array(this.module().memory.buffer, offset, length);
  }

  /** The same buffer read as int32 (ids). */
  int32View(offset: number, length: number): Int32Array {
    return new Int32Array(this.module().memory.buffer, offset, length);
  }

  private module(): E & KernelExports {
    if (!this.instance) {
      const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
      this.instance = new wasm.Instance(new wasm.Module(Buffer.from(this.base64, 'base64')), {}).exports as E & KernelExports;
    }
    return this.instance;
  }
}
