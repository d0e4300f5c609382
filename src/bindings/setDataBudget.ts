import { asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs'

export interface SetDataStats {
  calls: number
  bytes: number
  largest: number
}

/** A batcher as its budget sees it: something that may have data to send. */
export interface BudgetMember {
  /** Hands over what bindings hold (mobx-miniprogram-bindings defers on its own). */
  collect(): void
  /** True when it has data to send and is not paused. */
  readonly ready: boolean
  /** Sends what it holds in one setData; returns the bytes sent. */
  send(): number
}

/**
 * One setData budget for a page and every component bound inside it: together they make at
 * most `maxCalls` setData calls in any sliding `windowMs` (WeChat's guidance: a few tens a
 * second at most, each call crossing from the logic layer to the render layer). Members that
 * have data are flushed together in a round, on the next macrotask; when the window is full
 * the round waits until a call leaves it, and what waited goes in one call per member.
 */
export class SetDataBudget {
  readonly stats: SetDataStats = { calls: 0, bytes: 0, largest: 0 }
  private readonly members = new Set<BudgetMember>()
  /** Times of the calls in the current window, oldest first. */
  private readonly recent: number[] = []
  private scheduled: Subscription | undefined
  private scheduledAt = Infinity

  constructor(
    readonly maxCalls = 20,
    readonly windowMs = 1000,
    private readonly scheduler: SchedulerLike = asyncScheduler,
  ) {
    if (!Number.isInteger(maxCalls) || maxCalls < 1) throw new TypeError('SetDataBudget: maxCalls must be a positive whole number')
  }

  get size(): number {
    return this.members.size
  }

  join(member: BudgetMember): void {
    this.members.add(member)
  }

  leave(member: BudgetMember): void {
    this.members.delete(member)
    if (this.members.size === 0) this.cancel()
  }

  /** A member has data: a round runs as soon as the window allows. */
  request(): void {
    this.scheduleAt(this.nextSlot())
  }

  /** Runs a round now if the window has room (a page shown again catches up at once). */
  flushNow(): void {
    if (this.nextSlot() <= this.scheduler.now()) this.round()
    else this.request()
  }

  dispose(): void {
    this.cancel()
    this.members.clear()
  }

  private nextSlot(): number {
    const now = this.scheduler.now()
    this.forget(now)
    return this.recent.length < this.maxCalls ? now : this.recent[this.recent.length - this.maxCalls] + this.windowMs
  }

  private forget(now: number): void {
    while (this.recent.length > 0 && now - this.recent[0] >= this.windowMs) this.recent.shift()
  }

  private scheduleAt(at: number): void {
    if (this.scheduled !== undefined && this.scheduledAt <= at) return
    this.cancel()
    this.scheduledAt = at
    // A macrotask even when due now: after the MobX action that caused the change has ended.
    this.scheduled = this.scheduler.schedule(
      () => {
        this.scheduled = undefined
        this.scheduledAt = Infinity
        this.round()
      },
      Math.max(0, at - this.scheduler.now()),
    )
  }

  private cancel(): void {
    this.scheduled?.unsubscribe()
    this.scheduled = undefined
    this.scheduledAt = Infinity
  }

  private round(): void {
    for (const member of this.members) member.collect()
    const now = this.scheduler.now()
    this.forget(now)
    let waiting = false
    const sent: BudgetMember[] = []
    for (const member of this.members) {
      if (!member.ready) continue
      if (this.recent.length >= this.maxCalls) {
        waiting = true
        continue
      }
      sent.push(member)
      const bytes = member.send()
      // Counted from when the call ended (rendering takes time): the window is never undercounted.
      this.recent.push(this.scheduler.now())
      this.stats.calls++
      this.stats.bytes += bytes
      this.stats.largest = Math.max(this.stats.largest, bytes)
    }
    // Those served go to the back: a member the window made wait goes first next time.
    for (const member of sent) {
      if (!this.members.delete(member)) continue
      this.members.add(member)
    }
    if (waiting) this.request()
  }
}
