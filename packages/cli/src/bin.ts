/**
 * Entry of the `tt` executable; exit codes as in `exit-codes.ts`. A tt error prints one line
 * naming the field; anything else is a bug: stack trace.
 */
import { CommanderError } from 'commander';
import { TtError } from '@tt/core';
import { buildProgram } from './program.js';
import { EXIT, exitCodeOf, Interrupted } from './exit-codes.js';
import { routeInterrupts } from './interrupts.js';

// SIGINT/SIGTERM exit 130 (tt train takes the first one to save its work)
routeInterrupts();
buildProgram()
  .parseAsync(process.argv)
  .then(() => {
    // worker threads (index shards) and wasm keep no handles open; exit promptly all the same
    process.exitCode ??= EXIT.success;
  })
  .catch((e: unknown) => {
    // commander has printed its own message (and the help) already
    if (e instanceof TtError) process.stderr.write(`tt: error [${e.code}] ${e.message}\n`);
    else if (!(e instanceof CommanderError) && !(e instanceof Interrupted)) process.stderr.write(`tt: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = exitCodeOf(e);
  });
