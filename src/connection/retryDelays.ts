import type { Subject } from 'rxjs'
import type { LiveClientError } from './api'
import { backoffDelayMs, type BackoffOptions } from './backoff'

/**
 * The app's timing callbacks (`random`, `reconnectAfterMs`), guarded: a throw or a value out
 * of range is reported on `errors$` and replaced by the default, never a dead client.
 */
export interface RetryDelays {
  /** A number in [0, 1]. */
  random(): number
  /** The delay before reconnect `attempt`; `slow` after a flooding close (1008): backoff starts at its maximum. */
  delayMs(attempt: number, slow: boolean): number
}

export function retryDelays(
  backoff: BackoffOptions,
  userRandom: () => number,
  reconnectAfterMs: ((attempt: number, slow: boolean) => number) | undefined,
  errors$: Subject<LiveClientError>,
): RetryDelays {
  const guarded = <T>(callback: 'random' | 'reconnectAfterMs', run: () => T, valid: (value: T) => boolean, fallback: () => T): T => {
    try {
      const value = run()
      if (valid(value)) return value
      errors$.next({ kind: 'callback', callback, reason: `returned ${String(value)}` })
    } catch (error) {
      errors$.next({ kind: 'callback', callback, reason: error instanceof Error ? error.message : String(error) })
    }
    return fallback()
  }
  const random = (): number =>
    guarded(
      'random',
      userRandom,
      (r) => typeof r === 'number' && r >= 0 && r <= 1,
      () => 0.5,
    )
  const jittered = (attempt: number, slow: boolean): number => (slow ? Math.round(random() * backoff.maxMs) : backoffDelayMs(attempt, backoff, random))
  const delayMs = (attempt: number, slow: boolean): number =>
    reconnectAfterMs === undefined
      ? jittered(attempt, slow)
      : guarded(
          'reconnectAfterMs',
          () => reconnectAfterMs(attempt, slow),
          (ms) => typeof ms === 'number' && ms >= 0 && Number.isFinite(ms),
          () => jittered(attempt, slow),
        )
  return { random, delayMs }
}
