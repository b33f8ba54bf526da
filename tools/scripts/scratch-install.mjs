#!/usr/bin/env node
// For every published package: build, `npm pack`, install the tarball alone (with its declared
// dependencies only; sibling @tt/* dependencies from their own tarballs) into an empty scratch
// project, and run the first ```js block of its README there as example.mjs.
//
//   node tools/scripts/scratch-install.mjs              all published packages
//   node tools/scripts/scratch-install.mjs @tt/mips     some of them
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packages, root, selectedFromArgv } from './published-packages.mjs';

const byName = new Map(packages.map((p) => [p.pkg.name, p]));
const selected = selectedFromArgv();

const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });

function ttClosure(name, acc = new Set()) {
  if (acc.has(name)) return acc;
  acc.add(name);
  const { pkg } = byName.get(name);
  // optional peers stay out: the package must install and run without them (e.g. @tt/cli without @tt/lancedb)
  const optional = new Set(Object.entries(pkg.peerDependenciesMeta ?? {}).filter(([, m]) => m.optional).map(([n]) => n));
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies })) if (byName.has(dep) && !optional.has(dep)) ttClosure(dep, acc);
  return acc;
}

console.log(`scratch-install: building ${packages.length} packages`);
run('npx', ['nx', 'run-many', '-t', 'build', '--outputStyle=static'], root);
const work = mkdtempSync(join(tmpdir(), 'tt-scratch-'));
const tarballs = new Map();
for (const { dir, pkg } of packages) {
  const out = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], dir));
  tarballs.set(pkg.name, join(work, out[0].filename));
}

let failures = 0;
for (const { dir, pkg } of selected) {
  const project = join(work, `try-${pkg.name.replace('@tt/', '')}`);
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'scratch', version: '1.0.0', private: true }));
  const example = /```js\n([\s\S]*?)```/.exec(readFileSync(join(dir, 'README.md'), 'utf8'))?.[1];
  try {
    if (!example) throw new Error('README.md has no ```js example block');
    const tgz = [...ttClosure(pkg.name)].map((n) => tarballs.get(n));
    run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tgz], project);
    const installed = readdirSync(join(project, 'node_modules', '@tt'));
    writeFileSync(join(project, 'example.mjs'), example);
    const output = run('node', ['example.mjs'], project);
    console.log(`ok   ${pkg.name} (installed @tt/${installed.join(', @tt/')}); example printed:\n${output.trim().replace(/^/gm, '     ')}`);
  } catch (e) {
    failures++;
    console.error(`FAIL ${pkg.name}: ${e.message}`);
  }
}
rmSync(work, { recursive: true, force: true });
console.log(`scratch-install: ${selected.length - failures} of ${selected.length} packages installed alone and ran their README example`);
process.exit(failures ? 1 : 0);
