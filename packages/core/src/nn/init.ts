/**
 * Seeded parameter initialisation in plain JavaScript, so a seed gives the same weights on
 * every backend (tfjs's own initialisers draw from backend-specific generators).
 */
/**
 * A seeded source of uniform and normal draws: mulberry32 (the same sequence as `@tt/mips`'s
 * `mulberry32(seed)`), with its 32-bit state readable so a resumed run continues the sequence.
 */
export class Rng {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  private next(): number {
    this.a = (this.a + 0x6d2b79f5) | 0;
    let t = Math.imul(this.a ^ (this.a >>> 15), 1 | this.a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** The generator's position: an unsigned 32-bit integer that {@link Rng.setState} takes back. */
  getState(): number {
    return this.a >>> 0;
  }
  /** Continues the sequence from a position {@link Rng.getState} returned. */
  setState(state: number): void {
    this.a = state >>> 0;
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
