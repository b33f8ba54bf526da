/**
 * `tt serve`: the HTTP retrieval service over a checkpoint (see `serve/server.ts` for the API).
 * SIGHUP reloads the checkpoint directory (hot swap; a checkpoint that fails to load leaves the
 * old one serving); SIGINT / SIGTERM stop it: requests under way finish, then exit 130.
 */
import { initBackend } from '@tt/core';
import { createServer, type ServeOptions } from '../serve/server.js';

/** The flags of `tt serve`, parsed. */
export interface ServeCliOptions extends ServeOptions {
  /** force a backend (else `TT_BACKEND`, else the best that loads) */
  readonly backend?: 'tensorflow' | 'wasm' | 'cpu';
}

/**
 * `tt serve`: loads the checkpoint, listens, and runs until SIGINT / SIGTERM (then exit code 130).
 * A port it cannot listen on sets exit code 1 (one line on stderr).
 */
export async function serve(o: ServeCliOptions): Promise<void> {
  await initBackend({ backend: o.backend });
  const server = await createServer(o);
  let url: string;
  try {
    url = await server.listen();
  } catch (e) {
    await server.close();
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL') throw e;
    // a runtime failure of this machine, not of the command line: one line, exit 1
    process.stderr.write(`tt: error [${code}] cannot listen on ${o.host ?? '127.0.0.1'}:${o.port ?? 8080}\n`);
    process.exitCode = 1;
    return;
  }
  process.stderr.write(`[tt] listening on ${url} (POST /retrieve, POST /retrieve/batch, GET /health, GET /metrics, POST /admin/reload; SIGHUP reloads)\n`);
  const onHup = () => {
    server.reload().catch(() => undefined); // logged by the server; the old checkpoint keeps serving
  };
  process.on('SIGHUP', onHup);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.stderr.write(`[tt] ${signal}: closing (requests under way finish)\n`);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.off('SIGHUP', onHup);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  process.exitCode = 130;
}
