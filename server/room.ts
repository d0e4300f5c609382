import { ErrorCode, type Goods, type MessageEvent, type RoomEvent, type RoomInfo, type ShelfItem, type SnapshotFrame, type UserRef } from 'miniprogram-live-store/protocol'
import { buyNotice, followNotice, presenceNotice } from './roomNotices'

/** Messages a snapshot carries (docs/protocol.md, "Snapshots": the last <= 50). */
export const SNAPSHOT_MESSAGES = 50
/** Users muted, and users kicked, in one room at most (expired ones are forgotten first). */
export const MAX_MODERATED_USERS = 1000
/**
 * Goods on one shelf at most. With the protocol's field caps (id 128, name 256 characters, image
 * URL 2,048) the largest possible snapshot is about 700 KB, inside the client's 1 MiB frame
 * limit whatever the room holds (`room.test.ts` builds that room and measures it).
 */
export const MAX_SHELF_GOODS = 200

/** A room as configured (`--rooms FILE`), before anything happened in it. */
export interface RoomConfig {
  id: string
  title?: string
  anchor?: UserRef
  /** The goods the anchor may put on the shelf (the console's catalogue). */
  goods?: Goods[]
}

/** What happens to a room. The engine turns each into at most one event with the next seq. */
export type RoomAction =
  /** `quietAbove`: with more members than this, the change is applied without a notice. */
  | { type: 'join'; connId: string; user: UserRef; anchor?: boolean; quietAbove?: number }
  | { type: 'leave'; connId: string; user: UserRef; quietAbove?: number }
  /** The notice for quiet membership changes: a `join` or `leave` event with the count as it is now. */
  | { type: 'presence'; kind: 'join' | 'leave'; user: UserRef }
  | { type: 'message'; msgId: string; user: UserRef; content: string }
  | { type: 'like'; delta: number }
  | { type: 'subscribe'; user: UserRef }
  | { type: 'buy'; user: UserRef; goodsId: string }
  | { type: 'shelf'; item: ShelfItem }
  | { type: 'room_state'; status: 'live' | 'ended'; title?: string }
  /** Moderation (the room's anchor, or an admin): for `durationMs` from the engine's now; a mute for 0 is lifted. */
  | { type: 'delete_message'; targetMsgId: string; by: UserRef }
  | { type: 'mute'; uid: string; durationMs: number; by: UserRef }
  | { type: 'kick'; uid: string; durationMs: number; by: UserRef }

/** An event before the engine stamps it with `room_id`, `seq` and `ts`. */
export type EventBody = RoomEvent extends infer E ? (E extends RoomEvent ? Omit<E, 'room_id' | 'seq' | 'ts'> : never) : never

export type Decision = { ok: true; event?: EventBody; quiet?: true } | { ok: false; code: number; reason: string; until?: number }

/** What a decision may read besides the room: the server's time, and the room's history (for deletions). */
export interface DecisionContext {
  now: number
  history(): readonly RoomEvent[]
}

/** One room's state in memory. */
export class RoomModel {
  title: string
  status: 'live' | 'ended' = 'live'
  anchor: UserRef
  /** Connections in the room (a socket, or a user's HTTP lease), and who is on each. */
  readonly members = new Map<string, UserRef>()
  /** Connections in the room per user: `online_num` counts users, not connections. */
  readonly users = new Map<string, number>()
  likeNum = 0
  readonly subscribers = new Set<string>()
  /** On the shelf, in the order the goods went on. */
  readonly shelf = new Map<string, ShelfItem>()
  messages: MessageEvent[] = []
  readonly catalogue: Goods[]
  /** Muted and kicked users, until when (server ms). */
  readonly mutes = new Map<string, number>()
  readonly kicks = new Map<string, number>()

  constructor(
    readonly id: string,
    config?: RoomConfig,
  ) {
    this.title = config?.title ?? id
    this.anchor = config?.anchor ?? { uid: '', name: '' }
    this.catalogue = config?.goods ?? []
  }

  get info(): RoomInfo {
    return {
      title: this.title,
      status: this.status,
      anchor: { ...this.anchor },
      online_num: this.users.size,
      like_num: this.likeNum,
      subscribe_num: this.subscribers.size,
    }
  }

  /**
   * Checks an action against the room and applies it. Returns the event to publish
   * (none when nothing visible changed, e.g. a second follow by the same user).
   */
  decide(action: RoomAction, context: DecisionContext): Decision {
    switch (action.type) {
      case 'join': {
        // A room nobody configured belongs to the first anchor whose token names it.
        if (action.anchor && this.anchor.uid === '') this.anchor = { ...action.user }
        if (this.members.has(action.connId)) return { ok: true }
        this.members.set(action.connId, action.user)
        // Another connection of a user already here: nothing changed that anyone sees.
        if (this.countUser(action.user.uid, 1) > 1) return { ok: true }
        if (action.quietAbove !== undefined && this.users.size > action.quietAbove) return { ok: true, quiet: true }
        return {
          ok: true,
          event: { msg_type: 'join', user: action.user, online_num: this.users.size, msg_content: presenceNotice(action.user.name, 'join') },
        }
      }
      case 'leave': {
        // The user who joined on this connection is the one who leaves.
        const user = this.members.get(action.connId)
        if (user === undefined) return { ok: true }
        this.members.delete(action.connId)
        // The user is still here on another connection, or was kicked (counted out already).
        if (this.countUser(user.uid, -1) !== 0) return { ok: true }
        if (action.quietAbove !== undefined && this.users.size >= action.quietAbove) return { ok: true, quiet: true }
        return {
          ok: true,
          event: { msg_type: 'leave', user, online_num: this.users.size, msg_content: presenceNotice(user.name, 'leave') },
        }
      }
      case 'presence': {
        const { kind, user } = action
        return { ok: true, event: { msg_type: kind, user, online_num: this.users.size, msg_content: presenceNotice(user.name, kind) } }
      }
      case 'message': {
        const until = this.mutes.get(action.user.uid) ?? 0
        if (until > context.now) return { ok: false, code: ErrorCode.muted, reason: 'you are muted in this room', until }
        return {
          ok: true,
          event: { msg_type: 'message', msg_id: action.msgId, from_uid: action.user.uid, from_name: action.user.name, content: action.content },
        }
      }
      case 'like':
        this.likeNum += action.delta
        return { ok: true, event: { msg_type: 'like', like_num: this.likeNum, delta: action.delta } }
      case 'subscribe': {
        if (this.subscribers.has(action.user.uid)) return { ok: true }
        this.subscribers.add(action.user.uid)
        return {
          ok: true,
          event: { msg_type: 'subscribe', user: action.user, subscribe_num: this.subscribers.size, msg_content: followNotice(action.user.name) },
        }
      }
      case 'buy': {
        const goods = this.shelf.get(action.goodsId)
        if (goods === undefined) return { ok: false, code: ErrorCode.notFound, reason: `goods ${action.goodsId} is not on the shelf` }
        return {
          ok: true,
          event: {
            msg_type: 'buy',
            user: action.user,
            goods_id: goods.goods_id,
            goods_name: goods.goods_name,
            msg_content: buyNotice(action.user.name, goods.goods_name),
          },
        }
      }
      case 'shelf': {
        const item = action.item
        if (item.status === 'on') {
          if (!this.shelf.has(item.goods_id) && this.shelf.size >= MAX_SHELF_GOODS) {
            return { ok: false, code: ErrorCode.tooLarge, reason: `the shelf holds ${MAX_SHELF_GOODS} goods at most: take some off first` }
          }
          // Re-putting goods that are on the shelf updates them in place.
          this.shelf.set(item.goods_id, { ...item })
        } else if (!this.shelf.delete(item.goods_id)) {
          return { ok: false, code: ErrorCode.notFound, reason: `goods ${item.goods_id} is not on the shelf` }
        }
        return { ok: true, event: { msg_type: 'on_off_shelf', ...item } }
      }
      case 'room_state':
        this.status = action.status
        if (action.title !== undefined) this.title = action.title
        return { ok: true, event: { msg_type: 'room_state', status: this.status, title: this.title } }
      case 'delete_message': {
        // A message of this room's history (the recovery window), not deleted yet.
        let found = false
        for (const event of context.history()) {
          if (event.msg_type === 'message' && event.msg_id === action.targetMsgId) found = true
          if (event.msg_type === 'message_deleted' && event.target_msg_id === action.targetMsgId) found = false
        }
        if (!found) return { ok: false, code: ErrorCode.notFound, reason: `no message ${action.targetMsgId} in the history of this room` }
        this.messages = this.messages.filter((m) => m.msg_id !== action.targetMsgId)
        return { ok: true, event: { msg_type: 'message_deleted', target_msg_id: action.targetMsgId, by: action.by } }
      }
      case 'mute':
      case 'kick': {
        const list = action.type === 'mute' ? this.mutes : this.kicks
        const until = action.durationMs === 0 ? 0 : context.now + action.durationMs
        if (until === 0) list.delete(action.uid)
        else {
          if (!list.has(action.uid) && list.size >= MAX_MODERATED_USERS) {
            for (const [uid, until] of list) if (until <= context.now) list.delete(uid)
            if (list.size >= MAX_MODERATED_USERS)
              return { ok: false, code: ErrorCode.tooLarge, reason: `a room holds ${MAX_MODERATED_USERS} ${action.type === 'mute' ? 'muted' : 'kicked'} users at most` }
          }
          list.set(action.uid, until)
        }
        const user = { uid: action.uid, name: this.nameOf(action.uid) }
        if (action.type === 'mute') return { ok: true, event: { msg_type: 'muted', user, until, by: action.by } }
        // Every connection of the user leaves at once: counted out now (their leaves then change nothing).
        this.users.delete(action.uid)
        return { ok: true, event: { msg_type: 'kicked', user, until, by: action.by, online_num: this.users.size } }
      }
    }
  }

  /** Until when a user is muted and kicked here (0: not). */
  restriction(uid: string, now: number): { mutedUntil: number; kickedUntil: number } {
    const live = (until: number | undefined): number => (until !== undefined && until > now ? until : 0)
    return { mutedUntil: live(this.mutes.get(uid)), kickedUntil: live(this.kicks.get(uid)) }
  }

  /** A member's name ('' when the user is not in the room). */
  private nameOf(uid: string): string {
    for (const user of this.members.values()) if (user.uid === uid) return user.name
    return ''
  }

  /** Adds `delta` to the user's connections here; their count now (a user at 0 is forgotten). */
  private countUser(uid: string, delta: number): number {
    const n = (this.users.get(uid) ?? 0) + delta
    if (n > 0) this.users.set(uid, n)
    else this.users.delete(uid)
    return n
  }

  /** Keeps the snapshot's message list current. */
  remember(event: RoomEvent): void {
    if (event.msg_type !== 'message') return
    this.messages.push(event)
    if (this.messages.length > SNAPSHOT_MESSAGES) this.messages = this.messages.slice(-SNAPSHOT_MESSAGES)
  }

  snapshot(epoch: string, seq: number): SnapshotFrame {
    return {
      msg_type: 'snapshot',
      room_id: this.id,
      epoch,
      seq,
      room: this.info,
      message_list: this.messages.slice(),
      shelf: [...this.shelf.values()].map((item) => ({ ...item })),
    }
  }
}
