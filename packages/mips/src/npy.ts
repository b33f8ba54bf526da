/**
 * NumPy `.npy` files (format 1.0/2.0, little-endian, C order): the interchange format for
 * embeddings, so that a corpus can be read by numpy, FAISS or PyTorch and back.
 */
import { readFileSync } from 'node:fs';
import { CorruptFileError, FileSystemError, ShapeError, ValueError } from './errors.js';
import { writeFileAtomic } from './internal/atomic.js';

/** An array read from or written to `.npy`. */
export interface NpyArray {
  /** the elements, row-major (C order) */
  readonly data: Float32Array | Float64Array | Int32Array;
  /** the dimensions, outermost first */
  readonly shape: readonly number[];
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

const DESCR: Record<string, { ctor: Float32ArrayConstructor | Float64ArrayConstructor | Int32ArrayConstructor; bytes: number }> = {
  '<f4': { ctor: Float32Array, bytes: 4 },
  '<f8': { ctor: Float64Array, bytes: 8 },
  '<i4': { ctor: Int32Array, bytes: 4 },
};

function descrOf(data: NpyArray['data']): string {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Float64Array) return '<f8';
  return '<i4';
}

/** The `.npy` header and the data bytes (not copied), to write without concatenating. */
export function npyChunks(array: NpyArray): [Buffer, Uint8Array] {
  const { data, shape } = array;
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new ShapeError('shape', 'non-negative integers', JSON.stringify(shape), 'encodeNpy');
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new ShapeError('data', `${count} values for shape ${JSON.stringify(shape)}`, `${data.length}`, 'encodeNpy');
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descrOf(data)}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // pad with spaces so that the data starts on a 64-byte boundary, ending with a newline
  const pad = 64 - ((MAGIC.length + 2 + 2 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const prefix = Buffer.alloc(MAGIC.length + 4);
  MAGIC.copy(prefix, 0);
  prefix[6] = 1; // version 1.0
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  return [Buffer.concat([prefix, Buffer.from(header, 'latin1')]), new Uint8Array(data.buffer, data.byteOffset, data.byteLength)];
}

/** Encodes an array as `.npy` bytes. */
export function encodeNpy(array: NpyArray): Buffer {
  return Buffer.concat(npyChunks(array));
}

/** Decodes `.npy` bytes (`<f4`, `<f8` or `<i4`, C order). `name` is used in error messages. */
export function decodeNpy(bytes: Buffer, name = '.npy data'): NpyArray {
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(MAGIC)) {
    throw new CorruptFileError(name, 'not a .npy file (bad magic)');
  }
  const major = bytes[6] as number;
  const headerLen = major === 1 ? bytes.readUInt16LE(8) : bytes.length >= 12 ? bytes.readUInt32LE(8) : -1;
  const start = major === 1 ? 10 : 12;
  if (headerLen < 0 || start + headerLen > bytes.length) throw new CorruptFileError(name, 'truncated .npy header');
  const header = bytes.subarray(start, start + headerLen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new CorruptFileError(name, `unreadable .npy header ${JSON.stringify(header.trim())}`);
  }
  const kind = DESCR[descr];
  if (kind === undefined) throw new ValueError(name, `unsupported dtype ${descr}; expected <f4, <f8 or <i4`);
  if (fortran === 'True') throw new ValueError(name, 'Fortran-order arrays are not supported; save with C order');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new CorruptFileError(name, `bad shape (${shapeText})`);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  if (bytes.length - offset !== count * kind.bytes) {
    throw new CorruptFileError(name, `expected ${count * kind.bytes} data bytes for shape (${shape.join(', ')}), found ${bytes.length - offset}`);
  }
  // copy into an aligned buffer (the file buffer's offset need not be aligned)
  const copy = new Uint8Array(count * kind.bytes);
  copy.set(bytes.subarray(offset));
  return { data: new kind.ctor(copy.buffer), shape };
}

/**
 * Writes an array as `.npy`, atomically.
 * @example writeNpy('items.npy', { data: embeddings, shape: [n, 64] });
 */
export function writeNpy(path: string, array: NpyArray): void {
  writeFileAtomic(path, npyChunks(array));
}

/** Reads a `.npy` file. @throws FileSystemError (missing, unreadable), CorruptFileError, ValueError (unsupported dtype) */
export function readNpy(path: string): NpyArray {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw FileSystemError.from(e, path, 'read'); // a missing file is not a corrupt one
  }
  return decodeNpy(bytes, path);
}
