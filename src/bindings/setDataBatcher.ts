import { asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs'
import { utf8ByteLength } from '../protocol/utf8'

/** What a batcher sends to: a page or component (its `setData`). */
export interface SetDataTarget {
  setData(data: Record<string, unknown>): void
}

export interface SetDataStats {
  calls: number
  bytes: number
  largest: number
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

/**
 * Merges every update of one page or component into one `setData` per tick, with
 * path-keyed updates folded into pending whole values. While paused (page hidden)
 * nothing is sent; `resume` sends one catch-up `setData`.
 */
export class SetDataBatcher {
  readonly stats: SetDataStats = { calls: 0, bytes: 0, largest: 0 }
  private pending: Record<string, unknown> | null = null
  private scheduled: Subscription | undefined
  private paused = false
  private flushing = false
  /**
   * Runs first in every flush: bindings that defer on their own (mobx-miniprogram-bindings
   * waits for the next tick) hand over what they hold, so one flush is one setData.
   */
  beforeFlush: (() => void) | undefined

  constructor(
    private readonly target: SetDataTarget,
    private readonly scheduler: SchedulerLike = asyncScheduler,
  ) {}

  /** Adds updates (`{ key: value }` or `{ 'list[3].status': value }`) to the next `setData`. */
  merge(patch: Record<string, unknown>): void {
    const pending = (this.pending ??= {})
    for (const [key, value] of Object.entries(patch)) {
      // A whole value replaces pending paths under it.
      for (const k of Object.keys(pending)) if (k.startsWith(`${key}[`) || k.startsWith(`${key}.`)) delete pending[k]
      // A path under a pending whole value goes into that value.
      const owner = Object.keys(pending).find((k) => key.startsWith(`${k}[`) || key.startsWith(`${k}.`))
      if (owner !== undefined) pending[owner] = setIn(pending[owner], parsePath(key.slice(owner.length)), value)
      else pending[key] = value
    }
    this.schedule()
  }

  pause(): void {
    this.paused = true
    this.scheduled?.unsubscribe()
    this.scheduled = undefined
  }

  /** Un-pauses and sends what waited, in one `setData`. */
  resume(): void {
    if (!this.paused) return
    this.paused = false
    this.flush()
  }

  /** Sends what is pending now. */
  flush(): void {
    this.scheduled?.unsubscribe()
    this.scheduled = undefined
    if (this.paused) return
    this.flushing = true
    try {
      this.beforeFlush?.()
    } finally {
      this.flushing = false
    }
    if (this.pending === null) return
    const data = this.pending
    this.pending = null
    const bytes = utf8ByteLength(JSON.stringify(data))
    this.stats.calls++
    this.stats.bytes += bytes
    this.stats.largest = Math.max(this.stats.largest, bytes)
    this.target.setData(data)
  }

  dispose(): void {
    this.scheduled?.unsubscribe()
    this.pending = null
  }

  private schedule(): void {
    if (this.paused || this.flushing || this.scheduled) return
    // A macrotask, after the MobX action that caused the change has ended.
    this.scheduled = this.scheduler.schedule(() => this.flush(), 0)
  }
}
