import { EmptyError, OutOfRangeError, ShapeError, TtError, ValueError } from '../errors.js';
import type { Batch, DatasetSchema } from './types.js';
import { validateBatch } from './validate.js';

const schema: DatasetSchema = {
  numUsers: 100, numItems: 50, tasks: ['click', 'watch'], userFeatureDim: 16, itemFeatureDim: 16,
  numPositions: 10, hasRankerScores: true, labelMax: [1, 30],
};

function goodBatch(B = 512, H = 4): Batch {
  return {
    size: B,
    user: Int32Array.from({ length: B }, (_, i) => i % 100),
    item: Int32Array.from({ length: B }, (_, i) => (i * 7) % 50),
    userFeatures: Float32Array.from({ length: B * 16 }, (_, i) => Math.sin(i)),
    itemFeatures: Float32Array.from({ length: B * 16 }, (_, i) => Math.cos(i)),
    labels: Float32Array.from({ length: B * 2 }, (_, i) => (i % 2 === 0 ? i % 3 === 0 ? 1 : 0 : i % 31)),
    position: Int32Array.from({ length: B }, (_, i) => i % 10),
    rankerScores: Float32Array.from({ length: B * 2 }, (_, i) => (i % 11) / 10),
    history: Int32Array.from({ length: B * H }, (_, i) => (i % 5 === 4 ? -1 : i % 50)),
    historyLength: H,
  };
}

/** The error `validateBatch` throws for a batch changed by `edit`. */
function errorOf(edit: (b: Batch) => Batch, s: DatasetSchema = schema): TtError {
  try {
    validateBatch(edit(goodBatch()), s);
  } catch (e) {
    if (e instanceof TtError) return e;
    throw e;
  }
  throw new Error('validateBatch accepted the batch');
}

describe('validateBatch', () => {
  it('accepts a well-formed batch, with and without the optional columns', () => {
    expect(() => validateBatch(goodBatch(), schema)).not.toThrow();
    const plain = { ...schema, numPositions: 0, hasRankerScores: false };
    expect(() => validateBatch({ ...goodBatch(), position: undefined, rankerScores: undefined, history: undefined, historyLength: 0 }, plain)).not.toThrow();
  });

  it('rejects an empty batch (EmptyError, field batch)', () => {
    const e = errorOf((b) => ({ ...b, size: 0 }));
    expect(e).toBeInstanceOf(EmptyError);
    expect(e.field).toBe('batch');
  });

  it('rejects a feature column of the wrong length, naming the expected size (ShapeError)', () => {
    const e = errorOf((b) => ({ ...b, userFeatures: b.userFeatures.subarray(1) }));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.field).toBe('batch.userFeatures');
    expect((e as ShapeError).expected).toBe('[B*IU] = 512*16 = 8192 floats');
    expect((e as ShapeError).actual).toBe('8191 floats');
  });

  it('rejects labels of the wrong length (ShapeError)', () => {
    const e = errorOf((b) => ({ ...b, labels: new Float32Array(512) }));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.field).toBe('batch.labels');
  });

  it('rejects a NaN feature, naming the row (ValueError)', () => {
    const e = errorOf((b) => {
      b.itemFeatures[16 * 3 + 2] = NaN;
      return b;
    });
    expect(e).toBeInstanceOf(ValueError);
    expect(e.field).toBe('batch.itemFeatures');
    expect(e.message).toMatch(/NaN at row 3, column 2/);
  });

  it('rejects an infinite label (ValueError, field of the task)', () => {
    const e = errorOf((b) => {
      b.labels[2 * 5 + 1] = Infinity;
      return b;
    });
    expect(e).toBeInstanceOf(ValueError);
    expect(e.field).toBe('batch.labels[watch]');
  });

  it('rejects a negative user index (OutOfRangeError)', () => {
    const e = errorOf((b) => {
      b.user[7] = -1;
      return b;
    });
    expect(e).toBeInstanceOf(OutOfRangeError);
    expect(e.field).toBe('batch.user');
    expect(e.message).toMatch(/\[0, 100\), got -1 at row 7/);
  });

  it('rejects an item index beyond the catalogue (OutOfRangeError)', () => {
    const e = errorOf((b) => {
      b.item[9] = 50;
      return b;
    });
    expect(e).toBeInstanceOf(OutOfRangeError);
    expect(e.field).toBe('batch.item');
    expect(e.message).toMatch(/\[0, 50\), got 50 at row 9/);
  });

  it('rejects a fractional index given as floats (OutOfRangeError)', () => {
    const e = errorOf((b) => ({ ...b, user: Float32Array.from(b.user, (u) => u + 0.5) as unknown as Int32Array }));
    expect(e).toBeInstanceOf(OutOfRangeError);
    expect(e.field).toBe('batch.user');
  });

  it('rejects a label outside [0, labelMax] of its task (OutOfRangeError)', () => {
    const binary = errorOf((b) => {
      b.labels[2 * 4] = 2;
      return b;
    });
    expect(binary).toBeInstanceOf(OutOfRangeError);
    expect(binary.field).toBe('batch.labels[click]');
    expect(binary.message).toMatch(/\[0, 1\], got 2 at row 4/);
    const negative = errorOf((b) => {
      b.labels[2 * 4 + 1] = -0.5;
      return b;
    });
    expect(negative).toBeInstanceOf(OutOfRangeError);
    expect(negative.field).toBe('batch.labels[watch]');
    // 30 is allowed for watch
    expect(() => validateBatch({ ...goodBatch(), labels: Float32Array.from({ length: 1024 }, (_, i) => (i % 2 ? 30 : 1)) }, schema)).not.toThrow();
  });

  it.each([[0.1], [1e30], [0.7], [123.456]])('compares labels in float32, the precision they are stored in (largest label %s)', (max) => {
    // labelMax comes from float64 CSV values; the batch holds them rounded to float32, possibly above
    const labels = Float32Array.from({ length: 1024 }, (_, i) => (i % 2 ? max : 0));
    if (max === 0.1 || max === 1e30) expect(labels[1]!).toBeGreaterThan(max); // the case that aborted training
    expect(() => validateBatch({ ...goodBatch(), labels }, { ...schema, labelMax: [max, max] })).not.toThrow();
    labels[1] = Math.fround(max * 1.001);
    expect(errorOf((b) => ({ ...b, labels }), { ...schema, labelMax: [max, max] })).toBeInstanceOf(OutOfRangeError);
  });

  it('requires positions when the schema has them, in range (ShapeError / OutOfRangeError)', () => {
    const missing = errorOf((b) => ({ ...b, position: undefined }));
    expect(missing).toBeInstanceOf(ShapeError);
    expect(missing.field).toBe('batch.position');
    const beyond = errorOf((b) => {
      b.position![0] = 10;
      return b;
    });
    expect(beyond).toBeInstanceOf(OutOfRangeError);
    expect(beyond.field).toBe('batch.position');
  });

  it('requires ranker scores to be probabilities (OutOfRangeError)', () => {
    const e = errorOf((b) => {
      b.rankerScores![1] = 1.01;
      return b;
    });
    expect(e).toBeInstanceOf(OutOfRangeError);
    expect(e.field).toBe('batch.rankerScores[watch]');
    const missing = errorOf((b) => ({ ...b, rankerScores: undefined }));
    expect(missing).toBeInstanceOf(ShapeError);
    expect(missing.field).toBe('batch.rankerScores');
    // NaN: a row the ranker did not score (distillation skips it); Infinity is an error
    const unscored = goodBatch();
    unscored.rankerScores!.fill(NaN, 0, 2);
    expect(() => validateBatch(unscored, schema)).not.toThrow();
    const infinite = errorOf((b) => {
      b.rankerScores![0] = Infinity;
      return b;
    });
    expect(infinite).toBeInstanceOf(ValueError);
  });

  it('allows -1 padding in histories but nothing below or beyond the catalogue', () => {
    const below = errorOf((b) => {
      b.history![5] = -2;
      return b;
    });
    expect(below).toBeInstanceOf(OutOfRangeError);
    expect(below.field).toBe('batch.history');
    expect(below.message).toMatch(/row 1, slot 1/);
    const short = errorOf((b) => ({ ...b, history: b.history!.subarray(4) }));
    expect(short).toBeInstanceOf(ShapeError);
    expect(short.field).toBe('batch.history');
  });
});
