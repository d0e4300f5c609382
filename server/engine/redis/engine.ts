import { randomBytes } from 'crypto'
import type Redis from 'ioredis'
import type { AckFrame, SnapshotFrame, UserRef } from 'miniprogram-live-store/protocol'
import type { RoomAction, RoomConfig } from '../../room'
import { LEASE_SCRIPT, ROOM_SCRIPT } from './scripts'
import { systemClock } from '../../clock'
import { type ApplyResult, type CommandKey, type Engine, type EngineMetrics, EngineUnavailableError, type Recovery, type RoomListener } from '../types'
import { ENGINE_DEFAULTS } from '../../defaults'

export type { RedisEngineOptions } from './options'
import { scriptArgsOf } from './actionArgs'
import { RoomFollower } from './follower'
import { type LeaseHost, ProcessLease } from './processLease'
import { readRecovery, readSnapshot } from './reads'
import { RedisKeys } from './keys'
import type { RedisEngineOptions } from './options'
import { createClients, describeTarget, guarded, withTimeout } from './clients'
import { resultOf, roomScriptCall, type ScriptReply } from './roomScript'

/** The dedup key's value while a `report` is being written by the process that claimed it. */
const CLAIMED = 'claimed'

interface RedisWithScripts extends Redis {
  liveRoom(...argv: [number, ...Array<string | number>]): Promise<ScriptReply>
  liveLease(numKeys: number, ...args: Array<string | number>): Promise<[number, ...string[]]>
}

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
  private readonly names: RedisKeys
  private readonly processId = randomBytes(6).toString('base64url')
  private readonly configs = new Map<string, RoomConfig>()
  private readonly follower: RoomFollower
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
  private readonly lease: ProcessLease
  private wasDown = false
  private closed = false

  private constructor(private readonly options: RedisEngineOptions) {
    this.names = new RedisKeys(options.prefix ?? 'live')
    this.historySize = Math.max(1, options.history ?? ENGINE_DEFAULTS.history)
    this.likeWindowMs = options.likeWindowMs ?? ENGINE_DEFAULTS.likeWindowMs
    const idle = options.idleRoomMs ?? ENGINE_DEFAULTS.idleRoomMs
    this.emptyRoomMs = idle <= 0 ? (options.emptyRoomMs ?? ENGINE_DEFAULTS.emptyRoomMs) : Math.min(idle, options.emptyRoomMs ?? ENGINE_DEFAULTS.emptyRoomMs)
    this.dedupTtlMs = options.dedupTtlMs ?? ENGINE_DEFAULTS.dedupTtlMs
    this.leaseMs = options.leaseMs ?? ENGINE_DEFAULTS.leaseMs
    this.now = options.now ?? Date.now
    this.log = options.log ?? (() => undefined)
    for (const room of options.rooms ?? []) this.configs.set(room.id, room)
    const { cmd, sub } = createClients(options.redis, options.commandTimeoutMs ?? ENGINE_DEFAULTS.commandTimeoutMs)
    this.cmd = cmd as RedisWithScripts
    this.sub = sub
    this.follower = new RoomFollower({
      cmd: this.cmd,
      sub: this.sub,
      names: this.names,
      metrics: () => this.metrics,
      log: (line) => this.log(line),
      isClosed: () => this.closed,
    })
    this.lease = new ProcessLease(this.leaseHost())
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
    this.sub.on('message', (channel: string, data: string) => this.follower.onMessage(channel, data))
    // Messages published while the subscriber was away are read back from the Streams.
    this.sub.on('ready', () => {
      for (const room of this.follower.rooms.values()) if (room.isReady) this.follower.drain(room, true)
    })
  }

  /** Connects to Redis, takes (or creates) the epoch and starts this process's lease. */
  static async connect(options: RedisEngineOptions): Promise<RedisEngine> {
    const engine = new RedisEngine(options)
    const timeoutMs = options.connectTimeoutMs ?? ENGINE_DEFAULTS.connectTimeoutMs
    const target = describeTarget(options.redis)
    try {
      await withTimeout(Promise.all([engine.cmd.connect(), engine.sub.connect()]), timeoutMs, `Redis at ${target} did not answer within ${timeoutMs} ms`)
      await engine.takeEpoch()
      await engine.lease.renew()
    } catch (error) {
      engine.cmd.disconnect()
      engine.sub.disconnect()
      // eslint-disable-next-line preserve-caught-error -- lib ES2020 (no Error cause): the message carries it
      throw new Error(`RedisEngine: cannot use Redis at ${target}: ${error instanceof Error ? error.message : String(error)}`)
    }
    engine.lease.start()
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
    return !this.closed && this.cmd.status === 'ready' && this.sub.status === 'ready' && this.lease.fresh
  }

  get roomCount(): number {
    return this.follower.rooms.size
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
    return this.configs.has(roomId) || (await this.cmd.exists(this.names.room(roomId).meta)) === 1
  }

  roomConfig(roomId: string): RoomConfig | undefined {
    return this.configs.get(roomId)
  }

  async apply(roomId: string, action: RoomAction, command?: CommandKey): Promise<ApplyResult> {
    if (action.type === 'join') {
      let members = this.members.get(roomId)
      if (members === undefined) this.members.set(roomId, (members = new Map()))
      members.set(action.connId, action.user)
    } else if (action.type === 'leave') {
      this.members.get(roomId)?.delete(action.connId)
      if (this.members.get(roomId)?.size === 0) this.members.delete(roomId)
    } else if (action.type === 'like') {
      // Likes go through the shared window (`like`); a direct delta is added to it and flushed.
      await this.run(roomId, 'likeAdd', [action.delta, this.likeWindowMs])
      return this.flushLikes(roomId, false)
    }
    return resultOf(await this.run(roomId, action.type, scriptArgsOf(action), command))
  }

  async like(roomId: string, count: number, command?: CommandKey): Promise<AckFrame | undefined> {
    const reply = await this.run(roomId, 'likeAdd', [count, this.likeWindowMs], command)
    if (reply[0] === 'DUP') return JSON.parse(String(reply[1])) as AckFrame
    if (reply[1] === '1') this.scheduleLikeFlush(roomId)
    return undefined
  }

  async recover(roomId: string, sinceSeq: number, epoch: string): Promise<Recovery | null> {
    await this.follower.get(roomId)?.ready
    if (epoch !== this.currentEpoch && !epoch.startsWith(`${this.currentEpoch}.`)) return null
    return readRecovery(this.cmd, this.names.room(roomId), { sinceSeq, epoch, storeEpoch: this.currentEpoch, historySize: this.historySize }, (call) => this.guard(call))
  }

  snapshot(roomId: string): Promise<SnapshotFrame> {
    return this.readSnapshot(roomId, false)
  }

  /** `created`: the room was just created by this read (read once more, never twice). */
  private async readSnapshot(roomId: string, created: boolean): Promise<SnapshotFrame> {
    await this.follower.get(roomId)?.ready
    const read = await readSnapshot(this.cmd, this.names.room(roomId), (call) => this.guard(call))
    if (read.storeEpoch !== this.currentEpoch) await this.epochLost(read.storeEpoch)
    // No room (never created, or its keys expired): create it first, so the snapshot carries
    // the epoch it will have, not the store's.
    if (!read.exists && !created) {
      await this.run(roomId, 'open', [])
      return this.readSnapshot(roomId, true)
    }
    return read.frame(roomId, this.configs.get(roomId), this.currentEpoch)
  }

  subscribe(roomId: string, listener: RoomListener): () => void {
    let room = this.follower.rooms.get(roomId)
    if (room === undefined) room = this.follower.open(roomId)
    room.listeners.add(listener)
    const entry = room
    return () => {
      entry.listeners.delete(listener)
      if (entry.listeners.size === 0) this.follower.release(entry)
    }
  }

  async recallAck(uid: string, msgId: string): Promise<AckFrame | undefined> {
    const text = await this.guard(this.cmd.get(this.names.dedup(uid, msgId)))
    // A claim in progress (another process is writing that report) is not an ack yet.
    return text === null || text === CLAIMED ? undefined : (JSON.parse(text) as AckFrame)
  }

  async claimCommand(uid: string, msgId: string): Promise<boolean> {
    // The claim lasts while the first process works; if it dies meanwhile, a resend may go after it.
    const set = await this.guard(this.cmd.set(this.names.dedup(uid, msgId), CLAIMED, 'PX', Math.max(5000, this.leaseMs * 2), 'NX'))
    return set === 'OK'
  }

  async rememberAck(uid: string, msgId: string, ack: AckFrame): Promise<void> {
    await this.guard(this.cmd.set(this.names.dedup(uid, msgId), JSON.stringify(ack), 'PX', this.dedupTtlMs))
  }

  /** Takes this process's connections out of their rooms and gives up its lease. */
  async close(): Promise<void> {
    if (this.closed) return
    this.lease.stop()
    for (const room of this.follower.rooms.values()) room.likeTimer?.cancel()
    try {
      if (this.cmd.status === 'ready') {
        for (const roomId of [...this.members.keys()]) {
          this.members.delete(roomId)
          await this.resync(roomId)
        }
        await this.lease.release()
      }
    } catch (error) {
      this.log(`redis: cleanup on close failed: ${error instanceof Error ? error.message : String(error)}`)
    }
    this.closed = true
    this.follower.clear()
    // QUIT only where there is a connection to say it on; a queued QUIT would wait forever.
    const quit = (client: Redis): Promise<unknown> => (client.status === 'ready' ? withTimeout(client.quit(), 1000, 'QUIT took too long').catch(() => undefined) : Promise.resolve())
    await Promise.all([quit(this.cmd), quit(this.sub)])
    this.cmd.disconnect()
    this.sub.disconnect()
  }

  // --- likes ---

  private scheduleLikeFlush(roomId: string): void {
    const room = this.follower.get(roomId)
    const timer = (this.options.clock ?? systemClock).setTimer(() => {
      if (room) room.likeTimer = undefined
      this.flushLikes(roomId, false).catch(() => undefined)
    }, this.likeWindowMs)
    if (room) room.likeTimer = timer
  }

  private async flushLikes(roomId: string, onlyIfIdle: boolean): Promise<ApplyResult> {
    return resultOf(await this.run(roomId, 'likeFlush', [onlyIfIdle ? '1' : '0']))
  }

  // --- leases, dead processes, outages ---

  /** The lease's view of this engine (see ProcessLease). */
  private leaseHost(): LeaseHost {
    return {
      cmd: this.cmd,
      names: this.names,
      processId: this.processId,
      leaseMs: this.leaseMs,
      now: () => this.now(),
      usable: () => !this.closed && this.cmd.status === 'ready',
      checkEpoch: async () => {
        const stored = await this.cmd.get(this.names.epoch)
        if (stored !== this.currentEpoch) await this.epochLost(stored)
      },
      restoreMembers: async () => {
        if (this.members.size === 0) return
        this.log('redis: this process had lost its lease; putting its members back')
        for (const roomId of this.members.keys()) await this.resync(roomId)
      },
      sweep: (deadId) => this.sweep(deadId),
      afterRenewal: async () => {
        for (const room of this.follower.rooms.values()) {
          // A like window whose flusher died is flushed by whoever serves the room.
          await this.flushLikes(room.id, true).catch(() => undefined)
          // A message the channel lost with nothing after it: read it from the Stream.
          if (room.isReady && !room.draining && Number((await this.cmd.hget(this.names.room(room.id).meta, 'seq')) ?? 0) > room.delivered) {
            this.follower.drain(room, true)
          }
        }
      },
    }
  }

  /** Takes a dead process's members out of every room it had, once, whoever gets there first. */
  private async sweep(deadId: string): Promise<void> {
    const claimed = await this.cmd.set(this.names.sweepClaim(deadId), this.processId, 'PX', this.leaseMs, 'NX')
    if (claimed === null) return
    const roomsKey = this.names.processRooms(deadId)
    const rooms = await this.cmd.smembers(roomsKey)
    let removed = 0
    for (const roomId of rooms) {
      const reply = await this.run(roomId, 'sweep', [this.options.crowdedRoomSize === undefined ? '' : String(this.options.crowdedRoomSize)], undefined, deadId)
      removed += Number(reply[1])
    }
    await this.cmd.del(roomsKey)
    await this.cmd.zrem(this.names.processes, deadId)
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
      await this.lease.renew()
      for (const roomId of this.members.keys()) await this.resync(roomId)
      this.log('redis: reachable again; lease renewed and members resynced')
    } catch (error) {
      this.log(`redis: recovery after outage failed: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  private async takeEpoch(): Promise<void> {
    const key = this.names.epoch
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
    for (const room of this.follower.rooms.values()) {
      room.delivered = 0
      room.queue = []
    }
    for (const listener of this.epochListeners) listener(this.currentEpoch)
    // Members as this process knows them count again in the new history.
    for (const roomId of this.members.keys()) await this.resync(roomId).catch(() => undefined)
  }

  // --- Redis calls ---

  private async run(roomId: string, op: string, args: Array<string | number>, command?: CommandKey, processId = this.processId): Promise<ScriptReply> {
    const settings = { historySize: this.historySize, dedupTtlMs: this.dedupTtlMs, emptyRoomMs: this.emptyRoomMs, idleRoomMs: this.options.idleRoomMs ?? ENGINE_DEFAULTS.idleRoomMs }
    const argv = (): [number, ...Array<string | number>] =>
      roomScriptCall(this.names, { roomId, processId, op, epoch: this.currentEpoch, now: this.now(), config: this.configs.get(roomId), command }, settings, args)
    const call = (): Promise<ScriptReply> => this.guard(this.cmd.liveRoom(...argv()))
    let reply = await call()
    if (reply[0] === 'EPOCH') {
      await this.epochLost(String(reply[1]))
      reply = await call()
      if (reply[0] === 'EPOCH') throw new EngineUnavailableError('the epoch keeps changing')
    }
    return reply
  }

  /** Turns connection failures into {@link EngineUnavailableError} (see `guarded`). */
  private guard<T>(call: Promise<T>): Promise<T> {
    return guarded(call, () => this.metrics?.storeErrors())
  }
}
