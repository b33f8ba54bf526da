/**
 * Reading a stage's `options` (JSON from the model config): unknown keys and wrong values become
 * a ConfigError naming `stages.<stage>.<key>` and what was expected, so every stage package
 * reports bad options the same way.
 */
import { ConfigError } from '../errors.js';

/** Bounds a numeric option must satisfy (see {@link StageOptions.number}). */
export interface NumberRule {
  /** smallest allowed value (inclusive unless `above`) */
  readonly min?: number;
  /** the value must be strictly greater than `min` */
  readonly above?: boolean;
  /** largest allowed value (inclusive) */
  readonly max?: number;
  /** the value must be an integer */
  readonly integer?: boolean;
}

/** A stage's options, read key by key with a default and checked on the way. */
export class StageOptions {
  /** @throws ConfigError for a key outside `known` */
  constructor(
    /** the stage's name, the `<stage>` of every field path */
    readonly stage: string,
    private readonly options: Readonly<Record<string, unknown>>,
    known: readonly string[],
  ) {
    for (const key of Object.keys(options)) {
      if (!known.includes(key)) throw new ConfigError(this.field(key), `unknown option of ${stage} (known: ${known.join(', ')})`);
    }
  }

  /** The config path of `key`, for errors raised by the stage itself. */
  field(key: string): string {
    return `stages.${this.stage}.${key}`;
  }

  /**
   * The number at `key` (`fallback` when absent).
   * @throws ConfigError when it breaks `rule`
   */
  number(key: string, fallback: number, rule: NumberRule = {}): number {
    const v = this.options[key];
    if (v === undefined) return fallback;
    const { min, above = false, max, integer = false } = rule;
    const ok = typeof v === 'number' && Number.isFinite(v) && (!integer || Number.isInteger(v))
      && (min === undefined || (above ? v > min : v >= min)) && (max === undefined || v <= max);
    if (!ok) {
      const bounds = [min !== undefined ? `${above ? '>' : '>='} ${min}` : '', max !== undefined ? `<= ${max}` : ''].filter(Boolean).join(' and ');
      throw new ConfigError(this.field(key), `must be ${integer ? 'an integer' : 'a finite number'}${bounds ? ` ${bounds}` : ''}, got ${JSON.stringify(v)}`);
    }
    return v as number;
  }

  /**
   * The boolean at `key` (`fallback` when absent).
   * @throws ConfigError for a non-boolean
   */
  boolean(key: string, fallback: boolean): boolean {
    const v = this.options[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') throw new ConfigError(this.field(key), `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  /**
   * The string at `key`, one of `values` (`fallback` when absent).
   * @throws ConfigError otherwise
   */
  oneOf<T extends string>(key: string, values: readonly T[], fallback: T): T {
    const v = this.options[key];
    if (v === undefined) return fallback;
    if (!values.includes(v as T)) throw new ConfigError(this.field(key), `must be one of ${values.map((x) => JSON.stringify(x)).join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  }
}
