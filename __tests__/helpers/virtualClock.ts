import { VirtualTimeScheduler } from 'rxjs'
import type { Clock, ClockTimer } from '../../server/clock'

interface Pending {
  at: number
  order: number
  fn: () => void
  cancelled: boolean
}

/**
 * The server's time in a test: nothing fires until the test calls `advance`. Starts at the
 * real time of its creation (tokens' `exp` are real seconds), then moves only when told.
 *
 * @example
 * const clock = new VirtualClock()
 * const server = await createServer({ secret: 's', clock })
 * clock.advance(250) // the batch tick, the heartbeat sweep, ... fire now, in time order
 */
export class VirtualClock implements Clock {
  private time: number
  private order = 0
  private pending: Pending[] = []

  constructor(start = Date.now()) {
    this.time = start
  }

  now(): number {
    return this.time
  }

  setTimer(fn: () => void, ms: number): ClockTimer {
    const entry: Pending = { at: this.time + Math.max(0, ms), order: this.order++, fn, cancelled: false }
    this.pending.push(entry)
    return { cancel: () => void (entry.cancelled = true) }
  }

  /** Timers not fired or cancelled yet. */
  get timers(): number {
    return this.pending.filter((p) => !p.cancelled).length
  }

  /** Moves time forward by `ms`, firing every timer due on the way, in time order (ties in the order they were set). */
  advance(ms: number): void {
    const target = this.time + ms
    for (;;) {
      this.pending = this.pending.filter((p) => !p.cancelled)
      let next: Pending | undefined
      for (const p of this.pending) if (p.at <= target && (next === undefined || p.at < next.at || (p.at === next.at && p.order < next.order))) next = p
      if (next === undefined) break
      this.pending.splice(this.pending.indexOf(next), 1)
      this.time = next.at
      next.fn()
    }
    this.time = target
  }
}

/**
 * RxJS virtual time driven by hand, for a client (or page) talking to real sockets: the client's
 * heartbeats, backoff, flushes and budgets happen only when the test advances it. TestScheduler's
 * `run()` is synchronous and cannot wait for a socket; this can.
 */
export class SteppedScheduler extends VirtualTimeScheduler {
  constructor() {
    super()
    this.maxFrames = 0
  }

  /** Runs every action due within `ms` from now; `now()` is then exactly `ms` later. */
  advance(ms: number): void {
    const target = this.now() + ms
    this.schedule(() => undefined, ms)
    this.maxFrames = target
    this.flush()
  }
}
