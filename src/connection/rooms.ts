import { type SchedulerLike, Subject, type Subscription, timer } from 'rxjs'
import { ErrorCode } from '../protocol/codes'
import type { AckFrame, RoomEvent, SnapshotFrame } from '../protocol/frames'
import type { Link } from './session'

/** What a room stream gives its subscribers. */
export type RoomUpdate =
  /** The server confirmed the join. `recovered`: missed events follow, no snapshot. */
  | { type: 'joined'; roomId: string; epoch?: string; seq?: number; recovered: boolean }
  /** The room's whole state: replace, do not add. */
  | { type: 'snapshot'; roomId: string; snapshot: SnapshotFrame }
  /** One event, each `seq` exactly once and in order. `recovered`: replayed after a reconnect. */
  | { type: 'event'; roomId: string; event: RoomEvent; recovered: boolean }
  /** The connection went away; the room is joined again (and recovered) when it returns. */
  | { type: 'left'; roomId: string }
  /** The server refused the join. */
  /** The server refused the join; `until`: kicked from the room until then (4031). */
  | { type: 'error'; roomId: string; code: number; reason: string; until?: number }

export interface RoomHooks {
  scheduler: SchedulerLike
  ackTimeoutMs: number
  nextMsgId: () => string
  onDuplicate(): void
  onGap(): void
  onAckTimeout(): void
  /** Delay before joining again after the server refused a join it may accept later (4500, 4029). */
  retryDelayMs(attempt: number): number
  /**
   * The room is joined on `link`: room commands may go. `rejoin`: it had been joined before (a
   * reconnect, a gap); `missed`: events the rejoin recovers (undefined when it takes a snapshot).
   */
  onJoined(roomId: string, rejoin: boolean, recovered: boolean, missed: number | undefined): void
}

type Phase = 'idle' | 'joining' | 'awaitSnapshot' | 'synced'

/** One room's sync state: where we are in its `seq`, and on which link it is joined. */
class RoomChannel {
  readonly updates$ = new Subject<RoomUpdate>()
  lastSeq: number | undefined
  epoch: string | undefined
  phase: Phase = 'idle'
  joinedOn: number | undefined
  joinMsgId: string | undefined
  joinTimer: Subscription | undefined
  /** Events up to this seq are replays of what was missed. */
  recoverUntil = 0
  /** Joins refused in a row with a code worth retrying. */
  refusals = 0
  /**
   * What a subscriber arriving now must see to have the room's state: the last `joined`, the
   * last snapshot and every update since. Past the registry's replay limit it is `undefined`:
   * a late subscriber then gets a fresh snapshot instead (everyone does; a snapshot replaces).
   */
  record: RoomUpdate[] | undefined = []
  lastJoined: RoomUpdate | undefined

  constructor(readonly roomId: string) {}
}

/**
 * The rooms a client is in. Joins each on every new link (with `since_seq`/`epoch`
 * once it has seen the room), drops duplicates, detects gaps and rejoins to fill them,
 * and tells snapshots apart from events.
 */
export class RoomRegistry {
  private readonly channels = new Map<string, RoomChannel>()
  private link: Link | undefined

  constructor(
    private readonly hooks: RoomHooks,
    /** Updates kept for a late subscriber (the server's history is 1,000 events by default). */
    private readonly replayLimit = 1000,
  ) {}

  /**
   * What a new subscriber of `roomId` replays before live updates: the room's current state.
   * `undefined` when too much happened since the last snapshot to replay: then `refresh`.
   */
  replay(roomId: string): RoomUpdate[] | undefined {
    const record = this.channels.get(roomId)?.record
    return record === undefined ? undefined : record.slice()
  }

  /** Asks the server for a fresh snapshot of a synced room (every subscriber gets it: it replaces). */
  refresh(roomId: string): void {
    const channel = this.channels.get(roomId)
    if (channel !== undefined && this.link !== undefined && channel.phase === 'synced' && !this.link.plain) this.join(channel, this.link, true)
  }

  private emit(channel: RoomChannel, update: RoomUpdate): void {
    if (update.type === 'snapshot' || (update.type === 'joined' && !update.recovered && channel.record === undefined)) {
      const joined = update.type === 'snapshot' ? channel.lastJoined : undefined
      channel.record = joined === undefined ? [update] : [joined, update]
    } else if (channel.record !== undefined) {
      channel.record.push(update)
      if (channel.record.length > this.replayLimit) {
        // Plain peers have no snapshot to start from: keep the newest.
        if (this.link?.plain === true) channel.record.splice(0, channel.record.length - this.replayLimit)
        else channel.record = undefined
      }
    }
    if (update.type === 'joined') channel.lastJoined = update
    channel.updates$.next(update)
  }

  /** Starts tracking a room and joins it if a link is open. */
  add(roomId: string): Subject<RoomUpdate> {
    let channel = this.channels.get(roomId)
    if (channel === undefined) {
      channel = new RoomChannel(roomId)
      this.channels.set(roomId, channel)
      if (this.link !== undefined) this.join(channel, this.link)
    }
    return channel.updates$
  }

  /** The live updates of a tracked room. */
  updates(roomId: string): Subject<RoomUpdate> | undefined {
    return this.channels.get(roomId)?.updates$
  }

  /** Stops tracking a room; leaves it if it is joined. */
  remove(roomId: string): void {
    const channel = this.channels.get(roomId)
    if (channel === undefined) return
    this.channels.delete(roomId)
    channel.joinTimer?.unsubscribe()
    const link = this.link
    if (link !== undefined && channel.joinedOn === link.id) {
      link.send({ msg_type: 'leave', msg_id: this.hooks.nextMsgId(), room_id: roomId })
    }
    channel.updates$.complete()
  }

  /** The client closed: every room stream completes; no leave is sent (the socket is closing). */
  dispose(): void {
    const channels = [...this.channels.values()]
    this.channels.clear()
    this.link = undefined
    for (const channel of channels) {
      channel.joinTimer?.unsubscribe()
      channel.updates$.complete()
    }
  }

  isJoined(roomId: string, link: Link): boolean {
    return this.channels.get(roomId)?.joinedOn === link.id
  }

  /** A new link is open (join every room), or the link is gone (`undefined`). */
  setLink(link: Link | undefined): void {
    this.link = link
    for (const channel of this.channels.values()) {
      channel.joinTimer?.unsubscribe()
      channel.joinedOn = undefined
      channel.joinMsgId = undefined
      if (link === undefined) {
        if (channel.phase !== 'idle') this.emit(channel, { type: 'left', roomId: channel.roomId })
        channel.phase = 'idle'
      } else {
        this.join(channel, link)
      }
    }
  }

  /** Returns true when the ack answered one of our joins. */
  handleAck(ack: AckFrame): boolean {
    for (const channel of this.channels.values()) {
      if (channel.joinMsgId !== ack.msg_id) continue
      channel.joinTimer?.unsubscribe()
      channel.joinMsgId = undefined
      if (!ack.ok) {
        channel.phase = 'idle'
        const code = ack.code ?? 0
        this.emit(channel, { type: 'error', roomId: channel.roomId, code, reason: ack.reason ?? '', ...(ack.until !== undefined ? { until: ack.until } : {}) })
        // Unavailable or rate limited: the server may take the join later; try again on this link.
        const link = this.link
        if ((code === ErrorCode.internal || code === ErrorCode.rateLimited) && link !== undefined) {
          channel.refusals++
          channel.joinTimer = timer(this.hooks.retryDelayMs(channel.refusals), this.hooks.scheduler).subscribe(() => {
            if (this.link === link && this.channels.get(channel.roomId) === channel && channel.phase === 'idle') this.join(channel, link)
          })
        }
        return true
      }
      channel.refusals = 0
      this.joined(channel, ack.recovered === true, ack.epoch, ack.seq)
      return true
    }
    return false
  }

  handleSnapshot(snapshot: SnapshotFrame): void {
    const channel = this.channels.get(snapshot.room_id)
    if (channel === undefined) return
    channel.lastSeq = snapshot.seq
    channel.epoch = snapshot.epoch
    channel.recoverUntil = 0
    if (channel.phase === 'awaitSnapshot') {
      channel.phase = 'synced'
      channel.joinTimer?.unsubscribe()
    }
    this.emit(channel, { type: 'snapshot', roomId: channel.roomId, snapshot })
  }

  handleEvent(event: RoomEvent): void {
    const channel = this.channels.get(event.room_id)
    if (channel === undefined) return
    const seq = event.seq
    // Plain-protocol peers send no seq: arrival order is all there is.
    if (seq === undefined) {
      this.emit(channel, { type: 'event', roomId: channel.roomId, event, recovered: false })
      return
    }
    // Before the snapshot (or before any join) the snapshot on its way covers the event.
    if (channel.phase === 'awaitSnapshot' || channel.phase === 'idle') return
    if (channel.lastSeq === undefined) {
      if (channel.phase !== 'synced') return
      channel.lastSeq = seq - 1
    }
    if (seq <= channel.lastSeq) {
      this.hooks.onDuplicate()
      return
    }
    if (seq > channel.lastSeq + 1) {
      // Events in flight behind a gap are replayed by the rejoin: drop them, count the gap once.
      if (channel.phase === 'synced' && this.link !== undefined) {
        this.hooks.onGap()
        this.join(channel, this.link)
      }
      return
    }
    channel.lastSeq = seq
    this.emit(channel, { type: 'event', roomId: channel.roomId, event, recovered: seq <= channel.recoverUntil })
  }

  private joined(channel: RoomChannel, recovered: boolean, epoch: string | undefined, head: number | undefined): void {
    const link = this.link
    if (link === undefined) return
    const rejoin = channel.lastSeq !== undefined
    const missed = recovered && channel.lastSeq !== undefined && head !== undefined ? Math.max(0, head - channel.lastSeq) : undefined
    channel.joinedOn = link.id
    if (epoch !== undefined) channel.epoch = epoch
    if (recovered) {
      channel.phase = 'synced'
      channel.recoverUntil = head ?? 0
    } else if (link.plain) {
      channel.phase = 'synced'
    } else {
      channel.phase = 'awaitSnapshot'
      // A snapshot that never arrives (or arrived unreadable and was dropped) would leave the
      // room dropping every event: ask again.
      channel.joinTimer = timer(this.hooks.ackTimeoutMs, this.hooks.scheduler).subscribe(() => {
        this.hooks.onAckTimeout()
        if (this.link === link && channel.phase === 'awaitSnapshot') this.join(channel, link)
      })
    }
    this.emit(channel, { type: 'joined', roomId: channel.roomId, epoch, seq: head, recovered })
    this.hooks.onJoined(channel.roomId, rejoin, recovered, missed)
  }

  private join(channel: RoomChannel, link: Link, fresh = false): void {
    channel.phase = 'joining'
    channel.joinTimer?.unsubscribe()
    const msgId = this.hooks.nextMsgId()
    channel.joinMsgId = msgId
    const resume = !fresh && !link.plain && channel.lastSeq !== undefined && channel.epoch !== undefined
    // The deadline starts before the send: an ack may come back within it.
    if (!link.plain) {
      channel.joinTimer = timer(this.hooks.ackTimeoutMs, this.hooks.scheduler).subscribe(() => {
        this.hooks.onAckTimeout()
        // A server that does not answer a join is not serving us: start over on a new link.
        link.close(4000, 'join not acknowledged')
      })
    }
    link.send(
      resume ? { msg_type: 'join', msg_id: msgId, room_id: channel.roomId, since_seq: channel.lastSeq, epoch: channel.epoch } : { msg_type: 'join', msg_id: msgId, room_id: channel.roomId },
      (accepted) => {
        // Plain peers never ack: a join the socket took is a join.
        if (accepted && link.plain && channel.joinMsgId === msgId && this.link === link) {
          channel.joinMsgId = undefined
          this.joined(channel, false, undefined, undefined)
        }
      },
    )
  }
}
