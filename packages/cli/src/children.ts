/**
 * Work in child processes of the built `tt` (demo and benchmark units): where the executable is,
 * how one runs and hands back the JSON line it prints last, and a pool that runs at most `jobs`
 * tasks at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '@tt/core';

/** The `tt` executable next to this module (dist/bin.js; from src under ts-jest, the built one). */
export function binPath(): string {
  const near = resolve(__dirname, 'bin.js');
  if (existsSync(near)) return near;
  const built = resolve(__dirname, '..', 'dist', 'bin.js');
  if (existsSync(built)) return built;
  throw new ConfigError('tt', `child processes run the built tt (${built}); build it first (npx tsc -b packages/cli/tsconfig.lib.json)`);
}

/** Runs `tasks` with at most `jobs` at once (the first one is this process's own). */
export async function limited<T>(tasks: readonly (() => Promise<T>)[], jobs: number): Promise<T[]> {
  const out = new Array<T>(tasks.length);
  let next = 0;
  const worker = async () => {
    for (let k = next++; k < tasks.length; k = next++) out[k] = await tasks[k]!();
  };
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, worker));
  return out;
}

/**
 * Runs the built `tt` with `args` in a child process (tracked in `running`, so a failing parent
 * can kill it) and resolves with the JSON object on its last stdout line. Its stderr is passed
 * through as it comes (`echo`) or kept and shown only if it fails.
 */
export function runJsonChild<T>(args: readonly string[], running: Set<ChildProcess>, what: string, echo = false): Promise<T> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [binPath(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (echo) process.stderr.write(d);
    });
    child.on('error', fail);
    child.on('close', (code) => {
      running.delete(child);
      const last = out.trim().split('\n').pop() ?? '';
      if (code === 0 && last.startsWith('{')) ok(JSON.parse(last) as T);
      else fail(new Error(`${what} failed (exit ${code})\n${err.trim().split('\n').slice(echo ? -5 : 0).join('\n')}`));
    });
  });
}
