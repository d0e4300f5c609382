import { randomBytes } from 'crypto'
import Redis, { type RedisOptions } from 'ioredis'
import type { AckFrame, MessageEvent, RoomEvent, ShelfItem, SnapshotFrame, UserRef } from 'miniprogram-live-store/protocol'
import { MAX_SHELF_GOODS, type RoomAction, type RoomConfig, SNAPSHOT_MESSAGES } from '../room'
import { LEASE_SCRIPT, ROOM_SCRIPT } from './redis.lua'
import { type Clock, type ClockTimer, systemClock } from '../clock'
import { type ApplyResult, type CommandKey, type Engine, type EngineMetrics, EngineUnavailableError, type Recovery, type RoomListener } from './types'
import { ENGINE_DEFAULTS } from '../defaults'

export interface RedisEngineOptions {
  /** `redis://host:port/db`, or ioredis options. */
  redis: string | RedisOptions
  /** Prefix of every key and channel, so several deployments can share one Redis. Default `live`. */
  prefix?: string
  /** Events kept per room for recovery (protocol.md: at least 1000). */
  history?: number
  rooms?: RoomConfig[]
  fixedRooms?: boolean
  /** Like merge window, shared by every process. Default 100 ms. */
  likeWindowMs?: number
  /** How long a command's ack is remembered for resends to any process. Default 10 min. */
  dedupTtlMs?: number
  /**
   * A process that has not renewed its lease for this long is taken for dead: its
   * connections leave their rooms. Renewed every third of it. Default 3000 ms.
   */
  leaseMs?: number
  /** How long `connect` waits for Redis at start. Default 5000 ms. */
  connectTimeoutMs?: number
  /**
   * A Redis command that has not answered in this long fails (the socket layer answers 4500):
   * a stalled Redis (process stopped, TCP up) must not hold commands forever. Default 2000 ms.
   */
  commandTimeoutMs?: number
  /**
   * An empty room's keys expire after this long without a change (a room with members keeps
   * them); created again, it has an epoch of its own. Default 10 minutes; 0 never expires.
   */
  idleRoomMs?: number
  /**
   * An empty room nobody configured or anchored, where nothing but joins and leaves happened,
   * expires this much sooner. Default 10 s (at most `idleRoomMs`).
   */
  emptyRoomMs?: number
  /** Past this many members, a dead process's viewers leave with one notice, not one each (as the socket layer thins joins). */
  crowdedRoomSize?: number
  /** Real time for the process lease, which Redis measures on its own clock. Default Date.now. */
  now?: () => number
  /** The server's clock, for the like window. Default real time. */
  clock?: Clock
  log?: (line: string) => void
}

/** The dedup key's value while a `report` is being written by the process that claimed it. */
const CLAIMED = 'claimed'

type ScriptReply = [string, string | number, string?]

interface RedisWithScripts extends Redis {
  liveRoom(numKeys: number, ...args: Array<string | number>): Promise<ScriptReply>
  liveLease(numKeys: number, ...args: Array<string | number>): Promise<[number, ...string[]]>
}

/** One room as this process sees it: its listeners, and how far its live events got. */
interface LocalRoom {
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

const jsonString = (value: string): string => JSON.stringify(value)

/**
 * Rooms in Redis, shared by any number of server processes.
 *
 * - One script applies each change atomically: state, next `seq` (a hash counter), history
 *   (a Stream capped at `history`), the dedup record of the command, and a PUBLISH.
 * - Each process subscribes once per room it serves and hands the published text, as is,
 *   to its sockets: one serialisation per event in all. A skipped message (a subscriber
 *   reconnect) is read back from the Stream before later ones go out.
 * - `online_num` counts members per process; each process renews a lease, and the
 *   members of a process whose lease ran out are taken out by the others, with `leave` events.
 * - The epoch is a key: when Redis loses its data the key goes with it, and a new epoch
 *   tells clients to take snapshots.
 */
export class RedisEngine implements Engine {
  private currentEpoch = ''
  private readonly cmd: RedisWithScripts
  private readonly sub: Redis
  private readonly prefix: string
  private readonly processId = randomBytes(6).toString('base64url')
  private readonly configs = new Map<string, RoomConfig>()
  private readonly rooms = new Map<string, LocalRoom>()
  private readonly byChannel = new Map<string, LocalRoom>()
  /** This process's connections per room: the truth for `resync` after an outage. */
  private readonly members = new Map<string, Map<string, UserRef>>()
  private readonly historySize: number
  private readonly likeWindowMs: number
  private readonly emptyRoomMs: number
  private readonly dedupTtlMs: number
  private readonly leaseMs: number
  private readonly now: () => number
  private readonly log: (line: string) => void
  private readonly epochListeners: Array<(epoch: string) => void> = []
  private metrics: EngineMetrics | undefined
  private leaseTimer: NodeJS.Timeout | undefined
  private wasDown = false
  private renewing = false
  /** When this process last renewed its lease (its own clock). */
  private renewedAt = -Infinity
  /** Since when this process has renewed without a gap: it may take others for dead only after a lease of that. */
  private renewingSince = Infinity
  private closed = false

  private constructor(private readonly options: RedisEngineOptions) {
    this.prefix = options.prefix ?? 'live'
    this.historySize = Math.max(1, options.history ?? ENGINE_DEFAULTS.history)
    this.likeWindowMs = options.likeWindowMs ?? ENGINE_DEFAULTS.likeWindowMs
    const idle = options.idleRoomMs ?? ENGINE_DEFAULTS.idleRoomMs
    this.emptyRoomMs = idle <= 0 ? (options.emptyRoomMs ?? ENGINE_DEFAULTS.emptyRoomMs) : Math.min(idle, options.emptyRoomMs ?? ENGINE_DEFAULTS.emptyRoomMs)
    this.dedupTtlMs = options.dedupTtlMs ?? ENGINE_DEFAULTS.dedupTtlMs
    this.leaseMs = options.leaseMs ?? ENGINE_DEFAULTS.leaseMs
    this.now = options.now ?? Date.now
    this.log = options.log ?? (() => undefined)
    for (const room of options.rooms ?? []) this.configs.set(room.id, room)
    const base: RedisOptions = {
      // Fail fast while Redis is away: the socket layer refuses, the client retries.
      enableOfflineQueue: false,
      commandTimeout: options.commandTimeoutMs ?? ENGINE_DEFAULTS.commandTimeoutMs,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
      lazyConnect: true,
    }
    const make = (): Redis => (typeof options.redis === 'string' ? new Redis(options.redis, base) : new Redis({ ...options.redis, ...base }))
    this.cmd = make() as RedisWithScripts
    // The subscriber may queue its SUBSCRIBEs until it is connected.
    // (No command timeout on the subscriber: SUBSCRIBE waits for its connection by design.)
    const subscriber: RedisOptions = { ...base, enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined }
    this.sub = typeof options.redis === 'string' ? new Redis(options.redis, subscriber) : new Redis({ ...options.redis, ...subscriber })
    this.cmd.defineCommand('liveRoom', { lua: ROOM_SCRIPT })
    this.cmd.defineCommand('liveLease', { lua: LEASE_SCRIPT })
    for (const client of [this.cmd, this.sub]) {
      client.on('error', (error: Error) => {
        this.metrics?.storeErrors()
        this.log(`redis: ${error.message}`)
      })
    }
    for (const client of [this.cmd, this.sub]) {
      client.on('close', () => {
        if (this.closed) return
        // A lost connection is a store error even before a call fails on it.
        if (client.status !== 'end') this.metrics?.storeErrors()
        if (client === this.cmd) this.wasDown = true
      })
    }
    this.cmd.on('ready', () => {
      if (this.wasDown) void this.recoverFromOutage()
    })
    this.sub.on('message', (channel: string, data: string) => this.onMessage(channel, data))
    // Messages published while the subscriber was away are read back from the Streams.
    this.sub.on('ready', () => {
      for (const room of this.rooms.values()) if (room.isReady) this.drain(room, true)
    })
  }

  /** Connects to Redis, takes (or creates) the epoch and starts this process's lease. */
  static async connect(options: RedisEngineOptions): Promise<RedisEngine> {
    const engine = new RedisEngine(options)
    const timeoutMs = options.connectTimeoutMs ?? ENGINE_DEFAULTS.connectTimeoutMs
    const target = typeof options.redis === 'string' ? options.redis : `${options.redis.host ?? '127.0.0.1'}:${options.redis.port ?? 6379}`
    try {
      await withTimeout(Promise.all([engine.cmd.connect(), engine.sub.connect()]), timeoutMs, `Redis at ${target} did not answer within ${timeoutMs} ms`)
      await engine.takeEpoch()
      await engine.renewLease()
    } catch (error) {
      engine.cmd.disconnect()
      engine.sub.disconnect()
      // eslint-disable-next-line preserve-caught-error -- lib ES2020 (no Error cause): the message carries it
      throw new Error(`RedisEngine: cannot use Redis at ${target}: ${error instanceof Error ? error.message : String(error)}`)
    }
    engine.leaseTimer = setInterval(() => void engine.renewLease().catch(() => undefined), Math.max(50, Math.floor(engine.leaseMs / 3)))
    engine.leaseTimer.unref()
    return engine
  }

  get epoch(): string {
    return this.currentEpoch
  }

  /**
   * Connected, and the lease renewed within `leaseMs`: a Redis that stopped answering with its
   * TCP connection up is unhealthy within `leaseMs` (renewals run every third of it and each
   * fails after `commandTimeoutMs`).
   */
  get healthy(): boolean {
    return !this.closed && this.cmd.status === 'ready' && this.sub.status === 'ready' && this.now() - this.renewedAt <= this.leaseMs
  }

  get roomCount(): number {
    return this.rooms.size
  }

  /** This process's id in Redis (its lease and member keys). */
  get id(): string {
    return this.processId
  }

  onEpochChange(listener: (epoch: string) => void): void {
    this.epochListeners.push(listener)
  }

  attachMetrics(metrics: EngineMetrics): void {
    this.metrics = metrics
  }

  hasRoom(roomId: string): Promise<boolean> {
    return Promise.resolve(!this.options.fixedRooms || this.configs.has(roomId))
  }

  async isOpen(roomId: string): Promise<boolean> {
    return this.configs.has(roomId) || (await this.cmd.exists(this.keys(roomId).meta)) === 1
  }

  roomConfig(roomId: string): RoomConfig | undefined {
    return this.configs.get(roomId)
  }

  async apply(roomId: string, action: RoomAction, command?: CommandKey): Promise<ApplyResult> {
    let args: Array<string | number>
    switch (action.type) {
      case 'join': {
        const user = JSON.stringify(action.user)
        let members = this.members.get(roomId)
        if (members === undefined) this.members.set(roomId, (members = new Map()))
        members.set(action.connId, action.user)
        args = [
          action.connId,
          user,
          action.anchor ? '1' : '0',
          `{"msg_type":"join","user":${user}`,
          `,"msg_content":${jsonString(`${action.user.name} joined`)}`,
          action.quietAbove === undefined ? '' : String(action.quietAbove),
        ]
        break
      }
      case 'leave':
        this.members.get(roomId)?.delete(action.connId)
        if (this.members.get(roomId)?.size === 0) this.members.delete(roomId)
        args = [action.connId, action.quietAbove === undefined ? '' : String(action.quietAbove)]
        break
      case 'message':
        args = [
          `{"msg_type":"message","msg_id":${jsonString(action.msgId)},"from_uid":${jsonString(action.user.uid)},"from_name":${jsonString(action.user.name)},"content":${jsonString(action.content)}`,
        ]
        break
      case 'like':
        // Likes go through the shared window (`like`); a direct delta is added to it and flushed.
        await this.run(roomId, 'likeAdd', [action.delta, this.likeWindowMs])
        return this.flushLikes(roomId, false)
      case 'subscribe': {
        const user = JSON.stringify(action.user)
        args = [action.user.uid, `{"msg_type":"subscribe","user":${user}`, `,"msg_content":${jsonString(`${action.user.name} followed`)}`]
        break
      }
      case 'buy':
        args = [action.goodsId, JSON.stringify(action.user), action.user.name]
        break
      case 'shelf': {
        const item: ShelfItem = action.item
        const json = JSON.stringify(item)
        args = [item.goods_id, item.status, json, `{"msg_type":"on_off_shelf",${json.slice(1, -1)}`, String(MAX_SHELF_GOODS)]
        break
      }
      case 'room_state':
        args = [action.status, action.title !== undefined ? '1' : '0', action.title ?? '']
        break
      case 'presence': {
        const user = JSON.stringify(action.user)
        args = [`{"msg_type":"${action.kind}","user":${user}`, `,"msg_content":${jsonString(`${action.user.name} ${action.kind === 'join' ? 'joined' : 'left'}`)}`]
        break
      }
    }
    const reply = await this.run(roomId, action.type, args, command)
    return this.toResult(reply)
  }

  async like(roomId: string, count: number, command?: CommandKey): Promise<AckFrame | undefined> {
    const reply = await this.run(roomId, 'likeAdd', [count, this.likeWindowMs], command)
    if (reply[0] === 'DUP') return JSON.parse(String(reply[1])) as AckFrame
    if (reply[1] === '1') this.scheduleLikeFlush(roomId)
    return undefined
  }

  async recover(roomId: string, sinceSeq: number, epoch: string): Promise<Recovery | null> {
    await this.local(roomId)?.ready
    if (epoch !== this.currentEpoch && !epoch.startsWith(`${this.currentEpoch}.`)) return null
    const keys = this.keys(roomId)
    const results = await this.guard(
      this.cmd
        .multi()
        .get(keys.epoch)
        .hget(keys.meta, 'seq')
        .xrange(keys.hist, `${sinceSeq + 1}-0`, '+')
        .hget(keys.meta, 'epoch')
        .exec(),
    )
    if (results === null) throw new EngineUnavailableError('recovery read was aborted')
    const [[, storedEpoch], [, seqText], [, entries], [, roomEpoch]] = results as [[unknown, string | null], [unknown, string | null], [unknown, Array<[string, string[]]>], [unknown, string | null]]
    if (storedEpoch !== this.currentEpoch || (roomEpoch ?? storedEpoch) !== epoch) return null
    const head = Number(seqText ?? 0)
    if (sinceSeq > head) return null
    if (head - sinceSeq > this.historySize) return null
    const events = entries.map(([, fields]) => JSON.parse(fields[1]) as RoomEvent)
    if (events.length !== head - sinceSeq) return null
    if (events.length > 0 && events[0].seq !== sinceSeq + 1) return null
    return { epoch, head, events }
  }

  snapshot(roomId: string): Promise<SnapshotFrame> {
    return this.readSnapshot(roomId, false)
  }

  /** `created`: the room was just created by this read (read once more, never twice). */
  private async readSnapshot(roomId: string, created: boolean): Promise<SnapshotFrame> {
    await this.local(roomId)?.ready
    const keys = this.keys(roomId)
    const results = await this.guard(
      this.cmd.multi().get(keys.epoch).hgetall(keys.meta).get(keys.online).scard(keys.subs).lrange(keys.msgs, -SNAPSHOT_MESSAGES, -1).zrange(keys.shelfOrder, '0', '-1').hgetall(keys.shelf).exec(),
    )
    if (results === null) throw new EngineUnavailableError('snapshot read was aborted')
    const [epoch, meta, online, subs, msgs, order, shelf] = results.map(([, value]) => value) as [
      string | null,
      Record<string, string>,
      string | null,
      number,
      string[],
      string[],
      Record<string, string>,
    ]
    if (epoch !== this.currentEpoch) await this.epochLost(epoch)
    // No room (never created, or its keys expired): create it first, so the snapshot carries
    // the epoch it will have, not the store's.
    if (meta.seq === undefined && !created) {
      await this.run(roomId, 'open', [])
      return this.readSnapshot(roomId, true)
    }
    const config = this.configs.get(roomId)
    const anchor = meta.anchor !== undefined ? (JSON.parse(meta.anchor) as UserRef) : (config?.anchor ?? { uid: '', name: '' })
    return {
      msg_type: 'snapshot',
      room_id: roomId,
      // The room's own epoch (a room created again after its keys expired has one), else the store's.
      epoch: meta.epoch ?? this.currentEpoch,
      seq: Number(meta.seq ?? 0),
      room: {
        title: meta.title ?? config?.title ?? roomId,
        status: meta.status === 'ended' ? 'ended' : 'live',
        anchor: { uid: anchor.uid, name: anchor.name },
        online_num: Math.max(0, Number(online ?? 0)),
        like_num: Number(meta.like_num ?? 0),
        subscribe_num: subs,
      },
      message_list: msgs.map((text) => JSON.parse(text) as MessageEvent),
      shelf: order.filter((id) => shelf[id] !== undefined).map((id) => JSON.parse(shelf[id]) as ShelfItem),
    }
  }

  subscribe(roomId: string, listener: RoomListener): () => void {
    let room = this.rooms.get(roomId)
    if (room === undefined) room = this.open(roomId)
    room.listeners.add(listener)
    const entry = room
    return () => {
      entry.listeners.delete(listener)
      if (entry.listeners.size === 0) this.release(entry)
    }
  }

  async recallAck(uid: string, msgId: string): Promise<AckFrame | undefined> {
    const text = await this.guard(this.cmd.get(this.dedupKey(uid, msgId)))
    // A claim in progress (another process is writing that report) is not an ack yet.
    return text === null || text === CLAIMED ? undefined : (JSON.parse(text) as AckFrame)
  }

  async claimCommand(uid: string, msgId: string): Promise<boolean> {
    // The claim lasts while the first process works; if it dies meanwhile, a resend may go after it.
    const set = await this.guard(this.cmd.set(this.dedupKey(uid, msgId), CLAIMED, 'PX', Math.max(5000, this.leaseMs * 2), 'NX'))
    return set === 'OK'
  }

  async rememberAck(uid: string, msgId: string, ack: AckFrame): Promise<void> {
    await this.guard(this.cmd.set(this.dedupKey(uid, msgId), JSON.stringify(ack), 'PX', this.dedupTtlMs))
  }

  /** Takes this process's connections out of their rooms and gives up its lease. */
  async close(): Promise<void> {
    if (this.closed) return
    if (this.leaseTimer) clearInterval(this.leaseTimer)
    for (const room of this.rooms.values()) room.likeTimer?.cancel()
    try {
      if (this.cmd.status === 'ready') {
        for (const roomId of [...this.members.keys()]) {
          this.members.delete(roomId)
          await this.resync(roomId)
        }
        await this.cmd.zrem(this.key('procs'), this.processId)
        await this.cmd.del(this.key(`proc:${this.processId}:rooms`))
      }
    } catch (error) {
      this.log(`redis: cleanup on close failed: ${error instanceof Error ? error.message : String(error)}`)
    }
    this.closed = true
    for (const room of this.rooms.values()) room.listeners.clear()
    this.rooms.clear()
    this.byChannel.clear()
    // QUIT only where there is a connection to say it on; a queued QUIT would wait forever.
    const quit = (client: Redis): Promise<unknown> => (client.status === 'ready' ? withTimeout(client.quit(), 1000, 'QUIT took too long').catch(() => undefined) : Promise.resolve())
    await Promise.all([quit(this.cmd), quit(this.sub)])
    this.cmd.disconnect()
    this.sub.disconnect()
  }

  // --- rooms in this process ---

  private local(roomId: string): LocalRoom | undefined {
    return this.rooms.get(roomId)
  }

  private open(roomId: string): LocalRoom {
    const channel = this.keys(roomId).channel
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
    room.ready = this.sub
      .subscribe(channel)
      .then(() => this.cmd.hget(this.keys(roomId).meta, 'seq'))
      .then((seq) => {
        room.delivered = Number(seq ?? 0)
        room.isReady = true
        this.drain(room, false)
      })
      .catch((error: unknown) => {
        this.metrics?.storeErrors()
        throw new EngineUnavailableError(`cannot follow room ${roomId}: ${error instanceof Error ? error.message : String(error)}`)
      })
    // A join that never reads still must not leave an unhandled rejection behind.
    room.ready.catch(() => this.release(room))
    return room
  }

  private release(room: LocalRoom): void {
    if (this.rooms.get(room.id) !== room) return
    this.rooms.delete(room.id)
    this.byChannel.delete(room.channel)
    room.likeTimer?.cancel()
    if (!this.closed) this.sub.unsubscribe(room.channel).catch(() => undefined)
  }

  private onMessage(channel: string, data: string): void {
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
  private drain(room: LocalRoom, catchUp: boolean): void {
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
      const entries = await this.cmd.xrange(this.keys(room.id).hist, `${room.delivered + 1}-0`, end)
      let count = 0
      for (const [, fields] of entries) {
        const event = JSON.parse(fields[1]) as RoomEvent
        if ((event.seq as number) !== room.delivered + 1) break
        this.deliver(room, fields[1], event)
        count++
      }
      if (count > 0) this.metrics?.gapFills(count)
    } catch (error) {
      this.metrics?.storeErrors()
      this.log(`redis: history read for room ${room.id} failed: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  // --- likes ---

  private scheduleLikeFlush(roomId: string): void {
    const room = this.local(roomId)
    const timer = (this.options.clock ?? systemClock).setTimer(() => {
      if (room) room.likeTimer = undefined
      this.flushLikes(roomId, false).catch(() => undefined)
    }, this.likeWindowMs)
    if (room) room.likeTimer = timer
  }

  private async flushLikes(roomId: string, onlyIfIdle: boolean): Promise<ApplyResult> {
    return this.toResult(await this.run(roomId, 'likeFlush', [onlyIfIdle ? '1' : '0']))
  }

  // --- leases, dead processes, outages ---

  private async renewLease(): Promise<void> {
    if (this.closed || this.cmd.status !== 'ready' || this.renewing) return
    this.renewing = true
    try {
      await this.renewLeaseNow()
    } catch (error) {
      this.renewingSince = Infinity
      throw error
    } finally {
      this.renewing = false
    }
  }

  private async renewLeaseNow(): Promise<void> {
    const stored = await this.cmd.get(this.key('epoch'))
    if (stored !== this.currentEpoch) await this.epochLost(stored)
    const [added, ...dead] = await this.cmd.liveLease(1, this.key('procs'), this.processId, this.leaseMs)
    const now = this.now()
    // A gap in our own renewals means Redis (or this process) stalled: the others could not
    // renew either. Take nobody for dead until we have renewed for a whole lease without a gap.
    if (now - this.renewedAt > this.leaseMs / 2) this.renewingSince = now
    this.renewedAt = now
    // Taken for dead while alive (a long pause): the others swept our members; put them back.
    if (added === 1 && this.members.size > 0) {
      this.log('redis: this process had lost its lease; putting its members back')
      for (const roomId of this.members.keys()) await this.resync(roomId)
    }
    if (now - this.renewingSince >= this.leaseMs) for (const id of dead) await this.sweep(id)
    for (const room of this.rooms.values()) {
      // A like window whose flusher died is flushed by whoever serves the room.
      await this.flushLikes(room.id, true).catch(() => undefined)
      // A message the channel lost with nothing after it: read it from the Stream.
      if (room.isReady && !room.draining && Number((await this.cmd.hget(this.keys(room.id).meta, 'seq')) ?? 0) > room.delivered) {
        this.drain(room, true)
      }
    }
  }

  /** Takes a dead process's members out of every room it had, once, whoever gets there first. */
  private async sweep(deadId: string): Promise<void> {
    const claimed = await this.cmd.set(this.key(`sweep:${deadId}`), this.processId, 'PX', this.leaseMs, 'NX')
    if (claimed === null) return
    const roomsKey = this.key(`proc:${deadId}:rooms`)
    const rooms = await this.cmd.smembers(roomsKey)
    let removed = 0
    for (const roomId of rooms) {
      const reply = await this.run(roomId, 'sweep', [this.options.crowdedRoomSize === undefined ? '' : String(this.options.crowdedRoomSize)], undefined, deadId)
      removed += Number(reply[1])
    }
    await this.cmd.del(roomsKey)
    await this.cmd.zrem(this.key('procs'), deadId)
    if (removed > 0) this.metrics?.swept(removed)
    this.log(`redis: process ${deadId} stopped renewing its lease; ${removed} of its connections left ${rooms.length} rooms`)
  }

  /** Puts this process's members back as it knows them (leaves lost in the outage, or a sweep of us). */
  private async resync(roomId: string): Promise<void> {
    const pairs: string[] = []
    for (const [connId, user] of this.members.get(roomId) ?? []) pairs.push(connId, JSON.stringify(user))
    await this.run(roomId, 'resync', pairs)
  }

  private async recoverFromOutage(): Promise<void> {
    this.wasDown = false
    try {
      await this.renewLease()
      for (const roomId of this.members.keys()) await this.resync(roomId)
      this.log('redis: reachable again; lease renewed and members resynced')
    } catch (error) {
      this.log(`redis: recovery after outage failed: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  private async takeEpoch(): Promise<void> {
    const key = this.key('epoch')
    await this.cmd.set(key, randomBytes(6).toString('base64url'), 'NX')
    this.currentEpoch = (await this.cmd.get(key)) ?? ''
  }

  /** Redis lost the data the epoch named: take the new epoch; every room starts over. */
  private async epochLost(seen: string | null): Promise<void> {
    const before = this.currentEpoch
    if (seen !== null && seen !== '') this.currentEpoch = seen
    else await this.takeEpoch()
    if (this.currentEpoch === before) return
    this.log(`redis: epoch ${before} is gone (Redis lost its data); now ${this.currentEpoch}`)
    for (const room of this.rooms.values()) {
      room.delivered = 0
      room.queue = []
    }
    for (const listener of this.epochListeners) listener(this.currentEpoch)
    // Members as this process knows them count again in the new history.
    for (const roomId of this.members.keys()) await this.resync(roomId).catch(() => undefined)
  }

  // --- Redis calls ---

  private async run(roomId: string, op: string, args: Array<string | number>, command?: CommandKey, processId = this.processId): Promise<ScriptReply> {
    const keys = this.keys(roomId)
    const config = this.configs.get(roomId)
    const anchor = config?.anchor ?? { uid: '', name: '' }
    const call = (): Promise<ScriptReply> =>
      this.guard(
        this.cmd.liveRoom(
          15,
          keys.epoch,
          keys.meta,
          keys.hist,
          keys.online,
          this.key(`room:{${roomId}}:members:${processId}`),
          keys.subs,
          keys.shelf,
          keys.shelfOrder,
          keys.msgs,
          this.key(`proc:${processId}:rooms`),
          keys.likes,
          keys.likeWindow,
          command ? this.dedupKey(command.uid, command.msgId) : keys.noDedup,
          keys.generation,
          keys.users,
          op,
          this.currentEpoch,
          this.historySize,
          keys.channel,
          this.now(),
          `,"room_id":${jsonString(roomId)}`,
          roomId,
          command ? this.dedupTtlMs : 0,
          command ? `{"msg_type":"ack","msg_id":${jsonString(command.msgId)},"ok":true,"room_id":${jsonString(roomId)}` : '',
          config === undefined ? this.emptyRoomMs : 0,
          config?.title ?? roomId,
          JSON.stringify({ uid: anchor.uid, name: anchor.name }),
          anchor.uid,
          this.options.idleRoomMs ?? ENGINE_DEFAULTS.idleRoomMs,
          ...args,
        ),
      )
    let reply = await call()
    if (reply[0] === 'EPOCH') {
      await this.epochLost(String(reply[1]))
      reply = await call()
      if (reply[0] === 'EPOCH') throw new EngineUnavailableError('the epoch keeps changing')
    }
    return reply
  }

  private toResult(reply: ScriptReply): ApplyResult {
    switch (reply[0]) {
      case 'OK':
        return reply[1] === '' ? { ok: true } : { ok: true, event: JSON.parse(String(reply[1])) as RoomEvent }
      case 'QUIET':
        return { ok: true, quiet: true }
      case 'NO':
        return { ok: false, code: Number(reply[1]), reason: String(reply[2]) }
      case 'DUP':
        return { repeat: JSON.parse(String(reply[1])) as AckFrame }
      default:
        throw new Error(`unexpected reply from the room script: ${String(reply[0])}`)
    }
  }

  /** Turns connection failures into {@link EngineUnavailableError}; script errors stay what they are. */
  private async guard<T>(call: Promise<T>): Promise<T> {
    try {
      return await call
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      if (/ERR |WRONGTYPE|NOSCRIPT|unknown op/.test(message)) throw error
      this.metrics?.storeErrors()
      throw new EngineUnavailableError(`Redis unreachable (${message})`)
    }
  }

  private key(name: string): string {
    return `${this.prefix}:${name}`
  }

  private dedupKey(uid: string, msgId: string): string {
    return this.key(`ack:${uid.length}:${uid}:${msgId}`)
  }

  private keys(roomId: string) {
    // One hash tag per room: a room's keys would share a slot on a cluster.
    const base = this.key(`room:{${roomId}}`)
    return {
      epoch: this.key('epoch'),
      meta: `${base}:meta`,
      hist: `${base}:hist`,
      online: `${base}:online`,
      users: `${base}:users`,
      subs: `${base}:subs`,
      shelf: `${base}:shelf`,
      shelfOrder: `${base}:shelforder`,
      generation: `${base}:gen`,
      msgs: `${base}:msgs`,
      likes: `${base}:likes`,
      likeWindow: `${base}:likewin`,
      noDedup: `${base}:nodedup`,
      channel: `${base}:events`,
    }
  }
}

/** The seq of a published event, read without parsing the whole text. */
function seqOf(data: string): number {
  const match = /,"seq":(\d+),"ts":\d+\}$/.exec(data)
  return match ? Number(match[1]) : ((JSON.parse(data) as RoomEvent).seq ?? 0)
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error instanceof Error ? error : new Error(String(error)))
      },
    )
  })
}
