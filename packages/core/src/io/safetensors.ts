/**
 * The safetensors file format (https://github.com/huggingface/safetensors), for F32 and I32
 * tensors, so checkpoints load in PyTorch (`safetensors.torch.load_file`) and back.
 *
 * Layout: an unsigned 64-bit little-endian header length N; N bytes of UTF-8 JSON mapping each
 * tensor name to `{dtype, shape, data_offsets: [begin, end]}` (plus an optional `__metadata__`
 * string-to-string map), padded with spaces so the data starts 8-byte aligned; then the data
 * section: every tensor's bytes, little-endian, row-major, packed without gaps, offsets relative
 * to the start of the data section.
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { writeFileAtomic } from '@tt/mips';
import { CorruptFileError, ShapeError, ValueError } from '../errors.js';

/** The tensor dtypes read and written here (safetensors' names). */
export type SafetensorsDtype = 'F32' | 'I32';

/** One tensor: its dtype, shape (`[]` for a scalar) and row-major data. */
export type SafetensorsEntry =
  | {
      /** 32-bit float elements */
      readonly dtype: 'F32';
      /** dimensions, outermost first */
      readonly shape: readonly number[];
      /** the elements, row-major */
      readonly data: Float32Array;
    }
  | {
      /** 32-bit integer elements */
      readonly dtype: 'I32';
      /** dimensions, outermost first */
      readonly shape: readonly number[];
      /** the elements, row-major */
      readonly data: Int32Array;
    };

/** A decoded file. */
export interface SafetensorsFile {
  /** the tensors by name, in header order */
  readonly tensors: Record<string, SafetensorsEntry>;
  /** the `__metadata__` string map (empty when absent) */
  readonly metadata: Record<string, string>;
}

/** Options of {@link decodeSafetensors}. */
export interface DecodeOptions {
  /**
   * Copy each tensor out of `buf` (default true). With false, tensors whose data is 4-byte aligned
   * in memory are views into `buf` (no copy; they alias it and keep it alive); others are copied.
   */
  readonly copy?: boolean;
}

const METADATA_KEY = '__metadata__';
const BYTES: Record<SafetensorsDtype, number> = { F32: 4, I32: 4 };
/** The reference implementation refuses headers above 100 MB. */
const MAX_HEADER = 100_000_000;
const LITTLE_ENDIAN = endianness() === 'LE';

function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function isShape(shape: unknown): shape is number[] {
  return Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);
}

/** The bytes of a typed array, little-endian (a view on little-endian hosts, a copy otherwise). */
function leBytes(data: Float32Array | Int32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out = Buffer.allocUnsafe(data.byteLength);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (data instanceof Float32Array) data.forEach((x, i) => dv.setFloat32(i * 4, x, true));
  else data.forEach((x, i) => dv.setInt32(i * 4, x, true));
  return out;
}

/**
 * Encodes tensors (in the order given) and optional string metadata as safetensors, as chunks to
 * write in order: the header, then each non-empty tensor's bytes (views on the arrays on
 * little-endian hosts: write them before mutating the arrays).
 *
 * @throws ValueError (unknown dtype, bad shape, a name `__metadata__`, non-string metadata),
 *   ShapeError (data length not the shape's element count, or the wrong typed array for the dtype)
 */
export function encodeSafetensors(tensors: Readonly<Record<string, SafetensorsEntry>>, metadata?: Readonly<Record<string, string>>): Buffer[] {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new ValueError('metadata', `value of "${k}" must be a string, got ${typeof v}`);
    }
    header[METADATA_KEY] = { ...metadata };
  }
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === METADATA_KEY) throw new ValueError('tensors', `"${METADATA_KEY}" is reserved for metadata`);
    if (t.dtype !== 'F32' && t.dtype !== 'I32') throw new ValueError(`tensors.${name}.dtype`, `must be F32 or I32, got ${String((t as { dtype: unknown }).dtype)}`);
    const ctor = t.dtype === 'F32' ? Float32Array : Int32Array;
    if (!(t.data instanceof ctor)) throw new ShapeError(`tensors.${name}.data`, `a ${ctor.name} for ${t.dtype}`, t.data === null ? 'null' : (t.data as object).constructor.name);
    if (!isShape(t.shape)) throw new ValueError(`tensors.${name}.shape`, `must be non-negative integers, got ${JSON.stringify(t.shape)}`);
    const n = elementCount(t.shape);
    if (t.data.length !== n) throw new ShapeError(`tensors.${name}.data`, `length ${n} for shape [${t.shape.join(', ')}]`, `length ${t.data.length}`);
    const bytes = n * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    if (bytes > 0) chunks.push(leBytes(t.data));
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const head = Buffer.alloc(8 + padded, 0x20);
  head.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(head, 8);
  return [head, ...chunks];
}

interface RawEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

/**
 * Decodes a safetensors file held in `buf`, validating it completely.
 *
 * @param file the path (or any name) reported in errors
 * @throws CorruptFileError (field = `file`) when the buffer is shorter than 8 bytes, the header
 *   length exceeds the file, the header is not a JSON object of valid entries, a dtype is not
 *   F32/I32, a shape does not match its byte range, offsets are out of bounds, overlap or leave
 *   gaps, or the data section is truncated or has trailing bytes
 */
export function decodeSafetensors(buf: Uint8Array, file: string, options: DecodeOptions = {}): SafetensorsFile {
  const bad = (msg: string, cause?: unknown): CorruptFileError => new CorruptFileError(file, `not a valid safetensors file: ${msg}`, cause === undefined ? {} : { cause });
  if (buf.length < 8) throw bad(`${buf.length} bytes, shorter than the 8-byte header length`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(buf.length - 8)) throw bad(`header length ${n64} exceeds the ${buf.length - 8} bytes after it (truncated?)`);
  const n = Number(n64);
  if (n > MAX_HEADER) throw bad(`header length ${n} exceeds ${MAX_HEADER} bytes`);
  if (n < 2) throw bad(`header length ${n} is too short for a JSON object`);

  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + n)));
  } catch (e) {
    throw bad('header is not valid UTF-8 JSON', e);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad('header is not a JSON object');

  const dataStart = 8 + n;
  const dataLength = buf.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: RawEntry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(`${METADATA_KEY} is not an object`);
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') throw bad(`${METADATA_KEY}.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(`entry "${name}" is not an object`);
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (dtype !== 'F32' && dtype !== 'I32') throw bad(`tensor "${name}" has dtype ${JSON.stringify(dtype)}; supported: F32, I32`);
    if (!isShape(shape)) throw bad(`tensor "${name}" has shape ${JSON.stringify(shape)}, not a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
      throw bad(`tensor "${name}" has data_offsets ${JSON.stringify(offsets)}, not [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw bad(`tensor "${name}" has data_offsets [${begin}, ${end}] with end before begin`);
    const bytes = elementCount(shape) * BYTES[dtype];
    if (end - begin !== bytes) throw bad(`tensor "${name}" of shape [${shape.join(', ')}] ${dtype} needs ${bytes} bytes, data_offsets span ${end - begin}`);
    if (end > dataLength) throw bad(`tensor "${name}" ends at byte ${end} of a ${dataLength}-byte data section (truncated?)`);
    entries.push({ name, dtype, shape, begin, end });
  }

  // The data section must be covered exactly: contiguous, no overlap, no gap, nothing after.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: RawEntry | undefined;
  for (const e of sorted) {
    if (e.begin < cursor) throw bad(`tensor "${e.name}" [${e.begin}, ${e.end}) overlaps "${prev!.name}" [${prev!.begin}, ${prev!.end})`);
    if (e.begin > cursor) throw bad(`${e.begin - cursor} unused bytes in the data section before tensor "${e.name}"`);
    cursor = e.end;
    prev = e;
  }
  if (cursor !== dataLength) throw bad(`${dataLength - cursor} trailing bytes after the last tensor`);

  const copy = options.copy ?? true;
  const tensors: Record<string, SafetensorsEntry> = {};
  for (const e of entries) {
    const count = (e.end - e.begin) / 4;
    const at = buf.byteOffset + dataStart + e.begin;
    const ctor = e.dtype === 'F32' ? Float32Array : Int32Array;
    let data: Float32Array | Int32Array;
    if (!LITTLE_ENDIAN) {
      data = new ctor(count);
      const src = new DataView(buf.buffer, at, count * 4);
      for (let i = 0; i < count; i++) data[i] = e.dtype === 'F32' ? src.getFloat32(i * 4, true) : src.getInt32(i * 4, true);
    } else if (!copy && at % 4 === 0) {
      data = e.dtype === 'F32' ? new Float32Array(buf.buffer, at, count) : new Int32Array(buf.buffer, at, count);
    } else {
      data = new ctor(count);
      new Uint8Array(data.buffer).set(buf.subarray(dataStart + e.begin, dataStart + e.end));
    }
    tensors[e.name] = e.dtype === 'F32' ? { dtype: 'F32', shape: e.shape, data: data as Float32Array } : { dtype: 'I32', shape: e.shape, data: data as Int32Array };
  }
  return { tensors, metadata };
}

/**
 * Reads and decodes a safetensors file. Tensors are views into the freshly read file buffer
 * when aligned (it is owned by nobody else), copies otherwise.
 * @throws CorruptFileError (see {@link decodeSafetensors}); the fs error when the file cannot be read
 */
export function readSafetensors(path: string): SafetensorsFile {
  return decodeSafetensors(readFileSync(path), path, { copy: false });
}

/** Encodes and writes a safetensors file atomically (temporary sibling, then rename). */
export function writeSafetensors(path: string, tensors: Readonly<Record<string, SafetensorsEntry>>, metadata?: Readonly<Record<string, string>>): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
