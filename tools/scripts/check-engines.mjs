#!/usr/bin/env node
// Checks that the Node versions tt claims are true: the root and every published package declare
// the same `engines.node`, and its minimum version satisfies the `engines.node` of every package
// package-lock.json installs (what `npm ci` checks, warning EBADENGINE otherwise), so `npm ci` on
// the claimed minimum prints no engine warning and no dependency asks for a newer Node than we say.
//
//   node tools/scripts/check-engines.mjs              check this workspace (exit 1 on a violation)
//   node tools/scripts/check-engines.mjs --self-test  prove the check catches what it should
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { packages, root } from './published-packages.mjs';

/**
 * The violations of one workspace: `claims` are `[name, engines.node]` of the root and the
 * published packages; `lock` is package-lock.json's `packages` map.
 */
export function engineViolations(claims, lock) {
  const problems = [];
  const ranges = new Set(claims.map(([, range]) => range));
  for (const [name, range] of claims) if (!range) problems.push(`${name} declares no engines.node`);
  if (ranges.size > 1) problems.push(`engines.node differs between packages: ${claims.map(([n, r]) => `${n} ${r}`).join(', ')}`);
  const claim = claims[0]?.[1];
  const min = claim && semver.validRange(claim) ? semver.minVersion(claim) : null;
  if (!min) {
    problems.push(`engines.node ${JSON.stringify(claim)} is not a semver range with a minimum`);
    return problems;
  }
  for (const [path, entry] of Object.entries(lock)) {
    // the root and the workspace folders are the claims themselves
    if (!path.includes('node_modules/') || entry.link) continue;
    const needs = entry.engines?.node;
    if (needs && !semver.satisfies(min, needs)) problems.push(`${path}@${entry.version} needs node ${needs}; tt claims ${claim} (minimum ${min.version})`);
  }
  return problems;
}

function selfTest() {
  const claims = [['root', '>=20.19'], ['@tt/a', '>=20.19']];
  const ok = { 'node_modules/x': { version: '1.0.0', engines: { node: '>=20' } }, 'packages/a': { engines: { node: '>=22' } } };
  const cases = [
    ['a dependency that needs a newer Node', claims, { ...ok, 'node_modules/y': { version: '2.0.0', engines: { node: '>=22' } } }, 1],
    ['packages that disagree', [...claims, ['@tt/b', '>=22']], ok, 1],
    ['a package without a claim', [...claims, ['@tt/b', undefined]], ok, 2],
    ['a consistent workspace', claims, ok, 0],
  ];
  for (const [what, c, lock, expected] of cases) {
    const got = engineViolations(c, lock).length;
    if (got !== expected) throw new Error(`self-test: ${what}: expected ${expected} violation(s), got ${got}`);
  }
  console.log(`check-engines self-test: ${cases.length} cases ok`);
}

if (process.argv.includes('--self-test')) selfTest();
else {
  const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const claims = [['(root)', rootPkg.engines?.node], ...packages.map(({ pkg }) => [pkg.name, pkg.engines?.node])];
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')).packages;
  const problems = engineViolations(claims, lock);
  if (problems.length) {
    for (const p of problems) console.error(`check-engines: ${p}`);
    process.exit(1);
  }
  console.log(`check-engines: node ${claims[0][1]} holds for ${claims.length - 1} packages and ${Object.keys(lock).filter((p) => p.includes('node_modules/')).length} installed dependencies`);
}
