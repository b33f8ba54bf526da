/**
 * Backend choice at start-up (RUNTIME.md section 7): `@tensorflow/tfjs-node` when it loads,
 * else `@tensorflow/tfjs-backend-wasm` with our kernel patches, else the pure-JS cpu backend
 * (with its UnsortedSegmentSum patch). `TT_BACKEND=tensorflow|wasm|cpu` overrides the order.
 *
 * tfjs-node is probed with `require` in a try/catch, never `require.resolve`: an install whose
 * native binary failed to download still resolves, and only `require` shows it is broken.
 */
import * as tf from './tf.js';
import { ConfigError } from '@tt/mips';
import { selfTestPatch, unsortedSegmentSumPatch, wasmGatherPatch, wasmIdentityPatch, wasmMatMulPatches, wasmSumPatch, wasmTransposePatch, type KernelPatch } from './kernel-patches.js';

/** A compute backend tt can run on. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

/** Which backend runs, and which kernel patches are active. */
export interface BackendInfo {
  /** the backend in use */
  readonly name: BackendName;
  /** patches that passed their self-test and are active */
  readonly patches: readonly string[];
  /** patches whose self-test failed: the original kernel is in use */
  readonly disabledPatches: readonly string[];
  /** backends tried before this one, with why they were skipped */
  readonly skipped: readonly string[];
  /**
   * `@tensorflow/tfjs-node`: `loaded` (it runs), `absent` (not installed), `broken` (installed but
   * does not load: its install script, which downloads libtensorflow, was skipped or failed), or
   * `not tried` (another backend was forced)
   */
  readonly tfjsNode: 'loaded' | 'absent' | 'broken' | 'not tried';
}

/** Options of {@link initBackend}. */
export interface InitBackendOptions {
  /** force one backend (else `TT_BACKEND`, else the best that loads) */
  readonly backend?: BackendName;
  /** where the one start-up line goes; default stderr; `false` for none */
  readonly log?: ((line: string) => void) | false;
}

const ORDER: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];
let current: Promise<BackendInfo> | undefined;
let currentKey: string | undefined;
/** patches in force, to revert when another backend is chosen */
const applied: KernelPatch[] = [];

function isBackendName(x: string): x is BackendName {
  return (ORDER as readonly string[]).includes(x);
}

async function tryBackend(name: BackendName): Promise<string | undefined> {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    if (name === 'tensorflow') require('@tensorflow/tfjs-node');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    else if (name === 'wasm') require('@tensorflow/tfjs-backend-wasm');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    else require('@tensorflow/tfjs-backend-cpu');
  } catch (e) {
    return `${name}: ${(e as Error).message.split('\n')[0]}`;
  }
  try {
    if (await tf.setBackend(name)) return undefined;
    return `${name}: setBackend returned false`;
  } catch (e) {
    return `${name}: ${(e as Error).message.split('\n')[0]}`;
  }
}

function patchesFor(name: BackendName): KernelPatch[] {
  if (name === 'wasm') return [unsortedSegmentSumPatch('wasm'), ...wasmMatMulPatches(), wasmGatherPatch(), wasmSumPatch(), wasmIdentityPatch(), wasmTransposePatch()];
  if (name === 'cpu') return [unsortedSegmentSumPatch('cpu')];
  return [];
}

async function select(options: InitBackendOptions): Promise<BackendInfo> {
  const env = process.env['TT_BACKEND'];
  if (env !== undefined && env !== '' && !isBackendName(env)) {
    throw new ConfigError('TT_BACKEND', `must be one of ${ORDER.join(', ')}, got ${JSON.stringify(env)}`);
  }
  const forced = options.backend ?? (env ? (env as BackendName) : undefined);
  if (forced !== undefined && !isBackendName(forced)) {
    throw new ConfigError('backend', `must be one of ${ORDER.join(', ')}, got ${JSON.stringify(forced)}`);
  }
  const skipped: string[] = [];
  let chosen: BackendName | undefined;
  for (const name of forced ? [forced] : ORDER) {
    const why = await tryBackend(name);
    if (why === undefined) {
      chosen = name;
      break;
    }
    skipped.push(why);
  }
  if (chosen === undefined) {
    throw new ConfigError('backend', `no tfjs backend could start (${skipped.join('; ')})`);
  }
  // no "running in Node.js" banner (our own line says what runs); PROD, not IS_TEST, which also
  // turns on tfjs's per-kernel leak checks (false alarms on fused matMul gradients)
  tf.env().set('PROD', true);
  const patches: string[] = [];
  const disabledPatches: string[] = [];
  for (const patch of patchesFor(chosen)) {
    patch.apply();
    if (selfTestPatch(patch)) {
      patches.push(patch.name);
      applied.push(patch);
    }
    else {
      patch.revert();
      disabledPatches.push(patch.name);
    }
  }
  const tfjsNode = chosen === 'tensorflow' ? 'loaded' : !skipped.some((why) => why.startsWith('tensorflow: ')) ? 'not tried' : tfjsNodeInstalled() ? 'broken' : 'absent';
  const info: BackendInfo = { name: chosen, patches, disabledPatches, skipped, tfjsNode };
  const log = options.log === undefined ? (line: string) => process.stderr.write(`${line}\n`) : options.log;
  if (log) log(describeBackend(info));
  return info;
}

/** Whether tfjs-node is installed (after `require` failed: resolving is the one use of `require.resolve` here). */
function tfjsNodeInstalled(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

/**
 * One line naming the backend and its patches; off tfjs-node, what to do about it: install it, or,
 * when it is installed but does not load (its install script, which downloads libtensorflow, did not
 * run or failed; npm 12 skips the install scripts a project has not approved), rebuild it.
 */
export function describeBackend(info: BackendInfo): string {
  const parts = [`[tt] backend: ${info.name}`];
  parts.push(info.patches.length ? `patches: ${info.patches.join(', ')}` : 'patches: none');
  if (info.disabledPatches.length) parts.push(`disabled by self-test: ${info.disabledPatches.join(', ')}`);
  if (info.tfjsNode === 'broken') {
    const why = info.skipped.find((s) => s.startsWith('tensorflow: '))?.slice('tensorflow: '.length) ?? 'unknown reason';
    parts.push(`@tensorflow/tfjs-node is installed but does not load (${why}): its install script downloads libtensorflow; `
      + 'run `npm install-scripts approve @tensorflow/tfjs-node` (npm 12 skips unapproved install scripts), then `npm rebuild @tensorflow/tfjs-node`');
  } else if (info.name !== 'tensorflow') parts.push('install @tensorflow/tfjs-node@4.22.0 for native speed');
  return parts.join(' | ');
}

/**
 * Picks and initialises the compute backend once per process; later calls return the same
 * promise, unless they ask for a different backend (tests compare backends), which reverts the
 * patches of the previous choice first.
 * @example const { name } = await initBackend(); // 'wasm' where tfjs-node is not installed
 * @throws ConfigError for an unknown `TT_BACKEND` / `backend`, or when no backend starts
 */
export function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const key = options.backend ?? process.env['TT_BACKEND'] ?? '';
  if (current === undefined || key !== currentKey) {
    const previous = current;
    currentKey = key;
    current = (async () => {
      await previous?.catch(() => undefined);
      while (applied.length) applied.pop()!.revert();
      return select(options);
    })();
  }
  return current;
}
