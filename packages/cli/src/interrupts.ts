/**
 * SIGINT and SIGTERM for the `tt` process: one router, so a command can take the first signal
 * (`tt train` finishes its step and saves) while every other moment exits at once with 130.
 */
import { EXIT } from './exit-codes.js';

const handlers: Array<(signal: NodeJS.Signals) => void> = [];
let routed = false;

function route(signal: NodeJS.Signals): void {
  const top = handlers[handlers.length - 1];
  if (top) top(signal);
  else process.exit(EXIT.interrupted);
}

/** Installs the router (once): a signal with no command handler exits 130. */
export function routeInterrupts(): void {
  if (routed) return;
  routed = true;
  process.on('SIGINT', route);
  process.on('SIGTERM', route);
}

/**
 * Runs `run` with the first SIGINT/SIGTERM going to `onFirst` (which should make `run` stop soon,
 * cleanly) and any further one exiting the process at once with 130, touching nothing.
 */
export async function withInterrupts<T>(onFirst: (signal: NodeJS.Signals) => void, run: () => Promise<T>): Promise<T> {
  routeInterrupts();
  let seen = 0;
  const handler = (signal: NodeJS.Signals) => {
    if (++seen === 1) {
      onFirst(signal);
      return;
    }
    process.stderr.write(`\n[tt] ${signal} again: exiting now; nothing is saved\n`);
    process.exit(EXIT.interrupted);
  };
  handlers.push(handler);
  try {
    return await run();
  } finally {
    handlers.splice(handlers.indexOf(handler), 1);
  }
}
