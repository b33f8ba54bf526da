/**
 * One exit-code convention for every `tt` command (also printed by `tt --help` and in the README):
 * - 0: success;
 * - 2: usage: an unknown command or flag, a bad value, a missing or unusable input or output
 *   path; tt refused before doing the work;
 * - 1: runtime failure: the run started and failed (training diverged, a write failed, a bug);
 * - 130: interrupted by SIGINT or SIGTERM (`tt train` saves its best weights first).
 */
import { CommanderError } from 'commander';
import { FileSystemError, TtError } from '@tt/core';

/** The exit codes, by meaning. */
export const EXIT = { success: 0, runtimeFailure: 1, usage: 2, interrupted: 130 } as const;

/** The convention as `tt --help` prints it. */
export const EXIT_CODES_HELP = 'Exit codes: 0 success; 2 usage (unknown command or flag, bad value, missing input); 1 runtime failure; 130 interrupted (SIGINT/SIGTERM).';

/** tt errors that mean the run itself failed, not that its input was wrong. */
const RUNTIME_CODES: ReadonlySet<string> = new Set(['E_NUMERIC', 'E_STATE']);
/** errors raised while checking the input (see {@link checkingInput}): usage, whatever their kind */
const inputErrors = new WeakSet<object>();

function markInput(e: unknown): unknown {
  if (typeof e === 'object' && e !== null) inputErrors.add(e);
  return e;
}

/** Runs a check of the command's input; whatever it throws counts as a usage error (exit 2). */
export function checkingInput<T>(check: () => T): T {
  try {
    return check();
  } catch (e) {
    throw markInput(e);
  }
}

/** {@link checkingInput} for an asynchronous check. */
export async function checkingInputAsync<T>(check: () => Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (e) {
    throw markInput(e);
  }
}

/** Thrown by a command that was interrupted and has already said what it saved: exit 130, nothing more printed. */
export class Interrupted extends Error {
  constructor(message = 'interrupted') {
    super(message);
    this.name = 'Interrupted';
  }
}

/** The exit code for an error that ended a command. */
export function exitCodeOf(e: unknown): number {
  if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.success : EXIT.usage;
  if (e instanceof Interrupted) return EXIT.interrupted;
  if (typeof e === 'object' && e !== null && inputErrors.has(e)) return EXIT.usage;
  if (e instanceof FileSystemError) return e.operation === 'read' ? EXIT.usage : EXIT.runtimeFailure;
  if (e instanceof TtError) return RUNTIME_CODES.has(e.code) ? EXIT.runtimeFailure : EXIT.usage;
  return EXIT.runtimeFailure;
}
