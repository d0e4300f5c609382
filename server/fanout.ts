/**
 * A room's events to its viewers on this process, each tick framed once, compressed once,
 * written once per viewer (issue 13).
 *
 * - Every event is serialised once (by the engine) and framed once: the same bytes go to
 *   every `live.v1` viewer's socket (ws's `Sender.frame` once, then each socket's sender;
 *   what engine.io does for a socket.io broadcast).
 * - Viewers that selected `live.v1.batch` get a room's events of one tick in one `batch`
 *   frame: one serialisation, one framing and one write per viewer per tick, whatever the
 *   event rate. A lone event on a quiet room is not held back: it goes at once and opens a
 *   tick; what arrives during the tick goes at its end.
 * - Viewers whose permessage-deflate has `server_no_context_takeover` get the tick's frame
 *   compressed once (RFC 7692: each message stands alone, so one compressed frame serves every
 *   such socket); frames under the threshold go plain.
 *
 * Order and backpressure stay ws's: a socket whose sender is busy (a deflate of its own in
 * flight, or a queue) gets the text through `ws.send`, behind what it queued; the caller's
 * slow-reader bound is checked before every write.
 */
import * as zlib from 'zlib'
import WebSocket from 'ws'
import type { RoomEvent } from 'miniprogram-live-store/protocol'

/** ws's frame builder (a public static of its Sender class since ws 2). */
interface SenderClass {
  frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[]
}
/** The parts of ws's per-socket Sender the fast path needs (checked at run time: ws 8). */
interface SenderLike {
  _state: number
  _queue: unknown[]
  sendFrame(list: Buffer[], cb?: (error?: Error) => void): void
}

const Sender = (WebSocket as unknown as { Sender?: SenderClass }).Sender

/** One frame's bytes, built at most once each way (plain, compressed), shared by every socket. */
export class PreparedFrame {
  private plainList: Buffer[] | undefined
  private deflatedList: Buffer[] | null | undefined

  constructor(
    readonly text: string,
    readonly type: string,
    private readonly counters: FanoutCounters,
    private readonly deflateThreshold: number,
  ) {}

  /** The frame as text (opcode 1): header and payload in one buffer, one write per socket. */
  plain(): Buffer[] | undefined {
    if (this.plainList === undefined && Sender !== undefined) {
      this.plainList = [Buffer.concat(Sender.frame(Buffer.from(this.text), { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }))]
      this.counters.framed()
    }
    return this.plainList
  }

  /** The frame compressed (RSV1 set), or null when it is too small to be worth it. */
  deflated(): Buffer[] | null | undefined {
    if (this.deflatedList === undefined && Sender !== undefined) {
      const payload = Buffer.from(this.text)
      if (payload.length < this.deflateThreshold) this.deflatedList = null
      else {
        // RFC 7692 7.2.1: a sync-flushed DEFLATE stream without its trailing 00 00 ff ff.
        const compressed = zlib.deflateRawSync(payload, { finishFlush: zlib.constants.Z_SYNC_FLUSH })
        this.deflatedList = [Buffer.concat(Sender.frame(compressed.subarray(0, compressed.length - 4), { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: true }))]
        this.counters.deflated()
      }
    }
    return this.deflatedList
  }
}

/** How often frames were built and compressed: once per event or tick, not per viewer. */
export interface FanoutCounters {
  framed(): void
  deflated(): void
}

/** A viewer of a room, as the fan-out sees it. */
export interface FanoutMember {
  /** Selected `live.v1.batch`. */
  readonly batch: boolean
  /**
   * Still joining (the snapshot is being read): events are held by the member itself. Once
   * it is live, events up to `head` are already known to it (its snapshot or recovery).
   */
  readonly joining: boolean
  readonly head: number
  /** Holds an event that arrived while joining. */
  hold(event: RoomEvent, data: string): void
  /** Sends a prepared frame (the same bytes as every other member's). */
  sendPrepared(frame: PreparedFrame): void
  /** Sends text of its own (a batch filtered for a member that joined mid-tick). */
  sendText(text: string, type: string): void
  /** The room's history changed (a new epoch): what this member has is not the room's any more. */
  historyLost(): void
  /** A user was kicked from the room (`data`: the event's text): that user's member tells it and leaves. */
  kickedOut(uid: string, data: string): void
}

export interface FanoutOptions {
  /** How long a tick collects events for batch members, in ms. 0: no batching. */
  tickMs: number
  /** Frames shorter than this (bytes) are not compressed. */
  deflateThreshold: number
  counters: FanoutCounters
  setTimer: (fn: () => void, ms: number) => { cancel(): void }
}

/** The fan-out of one room in this process: the engine's listener for every member. */
export class RoomFanout {
  readonly members = new Set<FanoutMember>()
  private pending: Array<[RoomEvent, string]> = []
  private tick: { cancel(): void } | undefined
  private batchMembers = 0

  constructor(private readonly options: FanoutOptions) {}

  add(member: FanoutMember): void {
    if (this.members.has(member)) return
    this.members.add(member)
    if (member.batch) this.batchMembers++
  }

  remove(member: FanoutMember): void {
    if (!this.members.delete(member)) return
    if (member.batch) this.batchMembers--
    if (this.members.size === 0) this.dispose()
  }

  dispose(): void {
    this.tick?.cancel()
    this.tick = undefined
    this.pending = []
  }

  /** The engine's listener: one event of the room, serialised once. */
  onEvent(event: RoomEvent, data: string): void {
    const { options } = this
    let prepared: PreparedFrame | undefined
    const frame = (): PreparedFrame => (prepared ??= new PreparedFrame(data, event.msg_type, options.counters, options.deflateThreshold))
    const batching = options.tickMs > 0 && this.batchMembers > 0
    const holdForTick = batching && this.tick !== undefined
    for (const member of this.members) {
      if (member.joining) member.hold(event, data)
      // A batch member gets the event in the tick's frame when a tick is open, else at once.
      else if (!member.batch || !holdForTick) member.sendPrepared(frame())
    }
    if (!batching) return
    if (holdForTick) this.pending.push([event, data])
    // A lone event went at once; the tick it opens collects what follows.
    else this.tick = options.setTimer(() => this.endTick(), options.tickMs)
  }

  /** The tick is over: its events in one batch frame to every batch member, or the room is quiet again. */
  private endTick(): void {
    this.tick = undefined
    const pending = this.pending
    if (pending.length === 0) return
    this.pending = []
    const { options } = this
    const text = batchText(pending.map(([, data]) => data))
    const prepared = new PreparedFrame(text, 'batch', options.counters, options.deflateThreshold)
    const firstSeq = pending[0][0].seq ?? 0
    for (const member of this.members) {
      if (!member.batch || member.joining) continue
      if (member.head < firstSeq) member.sendPrepared(prepared)
      else {
        // Joined during the tick: its snapshot already holds the first events.
        const fresh = pending.filter(([event]) => (event.seq ?? 0) > member.head)
        if (fresh.length > 0) member.sendText(batchText(fresh.map(([, data]) => data)), 'batch')
      }
    }
    // Busy: keep ticking while events keep coming.
    this.tick = options.setTimer(() => this.endTick(), options.tickMs)
  }
}

/** `{"msg_type":"batch","events":[...]}` from events already serialised: no second JSON.stringify. */
export function batchText(events: readonly string[]): string {
  return `{"msg_type":"batch","events":[${events.join(',')}]}`
}

/**
 * Writes a prepared frame to one socket: the shared bytes when ws's sender is idle (nothing of
 * its own queued or being compressed), else through `ws.send` behind what it holds.
 */
export function writePrepared(ws: WebSocket, frame: PreparedFrame, deflate: boolean): boolean {
  const sender = (ws as unknown as { _sender?: SenderLike })._sender
  const list = deflate ? (frame.deflated() ?? frame.plain()) : frame.plain()
  if (list !== undefined && sender !== undefined && sender._state === 0 && sender._queue.length === 0 && typeof sender.sendFrame === 'function') {
    sender.sendFrame(list)
    return true
  }
  ws.send(frame.text, { compress: deflate })
  return false
}

/** The rooms' fan-outs of this process: one engine subscription per room, however many viewers. */
export class FanoutRegistry {
  private readonly rooms = new Map<string, { fanout: RoomFanout; unsubscribe: () => void }>()

  constructor(
    private readonly subscribe: (roomId: string, listener: (event: RoomEvent, data: string) => void) => () => void,
    private readonly options: FanoutOptions,
  ) {}

  /** Adds a member to a room's fan-out (the room's engine subscription is made by its first). */
  join(roomId: string, member: FanoutMember): void {
    let room = this.rooms.get(roomId)
    if (room === undefined) {
      const fanout = new RoomFanout(this.options)
      room = { fanout, unsubscribe: this.subscribe(roomId, (event, data) => fanout.onEvent(event, data)) }
      this.rooms.set(roomId, room)
    }
    room.fanout.add(member)
  }

  /** The room's history changed: every member is told (each leaves or rereads on its own). */
  historyLost(roomId: string): number {
    const room = this.rooms.get(roomId)
    if (room === undefined) return 0
    const members = [...room.fanout.members]
    for (const member of members) member.historyLost()
    return members.length
  }

  /** A `kicked` event: every member of that user in this process leaves the room at once. */
  kickOut(roomId: string, uid: string, data: string): void {
    const room = this.rooms.get(roomId)
    if (room === undefined) return
    for (const member of [...room.fanout.members]) member.kickedOut(uid, data)
  }

  /** Takes a member out of a room's fan-out; the last one out ends the room's subscription. Again is harmless. */
  leave(roomId: string, member: FanoutMember): void {
    const room = this.rooms.get(roomId)
    if (room === undefined) return
    room.fanout.remove(member)
    if (room.fanout.members.size > 0) return
    this.rooms.delete(roomId)
    room.unsubscribe()
  }

  get size(): number {
    return this.rooms.size
  }
}
