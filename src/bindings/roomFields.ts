import type { ConnectionState } from '../connection/state'
import type { LiveRoom } from '../stores/liveRoom'
import type { CommentItem } from '../stores/types'

/** A field a page binds: its data key and how to read it from the room's stores. */
export type FieldReader<T = unknown> = (room: LiveRoom) => T

/** "open", "reconnecting in 3 s (attempt 2)" ...: the connection banner's text. */
export function describeConnection(state: ConnectionState): string {
  switch (state.status) {
    case 'reconnecting':
      return `reconnecting in ${Math.ceil((state.retryInMs ?? 0) / 1000)} s (attempt ${state.attempt})`
    case 'offline':
      return 'offline: waiting for the network'
    case 'failed':
      return `disconnected: ${state.reason ?? 'failed'}`
    case 'open':
      // Working, but over the HTTP fallback: updates come in polls, a little later.
      return state.transport === 'http' ? 'open (over HTTP)' : 'open'
    default:
      return state.status
  }
}

/** The room's fields every room page needs; pass `fields` to add or replace. */
export const DEFAULT_ROOM_FIELDS = {
  title: (r) => r.roomStore.title,
  status: (r) => r.roomStore.status,
  anchor: (r) => r.roomStore.anchor,
  onlineNum: (r) => r.roomStore.onlineNum,
  likeNum: (r) => r.roomStore.likeNum,
  subscribeNum: (r) => r.roomStore.subscribeNum,
  subscribed: (r) => r.roomStore.subscribed,
  joined: (r) => r.roomStore.joined,
  connectionText: (r) => describeConnection(r.roomStore.connection),
  /** The banner line ("alice joined"): its text only, what the WXML renders ('' for none). */
  latestNoticeText: (r) => {
    const notices = r.roomStore.notices
    return notices.length > 0 ? notices[notices.length - 1].text : ''
  },
  goods: (r) => r.shelfStore.goods,
  currentGoods: (r) => r.shelfStore.current,
  /** `{ [goods_id]: { status, reason? } }`: the last purchase of each goods. */
  buys: (r) => r.shelfStore.buys,
  /** Why the last follow failed, or null (the Follow button is back to unfollowed). */
  subscribeError: (r) => r.roomStore.subscribeError,
  /** This user is muted until then (server ms; 0: not): say so beside the comment input. */
  mutedUntil: (r) => r.roomStore.mutedUntil,
  /** This user was put out of the room until then (server ms; 0: not). */
  kickedUntil: (r) => r.roomStore.kickedUntil,
  /** Anchor: why the latest delete, mute or kick failed ('' when it did not). */
  moderationError: (r) => r.moderationStore.error,
} as const satisfies Record<string, FieldReader>

/** The data a set of field readers binds: each key, typed by what its reader returns. */
export type FieldValues<R> = { [K in keyof R]: R[K] extends (room: LiveRoom) => infer T ? T : never }

/** The data `DEFAULT_ROOM_FIELDS` binds (`title: string`, `onlineNum: number`, ...). */
export type DefaultRoomData = FieldValues<typeof DEFAULT_ROOM_FIELDS>

/**
 * Fields that change with the crowd (counts, the notice line): sent at most every 250 ms, riding
 * along with the comments' setData. A person reads a count a few times a second, not twenty.
 */
export const DEFAULT_THROTTLED_FIELDS: readonly string[] = ['onlineNum', 'likeNum', 'subscribeNum', 'latestNoticeText']

/**
 * A comment as the list renders it: only what the WXML uses. `k` is its place in arrival
 * order (the list's `wx:key`, its element id `c{{item.k}}`, its flex `order`); `status` is
 * there only while it is not `sent` (`pending`, `failed`), `own` only when true.
 */
export interface RenderedComment {
  k: number
  name: string
  content: string
  status?: Exclude<CommentItem['status'], 'sent'> | ''
  /** Why a `failed` comment was refused (muted, content refused, too fast ...). */
  reason?: string
  own?: true
}
