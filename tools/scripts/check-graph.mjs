#!/usr/bin/env node
// Enforces the package graph: every import in a package's src/ must be declared in its
// package.json (dependencies / peerDependencies / optionalDependencies; test files may also use
// devDependencies), @tt/* edges must be allowed by the architecture table below, the graph must
// be acyclic, and tsconfig.lib.json references must match the @tt/* dependencies.
//
//   node tools/scripts/check-graph.mjs              check this workspace (exit 1 on a violation)
//   node tools/scripts/check-graph.mjs --self-test  prove the check catches what it should
import { builtinModules } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The arrows of shared/design/ARCHITECTURE.md. Adding one is a design change: edit it here too.
export const ALLOWED_TT_DEPS = {
  '@tt/mips': [],
  '@tt/core': ['@tt/mips'],
  '@tt/history-encoder': ['@tt/core', '@tt/mips'],
  '@tt/debias': ['@tt/core', '@tt/mips'],
  '@tt/reward-align': ['@tt/core', '@tt/mips'],
  '@tt/light-ranker': ['@tt/core', '@tt/mips'],
  '@tt/distill': ['@tt/light-ranker', '@tt/core', '@tt/mips'],
  '@tt/lancedb': ['@tt/core', '@tt/mips'], // serving from a LanceDB table; only its users install the native client
  '@tt/cli': ['*'],
  '@tt/test-utils': ['*'],
  '@tt/release-tools': [], // private (tools/release): tests of the release flow, no @tt/* imports
};

const BUILTINS = new Set(builtinModules);
const SOURCE = /\.(c|m)?(t|j)s$/;
const IMPORT_RES = [
  /\bimport\s+(?:type\s+)?(?:[\w*${}\s,]+?\s+from\s+)?['"]([^'"]+)['"]/g,
  /\bexport\s+(?:type\s+)?[\w*${}\s,]*?\s+from\s+['"]([^'"]+)['"]/g,
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\brequire(?:\.resolve)?\(\s*['"]([^'"]+)['"]\s*\)/g,
];

function packageNameOf(spec) {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function* walk(dir) {
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist' || entry === 'out-tsc') continue;
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (SOURCE.test(entry)) yield p;
  }
}

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

export function importsOf(text) {
  const found = new Set();
  const code = stripComments(text);
  for (const re of IMPORT_RES) for (const m of code.matchAll(re)) found.add(m[1]);
  return [...found];
}

function workspacePackages(root) {
  const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const dirs = [];
  for (const pattern of rootPkg.workspaces ?? []) {
    const base = join(root, pattern.replace(/\/\*$/, ''));
    if (!existsSync(base)) continue;
    for (const d of readdirSync(base)) if (existsSync(join(base, d, 'package.json'))) dirs.push(join(base, d));
  }
  return { rootPkg, packages: dirs.map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) })) };
}

/** Returns a list of violations (empty when the workspace is clean). */
export function checkWorkspace(root) {
  const errors = [];
  const { rootPkg, packages } = workspacePackages(root);
  const byName = new Map(packages.map((p) => [p.pkg.name, p]));
  const graph = new Map();
  for (const { dir, pkg } of packages) {
    const where = relative(root, dir);
    const runtime = new Set([
      ...Object.keys(pkg.dependencies ?? {}),
      ...Object.keys(pkg.peerDependencies ?? {}),
      ...Object.keys(pkg.optionalDependencies ?? {}),
      pkg.name,
    ]);
    const testOnly = new Set([...runtime, ...Object.keys(pkg.devDependencies ?? {}), ...Object.keys(rootPkg.devDependencies ?? {})]);
    const srcDir = join(dir, 'src');
    if (existsSync(srcDir)) {
      for (const file of walk(srcDir)) {
        const isTest = /\.(test|spec)\.[cm]?[tj]s$/.test(file) || file.includes(`${join('src', '__tests__')}`);
        for (const spec of importsOf(readFileSync(file, 'utf8'))) {
          if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:') || BUILTINS.has(spec)) continue;
          const name = packageNameOf(spec);
          if (!(isTest ? testOnly : runtime).has(name)) {
            errors.push(`${relative(root, file)}: imports '${spec}' but ${where}/package.json does not declare ${name}${isTest ? '' : ' in dependencies or peerDependencies'}`);
          }
        }
      }
    }
    // @tt/* edges: declared, existing, allowed by the architecture, version-compatible
    const ttDeps = Object.entries({ ...pkg.dependencies, ...pkg.peerDependencies }).filter(([n]) => n.startsWith('@tt/'));
    graph.set(pkg.name, ttDeps.map(([n]) => n));
    const allowed = ALLOWED_TT_DEPS[pkg.name];
    if (pkg.name.startsWith('@tt/') && allowed === undefined) {
      errors.push(`${where}: ${pkg.name} is not in the architecture table of tools/scripts/check-graph.mjs`);
    }
    for (const [dep, range] of ttDeps) {
      const target = byName.get(dep);
      if (!target) {
        errors.push(`${where}: depends on ${dep}, which is not a workspace package`);
        continue;
      }
      if (allowed && !allowed.includes('*') && !allowed.includes(dep)) {
        errors.push(`${where}: ${pkg.name} -> ${dep} is not an arrow of the architecture (allowed: ${allowed.join(', ') || 'none'})`);
      }
      const [major, minor] = target.pkg.version.split('.');
      const ok = range === target.pkg.version || range === `^${target.pkg.version}` || (range.startsWith('^') && range.slice(1).split('.')[0] === major && (major !== '0' || range.slice(1).split('.')[1] === minor));
      if (!ok) errors.push(`${where}: ${dep}@${range} does not accept the workspace version ${target.pkg.version}`);
    }
    const libTsconfig = join(dir, 'tsconfig.lib.json');
    if (existsSync(libTsconfig)) {
      const text = readFileSync(libTsconfig, 'utf8').replace(/^\s*\/\/.*$/gm, '');
      const refs = (JSON.parse(text).references ?? []).map((r) => resolve(dir, r.path));
      const want = ttDeps.map(([n]) => byName.get(n)).filter(Boolean).map((t) => join(t.dir, 'tsconfig.lib.json'));
      const have = new Set(refs.map((r) => (r.endsWith('.json') ? r : join(r, 'tsconfig.json'))));
      for (const w of want) if (!have.has(w)) errors.push(`${where}/tsconfig.lib.json: missing reference to ${relative(dir, w)}`);
    }
  }
  // cycles
  const state = new Map();
  const visit = (name, path) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'open') {
      errors.push(`dependency cycle: ${[...path, name].join(' -> ')}`);
      return;
    }
    state.set(name, 'open');
    for (const d of graph.get(name) ?? []) visit(d, [...path, name]);
    state.set(name, 'done');
  };
  for (const name of graph.keys()) visit(name, []);
  return errors;
}

function selfTest() {
  const root = mkdtempSync(join(tmpdir(), 'tt-graph-'));
  const write = (p, text) => {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), typeof text === 'string' ? text : JSON.stringify(text));
  };
  try {
    write('package.json', { private: true, workspaces: ['packages/*'], devDependencies: { jest: '1' } });
    write('packages/mips/package.json', { name: '@tt/mips', version: '0.1.0', dependencies: { usearch: '1' } });
    write('packages/mips/src/index.ts', "import { Index } from 'usearch';\nimport { readFileSync } from 'node:fs';\nimport os from 'os';\n");
    write('packages/mips/src/a.test.ts', "import { expect } from 'jest';\n");
    write('packages/core/package.json', { name: '@tt/core', version: '0.1.0', dependencies: { '@tt/mips': '^0.1.0' } });
    write('packages/core/src/index.ts', "export { x } from '@tt/mips';\n// import 'commented-out'\n");
    const clean = checkWorkspace(root);
    if (clean.length !== 0) throw new Error(`self-test: a clean fixture was flagged:\n${clean.join('\n')}`);
    const cases = [
      ['an undeclared import', 'packages/core/src/b.ts', "import leftPad from 'left-pad';\n", /does not declare left-pad/],
      ['an undeclared dynamic import', 'packages/core/src/b.ts', "const m = await import('lodash/fp');\n", /does not declare lodash/],
      ['an undeclared require', 'packages/core/src/b.ts', "const m = require('@scope/pkg/deep');\n", /does not declare @scope\/pkg/],
      ['a sibling imported without a dependency', 'packages/mips/src/b.ts', "import { TwoTower } from '@tt/core';\n", /does not declare @tt\/core/],
    ];
    for (const [what, file, text, expected] of cases) {
      write(file, text);
      const errs = checkWorkspace(root);
      rmSync(join(root, file));
      if (!errs.some((e) => expected.test(e))) throw new Error(`self-test: ${what} was not caught (got: ${errs.join('; ') || 'nothing'})`);
    }
    write('packages/mips/package.json', { name: '@tt/mips', version: '0.1.0', dependencies: { usearch: '1', '@tt/core': '^0.1.0' } });
    const cyc = checkWorkspace(root);
    if (!cyc.some((e) => /cycle/.test(e)) || !cyc.some((e) => /not an arrow/.test(e))) {
      throw new Error(`self-test: a cycle / forbidden arrow was not caught (got: ${cyc.join('; ')})`);
    }
    console.log(`check-graph self-test: ${cases.length + 2} violations caught, clean fixture passes`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--self-test')) {
    selfTest();
  } else {
    const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
    const errors = checkWorkspace(root);
    if (errors.length > 0) {
      console.error(`package graph check failed (${errors.length}):\n  ${errors.join('\n  ')}`);
      process.exit(1);
    }
    console.log(`package graph check: ok (${workspacePackages(root).packages.length} packages)`);
  }
}
