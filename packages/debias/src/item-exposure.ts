/**
 * Each item's mean exposure over the impressions seen so far, shrunk towards the overall mean by
 * how much of it is the item's and how much is chance (`correction: 'item'` of the debias stage).
 *
 * An item's mean exposure `m_i` over `n_i` impressions is its true mean plus noise of variance
 * `sigma^2 / n_i` (`sigma^2`: the spread of exposures within an item). Across items the means
 * vary by `tau^2` (how much the layout depends on the item) plus that noise, so
 * `tau^2 = max(0, var_i(m_i) - sigma^2 mean_i(1 / n_i))`, and the empirical-Bayes estimate of an
 * item's exposure is `g + k_i (m_i - g)`, `k_i = n_i tau^2 / (n_i tau^2 + sigma^2)`, `g` the
 * mean over impressions. Where the layout does not depend on the item (a random slate order),
 * `tau^2` is ~0 and every item gets `g`: the weights stay uniform and the correction adds no
 * variance; an item seen a few times keeps little of its own mean.
 *
 * Every statistic is a running sum updated per impression: O(batch) per step.
 */

/** How much the layout depends on the item, as {@link ItemExposure.summary} reports it. */
export interface ItemExposureSummary {
  /** impressions folded in */
  readonly impressions: number;
  /** distinct items among them */
  readonly items: number;
  /** mean exposure over the impressions, `g` */
  readonly meanExposure: number;
  /** share of the exposure variance that is between items, `tau^2 / (tau^2 + sigma^2)` */
  readonly itemShare: number;
  /** sd of the shrunk item exposures over the impressions, relative to `g`: how far the item correction moves a weight */
  readonly correctionSpread: number;
}

/** Running shrunk means of a per-impression exposure, per item row. */
export class ItemExposure {
  private readonly n: Float64Array;
  private readonly sum: Float64Array;
  // totals over impressions (N, S, Q), and over items seen (K, sum of S_i^2 / n_i, of m_i, of m_i^2, of 1 / n_i)
  private N = 0;
  private S = 0;
  private Q = 0;
  private K = 0;
  private A = 0;
  private M1 = 0;
  private M2 = 0;
  private R = 0;

  constructor(
    /** item rows (ids are taken modulo this, as the item table hashes them) */
    readonly rows: number,
    /** shrink towards the overall mean (false: each item's raw mean) */
    readonly shrink = true,
  ) {
    this.n = new Float64Array(rows);
    this.sum = new Float64Array(rows);
  }

  /** Folds in one batch's impressions, then returns each row's item exposure estimate. */
  add(items: ArrayLike<number>, exposure: ArrayLike<number>): Float32Array {
    for (let r = 0; r < items.length; r++) this.fold(items[r]! % this.rows, exposure[r]!);
    const { g, tau2, sigma2 } = this.moments();
    const out = new Float32Array(items.length);
    for (let r = 0; r < items.length; r++) out[r] = this.estimate(items[r]! % this.rows, g, tau2, sigma2);
    return out;
  }

  /** How much the layout depends on the item so far; undefined before any impression. */
  summary(): ItemExposureSummary | undefined {
    if (this.N === 0) return undefined;
    const { g, tau2, sigma2 } = this.moments();
    let dev = 0;
    for (let i = 0; i < this.rows; i++) {
      if (this.n[i]! > 0) dev += this.n[i]! * (this.estimate(i, g, tau2, sigma2) - g) ** 2;
    }
    const total = tau2 + sigma2;
    return {
      impressions: this.N,
      items: this.K,
      meanExposure: g,
      itemShare: total > 0 ? tau2 / total : 0,
      correctionSpread: g > 0 ? Math.sqrt(dev / this.N) / g : 0,
    };
  }

  private fold(i: number, x: number): void {
    const n = this.n[i]!;
    if (n > 0) this.terms(i, -1);
    else this.K++;
    this.n[i] = n + 1;
    this.sum[i] = this.sum[i]! + x;
    this.N++;
    this.S += x;
    this.Q += x * x;
    this.terms(i, 1);
  }

  /** Adds (sign 1) or removes (sign -1) item `i`'s terms of the per-item sums. */
  private terms(i: number, sign: number): void {
    const n = this.n[i]!;
    const m = this.sum[i]! / n;
    this.A += sign * this.sum[i]! * m;
    this.M1 += sign * m;
    this.M2 += sign * m * m;
    this.R += sign / n;
  }

  private moments(): { g: number; tau2: number; sigma2: number } {
    const g = this.S / this.N;
    const sigma2 = Math.max(0, this.Q - this.A) / Math.max(1, this.N - this.K);
    const meanM = this.M1 / this.K;
    const varM = Math.max(0, this.M2 / this.K - meanM * meanM);
    const tau2 = Math.max(0, varM - (sigma2 * this.R) / this.K);
    return { g, tau2, sigma2 };
  }

  private estimate(i: number, g: number, tau2: number, sigma2: number): number {
    const n = this.n[i]!;
    if (n === 0) return g;
    const m = this.sum[i]! / n;
    if (!this.shrink) return m;
    const k = tau2 > 0 ? (n * tau2) / (n * tau2 + sigma2) : 0;
    return g + k * (m - g);
  }
}
