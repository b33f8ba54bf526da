// The release flow of CONTRIBUTING.md, exercised for real: a copy of the workspace skeleton (root
// package.json, every workspace package.json, .changeset/config.json; none of the pending changesets)
// in a temp dir, one changeset on one stage, the installed `changeset version`, then which
// packages changed version. Runs no git (with `commit: false` changesets only asks git for the
// commit that added each changeset, for the changelog, and does without one).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

type Bump = 'major' | 'minor' | 'patch';
interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  dependencies?: Record<string, string>;
}

const ROOT = resolve(__dirname, '../../..');
const CHANGESET_BIN = require.resolve('@changesets/cli/bin.js', { paths: [ROOT] });

/** Workspace package.json paths relative to the root, from the root's `workspaces` ("dir/*" patterns). */
function workspaceManifests(root: string): string[] {
  const patterns: string[] = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).workspaces ?? [];
  const found: string[] = [];
  for (const pattern of patterns) {
    if (!pattern.endsWith('/*')) throw new Error(`unexpected workspaces pattern ${pattern}`);
    const base = pattern.slice(0, -2);
    if (!existsSync(join(root, base))) continue;
    for (const d of readdirSync(join(root, base)).sort()) {
      if (existsSync(join(root, base, d, 'package.json'))) found.push(join(base, d, 'package.json'));
    }
  }
  return found;
}

function readManifests(root: string, paths: string[]): Map<string, { path: string; text: string; pkg: Manifest }> {
  const out = new Map<string, { path: string; text: string; pkg: Manifest }>();
  for (const path of paths) {
    const text = readFileSync(join(root, path), 'utf8');
    const pkg = JSON.parse(text) as Manifest;
    out.set(pkg.name, { path, text, pkg });
  }
  return out;
}

function bump(version: string, type: Bump): string {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  if (!m) throw new Error(`not a plain x.y.z version: ${version}`);
  const [maj, min, pat] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (type === 'major') return `${maj + 1}.0.0`;
  if (type === 'minor') return `${maj}.${min + 1}.0`;
  return `${maj}.${min}.${pat + 1}`;
}

function snapshotDir(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
}

/** Copies the skeleton into a temp dir, adds `changeset`, runs `changeset version` there; returns before/after. */
function versionInSkeleton(changeset: Record<string, Bump>, summary: string) {
  const paths = workspaceManifests(ROOT);
  const dir = mkdtempSync(join(tmpdir(), 'tt-changesets-'));
  try {
    const copy = (rel: string) => {
      mkdirSync(dirname(join(dir, rel)), { recursive: true });
      writeFileSync(join(dir, rel), readFileSync(join(ROOT, rel)));
    };
    copy('package.json');
    copy('.changeset/config.json');
    for (const p of paths) copy(p);
    const front = Object.entries(changeset).map(([name, type]) => `"${name}": ${type}`).join('\n');
    writeFileSync(join(dir, '.changeset', 'test-change.md'), `---\n${front}\n---\n\n${summary}\n`);

    const before = readManifests(dir, paths);
    const run = spawnSync(process.execPath, [CHANGESET_BIN, 'version'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 60_000,
      // keep git (asked for changeset commits) from finding a repository above the temp dir
      env: { ...process.env, GIT_CEILING_DIRECTORIES: dirname(dir), CI: 'true', NO_COLOR: '1' },
    });
    if (run.status !== 0) throw new Error(`changeset version failed (${run.status ?? run.signal}):\n${run.stdout}\n${run.stderr}`);
    const after = readManifests(dir, paths);
    const changelogs = new Map<string, string>();
    for (const [name, { path }] of after) {
      const log = join(dir, dirname(path), 'CHANGELOG.md');
      if (existsSync(log)) changelogs.set(name, readFileSync(log, 'utf8'));
    }
    return { before, after, changelogs, changesetDir: readdirSync(join(dir, '.changeset')).sort() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const PUBLISHED = [
  '@tt/mips',
  '@tt/core',
  '@tt/history-encoder',
  '@tt/debias',
  '@tt/light-ranker',
  '@tt/reward-align',
  '@tt/distill',
  '@tt/cli',
];

/**
 * One changeset on `stage`, then: `stage` got `type`, exactly `dependants` got a patch bump with their
 * range on `stage` raised to the new version, every other package.json (private ones included) is untouched.
 * Dependants are bumped because, while we are at 0.x, a minor bump leaves their `^0.y.0` range.
 */
function expectRelease(stage: string, type: Bump, dependants: string[]) {
  const realChangesets = snapshotDir(join(ROOT, '.changeset'));
  const summary = `${stage}: a ${type} change (changesets-flow test).`;
  const { before, after, changelogs, changesetDir } = versionInSkeleton({ [stage]: type }, summary);

  // the skeleton is the workspace: all published packages, plus the private tools
  expect(PUBLISHED.filter((n) => !before.has(n))).toEqual([]);
  expect(before.get(stage)!.pkg.version).toMatch(/^0\./);

  const stageVersion = bump(before.get(stage)!.pkg.version, type);
  expect(after.get(stage)!.pkg.version).toBe(stageVersion);
  for (const d of dependants) {
    expect([d, after.get(d)!.pkg.version]).toEqual([d, bump(before.get(d)!.pkg.version, 'patch')]);
    expect([d, after.get(d)!.pkg.dependencies?.[stage]]).toEqual([d, `^${stageVersion}`]);
  }
  // updateInternalDependencies: patch: a released package's ranges on every released package follow
  for (const d of dependants) {
    for (const r of [stage, ...dependants]) {
      const range = after.get(d)!.pkg.dependencies?.[r];
      if (range !== undefined) expect([d, r, range]).toEqual([d, r, `^${after.get(r)!.pkg.version}`]);
    }
  }
  const untouched = [...before.keys()].filter((n) => n !== stage && !dependants.includes(n));
  for (const n of untouched) expect([n, after.get(n)!.text]).toEqual([n, before.get(n)!.text]);
  expect(untouched).toEqual(expect.arrayContaining(['@tt/release-tools']));

  // changelogs for the released packages only; the changeset was consumed
  expect([...changelogs.keys()].sort()).toEqual([stage, ...dependants].sort());
  expect(changelogs.get(stage)).toContain(`## ${stageVersion}`);
  expect(changelogs.get(stage)).toContain(summary);
  for (const d of dependants) expect(changelogs.get(d)).toContain(`${stage}@${stageVersion}`);
  expect(changesetDir).toEqual(['config.json']);

  // and the real pending changesets were not read, consumed or changed
  expect(snapshotDir(join(ROOT, '.changeset'))).toEqual(realChangesets);
}

describe('changesets flow (CONTRIBUTING.md, "Releasing")', () => {
  it('config: independent versions, dependants patched, private packages not versioned', () => {
    const config = JSON.parse(readFileSync(join(ROOT, '.changeset', 'config.json'), 'utf8'));
    expect(config.fixed).toEqual([]);
    expect(config.linked).toEqual([]);
    expect(config.updateInternalDependencies).toBe('patch');
    expect(config.privatePackages).toEqual({ version: false, tag: false });
    expect(config.commit).toBe(false);
  });

  it('a minor changeset on @tt/debias bumps it and patches @tt/cli, nothing else', () => {
    expectRelease('@tt/debias', 'minor', ['@tt/cli']);
  });

  it('a minor changeset on @tt/light-ranker bumps it and patches @tt/distill and @tt/cli, nothing else', () => {
    expectRelease('@tt/light-ranker', 'minor', ['@tt/distill', '@tt/cli']);
  });
});
