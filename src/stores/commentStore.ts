import { action, makeObservable, observable } from 'mobx-miniprogram'
import type { LiveClient } from '../connection/client'
import type { AckFrame, ClientCommand, MessageEvent } from '../protocol/frames'
import { normalizeContent } from '../protocol/parse'
import type { CommentItem, CommentStats } from './types'

export type SendResult = { ok: true; id: string } | { ok: false; reason: string }

/** What the comment store needs from its room. */
export interface CommentStoreDeps {
  client: LiveClient
  roomId: string
  limit: number
  now: () => number
}

/** Comments of a plain backend carry no msg_id, seq or ts: each gets an id of its own. */
let unnamed = 0

function fromEvent(event: MessageEvent, me: string | undefined): CommentItem {
  return {
    id: event.msg_id || (event.seq === undefined && event.ts === undefined ? `plain:${++unnamed}` : `seq:${event.seq ?? ''}:${event.from_uid}:${event.ts ?? ''}`),
    seq: event.seq,
    uid: event.from_uid,
    name: event.from_name,
    content: event.content,
    ts: event.ts ?? 0,
    status: 'sent',
    own: me !== undefined && event.from_uid === me,
  }
}

/**
 * Comments, oldest first, at most `limit`. Own comments show at once as `pending` and
 * are reconciled exactly once with the server's broadcast, matched by `msg_id`.
 */
export class CommentStore {
  comments: CommentItem[] = []
  /** Bumped when the list is replaced (a snapshot): bindings re-send it whole. */
  generation = 0
  readonly stats: CommentStats = { received: 0, shown: 0, dropped: 0, deleted: 0 }
  /** The comments by id: `byId` runs for every comment of a hot room, shown or not. */
  private readonly index = new Map<string, CommentItem>()
  /** Own comments sent from here whose broadcast has not come back (matched by msg_id, or by text from a plain backend). */
  private readonly unechoed: string[] = []

  constructor(private readonly deps: CommentStoreDeps) {
    makeObservable<CommentStore, 'append' | 'replace' | 'settle' | 'drop' | 'restore'>(this, {
      comments: observable.ref,
      generation: observable,
      stats: observable,
      send: action,
      append: action,
      replace: action,
      settle: action,
      drop: action,
      remove: action,
      restore: action,
    })
  }

  /**
   * @internal Own comments still waiting for an ack (sent before an app restart and restored
   * from storage, or sent by another store of the same client): shown as `pending`.
   */
  restore(commands: readonly ClientCommand[]): void {
    const me = this.deps.client.user
    for (const command of commands) {
      if (command.msg_type !== 'message' || command.room_id !== this.deps.roomId || this.byId(command.msg_id) !== undefined) continue
      this.push({ id: command.msg_id, uid: me?.uid ?? '', name: me?.name ?? '', content: command.content, ts: this.deps.now(), status: 'pending', own: true })
    }
  }

  /**
   * Sends a comment: checked with the protocol's rule (control characters removed,
   * trimmed, 1..200 characters), shown at once as `pending`.
   */
  send(content: string): SendResult {
    const checked = normalizeContent(typeof content === 'string' ? content : '')
    if (!checked.ok) return { ok: false, reason: checked.reason }
    const { client, roomId } = this.deps
    const id = client.nextMsgId()
    const me = client.user
    this.push({ id, uid: me?.uid ?? '', name: me?.name ?? '', content: checked.content, ts: this.deps.now(), status: 'pending', own: true })
    this.unechoed.push(id)
    if (this.unechoed.length > this.deps.limit) this.unechoed.shift()
    // The outcome arrives through client.results$ (see createLiveRoom), in the next batch.
    client.send({ msg_type: 'message', msg_id: id, room_id: roomId, content: checked.content }).catch(() => undefined)
    return { ok: true, id }
  }

  byId(id: string): CommentItem | undefined {
    return this.index.get(id)
  }

  /** @internal A broadcast comment: confirms a pending one with the same msg_id, or appends. */
  append(event: MessageEvent, me: string | undefined): void {
    this.stats.received++
    // A plain backend's echo of our own comment has no msg_id: it confirms the oldest own
    // comment with that text not confirmed by an echo yet, instead of showing it twice.
    if (!event.msg_id && me !== undefined && event.from_uid === me) {
      const waiting = this.unechoed.find((id) => this.index.get(id)?.content === event.content)
      if (waiting !== undefined) {
        this.unechoed.splice(this.unechoed.indexOf(waiting), 1)
        const existing = this.index.get(waiting)
        if (existing !== undefined && existing.status !== 'sent') this.swap(existing, { ...existing, status: 'sent' })
        return
      }
    }
    const item = fromEvent(event, me)
    const existing = this.index.get(item.id)
    if (existing !== undefined) {
      if (existing.own) {
        const at = this.unechoed.indexOf(item.id)
        if (at !== -1) this.unechoed.splice(at, 1)
      }
      // Exactly once: the broadcast of a comment we already show updates it in place. Its text
      // is the server's (a content check may have masked words), whether or not the ack came first.
      if (existing.status !== 'sent' || existing.seq !== item.seq || existing.content !== item.content) this.swap(existing, { ...existing, ...item, own: existing.own || item.own })
      return
    }
    this.stats.shown++
    this.push(item)
  }

  /** @internal A comment deleted by the room's anchor or an admin (`message_deleted`): gone from the list. */
  remove(id: string): void {
    const existing = this.index.get(id)
    if (existing === undefined) return
    this.index.delete(id)
    this.comments = this.comments.filter((c) => c !== existing)
    this.stats.deleted++
  }

  /** @internal Comments thinned away in a hot room (`count` of them). */
  drop(count = 1): void {
    this.stats.received += count
    this.stats.dropped += count
  }

  /** @internal A snapshot: its message list, plus our own comments it does not hold yet. */
  replace(messages: MessageEvent[], me: string | undefined): void {
    const items = messages.map((m) => fromEvent(m, me))
    this.stats.received += items.length
    this.stats.shown += items.length
    const ids = new Set(items.map((c) => c.id))
    const ownUnconfirmed = this.comments.filter((c) => c.own && c.status !== 'sent' && !ids.has(c.id))
    this.comments = [...items, ...ownUnconfirmed].slice(-this.deps.limit)
    this.index.clear()
    for (const c of this.comments) this.index.set(c.id, c)
    this.generation++
  }

  /** @internal The server's answer to one of our comments (other commands are ignored). */
  settle(id: string, result: { ack?: AckFrame; error?: Error }): void {
    const existing = this.index.get(id)
    if (existing === undefined || !existing.own) return
    let next: CommentItem
    if (result.ack?.ok) {
      if (existing.status === 'sent') return
      next = { ...existing, status: 'sent', ...(result.ack.seq !== undefined ? { seq: result.ack.seq } : {}) }
    } else {
      const reason = result.ack?.reason ?? result.error?.message ?? 'not delivered'
      // A refusal after the broadcast (cannot happen with a conforming server) keeps `sent`.
      if (existing.status === 'sent') return
      next = { ...existing, status: 'failed', reason }
    }
    this.swap(existing, next)
  }

  /** Replaces one item with its new version (a new list: the list is observed by reference). */
  private swap(existing: CommentItem, next: CommentItem): void {
    const at = this.comments.lastIndexOf(existing)
    if (at === -1) return
    const list = this.comments.slice()
    list[at] = next
    this.comments = list
    this.index.set(next.id, next)
  }

  private push(item: CommentItem): void {
    const evict = this.comments.length >= this.deps.limit ? this.comments.length - this.deps.limit + 1 : 0
    for (let i = 0; i < evict; i++) this.index.delete(this.comments[i].id)
    const next = evict > 0 ? this.comments.slice(evict) : this.comments.slice()
    next.push(item)
    this.comments = next
    this.index.set(item.id, item)
  }
}
