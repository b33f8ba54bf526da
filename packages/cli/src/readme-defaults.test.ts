/**
 * Each stage package's README lists its options with their defaults; the tables drifted from the
 * `*_DEFAULTS` objects once (a default changed, the README kept the old one). Every default is
 * read here from the object the code uses and looked up in the README's options table.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEBIAS_DEFAULTS } from '@tt/debias';
import { DISTILL_DEFAULTS } from '@tt/distill';
import { HISTORY_DEFAULTS } from '@tt/history-encoder';
import { LIGHT_RANKER_DEFAULTS } from '@tt/light-ranker';
import { REWARD_ALIGN_DEFAULTS } from '@tt/reward-align';

const packages = resolve(__dirname, '..', '..');

/** The default cell of each `| \`option\` | default | meaning |` row, by option name. */
export function optionDefaults(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of markdown.matchAll(/^\| `(\w+)` \| ([^|]*) \|/gm)) if (!out.has(m[1]!)) out.set(m[1]!, m[2]!.trim());
  return out;
}

/** Whether a README cell states `value`: one of its words, quotes and backticks aside, numbers compared as numbers. */
export function cellStates(cell: string, value: string | number | boolean): boolean {
  const words = cell.match(/[^\s`'"(),]+/g) ?? [];
  return words.some((w) => (typeof value === 'number' ? Number(w) === value : w === String(value)));
}

describe.each([
  ['history-encoder', HISTORY_DEFAULTS, []],
  ['light-ranker', LIGHT_RANKER_DEFAULTS, []],
  ['distill', DISTILL_DEFAULTS, []],
  ['reward-align', REWARD_ALIGN_DEFAULTS, []],
  // `userFloor` is not an option: it is `floor`'s default for `debias-user`, stated in the floor row
  ['debias', DEBIAS_DEFAULTS, ['userFloor']],
] as const)('%s README options table', (name, defaults, notOptions) => {
  const table = optionDefaults(readFileSync(join(packages, name, 'README.md'), 'utf8'));
  const entries = Object.entries(defaults).filter(([key]) => !(notOptions as readonly string[]).includes(key));

  it.each(entries)('states the default of %s', (key, value) => {
    const cell = table.get(key);
    if (cell === undefined) throw new Error(`packages/${name}/README.md has no options row for \`${key}\` (default ${JSON.stringify(value)})`);
    expect({ key, cell, states: cellStates(cell, value as string | number | boolean) }).toEqual({ key, cell, states: true });
  });
});

it("the debias README's floor row states debias-user's own default", () => {
  const floor = optionDefaults(readFileSync(join(packages, 'debias', 'README.md'), 'utf8')).get('floor') ?? '';
  expect(cellStates(floor, DEBIAS_DEFAULTS.floor) && cellStates(floor, DEBIAS_DEFAULTS.userFloor)).toBe(true);
});

describe('the table reader', () => {
  it('reads the first table row of each option and compares numbers by value', () => {
    const md = '| option | default | meaning |\n|---|---|---|\n| `floor` | `1e-3` (`0.1` for `debias-user`) | x |\n| `block` | `\'plain\'` | y |\n| `floor` | 7 | later |\n';
    const table = optionDefaults(md);
    expect([...table.keys()]).toEqual(['floor', 'block']);
    expect(cellStates(table.get('floor')!, 0.001)).toBe(true);
    expect(cellStates(table.get('floor')!, 0.01)).toBe(false);
    expect(cellStates(table.get('block')!, 'plain')).toBe(true);
    expect(cellStates('true', false)).toBe(false);
  });
});
