/**
 * Entry of the `tt` executable. A tt error (bad input, corrupt file) prints one line naming the
 * field and exits 2; anything else is a bug: stack trace, exit 1.
 */
import { TtError } from '@tt/core';
import { buildProgram } from './program.js';

buildProgram()
  .parseAsync(process.argv)
  .then(() => {
    // worker threads (index shards) and wasm keep no handles open; exit promptly all the same
    process.exitCode ??= 0;
  })
  .catch((e: unknown) => {
    if (e instanceof TtError) {
      process.stderr.write(`tt: error [${e.code}] ${e.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`tt: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 1;
    }
  });
