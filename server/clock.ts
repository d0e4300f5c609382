/** A timer started on a {@link Clock}: `cancel()` stops it (a no-op once it has fired). */
export interface ClockTimer {
  cancel(): void
}

/**
 * The server's time: what `now` is and when a timer fires. Every deadline and window of the
 * server (heartbeat and auth sweeps, the batch tick, presence and like windows, the HTTP poll's
 * wait and gather, the close cut-off, idle-room sweeps) runs on it, so a test can drive them
 * in virtual time. Deadlines paired with another system's clock (the Redis engine's process
 * lease and command timeout, which Redis measures) stay on real time.
 *
 * @example
 * // The default: Date.now and setTimeout.
 * const server = await createServer({ secret: 's', clock: systemClock })
 */
export interface Clock {
  now(): number
  /** Calls `fn` once, `ms` from now. */
  setTimer(fn: () => void, ms: number): ClockTimer
}

/** Real time: `Date.now` and unref'd `setTimeout` (a timer never keeps the process alive). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const handle = setTimeout(fn, ms) as unknown as { unref?: () => void }
    handle.unref?.()
    return { cancel: () => clearTimeout(handle as unknown as ReturnType<typeof setTimeout>) }
  },
}

/** Calls `fn` every `ms` on `clock` until cancelled. */
export function every(clock: Clock, ms: number, fn: () => void): ClockTimer {
  let current: ClockTimer | undefined
  let stopped = false
  const arm = (): void => {
    current = clock.setTimer(() => {
      if (stopped) return
      arm()
      fn()
    }, ms)
  }
  arm()
  return {
    cancel: () => {
      stopped = true
      current?.cancel()
    },
  }
}

/** Resolves after `ms` on `clock`. */
export const sleepOn = (clock: Clock, ms: number): Promise<void> => new Promise((resolve) => clock.setTimer(resolve, ms))
