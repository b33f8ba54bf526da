import { mulberry32 } from '@tt/mips';
import { Rng } from './init.js';

describe('Rng', () => {
  it('draws the mulberry32 sequence of its seed', () => {
    const rng = new Rng(12345);
    const ref = mulberry32(12345);
    for (let i = 0; i < 100; i++) expect(rng.uniform()).toBe(ref());
  });

  it('continues the same sequence from a saved state, also in another generator', () => {
    const a = new Rng(7);
    for (let i = 0; i < 13; i++) a.normal();
    const state = a.getState();
    const expected = Array.from({ length: 20 }, () => a.int(1000));
    const b = new Rng(99);
    b.setState(state);
    expect(Array.from({ length: 20 }, () => b.int(1000))).toEqual(expected);
    expect(JSON.parse(JSON.stringify(state))).toBe(state); // a plain JSON number
  });
});
