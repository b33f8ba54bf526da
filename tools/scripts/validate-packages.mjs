#!/usr/bin/env node
// For every published package: build (tsc -b, a no-op when dist is up to date), `npm pack` it, and
// lint the tarball itself, i.e. exactly what npm would publish:
//  - publint, strict (warnings fail; suggestions are printed but pass): package.json fields that
//    point at missing or unpublished files, exports-map order and formats, files, bin, types...
//  - a LICENSE file in the tarball when package.json declares a license;
//  - arethetypeswrong, profile node16: the types TypeScript resolves for each entry point match the
//    JavaScript Node loads, under node16/nodenext from CJS and from ESM and under bundler. node10
//    (moduleResolution "node") is left out as Node < 16 is unsupported (engines: node >= 20.19).
//    No rule is ignored: our CommonJS packages being loaded from ESM (`import { x } from '@tt/core'`,
//    as the README examples do) is normal, and attw checks that the named exports survive it.
//
//   node tools/scripts/validate-packages.mjs              all published packages (exit 1 on a problem)
//   node tools/scripts/validate-packages.mjs @tt/mips     some of them
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root, selectedFromArgv } from './published-packages.mjs';
import { promisify } from 'node:util';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';

const selected = selectedFromArgv();
const PROFILE = 'node16';
const IGNORED_RESOLUTIONS = ['node10']; // what attw's node16 profile leaves out, for the report

const exec = promisify(execFile);

console.log(`validate-packages: building and packing ${selected.length} packages`);
try {
  execFileSync('npx', ['tsc', '-b', ...selected.map(({ dir }) => join(dir, 'tsconfig.lib.json'))], { cwd: root, stdio: 'inherit' });
} catch {
  console.error('validate-packages: the build failed (tsc output above), nothing was validated');
  process.exit(1);
}
const work = mkdtempSync(join(tmpdir(), 'tt-validate-'));

// problems fail the package, notes (publint suggestions) are only printed
async function check({ dir, pkg }) {
  const problems = [];
  const notes = [];
  try {
    const packed = JSON.parse((await exec('npm', ['pack', '--json', '--pack-destination', work], { cwd: dir })).stdout);
    const tgz = join(work, packed[0].filename);
    // a declared license travels with the code: npm adds a package's own LICENSE file, never the root's
    if (pkg.license && !packed[0].files.some((f) => /^LICEN[CS]E(\.|$)/i.test(f.path))) problems.push(`license "${pkg.license}" declared but no LICENSE file in the tarball`);

    const { messages, pkg: packedPkg } = await publint({ pack: { tarball: readFileSync(tgz) }, strict: true, level: 'suggestion' });
    for (const m of messages) (m.type === 'suggestion' ? notes : problems).push(`publint ${m.type}: ${formatMessage(m, packedPkg, { color: false })}`);

    let attw;
    try {
      attw = (await exec('npx', ['--no', 'attw', tgz, '--profile', PROFILE, '--format', 'json'], { cwd: root, maxBuffer: 1 << 28 })).stdout;
    } catch (e) {
      if (e.code !== 1 || !e.stdout) throw e; // exit 1: problems, listed below; anything else: attw itself failed
      attw = e.stdout;
    }
    for (const p of JSON.parse(attw).analysis.problems ?? [])
      if (!IGNORED_RESOLUTIONS.includes(p.resolutionKind))
        problems.push(`attw ${p.kind} (${[p.entrypoint && `"${p.entrypoint}"`, p.resolutionKind, p.typesFileName, p.implementationFileName].filter(Boolean).join(', ')})`);
  } catch (e) {
    problems.push(e.message.trim());
  }
  return { problems, notes };
}

let failures = 0;
const results = await Promise.all(selected.map(check));
selected.forEach(({ pkg }, i) => {
  const { problems, notes } = results[i];
  if (problems.length) failures++;
  if (problems.length) console.log(`FAIL ${pkg.name}: ${[...problems, ...notes].join('; ')}`);
  else console.log(`ok   ${pkg.name}${notes.length ? ` (${notes.join('; ')})` : ''}`);
});
rmSync(work, { recursive: true, force: true });
console.log(`validate-packages: ${selected.length - failures} of ${selected.length} packages pass publint (strict) and arethetypeswrong (${PROFILE}) and carry a LICENSE`);
process.exit(failures ? 1 : 0);
