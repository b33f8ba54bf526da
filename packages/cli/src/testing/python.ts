/**
 * Test helpers (not built, not published): the Python the outside checks run (Debian's, where
 * python3-torch and python3-numpy install), and whether it can import what a test needs.
 */
import { spawnSync } from 'node:child_process';

/** The interpreter of the PyTorch hand-off and the outside scorer. */
export const PYTHON = '/usr/bin/python3';

/** Why `PYTHON` cannot import `modules` (e.g. `'torch, numpy'`): the last line of its error, or undefined when it can. */
export function pythonImportError(modules: string): string | undefined {
  const check = spawnSync(PYTHON, ['-c', `import ${modules}`], { encoding: 'utf8' });
  return check.status === 0 ? undefined : (check.stderr || String(check.error)).trim().split('\n').pop();
}
