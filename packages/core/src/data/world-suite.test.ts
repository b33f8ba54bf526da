import { ConfigError } from '../errors.js';
import { syntheticWorld } from './synthetic.js';
import { HELD_OUT_WORLD, HELD_OUT_WORLDS, worldByName, WORLD_SUITE } from './world-suite.js';

describe('the world suite', () => {
  it('has at least six distinct worlds and held-out ones, found by name', () => {
    expect(WORLD_SUITE.length).toBeGreaterThanOrEqual(6);
    const names = [...WORLD_SUITE, ...HELD_OUT_WORLDS].map((w) => w.name);
    expect(new Set(names).size).toBe(names.length);
    for (const w of WORLD_SUITE) expect(worldByName(w.name)).toBe(w);
    expect(worldByName('held-out')).toBe(HELD_OUT_WORLD);
    expect(worldByName('held-out-2')).toBe(HELD_OUT_WORLDS[1]);
    expect(() => worldByName('flat')).toThrow(ConfigError);
  });

  it.each([...WORLD_SUITE, ...HELD_OUT_WORLDS].map((w) => [w.name, w] as const))('%s is deterministic per seed (at a small size)', (_name, w) => {
    // the world's own knobs at a tenth of its size, so the test stays fast
    const opts = { ...w.options, numUsers: 300, numItems: 200, impressions: 4000, validation: true };
    const a = syntheticWorld({ ...opts, seed: 5 });
    const b = syntheticWorld({ ...opts, seed: 5 });
    for (const key of ['user', 'item', 'labels', 'position', 'rankerScores'] as const) {
      expect(b.train[key]).toEqual(a.train[key]);
      expect(b.test[key]).toEqual(a.test[key]);
    }
    expect(b.truth!.valueOfAllItems(3)).toEqual(a.truth!.valueOfAllItems(3));
    expect(syntheticWorld({ ...opts, seed: 6 }).train.item).not.toEqual(a.train.item);
  });
});
