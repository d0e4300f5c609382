import { randomBytes } from 'crypto'
import type { AckFrame, SnapshotFrame, UserRef } from 'miniprogram-live-store/protocol'
import type { RoomAction, RoomConfig } from '../../room'
import { LEASE_SCRIPT, ROOM_SCRIPT } from './scripts'
import { systemClock } from '../../clock'
import type { ApplyResult, CommandKey, Engine, EngineMetrics, Recovery, RoomListener } from '../types'
import { ENGINE_DEFAULTS } from '../../defaults'

export type { RedisEngineOptions } from './options'
import { scriptArgsOf } from './actionArgs'
import { RoomFollower } from './follower'
import { type LeaseHost, ProcessLease } from './processLease'
import { readRecovery, readRestriction, readSnapshot } from './reads'
import { RedisKeys } from './keys'
import type { RedisEngineOptions } from './options'
import { explainConnectError, guarded, RedisConnections, type RedisCommands, withTimeout } from './clients'
import type { LocalRoom } from './follower'
import { resultOf, roomScriptCall, type ScriptReply } from './roomScript'

/** The dedup key's value while a `report` is being written by the process that claimed it. */
const CLAIMED = 'claimed'

/** The engine's scripts, defined on its command connection. */
interface Scripts {
  liveRoom(...argv: [number, ...Array<string | number>]): Promise<ScriptReply>
  liveLease(numKeys: number, ...args: Array<string | number>): Promise<[number, ...string[]]>
}
type RedisWithScripts = RedisCommands & Scripts

/**
 * Rooms in Redis (one server, or a Redis Cluster), shared by any number of server processes.
 *
 * - One script applies each change atomically in the room's slot: state, next `seq` (a hash
 *   counter), history (a Stream capped at `history`), the dedup record of the command, and a
 *   PUBLISH (SPUBLISH on a cluster).
 * - Each process subscribes once per room it serves and hands the published text, as is,
 *   to its sockets: one serialisation per event in all. A skipped message (a subscriber
 *   reconnect, a failover) is read back from the Stream before later ones go out.
 * - `online_num` counts members per process; each process renews a lease, and the
 *   members of a process whose lease ran out are taken out by the others, with `leave` events.
 * - Each room has its own epoch, in its meta hash. A room Redis lost, or whose seq went back
 *   (a failover to a replica that lacked the last events), gets a fresh epoch with its seq going
 *   on: clients are sent to a snapshot and never get a seq they have under another event.
 */
export class RedisEngine implements Engine {
  /** This process's generation: it changes when the process sees a room's history lost. */
  private generation = randomBytes(6).toString('base64url')
  private epochSerial = 0
  private readonly connections: RedisConnections
  private readonly cmd: RedisWithScripts
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
  private readonly resetListeners: Array<(roomId: string, epoch: string) => void> = []
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
    this.connections = new RedisConnections(options.redis, options.commandTimeoutMs ?? ENGINE_DEFAULTS.commandTimeoutMs)
    this.cmd = this.connections.cmd as RedisWithScripts
    this.follower = new RoomFollower({
      connections: this.connections,
      names: this.names,
      metrics: () => this.metrics,
      log: (line) => this.log(line),
      isClosed: () => this.closed,
      renew: (room) => this.renewRoom(room),
      reset: (roomId, epoch) => this.roomReset(roomId, epoch),
    })
    this.lease = new ProcessLease(this.leaseHost())
    this.cmd.defineCommand('liveRoom', { lua: ROOM_SCRIPT })
    this.cmd.defineCommand('liveLease', { lua: LEASE_SCRIPT })
    const { cmd, sub } = this.connections
    for (const client of [cmd, sub]) {
      client.on('error', (error: Error) => {
        this.metrics?.storeErrors()
        this.log(`redis: ${error.message}`)
      })
      client.on('close', () => {
        if (this.closed) return
        // A lost connection is a store error even before a call fails on it.
        if (client.status !== 'end') this.metrics?.storeErrors()
        if (client === cmd) this.wasDown = true
      })
    }
    cmd.on('ready', () => {
      if (this.wasDown) void this.recoverFromOutage()
    })
    this.connections.onMessage((channel, data) => this.follower.onMessage(channel, data))
    // Messages published while the subscriber was away are read back from the Streams.
    this.connections.onResubscribed(() => {
      for (const room of this.follower.rooms.values()) if (room.isReady) this.follower.drain(room, true)
    })
  }

  /** Connects to Redis (one server or a cluster) and starts this process's lease. */
  static async connect(options: RedisEngineOptions): Promise<RedisEngine> {
    const engine = new RedisEngine(options)
    const timeoutMs = options.connectTimeoutMs ?? ENGINE_DEFAULTS.connectTimeoutMs
    const target = engine.connections.description
    try {
      await withTimeout(engine.connections.connect(), timeoutMs, `${target} did not answer within ${timeoutMs} ms`)
      await engine.lease.renew()
    } catch (error) {
      engine.connections.disconnect()
      // eslint-disable-next-line preserve-caught-error -- lib ES2020 (no Error cause): the message carries it
      throw new Error(`RedisEngine: cannot use ${target}: ${explainConnectError(error)}`)
    }
    engine.lease.start()
    return engine
  }

  /**
   * Names this process's generation (the `init` frame's epoch): recovery compares each room's
   * own epoch (docs/protocol.md, "Epochs and recovery"). It takes the new epoch of a room whose
   * history this process saw lost.
   */
  get epoch(): string {
    return this.generation
  }

  /** `single`: one Redis; `cluster`: a Redis Cluster (sharded pub/sub). */
  get topology(): 'single' | 'cluster' {
    return this.connections.topology
  }

  /**
   * Connected, and the lease renewed within `leaseMs`: a Redis that stopped answering with its
   * TCP connection up is unhealthy within `leaseMs` (renewals run every third of it and each
   * fails after `commandTimeoutMs`).
   */
  get healthy(): boolean {
    return !this.closed && this.connections.ready && this.lease.fresh
  }

  /** For `/healthz`: the topology, the connections' states, the lease; on a cluster, its masters. */
  storeStatus(): Record<string, string | number | boolean> {
    return { topology: this.connections.topology, lease: this.lease.fresh ? 'fresh' : 'stale', ...this.connections.status() }
  }

  get roomCount(): number {
    return this.follower.rooms.size
  }

  /** This process's id in Redis (its lease and member keys). */
  get id(): string {
    return this.processId
  }

  onRoomReset(listener: (roomId: string, epoch: string) => void): void {
    this.resetListeners.push(listener)
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
      // Indexed before the members are written: a sweep of this process, if it dies, finds the room.
      await this.guard(this.cmd.sadd(this.names.processRooms(this.processId), roomId))
    } else if (action.type === 'leave') {
      this.members.get(roomId)?.delete(action.connId)
      if (this.members.get(roomId)?.size === 0) this.members.delete(roomId)
      const result = resultOf(await this.run(roomId, action.type, scriptArgsOf(action), command))
      if (!this.members.has(roomId)) await this.guard(this.cmd.srem(this.names.processRooms(this.processId), roomId))
      return result
    } else if (action.type === 'like') {
      // Likes go through the shared window (`like`); a direct delta is added to it and flushed.
      await this.run(roomId, 'likeAdd', [action.delta, this.likeWindowMs])
      return this.flushLikes(roomId, false)
    }
    const result = resultOf(await this.run(roomId, action.type, scriptArgsOf(action), command))
    // The script wrote the command's ack with the change.
    return command !== undefined && result.ok === true ? { ...result, recorded: true } : result
  }

  async like(roomId: string, count: number, command?: CommandKey): Promise<AckFrame | undefined> {
    const reply = await this.run(roomId, 'likeAdd', [count, this.likeWindowMs], command)
    if (reply[0] === 'DUP') return JSON.parse(String(reply[1])) as AckFrame
    if (reply[1] === '1') this.scheduleLikeFlush(roomId)
    return undefined
  }

  async recover(roomId: string, sinceSeq: number, epoch: string): Promise<Recovery | null> {
    await this.follower.get(roomId)?.ready
    const read = await readRecovery(this.cmd, this.names.room(roomId), { sinceSeq, epoch, historySize: this.historySize }, (call) => this.guard(call))
    return read.recovery
  }

  snapshot(roomId: string): Promise<SnapshotFrame> {
    return this.readSnapshot(roomId, false)
  }

  /** `renewed`: the room was just created or renewed by this read (read once more, never twice). */
  private async readSnapshot(roomId: string, renewed: boolean): Promise<SnapshotFrame> {
    const room = this.follower.get(roomId)
    await room?.ready
    const read = await readSnapshot(this.cmd, this.names.room(roomId), (call) => this.guard(call))
    // No room (never created, its keys expired, or Redis lost it), or one behind what this process
    // delivered: the script creates or renews it first, so the snapshot carries the epoch it will have.
    const behind = room !== undefined && room.isReady && read.exists && read.epoch === room.epoch && read.seq < room.delivered
    if ((!read.exists || behind) && !renewed) {
      await this.run(roomId, 'open', [])
      return this.readSnapshot(roomId, true)
    }
    return read.frame(roomId, this.configs.get(roomId))
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

  async restriction(roomId: string, uid: string): Promise<{ mutedUntil: number; kickedUntil: number }> {
    return readRestriction(this.cmd, this.names.room(roomId), uid, this.now(), (call) => this.guard(call))
  }

  async recallAck(uid: string, msgId: string, roomId?: string): Promise<AckFrame | undefined> {
    const text = await this.guard(this.cmd.get(this.names.dedup(uid, msgId, roomId)))
    // A claim in progress (another process is writing that report) is not an ack yet.
    return text === null || text === CLAIMED ? undefined : (JSON.parse(text) as AckFrame)
  }

  async claimCommand(uid: string, msgId: string): Promise<boolean> {
    // The claim lasts while the first process works; if it dies meanwhile, a resend may go after it.
    const set = await this.guard(this.cmd.set(this.names.dedup(uid, msgId), CLAIMED, 'PX', Math.max(5000, this.leaseMs * 2), 'NX'))
    return set === 'OK'
  }

  async rememberAck(uid: string, msgId: string, ack: AckFrame, roomId?: string): Promise<void> {
    await this.guard(this.cmd.set(this.names.dedup(uid, msgId, roomId), JSON.stringify(ack), 'PX', this.dedupTtlMs))
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
    await this.connections.close()
  }

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

  /** The lease's view of this engine (see ProcessLease). */
  private leaseHost(): LeaseHost {
    return {
      cmd: this.cmd,
      names: this.names,
      processId: this.processId,
      leaseMs: this.leaseMs,
      now: () => this.now(),
      usable: () => !this.closed && this.cmd.status === 'ready',
      restoreMembers: async () => {
        if (this.members.size === 0) return
        this.log('redis: this process had lost its lease; putting its members back')
        for (const roomId of this.members.keys()) await this.resync(roomId)
      },
      sweepRoom: async (roomId, deadId) => Number((await this.run(roomId, 'sweep', [this.options.crowdedRoomSize === undefined ? '' : String(this.options.crowdedRoomSize)], undefined, deadId))[1]),
      swept: (count) => this.metrics?.swept(count),
      log: (line) => this.log(line),
      afterRenewal: async () => {
        for (const room of this.follower.rooms.values()) {
          // A like window whose flusher died is flushed by whoever serves the room.
          await this.flushLikes(room.id, true).catch(() => undefined)
          // A message the channel lost with nothing after it, or a history Redis lost.
          await this.follower.check(room).catch((error: unknown) => this.log(`redis: check of room ${room.id} failed: ${error instanceof Error ? error.message : String(error)}`))
        }
      },
    }
  }

  /** Puts this process's members back as it knows them (leaves lost in the outage, or a sweep of us). */
  private async resync(roomId: string): Promise<void> {
    const pairs: string[] = []
    for (const [connId, user] of this.members.get(roomId) ?? []) pairs.push(connId, JSON.stringify(user))
    const index = this.names.processRooms(this.processId)
    if (pairs.length > 0) await this.guard(this.cmd.sadd(index, roomId))
    await this.run(roomId, 'resync', pairs)
    if (pairs.length === 0) await this.guard(this.cmd.srem(index, roomId))
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

  /** An epoch no room has had: this process's id and a counter. */
  private freshEpoch(): string {
    return `${this.processId}.${(++this.epochSerial).toString(36)}`
  }

  /** The follower found the room gone or behind: the script creates or renews it with what this process knows. */
  private async renewRoom(room: LocalRoom): Promise<void> {
    this.log(`redis: room ${room.id} is gone or behind seq ${room.delivered} of epoch ${room.epoch}: renewing its epoch`)
    await this.run(room.id, 'open', [])
  }

  /** A room's history changed under this process: its members count again, its clients take snapshots. */
  private roomReset(roomId: string, epoch: string): void {
    this.generation = epoch
    // Every member here is sent away (sockets 1012, leases ended) and counts again when it rejoins;
    // putting them back now would count a closing socket beside its own rejoin.
    for (const listener of this.resetListeners) listener(roomId, epoch)
  }

  private async run(roomId: string, op: string, args: Array<string | number>, command?: CommandKey, processId = this.processId): Promise<ScriptReply> {
    const settings = {
      historySize: this.historySize,
      dedupTtlMs: this.dedupTtlMs,
      emptyRoomMs: this.emptyRoomMs,
      idleRoomMs: this.options.idleRoomMs ?? ENGINE_DEFAULTS.idleRoomMs,
      publish: this.connections.publish,
    }
    const room = this.follower.get(roomId)
    const known = room !== undefined && room.isReady && room.epoch !== '' ? { epoch: room.epoch, seq: room.delivered } : undefined
    const call = { roomId, processId, op, freshEpoch: this.freshEpoch(), known, now: this.now(), config: this.configs.get(roomId), command }
    return this.guard(this.cmd.liveRoom(...roomScriptCall(this.names, call, settings, args)))
  }

  /** Turns connection failures into {@link EngineUnavailableError} (see `guarded`). */
  private guard<T>(call: Promise<T>): Promise<T> {
    return guarded(call, () => this.metrics?.storeErrors())
  }
}
