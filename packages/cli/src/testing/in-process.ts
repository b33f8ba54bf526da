/**
 * Test helper (not built, not published): runs `tt ...args` in this process, stdout captured.
 */
import { buildProgram } from '../program.js';

/** Runs `tt ...args` in-process; returns the stdout lines (stderr is silenced). */
export async function ttLines(...args: string[]): Promise<string[]> {
  return (await ttOutput(...args)).stdout;
}

/** Runs `tt ...args` in-process; returns the stdout and the stderr lines. */
export async function ttOutput(...args: string[]): Promise<{ stdout: string[]; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const lines = (into: string[]) => (chunk: string | Uint8Array) => {
    into.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  };
  const write = jest.spyOn(process.stdout, 'write').mockImplementation(lines(stdout));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(lines(stderr));
  try {
    await buildProgram().exitOverride().parseAsync(['node', 'tt', ...args]);
  } finally {
    write.mockRestore();
    err.mockRestore();
  }
  return { stdout, stderr };
}

/** The error `promise` rejects with (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => {
    throw new Error('expected a rejection');
  }, (e: unknown) => e);
}
