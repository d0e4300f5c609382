import { type Clock, type ClockTimer, systemClock } from './clock'
import type { UserRef } from 'miniprogram-live-store/protocol'
import type { ApplyResult, Engine } from './engine/types'

export interface PresenceOptions {
  /** Above this many members, joins and leaves go without a notice each. Default 100. */
  crowdedRoomSize: number
  /** In a crowded room, one notice (the latest change, with the count as it is then) per this window. Default 1000 ms. */
  windowMs: number
  /** The server's clock (the window's timer). Default real time. */
  clock?: Clock
}

/**
 * Join and leave notices in crowded rooms: each one goes to every viewer, so N viewers
 * arriving would cost N^2 frames. Past `crowdedRoomSize` members a change is applied quietly
 * (counted, no event, no seq) and one `join`/`leave` notice per window carries the latest
 * change and the absolute `online_num`: N arrivals cost O(N) frames. Per process; with the
 * Redis engine the count is shared, and each process tells about its own arrivals.
 */
export class PresenceThinner {
  private readonly pending = new Map<string, { kind: 'join' | 'leave'; user: UserRef; timer: ClockTimer }>()

  constructor(
    private readonly engine: Engine,
    private readonly options: PresenceOptions,
  ) {}

  /** Applies a join or leave; in a crowded room quietly, with a notice at the end of the window. */
  async change(roomId: string, action: { type: 'join'; connId: string; user: UserRef; anchor?: boolean } | { type: 'leave'; connId: string; user: UserRef }): Promise<ApplyResult> {
    const result = await this.engine.apply(roomId, { ...action, quietAbove: this.options.crowdedRoomSize })
    if (result.ok === true && result.quiet === true) this.note(roomId, action.type, action.user)
    return result
  }

  /** Stops the timers; notices not sent yet are dropped (the counts are already right). */
  close(): void {
    for (const entry of this.pending.values()) entry.timer.cancel()
    this.pending.clear()
  }

  private note(roomId: string, kind: 'join' | 'leave', user: UserRef): void {
    const entry = this.pending.get(roomId)
    if (entry !== undefined) {
      entry.kind = kind
      entry.user = user
      return
    }
    const timer = (this.options.clock ?? systemClock).setTimer(() => this.flush(roomId), this.options.windowMs)
    this.pending.set(roomId, { kind, user, timer })
  }

  private flush(roomId: string): void {
    const entry = this.pending.get(roomId)
    if (entry === undefined) return
    this.pending.delete(roomId)
    // A store outage drops this notice only: the next change or snapshot carries the count.
    this.engine.apply(roomId, { type: 'presence', kind: entry.kind, user: entry.user }).catch(() => undefined)
  }
}
