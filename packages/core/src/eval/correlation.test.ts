import { ShapeError } from '../errors.js';
import { pearson, spearman } from './correlation.js';

describe('correlations', () => {
  it('pearson equals a hand computation and is +-1 on exact linear relations', () => {
    // x = [1, 2, 3, 4], y = [2, 1, 4, 3]: sum dx dy = 3, sum dx^2 = sum dy^2 = 5
    expect(pearson([1, 2, 3, 4], [2, 1, 4, 3])).toBeCloseTo(3 / 5, 10);
    expect(pearson(Float32Array.of(1, 2, 3), [5, 7, 9])).toBeCloseTo(1, 10);
    expect(pearson([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 10);
  });

  it('spearman correlates ranks (average ranks for ties): monotone is 1 whatever the scale', () => {
    expect(spearman([1, 2, 3, 4], [10, 200, 3000, 40000])).toBeCloseTo(1, 10);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 10);
    // ties: ranks of [1, 1, 2] are [0.5, 0.5, 2]
    expect(spearman([1, 1, 2], [1, 2, 3])).toBeCloseTo(pearson([0.5, 0.5, 2], [0, 1, 2]), 10);
  });

  it('is NaN for a constant series and a ShapeError for unequal or too short ones', () => {
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(spearman([1, 2, 3], [4, 4, 4])).toBeNaN();
    expect(() => pearson([1, 2], [1, 2, 3])).toThrow(ShapeError);
    expect(() => spearman([1], [1])).toThrow(ShapeError);
  });
});
