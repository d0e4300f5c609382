import { randomBytes } from 'crypto'
import * as fs from 'fs'
import * as path from 'path'
import type { AckFrame, RoomEvent, SnapshotFrame } from 'miniprogram-live-store/protocol'
import { RoomModel, type RoomAction, type RoomConfig } from '../room'
import type { ApplyResult, Engine, Recovery, RoomListener } from './types'
import { type Clock, type ClockTimer, every, systemClock } from '../clock'
import { ENGINE_DEFAULTS } from '../defaults'

export interface MemoryEngineOptions {
  /** Events kept per room for recovery (docs/protocol.md, "Epochs and recovery": at least 1000). */
  history?: number
  /** Rooms known in advance; with `fixedRooms`, the only ones. */
  rooms?: RoomConfig[]
  /** Refuse rooms that are not in `rooms`. */
  fixedRooms?: boolean
  /** Like merge window. Default 100 ms. */
  likeWindowMs?: number
  /** Dedup window: acks remembered per user. */
  dedupMax?: number
  dedupTtlMs?: number
  /**
   * A room with nobody in it and no activity for this long is freed from memory. It comes
   * back, if anyone joins it again, as a new room under an epoch of its own, so a client
   * that knew the old one takes a snapshot instead of "recovering" into another seq. Default 10 min.
   */
  idleRoomMs?: number
  /**
   * A room nobody owns and nothing happened in (no configured room, no anchor, no comment, like,
   * follower or goods: only joins and leaves) is freed this long after it became empty, so
   * rooms opened by passers-by cost memory for seconds, not `idleRoomMs`. Default 10 s.
   */
  emptyRoomMs?: number
  /**
   * Keep the dedup window in this file (JSON lines, compacted at start): a restarted server
   * still answers a resent `msg_id` with its first ack instead of applying it again.
   */
  dedupFile?: string
  /** Time for events, windows and sweeps. Default real time. */
  clock?: Clock
}

/** The last `capacity` events of one room, in a fixed ring. */
class History {
  private readonly ring: RoomEvent[]
  private count = 0
  constructor(private readonly capacity: number) {
    this.ring = new Array<RoomEvent>(capacity)
  }
  /** Events must come in seq order: seq n goes to slot n % capacity. */
  push(event: RoomEvent): void {
    this.ring[(event.seq as number) % this.capacity] = event
    this.count = Math.min(this.capacity, this.count + 1)
  }
  /** Events with seq > since, or null when some of them are no longer kept. */
  since(since: number, head: number): RoomEvent[] | null {
    if (since >= head) return []
    if (head - since > this.count) return null
    const events: RoomEvent[] = []
    for (let seq = since + 1; seq <= head; seq++) events.push(this.ring[seq % this.capacity])
    return events
  }
}

interface RoomEntry {
  /** The engine's epoch, or (for a room created after rooms were freed) one of its own. */
  epoch: string
  lastActiveAt: number
  model: RoomModel
  seq: number
  history: History
  listeners: Set<RoomListener>
  pendingLikes: number
  likeTimer: ClockTimer | undefined
}

/**
 * Rooms in this process's memory. Its epoch is new on every start: a restarted
 * in-memory server has lost its history, and clients must take a snapshot.
 */
export class MemoryEngine implements Engine {
  readonly epoch = randomBytes(6).toString('base64url')
  readonly healthy = true
  private readonly rooms = new Map<string, RoomEntry>()
  private readonly configs = new Map<string, RoomConfig>()
  private readonly acks = new Map<string, Map<string, { ack: AckFrame; at: number }>>()
  private readonly historySize: number
  private readonly likeWindowMs: number
  private readonly dedupMax: number
  private readonly dedupTtlMs: number
  private readonly idleRoomMs: number
  private readonly emptyRoomMs: number
  private readonly now: () => number
  private readonly clock: Clock
  private readonly idleSweep: ClockTimer
  /** Writes to the dedup file, in order: appends and compactions. */
  private dedupChain: Promise<void> = Promise.resolve()
  private dedupBuffer: string[] = []
  private dedupFlushQueued = false
  /** Lines appended since the file was last compacted: past twice what is kept, it is compacted again. */
  private dedupAppended = 0
  /** Rooms freed so far; rooms created after the first carry an epoch of their own. */
  private freed = 0
  private created = 0

  constructor(private readonly options: MemoryEngineOptions = {}) {
    this.historySize = Math.max(1, options.history ?? ENGINE_DEFAULTS.history)
    this.likeWindowMs = options.likeWindowMs ?? ENGINE_DEFAULTS.likeWindowMs
    this.dedupMax = options.dedupMax ?? ENGINE_DEFAULTS.dedupMax
    this.dedupTtlMs = options.dedupTtlMs ?? ENGINE_DEFAULTS.dedupTtlMs
    this.clock = options.clock ?? systemClock
    this.now = () => this.clock.now()
    this.idleRoomMs = options.idleRoomMs ?? ENGINE_DEFAULTS.idleRoomMs
    this.emptyRoomMs = Math.min(this.idleRoomMs, options.emptyRoomMs ?? ENGINE_DEFAULTS.emptyRoomMs)
    for (const room of options.rooms ?? []) this.configs.set(room.id, room)
    if (options.dedupFile !== undefined) this.loadDedup(options.dedupFile)
    this.idleSweep = every(this.clock, Math.max(1000, Math.min(60000, this.emptyRoomMs / 2)), () => {
      this.freeIdleRooms()
      this.forgetOldAcks()
    })
  }

  /**
   * Frees every room that is empty (no member, no subscriber, no likes waiting) and has been
   * idle for `idleRoomMs`. Returns how many. Runs on a timer; callable directly.
   */
  freeIdleRooms(): number {
    const now = this.now()
    let count = 0
    for (const [roomId, room] of this.rooms) {
      if (room.listeners.size > 0 || room.model.members.size > 0 || room.pendingLikes > 0) continue
      if (room.lastActiveAt > now - (this.unowned(roomId, room) ? this.emptyRoomMs : this.idleRoomMs)) continue
      this.rooms.delete(roomId)
      count++
    }
    this.freed += count
    return count
  }

  /** Nobody owns it and nothing but joins and leaves happened in it. */
  private unowned(roomId: string, room: RoomEntry): boolean {
    const m = room.model
    return !this.configs.has(roomId) && m.anchor.uid === '' && m.messages.length === 0 && m.likeNum === 0 && m.subscribers.size === 0 && m.shelf.size === 0
  }

  isOpen(roomId: string): Promise<boolean> {
    return Promise.resolve(this.rooms.has(roomId) || this.configs.has(roomId))
  }

  get roomCount(): number {
    return this.rooms.size
  }

  hasRoom(roomId: string): Promise<boolean> {
    return Promise.resolve(!this.options.fixedRooms || this.configs.has(roomId))
  }

  roomConfig(roomId: string): RoomConfig | undefined {
    return this.configs.get(roomId)
  }

  apply(roomId: string, action: RoomAction): Promise<ApplyResult> {
    return Promise.resolve(this.applyNow(roomId, action))
  }

  like(roomId: string, count: number): Promise<AckFrame | undefined> {
    const room = this.room(roomId)
    room.pendingLikes += count
    room.likeTimer ??= this.clock.setTimer(() => {
      room.likeTimer = undefined
      const delta = room.pendingLikes
      room.pendingLikes = 0
      if (delta > 0) this.applyNow(roomId, { type: 'like', delta })
    }, this.likeWindowMs)
    // In one process the socket layer's recall/remember already makes commands exactly-once.
    return Promise.resolve(undefined)
  }

  recover(roomId: string, sinceSeq: number, epoch: string): Promise<Recovery | null> {
    const room = this.room(roomId)
    if (epoch !== room.epoch || sinceSeq > room.seq) return Promise.resolve(null)
    const events = room.history.since(sinceSeq, room.seq)
    return Promise.resolve(events === null ? null : { epoch: room.epoch, head: room.seq, events })
  }

  snapshot(roomId: string): Promise<SnapshotFrame> {
    const room = this.room(roomId)
    return Promise.resolve(room.model.snapshot(room.epoch, room.seq))
  }

  subscribe(roomId: string, listener: RoomListener): () => void {
    const room = this.room(roomId)
    room.listeners.add(listener)
    return () => room.listeners.delete(listener)
  }

  recallAck(uid: string, msgId: string): Promise<AckFrame | undefined> {
    const entry = this.acks.get(uid)?.get(msgId)
    if (entry === undefined || this.now() - entry.at > this.dedupTtlMs) return Promise.resolve(undefined)
    return Promise.resolve(entry.ack)
  }

  rememberAck(uid: string, msgId: string, ack: AckFrame): Promise<void> {
    const at = this.now()
    this.keepAck(uid, msgId, ack, at)
    const file = this.options.dedupFile
    if (file !== undefined) {
      this.dedupBuffer.push(`${JSON.stringify([uid, msgId, ack, at])}\n`)
      this.dedupAppended++
      if (!this.dedupFlushQueued) {
        this.dedupFlushQueued = true
        // This flush owns this batch: a compaction meanwhile starts a new one, queued after it.
        const batch = this.dedupBuffer
        this.dedupChain = this.dedupChain
          .then(() => {
            if (batch === this.dedupBuffer) {
              this.dedupFlushQueued = false
              this.dedupBuffer = []
            }
            return batch.length === 0 ? undefined : fs.promises.appendFile(file, batch.join(''))
          })
          .catch(() => undefined)
      }
    }
    return Promise.resolve()
  }

  /**
   * Drops acks older than the dedup window (and users left with none): the window's memory
   * follows the command rate, not the server's age. Runs on the engine's timer.
   */
  forgetOldAcks(): number {
    const cutoff = this.now() - this.dedupTtlMs
    let dropped = 0
    for (const [uid, forUser] of this.acks) {
      // Maps keep insertion order: the oldest first.
      for (const [msgId, entry] of forUser) {
        if (entry.at > cutoff) break
        forUser.delete(msgId)
        dropped++
      }
      if (forUser.size === 0) this.acks.delete(uid)
    }
    // The file follows the window too: its size stays about twice what the window holds.
    if (this.options.dedupFile !== undefined && this.dedupAppended > Math.max(10000, 2 * this.keptAcks())) this.compactDedup(this.options.dedupFile)
    return dropped
  }

  /** Resolves once every dedup write so far (appends, compactions) is on disk. */
  dedupWritten(): Promise<void> {
    return this.dedupChain
  }

  private keptAcks(): number {
    let count = 0
    for (const forUser of this.acks.values()) count += forUser.size
    return count
  }

  private keepAck(uid: string, msgId: string, ack: AckFrame, at: number): void {
    let forUser = this.acks.get(uid)
    if (forUser === undefined) {
      forUser = new Map()
      this.acks.set(uid, forUser)
    }
    forUser.set(msgId, { ack, at })
    while (forUser.size > this.dedupMax) forUser.delete(forUser.keys().next().value as string)
  }

  /** Reads what the last run remembered (within the window), rewrites the file compacted, appends from here. */
  private loadDedup(file: string): void {
    const cutoff = this.now() - this.dedupTtlMs
    let text = ''
    try {
      text = fs.readFileSync(file, 'utf8')
    } catch {
      // No file yet: the first run.
    }
    for (const line of text.split('\n')) {
      if (line === '') continue
      try {
        const [uid, msgId, ack, at] = JSON.parse(line) as [string, string, AckFrame, number]
        if (typeof uid === 'string' && typeof msgId === 'string' && typeof at === 'number' && at > cutoff && ack?.msg_type === 'ack') this.keepAck(uid, msgId, ack, at)
      } catch {
        // A line cut short by a crash: skip it.
      }
    }
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, this.dedupText())
  }

  /** What the window holds now, as the file's lines. */
  private dedupText(): string {
    const kept: string[] = []
    for (const [uid, forUser] of this.acks) for (const [msgId, { ack, at }] of forUser) kept.push(`${JSON.stringify([uid, msgId, ack, at])}\n`)
    return kept.join('')
  }

  /**
   * Rewrites the file with what the window holds now, after the writes before it and before
   * the ones after it (lines still buffered are in the window, so in the rewrite).
   */
  private compactDedup(file: string): void {
    const text = this.dedupText()
    this.dedupBuffer = []
    this.dedupFlushQueued = false
    this.dedupAppended = 0
    this.dedupChain = this.dedupChain.then(() => fs.promises.writeFile(file, text)).catch(() => undefined)
  }

  restriction(roomId: string, uid: string): Promise<{ mutedUntil: number; kickedUntil: number }> {
    const room = this.rooms.get(roomId)
    return Promise.resolve(room === undefined ? { mutedUntil: 0, kickedUntil: 0 } : room.model.restriction(uid, this.now()))
  }

  close(): Promise<void> {
    this.idleSweep.cancel()
    for (const room of this.rooms.values()) room.likeTimer?.cancel()
    return this.dedupChain
  }

  private room(roomId: string): RoomEntry {
    let room = this.rooms.get(roomId)
    if (room === undefined) {
      this.created++
      room = {
        epoch: this.freed === 0 ? this.epoch : `${this.epoch}.${this.created}`,
        lastActiveAt: this.now(),
        model: new RoomModel(roomId, this.configs.get(roomId)),
        seq: 0,
        history: new History(this.historySize),
        listeners: new Set(),
        pendingLikes: 0,
        likeTimer: undefined,
      }
      this.rooms.set(roomId, room)
    }
    return room
  }

  private applyNow(roomId: string, action: RoomAction): ApplyResult {
    const room = this.room(roomId)
    room.lastActiveAt = this.now()
    const decision = room.model.decide(action, { now: this.now(), history: () => room.history.since(Math.max(0, room.seq - this.historySize), room.seq) ?? [] })
    if (!decision.ok) return decision
    if (decision.event === undefined) return decision.quiet ? { ok: true, quiet: true } : { ok: true }
    room.seq++
    const event = { ...decision.event, room_id: roomId, seq: room.seq, ts: this.now() } as RoomEvent
    room.history.push(event)
    room.model.remember(event)
    // Serialised once for every recipient in the room.
    const data = JSON.stringify(event)
    for (const listener of [...room.listeners]) listener(event, data)
    return { ok: true, event }
  }
}
