/** Reconnect backoff settings (all in milliseconds). */
export interface BackoffOptions {
  /** Ceiling of the first retry's delay. Default 500. */
  minMs: number
  /** Largest ceiling. Default 30000. */
  maxMs: number
  /** Give up (state `failed`) after this many failed attempts in a row. Default Infinity. */
  maxAttempts: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { minMs: 500, maxMs: 30000, maxAttempts: Infinity }

/**
 * Delay before reconnect attempt `attempt` (1-based): exponential with full jitter, capped.
 * `random` returns a number in [0, 1), like `Math.random`.
 *
 * @example
 * backoffDelayMs(3, { minMs: 500, maxMs: 30000 }, () => 1) // 2000: the ceiling of the third try
 */
export function backoffDelayMs(attempt: number, options: Pick<BackoffOptions, 'minMs' | 'maxMs'>, random: () => number): number {
  const exponent = Math.max(0, attempt - 1)
  // 2 ** 1024 is Infinity: clamp the exponent so a long outage cannot make NaN.
  const ceiling = Math.min(options.maxMs, options.minMs * 2 ** Math.min(exponent, 52))
  return Math.round(random() * ceiling)
}
