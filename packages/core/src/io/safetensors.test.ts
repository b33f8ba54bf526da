import { mkdtempSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, readSafetensors, writeSafetensors, type SafetensorsEntry } from './safetensors.js';
import { CorruptFileError, ShapeError, ValueError } from '../errors.js';

const tensors: Record<string, SafetensorsEntry> = {
  'tower.w': { dtype: 'F32', shape: [2, 3], data: Float32Array.of(1, -2.5, 3, Math.PI, -0, 1e-30) },
  ids: { dtype: 'I32', shape: [3], data: Int32Array.of(-1, 0, 2147483647) },
  scale: { dtype: 'F32', shape: [], data: Float32Array.of(0.125) },
  empty: { dtype: 'I32', shape: [0, 4], data: new Int32Array(0) },
};

function encode(t = tensors, meta?: Record<string, string>): Buffer {
  return Buffer.concat(encodeSafetensors(t, meta));
}

/** Rewrites the header JSON (keeping the data section) for corruption tests. */
function withHeader(buf: Buffer, edit: (h: Record<string, any>) => unknown): Buffer {
  const n = Number(buf.readBigUInt64LE(0));
  const h = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const json = Buffer.from(JSON.stringify(edit(h) ?? h));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, buf.subarray(8 + n)]);
}

describe('safetensors', () => {
  it('round-trips F32, I32, a scalar and an empty tensor, with and without metadata', () => {
    const metas: Array<Record<string, string> | undefined> = [undefined, {}, { format: 'tt.two-tower/1', note: 'ü' }];
    for (const meta of metas) {
      const { tensors: back, metadata } = decodeSafetensors(encode(tensors, meta), 'x.safetensors');
      expect(metadata).toEqual(meta ?? {});
      expect(Object.keys(back)).toEqual(Object.keys(tensors));
      for (const [name, t] of Object.entries(tensors)) {
        const b = back[name]!;
        expect(b.dtype).toBe(t.dtype);
        expect(b.shape).toEqual(t.shape);
        expect(b.data).toBeInstanceOf(t.dtype === 'F32' ? Float32Array : Int32Array);
        expect(Array.from(b.data)).toEqual(Array.from(t.data));
        expect(b.data.byteOffset % 4).toBe(0);
      }
    }
  });

  it('aligns the header to 8 bytes with space padding and packs data contiguously', () => {
    for (const name of ['a', 'ab', 'abc', 'abcd', 'abcde', 'abcdef', 'abcdefg', 'abcdefgh']) {
      const chunks = encodeSafetensors({ [name]: { dtype: 'F32', shape: [1], data: Float32Array.of(2) } });
      const buf = Buffer.concat(chunks);
      const n = Number(buf.readBigUInt64LE(0));
      expect((8 + n) % 8).toBe(0);
      expect(chunks[0]!.length).toBe(8 + n);
      const text = buf.subarray(8, 8 + n).toString('utf8');
      expect(text.trimEnd().endsWith('}')).toBe(true);
      expect(/^ *$/.test(text.slice(text.lastIndexOf('}') + 1))).toBe(true);
      expect(JSON.parse(text)).toEqual({ [name]: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } });
      expect(buf.readFloatLE(8 + n)).toBe(2);
      expect(buf.length).toBe(8 + n + 4);
    }
  });

  it('copies by default; views with copy: false when aligned', () => {
    const buf = encode();
    const copied = decodeSafetensors(buf, 'x').tensors['ids']!.data;
    expect(copied.buffer).not.toBe(buf.buffer);
    const aligned = Buffer.from(new Uint8Array(new ArrayBuffer(buf.length)).fill(0)); // non-pooled, offset 0
    buf.copy(aligned);
    const view = decodeSafetensors(aligned, 'x', { copy: false }).tensors['ids']!.data;
    expect(view.buffer).toBe(aligned.buffer);
    // misaligned source: still decodes (copied)
    const shifted = Buffer.alloc(buf.length + 1).subarray(1);
    buf.copy(shifted);
    expect(Array.from(decodeSafetensors(shifted, 'x', { copy: false }).tensors['ids']!.data)).toEqual([-1, 0, 2147483647]);
  });

  it('reads files from other writers: unsorted offsets, no padding', () => {
    const a = Buffer.alloc(4); a.writeFloatLE(1.5);
    const b = Buffer.alloc(8); b.writeInt32LE(7); b.writeInt32LE(-8, 4);
    const json = Buffer.from(JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: [8, 12] }, b: { dtype: 'I32', shape: [2], data_offsets: [0, 8] } }));
    const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(json.length));
    const { tensors: t } = decodeSafetensors(Buffer.concat([len, json, b, a]), 'y');
    expect(Array.from(t['a']!.data)).toEqual([1.5]);
    expect(Array.from(t['b']!.data)).toEqual([7, -8]);
  });

  describe('rejects corrupt files with CorruptFileError naming the file', () => {
    const good = encode(tensors, { k: 'v' });
    const cases: Array<[string, Buffer]> = [
      ['shorter than 8 bytes', good.subarray(0, 5)],
      ['empty', Buffer.alloc(0)],
      ['truncated data', good.subarray(0, good.length - 1)],
      ['truncated header', good.subarray(0, 20)],
      ['trailing data', Buffer.concat([good, Buffer.alloc(4)])],
      ['header length beyond the file', (() => { const b = Buffer.from(good); b.writeBigUInt64LE(BigInt(good.length)); return b; })()],
      ['flipped header length (huge)', (() => { const b = Buffer.from(good); b[7] = 0xff; return b; })()],
      ['header length off by one', (() => { const b = Buffer.from(good); b.writeBigUInt64LE(b.readBigUInt64LE(0) - 1n); return b; })()],
      ['bad JSON', (() => { const b = Buffer.from(good); b[8] = 0x5b; b[9] = 0x7b; return b; })()],
      ['header not an object', withHeader(good, () => [1, 2])],
      ['unknown dtype', withHeader(good, (h) => void (h['ids'].dtype = 'F64'))],
      ['shape/offset size mismatch', withHeader(good, (h) => void (h['ids'].shape = [4]))],
      ['negative shape', withHeader(good, (h) => void (h['ids'].shape = [-3]))],
      ['offsets out of bounds', withHeader(good, (h) => void (h['scale'].data_offsets = [1000, 1004]))],
      ['offsets reversed', withHeader(good, (h) => void (h['ids'].data_offsets = [h['ids'].data_offsets[1], h['ids'].data_offsets[0]]))],
      ['overlapping offsets', withHeader(good, (h) => void (h['scale'].data_offsets = [0, 4]))],
      ['metadata not strings', withHeader(good, (h) => void (h['__metadata__'] = { k: 1 }))],
      ['entry not an object', withHeader(good, (h) => void (h['ids'] = 'x'))],
    ];
    it.each(cases)('%s', (_name, buf) => {
      let err: unknown;
      try {
        decodeSafetensors(buf, 'model/weights.safetensors');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CorruptFileError);
      expect((err as CorruptFileError).field).toBe('model/weights.safetensors');
    });
  });

  it('rejects bad input when encoding', () => {
    expect(() => encodeSafetensors({ a: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).toThrow(ShapeError);
    expect(() => encodeSafetensors({ a: { dtype: 'F32', shape: [2], data: new Int32Array(2) as unknown as Float32Array } })).toThrow(ShapeError);
    expect(() => encodeSafetensors({ a: { dtype: 'F64' as 'F32', shape: [1], data: new Float32Array(1) } })).toThrow(ValueError);
    expect(() => encodeSafetensors({ __metadata__: { dtype: 'F32', shape: [1], data: new Float32Array(1) } })).toThrow(ValueError);
    expect(() => encodeSafetensors({ a: { dtype: 'F32', shape: [1.5], data: new Float32Array(1) } })).toThrow(ValueError);
  });

  it('writes atomically and reads back from disk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tt-st-'));
    try {
      const path = join(dir, 'sub', 'w.safetensors');
      writeSafetensors(path, tensors, { a: 'b' });
      expect(readdirSync(join(dir, 'sub'))).toEqual(['w.safetensors']);
      expect(readFileSync(path).equals(encode(tensors, { a: 'b' }))).toBe(true);
      const back = readSafetensors(path);
      expect(back.metadata).toEqual({ a: 'b' });
      expect(Array.from(back.tensors['tower.w']!.data)).toEqual(Array.from(tensors['tower.w']!.data));
      expect(back.tensors['scale']!.shape).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
