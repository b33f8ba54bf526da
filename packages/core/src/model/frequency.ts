/**
 * Streaming item-frequency estimation (Yi et al., "Sampling-Bias-Corrected Neural Modeling for
 * Large Corpus Item Recommendations", RecSys 2019, algorithm 2): per item, a moving average of
 * the number of steps between two sightings; 1 / gap estimates the probability that the item is
 * in a batch, which is the Q of the logQ correction. Hashed arrays keep memory bounded.
 */
import { ShapeError } from '../errors.js';

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
   * The estimator's state, for resuming training: the step count, the step each bucket was last
   * seen at (-1: never) and the gaps. The arrays are views: copy them to keep them past the next step.
   */
  getState(): {
    /** steps observed */
    step: number;
    /** `[buckets]` the step each bucket was last seen at, -1 = never */
    lastStep: Float64Array;
    /** `[buckets]` the moving average of the gap between sightings */
    gap: Float32Array;
  } {
    return { step: this.step, lastStep: this.lastStep, gap: this.gap };
  }

  /**
   * Continues from a state {@link FrequencyEstimator.getState} returned (arrays of `buckets` values).
   * @throws ShapeError for arrays of another length
   */
  setState(state: { readonly step: number; readonly lastStep: ArrayLike<number>; readonly gap: ArrayLike<number> }): void {
    if (state.lastStep.length !== this.buckets) throw new ShapeError('frequency.lastStep', `[${this.buckets}]`, `[${state.lastStep.length}]`);
    if (state.gap.length !== this.buckets) throw new ShapeError('frequency.gap', `[${this.buckets}]`, `[${state.gap.length}]`);
    this.step = state.step;
    this.lastStep.set(state.lastStep);
    this.gap.set(state.gap);
  }

  /**
   * log of the item's expected count per batch (1 / gap; above 1 when it recurs within a batch).
   */
  logProbability(item: number): number {
    return -Math.log(Math.max(1e-2, this.gap[this.bucket(item)]!));
  }
}
