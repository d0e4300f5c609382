import { asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs'
import { utf8ByteLength } from '../protocol/utf8'
import { type BudgetMember, SetDataBudget, type SetDataStats } from './setDataBudget'

export type { SetDataStats } from './setDataBudget'

/** What a batcher sends to: a page or component (its `setData`). */
export interface SetDataTarget {
  setData(data: Record<string, unknown>): void
}

type PathPart = string | number

function parsePath(path: string): PathPart[] {
  const parts: PathPart[] = []
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) parts.push(m[2] !== undefined ? Number(m[2]) : m[1])
  return parts
}

function setIn(target: unknown, parts: PathPart[], value: unknown): unknown {
  if (parts.length === 0) return value
  const [head, ...rest] = parts
  if (typeof head === 'number') {
    const list: unknown[] = Array.isArray(target) ? target.slice() : []
    list[head] = setIn(list[head], rest, value)
    return list
  }
  const record: Record<string, unknown> = typeof target === 'object' && target !== null ? { ...(target as Record<string, unknown>) } : {}
  record[head] = setIn(record[head], rest, value)
  return record
}

export interface SetDataBatcherOptions {
  /** The budget shared with the other components of the page. Default: one of its own. */
  budget?: SetDataBudget
  /**
   * Keys sent at most once per `throttleMs` (counts, the notice line): a change goes with the
   * next setData if the key has not been sent for `throttleMs`, else it waits for its turn,
   * riding along with whatever is sent by then. Default: none.
   */
  throttledKeys?: readonly string[]
  /** Default 250. */
  throttleMs?: number
}

/**
 * Merges every update of one page or component into one `setData` per round of its budget,
 * with path-keyed updates folded into pending whole values. While paused (page hidden)
 * nothing is sent; `resume` sends one catch-up `setData`.
 */
export class SetDataBatcher implements BudgetMember {
  readonly stats: SetDataStats = { calls: 0, bytes: 0, largest: 0 }
  readonly budget: SetDataBudget
  private pending: Record<string, unknown> | null = null
  /** Throttled keys waiting for their turn. */
  private held: Record<string, unknown> | null = null
  private heldTimer: Subscription | undefined
  private readonly throttled: ReadonlySet<string>
  private readonly throttleMs: number
  private lastThrottledAt = -Infinity
  private paused = false
  private collecting = false
  private disposed = false
  /**
   * Runs first in every flush: bindings that defer on their own (mobx-miniprogram-bindings
   * waits for the next tick) hand over what they hold, so one flush is one setData.
   */
  beforeFlush: (() => void) | undefined

  constructor(
    private readonly target: SetDataTarget,
    private readonly scheduler: SchedulerLike = asyncScheduler,
    options: SetDataBatcherOptions = {},
  ) {
    this.budget = options.budget ?? new SetDataBudget(20, 1000, scheduler)
    this.throttled = new Set(options.throttledKeys ?? [])
    this.throttleMs = options.throttleMs ?? 250
    this.budget.join(this)
  }

  /** Adds updates (`{ key: value }` or `{ 'list[3].status': value }`) to the next `setData`. */
  merge(patch: Record<string, unknown>): void {
    if (this.disposed) return
    let now: Record<string, unknown> | undefined
    for (const [key, value] of Object.entries(patch)) {
      if (this.throttled.has(key)) (this.held ??= {})[key] = value
      else (now ??= {})[key] = value
    }
    if (now !== undefined) mergeInto((this.pending ??= {}), now)
    if (this.held !== null) this.releaseHeldWhenDue()
    if (this.pending !== null && !this.collecting) this.budget.request()
  }

  get ready(): boolean {
    return !this.paused && !this.disposed && this.pending !== null
  }

  /** @internal The budget's round: bindings hand over what they hold. */
  collect(): void {
    if (this.paused || this.disposed) return
    this.collecting = true
    try {
      this.beforeFlush?.()
    } finally {
      this.collecting = false
    }
  }

  /** @internal Sends what is pending in one setData (throttled keys ride along when due). */
  send(): number {
    if (this.pending === null) return 0
    if (this.held !== null && this.scheduler.now() - this.lastThrottledAt >= this.throttleMs) this.takeHeld()
    const data = this.pending
    this.pending = null
    const bytes = utf8ByteLength(JSON.stringify(data))
    this.stats.calls++
    this.stats.bytes += bytes
    this.stats.largest = Math.max(this.stats.largest, bytes)
    this.target.setData(data)
    return bytes
  }

  pause(): void {
    this.paused = true
  }

  /** Un-pauses and sends what waited, in one `setData` (as soon as the page's budget allows). */
  resume(): void {
    if (!this.paused) return
    this.paused = false
    this.flush()
  }

  /** Sends what is pending now, if the budget's window has room (else in its next round). */
  flush(): void {
    this.collect()
    if (this.held !== null) this.takeHeld()
    if (this.pending !== null) this.budget.flushNow()
  }

  dispose(): void {
    this.disposed = true
    this.heldTimer?.unsubscribe()
    this.pending = null
    this.held = null
    this.budget.leave(this)
  }

  private takeHeld(): void {
    const held = this.held
    if (held === null) return
    this.held = null
    this.heldTimer?.unsubscribe()
    this.heldTimer = undefined
    this.lastThrottledAt = this.scheduler.now()
    mergeInto((this.pending ??= {}), held)
  }

  /** Throttled keys go now if their interval has passed, else when it does. */
  private releaseHeldWhenDue(): void {
    const wait = this.lastThrottledAt + this.throttleMs - this.scheduler.now()
    if (wait <= 0) {
      this.takeHeld()
      return
    }
    this.heldTimer ??= this.scheduler.schedule(() => {
      this.heldTimer = undefined
      if (this.held === null || this.disposed) return
      this.takeHeld()
      this.budget.request()
    }, wait)
  }
}

/** Folds `patch` into `pending`: a whole value replaces paths under it; a path under a pending whole value goes into it. */
function mergeInto(pending: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(patch)) {
    for (const k of Object.keys(pending)) if (k.startsWith(`${key}[`) || k.startsWith(`${key}.`)) delete pending[k]
    const owner = Object.keys(pending).find((k) => key.startsWith(`${k}[`) || key.startsWith(`${k}.`))
    if (owner !== undefined) pending[owner] = setIn(pending[owner], parsePath(key.slice(owner.length)), value)
    else pending[key] = value
  }
}
