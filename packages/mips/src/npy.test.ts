import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptFileError, FileSystemError, ValueError, decodeNpy, encodeNpy, readNpy, writeNpy } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'tt-npy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writeNpy / readNpy', () => {
  it.each([
    ['float32', new Float32Array([1.5, -2, 3, 4, 5, 6])],
    ['float64', new Float64Array([1.5, -2, 3, 4, 5, 6])],
    ['int32', new Int32Array([1, -2, 3, 4, 5, 6])],
  ])('round-trips %s', (_, data) => {
    const path = join(dir, `a-${data.constructor.name}.npy`);
    writeNpy(path, { data, shape: [2, 3] });
    const back = readNpy(path);
    expect(back.shape).toEqual([2, 3]);
    expect(back.data).toEqual(data);
  });

  it('writes the header numpy expects (magic, version 1.0, 64-byte aligned data)', () => {
    const bytes = encodeNpy({ data: new Float32Array(5), shape: [5] });
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]));
    const headerLen = bytes.readUInt16LE(8);
    expect((10 + headerLen) % 64).toBe(0);
    expect(bytes.subarray(10, 10 + headerLen).toString('latin1')).toMatch(
      /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(5,\), \} *\n$/,
    );
  });

  it('reads a file as numpy writes it (version 1.0 header without trailing comma)', () => {
    const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)}";
    const padded = header + ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
    const prefix = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
    prefix.writeUInt16LE(padded.length, 8);
    const body = Buffer.from(new Float32Array([1, 2, 3, 4]).buffer);
    const back = decodeNpy(Buffer.concat([prefix, Buffer.from(padded, 'latin1'), body]));
    expect(back.shape).toEqual([2, 2]);
    expect(Array.from(back.data)).toEqual([1, 2, 3, 4]);
  });

  it('rejects truncated data, bad magic, Fortran order and unsupported dtypes', () => {
    const good = encodeNpy({ data: new Float32Array(6), shape: [2, 3] });
    expect(() => decodeNpy(good.subarray(0, good.length - 4))).toThrow(CorruptFileError);
    expect(() => decodeNpy(Buffer.from('not numpy at all'))).toThrow(CorruptFileError);
    const fortran = Buffer.from(good.toString('latin1').replace('False', 'True '), 'latin1');
    expect(() => decodeNpy(fortran)).toThrow(ValueError);
    const u8 = Buffer.from(good.toString('latin1').replace('<f4', '|u1'), 'latin1');
    expect(() => decodeNpy(u8)).toThrow(ValueError);
    const path = join(dir, 'bad.npy');
    writeFileSync(path, 'xx');
    expect(() => readNpy(path)).toThrow(CorruptFileError);
    // a missing file or a directory is the file system refusing, not a corrupt file
    let missing: unknown;
    try {
      readNpy(join(dir, 'missing.npy'));
    } catch (e) {
      missing = e;
    }
    expect(missing).toBeInstanceOf(FileSystemError);
    expect(missing).toMatchObject({ path: join(dir, 'missing.npy'), operation: 'read', systemCode: 'ENOENT' });
    expect(() => readNpy(dir)).toThrow(FileSystemError);
  });
});
