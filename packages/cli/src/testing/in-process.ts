/**
 * Test helper (not built, not published): runs `tt ...args` in this process, stdout captured.
 */
import { buildProgram } from '../program.js';

/** Runs `tt ...args` in-process; returns the stdout lines (stderr is silenced). */
export async function ttLines(...args: string[]): Promise<string[]> {
  const out: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await buildProgram().exitOverride().parseAsync(['node', 'tt', ...args]);
  } finally {
    write.mockRestore();
    err.mockRestore();
  }
  return out;
}

/** The error `promise` rejects with (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => {
    throw new Error('expected a rejection');
  }, (e: unknown) => e);
}
