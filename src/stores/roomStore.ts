import { type SchedulerLike, type Subscription, timer } from 'rxjs'
import { action, makeObservable, observable } from 'mobx-miniprogram'
import type { LiveClient } from '../connection/client'
import type { ConnectionState } from '../connection/state'
import { reasonOf } from './reason'
import type { AckFrame, UserRef } from '../protocol/frames'
import type { Notice } from './types'

/** Likes per command at most (docs/protocol.md, "Commands": `count` 1..100). */
const MAX_LIKES_PER_COMMAND = 100
/** Taps are merged into at most one `like` command per this many ms. */
export const LIKE_INTERVAL_MS = 1000

export interface RoomStoreDeps {
  client: LiveClient
  roomId: string
  noticeLimit: number
  scheduler: SchedulerLike
}

/** The room: counts, status, the notices banner and the connection state a page shows. */
export class RoomStore {
  readonly roomId: string
  title = ''
  status: 'live' | 'ended' | 'unknown' = 'unknown'
  anchor: UserRef | null = null
  onlineNum = 0
  likeNum = 0
  subscribeNum = 0
  /** This user follows the anchor (as far as this session saw). */
  subscribed = false
  joined = false
  seq = 0
  epoch = ''
  connection: ConnectionState
  /** The latest join, leave, follow and purchase notices, oldest first, bounded. */
  notices: Notice[] = []
  /** Why the server refused the join, if it did. */
  error: { code: number; reason: string } | null = null
  /** Why the last follow failed (refused, timed out, client closed), or null. */
  subscribeError: string | null = null
  /**
   * This user is muted in the room until then (server ms; 0: not muted): their comments are
   * refused (4030). Back to 0 by itself when the time passes (on this device's clock).
   */
  mutedUntil = 0
  /**
   * This user was put out of the room until then (server ms; 0: not): their joins are refused
   * (4031). Back to 0 by itself when the time passes; joining again is the page's choice.
   */
  kickedUntil = 0

  /** Taps not yet sent; shown in `likeNum` already. */
  private pendingLikes = 0
  private lastLikeSentAt = -Infinity
  private likeTimer: Subscription | undefined
  /** Timers that set `mutedUntil` / `kickedUntil` back to 0 when their time passes. */
  private readonly lapse: Record<'mutedUntil' | 'kickedUntil', Subscription | undefined> = { mutedUntil: undefined, kickedUntil: undefined }

  constructor(private readonly deps: RoomStoreDeps) {
    this.roomId = deps.roomId
    this.connection = deps.client.state
    makeObservable<RoomStore, 'flushLikes'>(this, {
      title: observable,
      status: observable,
      anchor: observable.ref,
      onlineNum: observable,
      likeNum: observable,
      subscribeNum: observable,
      subscribed: observable,
      joined: observable,
      seq: observable,
      epoch: observable,
      connection: observable.ref,
      notices: observable.ref,
      error: observable.ref,
      subscribeError: observable,
      mutedUntil: observable,
      kickedUntil: observable,
      like: action,
      subscribe: action,
      setServerLikes: action,
      restrict: action,
      flushLikes: action,
    })
  }

  /** Taps like `count` times. Taps are merged: at most one `like` command per second. */
  like(count = 1): void {
    if (!Number.isInteger(count) || count < 1) throw new TypeError('like(count): count must be a positive whole number')
    this.pendingLikes += count
    this.likeNum += count
    if (this.likeTimer) return
    const now = this.deps.scheduler.now()
    const wait = Math.max(0, this.lastLikeSentAt + LIKE_INTERVAL_MS - now)
    this.likeTimer = timer(wait, this.deps.scheduler).subscribe(() => this.flushLikes())
  }

  /**
   * Follows the anchor: `subscribed` at once; if the server refuses (or the command never
   * gets through) it goes back to false and `subscribeError` says why. The promise rejects too.
   */
  subscribe(): Promise<AckFrame> {
    const wasSubscribed = this.subscribed
    this.subscribed = true
    this.subscribeError = null
    const sent = this.deps.client.send({ msg_type: 'subscribe', room_id: this.roomId })
    sent.catch(
      action((error: unknown) => {
        this.subscribed = wasSubscribed
        this.subscribeError = reasonOf(error)
      }),
    )
    return sent
  }

  /** @internal The server's absolute like count; taps not yet sent stay on top of it. */
  setServerLikes(likeNum: number): void {
    this.likeNum = likeNum + this.pendingLikes
  }

  /**
   * @internal This user muted or kicked until `until` (server ms; 0 or a past time: no more).
   * The field goes back to 0 by itself when the time passes.
   */
  restrict(field: 'mutedUntil' | 'kickedUntil', until: number): void {
    this.lapse[field]?.unsubscribe()
    this.lapse[field] = undefined
    const left = until - this.deps.scheduler.now()
    this[field] = left > 0 ? until : 0
    if (left > 0) this.lapse[field] = timer(left, this.deps.scheduler).subscribe(action(() => this.restrict(field, 0)))
  }

  /** @internal Keeps the notices banner bounded. */
  pushNotices(notices: Notice[]): void {
    if (notices.length === 0) return
    this.notices = [...this.notices, ...notices].slice(-this.deps.noticeLimit)
  }

  dispose(): void {
    this.likeTimer?.unsubscribe()
    this.likeTimer = undefined
    for (const t of Object.values(this.lapse)) t?.unsubscribe()
  }

  private flushLikes(): void {
    this.likeTimer = undefined
    const count = Math.min(MAX_LIKES_PER_COMMAND, this.pendingLikes)
    if (count === 0) return
    this.pendingLikes -= count
    this.lastLikeSentAt = this.deps.scheduler.now()
    this.deps.client.send({ msg_type: 'like', room_id: this.roomId, count }).catch(() => undefined)
    if (this.pendingLikes > 0) {
      this.likeTimer = timer(LIKE_INTERVAL_MS, this.deps.scheduler).subscribe(() => this.flushLikes())
    }
  }
}
