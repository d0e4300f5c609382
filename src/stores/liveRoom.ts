import { asyncScheduler, type SchedulerLike, type Subscription, timer } from 'rxjs'
import { runInAction } from 'mobx-miniprogram'
import type { LiveClient } from '../connection/client'
import type { RoomUpdate } from '../connection/rooms'
import { ErrorCode } from '../protocol/codes'
import type { AckFrame, RoomEvent } from '../protocol/frames'
import { CommentStore } from './commentStore'
import { ModerationStore } from './moderationStore'
import { RoomStore } from './roomStore'
import { ShelfStore } from './shelfStore'
import type { Notice } from './types'

export interface LiveRoomOptions {
  /** Comments kept. Default 200. */
  commentLimit?: number
  /** Events are applied at most once per this many ms, in one MobX action. Default 50. */
  flushMs?: number
  /** Notices kept for the banner. Default 20. */
  noticeLimit?: number
  /** Other people's comments shown per second at most in a hot room. Default 20. */
  maxCommentsPerSecond?: number
  /** Join/leave notices per flush at most; the rest fold into `onlineNum`. Default 1. */
  maxJoinNoticesPerFlush?: number
  /** Timers run on it. Default `asyncScheduler`. */
  scheduler?: SchedulerLike
}

export interface LiveRoom {
  readonly roomStore: RoomStore
  readonly commentStore: CommentStore
  readonly shelfStore: ShelfStore
  /** Delete, mute and kick, for the room's anchor or an admin. */
  readonly moderationStore: ModerationStore
  /** MobX actions applied from the event stream so far (one per flush window at most). */
  readonly flushes: number
  /** Leaves the room and stops updating the stores. */
  dispose(): void
}

type Pending = RoomUpdate | { type: 'ack'; msgId: string; result: { ack?: AckFrame; error?: Error } } | { type: 'evicted' }

/** The place of a comment let go before its flush (see `enqueue`). */
const EVICTED: Pending = { type: 'evicted' }

/** A banner notice for a room event (a join, a follow, a purchase). */
function noticeOf(event: RoomEvent, kind: Notice['kind'], user: { uid: string; name: string }, text: string | undefined, now: number, goodsId?: string): Notice {
  return {
    id: `${kind}:${event.seq ?? now}:${user.uid}`,
    kind,
    user,
    text: text ?? `${user.name} ${kind}`,
    ts: event.ts ?? now,
    ...(goodsId ? { goodsId } : {}),
  }
}

/**
 * The MobX stores of one room, fed by `client.room(roomId)` in batches: at most one
 * action per `flushMs`. A snapshot replaces state, recovered events add to it, counts
 * are absolute. In a hot room, purchases, shelf changes, room state and the user's own
 * comments always get through; other comments are thinned to what a person can read.
 *
 * @example
 * const { roomStore, commentStore, shelfStore, dispose } = createLiveRoom(client, 'room-1')
 * autorun(() => console.log(roomStore.onlineNum, commentStore.comments.length))
 */
export function createLiveRoom(client: LiveClient, roomId: string, options: LiveRoomOptions = {}): LiveRoom {
  if (typeof roomId !== 'string' || roomId.length === 0) throw new TypeError('createLiveRoom: roomId must be a non-empty string')
  const scheduler = options.scheduler ?? asyncScheduler
  const flushMs = options.flushMs ?? 50
  const maxCommentsPerSecond = options.maxCommentsPerSecond ?? 20
  const maxJoinNotices = options.maxJoinNoticesPerFlush ?? 1
  const queue: Pending[] = []
  let flushTimer: Subscription | undefined
  let flushes = 0
  let disposed = false

  // A flush shows at most `maxCommentsPerSecond` thinnable comments, the newest: an older one
  // past that many in the queue can never be shown, so it is let go at once (counted as
  // dropped) instead of being held until the flush. A burst costs the memory of what can be
  // shown, not of what arrived. (The room's seq is unaffected: a newer event always follows.)
  const thinQueued: number[] = []
  let thinHead = 0
  let evicted = 0

  const enqueue = (item: Pending): void => {
    if (disposed) return
    if (item.type === 'event' && thinnable(item.event, client.user?.uid)) {
      thinQueued.push(queue.length)
      if (thinQueued.length - thinHead > maxCommentsPerSecond) {
        queue[thinQueued[thinHead++]] = EVICTED
        evicted++
      }
    }
    queue.push(item)
    flushTimer ??= timer(flushMs, scheduler).subscribe(flush)
  }

  const roomStore = new RoomStore({ client, roomId, noticeLimit: options.noticeLimit ?? 20, scheduler })
  const commentStore = new CommentStore({
    client,
    roomId,
    limit: options.commentLimit ?? 200,
    now: () => scheduler.now(),
  })
  const shelfStore = new ShelfStore(client, roomId)
  const moderationStore = new ModerationStore(client, roomId, commentStore)

  // Thinning: a token bucket of comments shown per second, on the scheduler's clock. Each
  // flush spends what the bucket holds on the newest comments of its batch: viewers see what
  // is being said now, and the last comment of a burst is always on screen.
  let commentTokens = maxCommentsPerSecond
  let tokensAt = scheduler.now()
  const commentsToShow = (wanted: number): number => {
    const now = scheduler.now()
    commentTokens = Math.min(maxCommentsPerSecond, commentTokens + ((now - tokensAt) / 1000) * maxCommentsPerSecond)
    tokensAt = now
    // At least one a flush (the newest), so a burst never ends on a comment nobody sees.
    const shown = Math.min(wanted, Math.max(1, Math.floor(commentTokens)))
    commentTokens = Math.max(0, commentTokens - shown)
    return shown
  }
  /** Comments that may be thinned: other people's, not already on screen. */
  const thinnable = (event: RoomEvent, me: string | undefined): boolean =>
    event.msg_type === 'message' && !(me !== undefined && event.from_uid === me) && commentStore.byId(event.msg_id ?? '') === undefined

  /**
   * What a flush's events leave behind, written to the stores once (`commit`) rather than once
   * an event: in a hot room a flush holds dozens of counts, seqs and dropped comments.
   */
  interface Tally {
    seq?: number
    online?: number
    likes?: number
    dropped: number
    notices: Notice[]
    joinNotices: number
  }
  const commit = (t: Tally): void => {
    if (t.seq !== undefined) roomStore.seq = t.seq
    if (t.online !== undefined) roomStore.onlineNum = t.online
    if (t.likes !== undefined) roomStore.setServerLikes(t.likes)
    if (t.dropped > 0) commentStore.drop(t.dropped)
    t.seq = t.online = t.likes = undefined
    t.dropped = 0
  }

  const applyEvent = (event: RoomEvent, t: Tally, show: boolean): void => {
    if (event.seq !== undefined) t.seq = event.seq
    const me = client.user?.uid
    const notices = t.notices
    switch (event.msg_type) {
      case 'join':
      case 'leave':
        t.online = event.online_num
        // Joins fold into the count; only a few make the banner.
        if (t.joinNotices < maxJoinNotices) {
          t.joinNotices++
          notices.push(noticeOf(event, event.msg_type, event.user, event.msg_content, scheduler.now()))
        }
        return
      case 'message':
        if (show) commentStore.append(event, me)
        else t.dropped++
        return
      case 'like':
        t.likes = event.like_num
        return
      case 'subscribe':
        roomStore.subscribeNum = event.subscribe_num
        if (event.user.uid === me) roomStore.subscribed = true
        notices.push(noticeOf(event, 'subscribe', event.user, event.msg_content, scheduler.now()))
        return
      case 'buy':
        notices.push(noticeOf(event, 'buy', event.user, event.msg_content, scheduler.now(), event.goods_id))
        return
      case 'on_off_shelf':
        shelfStore.apply(event)
        return
      case 'room_state':
        roomStore.status = event.status
        roomStore.title = event.title
        return
      case 'message_deleted':
        commentStore.remove(event.target_msg_id)
        return
      case 'muted':
        if (event.user.uid === me) roomStore.restrict('mutedUntil', event.until)
        return
      case 'kicked':
        if (event.online_num !== undefined) t.online = event.online_num
        // The server has put this user's connections out of the room: the page says so.
        if (event.user.uid === me) {
          roomStore.restrict('kickedUntil', event.until)
          roomStore.joined = false
        }
        return
    }
  }

  /** Applies a flush's batch; `thin` holds the places of its thinnable comments, as `enqueue` marked them. */
  const apply = (batch: Pending[], thin: number[]): void => {
    const tally: Tally = { dropped: evicted, notices: [], joinNotices: 0 }
    evicted = 0
    const me = client.user?.uid
    // Which thinnable comments this flush shows: the newest the bucket pays for.
    let skip = thin.length === 0 ? 0 : thin.length - commentsToShow(thin.length)
    let nextThin = 0
    for (let at = 0; at < batch.length; at++) {
      const item = batch[at]
      switch (item.type) {
        case 'ack':
          commentStore.settle(item.msgId, item.result)
          // A comment refused because this user is muted: the store knows until when.
          if (item.result.ack?.code === ErrorCode.muted && item.result.ack.until !== undefined) roomStore.restrict('mutedUntil', item.result.ack.until)
          break
        case 'joined':
          roomStore.joined = true
          roomStore.error = null
          if (item.epoch !== undefined) roomStore.epoch = item.epoch
          break
        case 'left':
          roomStore.joined = false
          break
        case 'error':
          roomStore.joined = false
          roomStore.error = { code: item.code, reason: item.reason }
          if (item.code === ErrorCode.kicked && item.until !== undefined) roomStore.restrict('kickedUntil', item.until)
          break
        case 'snapshot': {
          // What earlier events of this flush left goes first; the snapshot overrides it.
          commit(tally)
          const { snapshot } = item
          roomStore.title = snapshot.room.title
          roomStore.status = snapshot.room.status
          roomStore.anchor = snapshot.room.anchor.uid ? { ...snapshot.room.anchor } : null
          roomStore.onlineNum = snapshot.room.online_num
          roomStore.setServerLikes(snapshot.room.like_num)
          roomStore.subscribeNum = snapshot.room.subscribe_num
          roomStore.seq = snapshot.seq
          roomStore.epoch = snapshot.epoch
          commentStore.replace(snapshot.message_list, me)
          shelfStore.replace(snapshot.shelf)
          break
        }
        case 'event': {
          const marked = thin[nextThin] === at
          if (marked) nextThin++
          // Shown after all if an earlier event of this flush put its id on screen.
          const dropped = marked && skip > 0 && thinnable(item.event, me)
          if (dropped) skip--
          applyEvent(item.event, tally, !dropped)
          break
        }
      }
    }
    commit(tally)
    roomStore.pushNotices(tally.notices)
  }

  function flush(): void {
    flushTimer = undefined
    if (disposed || queue.length === 0) return
    const batch = queue.splice(0)
    const thin = thinQueued.splice(thinHead)
    thinQueued.length = 0
    thinHead = 0
    flushes++
    runInAction(() => apply(batch, thin))
  }

  commentStore.restore(client.pending())
  const subscriptions: Subscription[] = [
    client.room(roomId).subscribe((update) => enqueue(update)),
    client.restored$.subscribe((command) => commentStore.restore([command])),
    client.state$.subscribe((state) => runInAction(() => (roomStore.connection = state))),
    client.results$.subscribe(({ msgId, ack, error }) => enqueue({ type: 'ack', msgId, result: { ack, error } })),
  ]

  return {
    roomStore,
    commentStore,
    shelfStore,
    moderationStore,
    get flushes() {
      return flushes
    },
    dispose() {
      if (disposed) return
      disposed = true
      flushTimer?.unsubscribe()
      for (const s of subscriptions) s.unsubscribe()
      roomStore.dispose()
    },
  }
}
