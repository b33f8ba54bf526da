/**
 * Seeded parameter initialisation in plain JavaScript, so a seed gives the same weights on
 * every backend (tfjs's own initialisers draw from backend-specific generators).
 */
import { mulberry32 } from '@tt/mips';

/** A seeded source of uniform and normal draws. */
export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** uniform in [0, 1) */
  uniform(): number {
    return this.next();
  }
  /** standard normal (Box-Muller) */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  /** integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** a derived generator, so adding a parameter does not shift every later draw */
  fork(salt: number): Rng {
    return new Rng((Math.floor(this.next() * 2 ** 31) ^ Math.imul(salt + 1, 0x9e3779b1)) >>> 0);
  }
}

/** Glorot-uniform `[fanIn, fanOut]` weights. */
export function glorotUniform(rng: Rng, fanIn: number, fanOut: number): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const out = new Float32Array(fanIn * fanOut);
  for (let i = 0; i < out.length; i++) out[i] = (2 * rng.uniform() - 1) * limit;
  return out;
}

/** Normal(0, std^2) values. */
export function normalValues(rng: Rng, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
  return out;
}
