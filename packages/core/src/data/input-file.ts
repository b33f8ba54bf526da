/**
 * The check every file loader runs on the path a user gave it, before reading: a missing input
 * or a directory where a file is expected is the file system refusing (FileSystemError, with the
 * system's code), not a corrupt file.
 */
import { statSync } from 'node:fs';
import { FileSystemError } from '../errors.js';

/**
 * @throws FileSystemError (operation 'read') when `path` does not exist, cannot be reached, or is
 *   a directory (or, with `directory`, is not one)
 */
export function checkInputPath(path: string, kind: 'file' | 'directory' = 'file'): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (e) {
    throw FileSystemError.from(e, path, 'read');
  }
  if (kind === 'file' && isDirectory) throw new FileSystemError(path, 'read', 'is a directory, expected a file', { systemCode: 'EISDIR' });
  if (kind === 'directory' && !isDirectory) throw new FileSystemError(path, 'read', 'is a file, expected a directory', { systemCode: 'ENOTDIR' });
}
