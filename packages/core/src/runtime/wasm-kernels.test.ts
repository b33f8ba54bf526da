import { LINALG_WASM_BASE64 } from './linalg-wasm.js';
import { WasmKernelModule } from './wasm-kernels.js';

interface Linalg {
  matmul_tn(K: number, M: number, N: number, m0: number, m1: number, a: number, b: number, out: number): void;
}

function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5);
}

describe('WasmKernelModule', () => {
  const [K, M, N] = [300, 13, 10];
  const a = seeded(K * M, 1);
  const b = seeded(K * N, 2);
  const want = new Float32Array(M * N);
  for (let k = 0; k < K; k++) for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) want[m * N + n]! += a[k * M + m]! * b[k * N + n]!;

  function product(mod: WasmKernelModule<Linalg>, parts: number): Float32Array {
    const [ao, bo, oo] = mod.layout([K * M, K * N, M * N]);
    mod.view(ao, K * M).set(a);
    mod.view(bo, K * N).set(b);
    const rows = (p: number) => Math.min(M, 4 * Math.ceil((p * M) / parts / 4));
    mod.parallel('matmul_tn', parts, (p) => [K, M, N, rows(p), rows(p + 1), ao, bo, oo]);
    return mod.view(oo, M * N).slice();
  }

  it('lays out 16-byte aligned, disjoint buffers and grows its memory for them', () => {
    const mod = new WasmKernelModule<Linalg>(LINALG_WASM_BASE64, { threads: 1 });
    const [x, y, z] = mod.layout([3, 5, 40_000_000]);
    expect([x % 16, y % 16, z % 16]).toEqual([0, 0, 0]);
    expect(y).toBeGreaterThanOrEqual(x + 12);
    expect(z).toBeGreaterThanOrEqual(y + 20);
    const big = mod.view(z, 40_000_000);
    big[big.length - 1] = 7; // inside the grown memory
    expect(mod.view(z, 40_000_000)[39_999_999]).toBe(7);
  });

  it('splits one call over worker threads with the same result as one part, and reports a failed part', () => {
    const threaded = new WasmKernelModule<Linalg>(LINALG_WASM_BASE64, { threads: 3 });
    expect(threaded.threads).toBe(3);
    const single = product(new WasmKernelModule<Linalg>(LINALG_WASM_BASE64, { threads: 1 }), 1);
    single.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 4));
    expect(Array.from(product(threaded, 3))).toEqual(Array.from(single));
    expect(Array.from(product(threaded, 2))).toEqual(Array.from(single)); // fewer parts than threads
    // a part that reads out of bounds traps in its worker: the call throws, and the module still works
    const [ao, bo, oo] = threaded.layout([K * M, K * N, M * N]);
    expect(() => threaded.parallel('matmul_tn', 2, (p) => [K, M, N, p * 8, p === 0 ? 8 : M, p === 0 ? ao : 0x7fff0000, bo, oo])).toThrow(/failed/);
    expect(Array.from(product(threaded, 3))).toEqual(Array.from(single));
  });
});
