/**
 * Streaming item-frequency estimation (Yi et al., "Sampling-Bias-Corrected Neural Modeling for
 * Large Corpus Item Recommendations", RecSys 2019, algorithm 2): per item, a moving average of
 * the number of steps between two sightings; 1 / gap estimates the probability that the item is
 * in a batch, which is the Q of the logQ correction. Hashed arrays keep memory bounded.
 */

/** The logQ correction's item-frequency estimate, updated once per training step. */
export class FrequencyEstimator {
  private readonly lastStep: Float64Array;
  private readonly gap: Float32Array;
  private step = 0;

  constructor(
    /** size of the hashed per-item arrays; items share a bucket modulo this */
    readonly buckets: number,
    /** learning rate of the gap's moving average */
    readonly alpha: number,
    initialGap: number,
  ) {
    this.lastStep = new Float64Array(buckets).fill(-1);
    this.gap = new Float32Array(buckets).fill(initialGap);
  }

  private bucket(item: number): number {
    return item % this.buckets;
  }

  /** Records one batch's items (call once per training step, before reading). */
  observe(items: ArrayLike<number>): void {
    this.step++;
    for (let i = 0; i < items.length; i++) {
      const h = this.bucket(items[i]!);
      const last = this.lastStep[h]!;
      if (last >= 0) this.gap[h] = (1 - this.alpha) * this.gap[h]! + this.alpha * (this.step - last);
      this.lastStep[h] = this.step;
    }
  }

  /**
   * log of the item's expected count per batch (1 / gap; above 1 when it recurs within a batch).
   */
  logProbability(item: number): number {
    return -Math.log(Math.max(1e-2, this.gap[this.bucket(item)]!));
  }
}
