import type Redis from 'ioredis'
import type { RoomEvent } from 'miniprogram-live-store/protocol'
import type { ClockTimer } from '../../clock'
import { type EngineMetrics, EngineUnavailableError, type RoomListener } from '../types'
import type { RedisKeys } from './keys'

/** One room as this process sees it: its listeners, and how far its live events got. */
export interface LocalRoom {
  id: string
  channel: string
  listeners: Set<RoomListener>
  /** Resolves once the channel is subscribed and `delivered` is known. */
  ready: Promise<void>
  isReady: boolean
  /** Last seq handed to the listeners. */
  delivered: number
  /** Messages waiting behind a history read (a gap) or the subscription. */
  queue: string[]
  draining: boolean
  likeTimer: ClockTimer | undefined
}

/** What a follower needs of its engine. */
export interface FollowerDeps {
  cmd: Redis
  sub: Redis
  names: RedisKeys
  metrics(): EngineMetrics | undefined
  log(line: string): void
  isClosed(): boolean
}

/**
 * Following rooms from this process: one SUBSCRIBE per room it serves, and each published
 * event handed to the room's listeners in seq order, exactly once. What the channel skipped
 * (a subscriber reconnect) is read back from the room's Stream before later events go out.
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
    }
    this.rooms.set(roomId, room)
    this.byChannel.set(channel, room)
    // The head is read after SUBSCRIBE is in place: nothing published after it is missed.
    room.ready = this.deps.sub
      .subscribe(channel)
      .then(() => this.deps.cmd.hget(this.deps.names.room(roomId).meta, 'seq'))
      .then((seq) => {
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
    if (!this.deps.isClosed()) this.deps.sub.unsubscribe(room.channel).catch(() => undefined)
  }

  onMessage(channel: string, data: string): void {
    const room = this.byChannel.get(channel)
    if (room === undefined) return
    if (!room.isReady || room.draining || room.queue.length > 0) {
      room.queue.push(data)
      if (room.isReady) this.drain(room, false)
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

  /** Reads events delivered+1 .. upTo from the Stream and delivers them. */
  private async fill(room: LocalRoom, upTo: number): Promise<void> {
    try {
      const end = upTo === Number.MAX_SAFE_INTEGER ? '+' : `${upTo}-1`
      const entries = await this.deps.cmd.xrange(this.deps.names.room(room.id).hist, `${room.delivered + 1}-0`, end)
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

  /** Forgets every room (the engine closed). */
  clear(): void {
    for (const room of this.rooms.values()) room.listeners.clear()
    this.rooms.clear()
    this.byChannel.clear()
  }
}

/** The seq of a published event, read without parsing the whole text. */
function seqOf(data: string): number {
  const match = /,"seq":(\d+),"ts":\d+\}$/.exec(data)
  return match ? Number(match[1]) : ((JSON.parse(data) as RoomEvent).seq ?? 0)
}
