/**
 * Atomic file and directory writes: content goes to a temporary sibling first and is renamed
 * into place only when complete, so a failure or crash leaves the old version or nothing,
 * never a half-written file.
 *
 * A process killed mid-save can leave its temporary sibling (`.NAME.tmp-PID-XXXXXXXX`) or, between
 * a directory swap's two renames, the previous version under `.NAME.old-PID-XXXXXXXX` with NAME
 * missing. The next save removes what dead processes left ({@link removeStaleSiblings}); a reader
 * puts an orphaned previous version back first ({@link recoverDir}).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FileSystemError } from '../errors.js';

function tempSibling(path: string, tag: 'tmp' | 'old'): string {
  return join(dirname(path), `.${basename(path)}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Removes `path` if it is there; a failure to clean up must not hide the error being reported. */
function removeQuietly(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    // nothing to remove, or not removable: the caller reports the first error
  }
}

/** Whether process `pid` still runs (EPERM: it does, under another user). */
function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/** The temporary (`tmp`) or previous-version (`old`) siblings of `path` whose writer is gone, newest first. */
function deadSiblings(path: string, tag: 'tmp' | 'old'): string[] {
  const parent = dirname(path);
  const pattern = new RegExp(`^\\.${escapeRegExp(basename(path))}\\.${tag}-(\\d+)-[0-9a-f]{8}$`);
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return [];
  }
  const found: Array<{ path: string; mtime: number }> = [];
  for (const name of names) {
    const m = pattern.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    const p = join(parent, name);
    try {
      found.push({ path: p, mtime: statSync(p).mtimeMs });
    } catch {
      // removed meanwhile
    }
  }
  return found.sort((a, b) => b.mtime - a.mtime).map((f) => f.path);
}

/**
 * Removes the temporary siblings of `path` that killed processes left behind, and previous
 * versions of it they left once `path` itself exists again (an orphan with `path` missing is kept
 * for {@link recoverDir}). Writers that still run are left alone.
 */
export function removeStaleSiblings(path: string): void {
  const target = resolve(path);
  for (const p of deadSiblings(target, 'tmp')) rmSync(p, { recursive: true, force: true });
  if (existsSync(target)) for (const p of deadSiblings(target, 'old')) rmSync(p, { recursive: true, force: true });
}

/**
 * When `dir` is missing but a killed save left its previous version under `.DIR.old-*`, puts
 * the newest such version back at `dir`. Returns the path recovered from, or undefined.
 * @throws FileSystemError when the rename back fails
 */
export function recoverDir(dir: string): string | undefined {
  const target = resolve(dir);
  if (existsSync(target)) return undefined;
  const [newest] = deadSiblings(target, 'old');
  if (!newest) return undefined;
  try {
    renameSync(newest, target);
  } catch (e) {
    throw FileSystemError.from(e, target, 'write');
  }
  return newest;
}

/**
 * Writes bytes (or chunks of bytes, in order) to `path` through a temporary file and a rename.
 * @throws FileSystemError naming `path` when the file system refuses
 */
export function writeFileAtomic(path: string, bytes: Uint8Array | string | readonly Uint8Array[]): void {
  const tmp = tempSibling(path, 'tmp');
  try {
    mkdirSync(dirname(path), { recursive: true });
    const fd = openSync(tmp, 'w');
    try {
      const chunks = typeof bytes === 'string' ? [Buffer.from(bytes)] : Array.isArray(bytes) ? bytes : [bytes as Uint8Array];
      for (const buf of chunks) for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    removeQuietly(tmp);
    throw FileSystemError.from(e, path, 'write');
  }
}

/**
 * Fills a temporary directory with `fill`, then swaps it in for `dir` (an existing `dir` is
 * replaced only after the new one is complete). Stale temporary siblings of killed saves are
 * removed first.
 * @throws FileSystemError naming `dir` when the file system refuses; whatever `fill` throws
 */
export async function writeDirAtomic(dir: string, fill: (tmpDir: string) => Promise<void> | void): Promise<void> {
  const target = resolve(dir);
  const fsError = (e: unknown) => FileSystemError.from(e, target, 'write');
  let tmp: string;
  try {
    mkdirSync(dirname(target), { recursive: true });
    removeStaleSiblings(target);
    tmp = tempSibling(target, 'tmp');
    mkdirSync(tmp);
  } catch (e) {
    throw fsError(e);
  }
  try {
    await fill(tmp);
  } catch (e) {
    removeQuietly(tmp);
    throw fsError(e);
  }
  try {
    if (existsSync(target)) {
      const old = tempSibling(target, 'old');
      renameSync(target, old);
      try {
        renameSync(tmp, target);
      } catch (e) {
        renameSync(old, target);
        throw e;
      }
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, target);
    }
  } catch (e) {
    removeQuietly(tmp);
    throw fsError(e);
  }
  try {
    // an orphaned previous version is out of date now (best effort: the save itself succeeded)
    removeStaleSiblings(target);
  } catch {
    // left for the next save
  }
}
