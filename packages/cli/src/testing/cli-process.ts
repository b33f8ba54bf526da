/**
 * Test helpers (not built, not published): run the real `tt` executable in a child process.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { resolve } from 'node:path';

const root = resolve(__dirname, '..', '..', '..', '..');
/** The built executable the tests run. */
export const TT_BIN = resolve(root, 'packages', 'cli', 'bin', 'tt.js');

/** Builds the CLI and its dependencies (incremental: seconds when up to date), so the child runs the current source. */
export function buildCli(): void {
  execFileSync(process.execPath, [resolve(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', resolve(root, 'packages', 'cli', 'tsconfig.lib.json')], { stdio: 'inherit' });
}

/** Runs `tt ...args` in `cwd` to the end. */
export function runTt(args: readonly string[], cwd: string, timeoutMs = 120_000): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [TT_BIN, ...args], { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, TT_BACKEND: 'wasm' } });
}

/** Starts `tt ...args` in `cwd`; stdout and stderr are collected into `out.stdout` / `out.stderr`. */
export function startTt(args: readonly string[], cwd: string): { child: ChildProcess; out: { stdout: string; stderr: string }; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const child = spawn(process.execPath, [TT_BIN, ...args], { cwd, env: { ...process.env, TT_BACKEND: 'wasm' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) => child.on('close', (code, signal) => ok({ code, signal })));
  return { child, out, exit };
}
