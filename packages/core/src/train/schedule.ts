/**
 * Learning-rate schedules: a linear warm-up, then constant, cosine or linear decay to
 * `finalFraction` of the base rate at the last step.
 */
import { ConfigError } from '../errors.js';

/** A learning-rate schedule, as a multiple of the base rate over the training steps. */
export interface ScheduleConfig {
  /** after warm-up: stay at the base rate, or decay along a cosine or a line */
  readonly kind: 'constant' | 'cosine' | 'linear';
  /** steps of linear warm-up from ~0 to the base rate */
  readonly warmupSteps?: number;
  /** where decay ends, as a fraction of the base rate (default 0.1) */
  readonly finalFraction?: number;
}

/** The learning rate at `step` (0-based) of `totalSteps`. */
export function learningRateAt(base: number, schedule: ScheduleConfig, step: number, totalSteps: number): number {
  const warmup = schedule.warmupSteps ?? 0;
  if (step < warmup) return (base * (step + 1)) / warmup;
  if (schedule.kind === 'constant') return base;
  const final = schedule.finalFraction ?? 0.1;
  const span = Math.max(1, totalSteps - warmup);
  const progress = Math.min(1, (step - warmup) / span);
  if (schedule.kind === 'linear') return base * (1 - (1 - final) * progress);
  if (schedule.kind === 'cosine') return base * (final + (1 - final) * 0.5 * (1 + Math.cos(Math.PI * progress)));
  throw new ConfigError('schedule.kind', `must be constant, cosine or linear, got ${JSON.stringify(schedule.kind)}`);
}
