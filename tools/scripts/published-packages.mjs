// The workspace's published packages (packages/*, not private), for the scripts that pack them.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** `{ dir, pkg }` of every published package, in folder order. */
export const packages = readdirSync(join(root, 'packages'))
  .map((d) => join(root, 'packages', d))
  .filter((d) => existsSync(join(d, 'package.json')))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter(({ pkg }) => !pkg.private);

/** The packages named on the command line, or all of them. */
export function selectedFromArgv(argv = process.argv.slice(2)) {
  return argv.length ? packages.filter((p) => argv.includes(p.pkg.name)) : packages;
}
