import type { RoomEvent } from 'miniprogram-live-store/protocol'
import type { ClockTimer } from '../../clock'
import { type EngineMetrics, EngineUnavailableError, type RoomListener } from '../types'
import type { RedisConnections } from './clients'
import type { RedisKeys } from './keys'

/** One room as this process sees it: its listeners, and how far its live events got. */
export interface LocalRoom {
  id: string
  channel: string
  listeners: Set<RoomListener>
  /** Resolves once the channel is subscribed and `delivered` is known. */
  ready: Promise<void>
  isReady: boolean
  /** The room's epoch as this process knows it ('' until the room exists). */
  epoch: string
  /** Last seq handed to the listeners. */
  delivered: number
  /** Messages waiting behind a history read (a gap) or the subscription. */
  queue: string[]
  draining: boolean
  likeTimer: ClockTimer | undefined
}

/** What a follower needs of its engine. */
export interface FollowerDeps {
  connections: RedisConnections
  names: RedisKeys
  metrics(): EngineMetrics | undefined
  log(line: string): void
  isClosed(): boolean
  /**
   * The room is gone from Redis, or its seq is behind what this process delivered under the same
   * epoch (Redis lost data): have the room script give it a fresh epoch (the script's `open` with
   * what this process knows).
   */
  renew(room: LocalRoom): Promise<void>
  /** The room's history changed under this process's listeners: its clients must take snapshots. */
  reset(roomId: string, epoch: string): void
}

/**
 * Following rooms from this process: one subscription per room it serves (SSUBSCRIBE on a
 * cluster), and each published event handed to the room's listeners in seq order, exactly once.
 * What the channel skipped (a subscriber reconnect, a failover) is read back from the room's
 * Stream before later events go out. The room's epoch is checked on every read back and on
 * the channel's `{"epoch":E,"seq":S}` notes: a room whose history changed (Redis lost data)
 * is reset, and its listeners are told (`reset`), never handed a seq they have under another event.
 */
export class RoomFollower {
  readonly rooms = new Map<string, LocalRoom>()
  private readonly byChannel = new Map<string, LocalRoom>()

  constructor(private readonly deps: FollowerDeps) {}

  get(roomId: string): LocalRoom | undefined {
    return this.rooms.get(roomId)
  }

  open(roomId: string): LocalRoom {
    const channel = this.deps.names.room(roomId).channel
    const room: LocalRoom = {
      id: roomId,
      channel,
      listeners: new Set(),
      ready: Promise.resolve(),
      isReady: false,
      delivered: 0,
      queue: [],
      draining: false,
      likeTimer: undefined,
      epoch: '',
    }
    this.rooms.set(roomId, room)
    this.byChannel.set(channel, room)
    // The head is read after SUBSCRIBE is in place: nothing published after it is missed.
    room.ready = this.deps.connections
      .subscribe(channel)
      .then(() => this.deps.connections.cmd.hmget(this.deps.names.room(roomId).meta, 'epoch', 'seq'))
      .then(([epoch, seq]) => {
        room.epoch = epoch ?? ''
        room.delivered = Number(seq ?? 0)
        room.isReady = true
        this.drain(room, false)
      })
      .catch((error: unknown) => {
        this.deps.metrics()?.storeErrors()
        throw new EngineUnavailableError(`cannot follow room ${roomId}: ${error instanceof Error ? error.message : String(error)}`)
      })
    // A join that never reads still must not leave an unhandled rejection behind.
    room.ready.catch(() => this.release(room))
    return room
  }

  release(room: LocalRoom): void {
    if (this.rooms.get(room.id) !== room) return
    this.rooms.delete(room.id)
    this.byChannel.delete(room.channel)
    room.likeTimer?.cancel()
    if (!this.deps.isClosed()) this.deps.connections.unsubscribe(room.channel).catch(() => undefined)
  }

  onMessage(channel: string, data: string): void {
    const room = this.byChannel.get(channel)
    if (room === undefined) return
    if (!room.isReady || room.draining || room.queue.length > 0) {
      room.queue.push(data)
      if (room.isReady) this.drain(room, false)
      return
    }
    if (isEpochNote(data)) {
      this.onEpochNote(room, data)
      return
    }
    // The usual case, in order and at once.
    const seq = seqOf(data)
    if (seq === room.delivered + 1) this.deliver(room, data)
    else if (seq > room.delivered + 1) {
      room.queue.push(data)
      this.drain(room, false)
    }
  }

  private deliver(room: LocalRoom, data: string, event?: RoomEvent): void {
    const parsed = event ?? (JSON.parse(data) as RoomEvent)
    room.delivered = parsed.seq as number
    for (const listener of [...room.listeners]) listener(parsed, data)
  }

  /**
   * Delivers queued messages in seq order, reading from the Stream whatever the channel
   * skipped. `catchUp`: the subscriber reconnected, so read everything after `delivered`.
   */
  drain(room: LocalRoom, catchUp: boolean): void {
    if (room.draining) return
    room.draining = true
    void (async () => {
      try {
        if (catchUp) await this.fill(room, Number.MAX_SAFE_INTEGER)
        while (room.queue.length > 0 && this.rooms.get(room.id) === room) {
          const data = room.queue.shift() as string
          if (isEpochNote(data)) {
            this.onEpochNote(room, data)
            continue
          }
          const seq = seqOf(data)
          if (seq <= room.delivered) continue
          if (seq > room.delivered + 1) await this.fill(room, seq - 1)
          if (seq === room.delivered + 1) this.deliver(room, data)
          else if (seq > room.delivered) {
            // History no longer holds the gap: go on; clients see it and rejoin.
            this.deliver(room, data)
          }
        }
      } finally {
        room.draining = false
      }
    })()
  }

  /**
   * Reads events delivered+1 .. upTo from the Stream and delivers them, in one MULTI with the
   * room's epoch and seq: a room whose history changed is reset (or renewed) first.
   */
  private async fill(room: LocalRoom, upTo: number): Promise<void> {
    try {
      const end = upTo === Number.MAX_SAFE_INTEGER ? '+' : `${upTo}-1`
      const keys = this.deps.names.room(room.id)
      const results = await this.deps.connections.cmd
        .multi()
        .hmget(keys.meta, 'epoch', 'seq')
        .xrange(keys.hist, `${room.delivered + 1}-0`, end)
        .exec()
      if (results === null) return
      const [[, head], [, entries]] = results as [[unknown, [string | null, string | null]], [unknown, Array<[string, string[]]>]]
      if (!(await this.sameHistory(room, head[0], Number(head[1] ?? 0)))) return
      let count = 0
      for (const [, fields] of entries) {
        const event = JSON.parse(fields[1]) as RoomEvent
        if ((event.seq as number) !== room.delivered + 1) break
        this.deliver(room, fields[1], event)
        count++
      }
      if (count > 0) this.deps.metrics()?.gapFills(count)
    } catch (error) {
      this.deps.metrics()?.storeErrors()
      this.deps.log(`redis: history read for room ${room.id} failed: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  /**
   * Checks the room's epoch and seq in Redis against what this process delivered (after each
   * lease renewal): a changed history resets the room, a lost or rolled-back one is renewed, and
   * events the channel lost with nothing after them are read back.
   */
  async check(room: LocalRoom): Promise<void> {
    if (!room.isReady || room.draining) return
    const [epoch, seq] = await this.deps.connections.cmd.hmget(this.deps.names.room(room.id).meta, 'epoch', 'seq')
    if ((await this.sameHistory(room, epoch, Number(seq ?? 0))) && Number(seq ?? 0) > room.delivered) this.drain(room, true)
  }

  /**
   * True when Redis holds the history this process delivered from. Otherwise the room is renewed
   * (gone, or behind under the same epoch) and reset to the epoch Redis then has.
   */
  private async sameHistory(room: LocalRoom, epoch: string | null, seq: number): Promise<boolean> {
    if (epoch !== null && epoch === room.epoch && seq >= room.delivered) return true
    if (epoch !== null && room.epoch === '') {
      // The room was created after this process subscribed: its first epoch. Behind what this
      // process delivered, it went back: renewed below like any other.
      room.epoch = epoch
      if (seq >= room.delivered) return true
    }
    if (epoch === null || epoch === room.epoch) {
      if (room.epoch === '' && room.delivered === 0) return true
      await this.deps.renew(room)
      const [now, nowSeq] = await this.deps.connections.cmd.hmget(this.deps.names.room(room.id).meta, 'epoch', 'seq')
      if (now === null) return false
      this.resetTo(room, now, Number(nowSeq ?? 0))
      return false
    }
    this.resetTo(room, epoch, seq)
    return false
  }

  /** `{"epoch":E,"seq":S}` on the channel: the room was created, or its history renewed, at S. */
  private onEpochNote(room: LocalRoom, data: string): void {
    const note = JSON.parse(data) as { epoch: string; seq: number }
    if (note.epoch === room.epoch) return
    if (room.epoch === '' && room.delivered === 0) {
      room.epoch = note.epoch
      return
    }
    this.resetTo(room, note.epoch, note.seq)
  }

  /** The room's history is another from `seq` on: events of the old one are dropped, listeners told. */
  private resetTo(room: LocalRoom, epoch: string, seq: number): void {
    if (room.epoch === epoch) return
    this.deps.log(`redis: room ${room.id} has a new history (epoch ${room.epoch || '(none)'} -> ${epoch}, seq ${room.delivered} -> ${seq})`)
    room.epoch = epoch
    room.delivered = seq
    this.deps.reset(room.id, epoch)
  }

  /** Forgets every room (the engine closed). */
  clear(): void {
    for (const room of this.rooms.values()) room.listeners.clear()
    this.rooms.clear()
    this.byChannel.clear()
  }
}

/** A note of the room script on the channel (not an event): the room's epoch changed. */
const isEpochNote = (data: string): boolean => data.startsWith('{"epoch":')

/** The seq of a published event, read without parsing the whole text. */
function seqOf(data: string): number {
  const match = /,"seq":(\d+),"ts":\d+\}$/.exec(data)
  return match ? Number(match[1]) : ((JSON.parse(data) as RoomEvent).seq ?? 0)
}
