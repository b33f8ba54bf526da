/**
 * Work in child processes of the built `tt` (demo seeds, benchmark units): where the executable
 * is, and a pool that runs at most `jobs` tasks at once.
 */
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
