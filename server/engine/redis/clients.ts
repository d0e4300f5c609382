import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis'
import { EngineUnavailableError } from '../types'

/** The engine's command connection: one Redis, or a Redis Cluster (the same commands either way). */
export type RedisCommands = Redis | Cluster

/**
 * Where the engine's Redis is: a URL or ioredis options for one server, or the seed nodes of a
 * Redis Cluster (`host:port`, any few of its nodes: the rest are discovered).
 */
export type RedisTarget = string | RedisOptions | { cluster: string[] }

/** A seed node `host:port` as ioredis takes it. */
function seedNode(text: string): { host: string; port: number } {
  const match = /^\[?([^\]]*?)\]?:(\d+)$/.exec(text.trim())
  if (match === null || match[1] === '') throw new Error(`a Redis Cluster node is host:port, not "${text}"`)
  return { host: match[1], port: Number(match[2]) }
}

/** The seed nodes of `--redis-cluster` / `LIVE_REDIS_CLUSTER`: `host:port[,host:port...]`. */
export function parseClusterNodes(text: string): string[] {
  const nodes = text
    .split(',')
    .map((node) => node.trim())
    .filter((node) => node !== '')
  if (nodes.length === 0) throw new Error('a Redis Cluster needs at least one node, host:port')
  for (const node of nodes) seedNode(node)
  return nodes
}

export const isCluster = (target: RedisTarget): target is { cluster: string[] } => typeof target === 'object' && 'cluster' in target

/**
 * The engine's connections to its Redis, whichever the topology: `cmd` for commands and scripts
 * (it fails fast while Redis is away: no offline queue, one retry, `commandTimeoutMs`; the
 * socket layer refuses, the client retries), and a subscriber for the rooms' channels, which
 * may queue its subscriptions until it is connected.
 *
 * - One Redis: PUBLISH and SUBSCRIBE on a second connection.
 * - A Redis Cluster: sharded pub/sub (SPUBLISH from the room's script, SSUBSCRIBE on the
 *   master that owns the room's slot, one subscriber connection per master). Classic PUBLISH
 *   is copied to every node of a cluster: more masters would give no more throughput.
 */
export class RedisConnections {
  readonly cmd: RedisCommands
  readonly sub: RedisCommands
  /** The room script's fan-out command. */
  readonly publish: 'PUBLISH' | 'SPUBLISH'
  readonly topology: 'single' | 'cluster'
  readonly description: string

  constructor(target: RedisTarget, commandTimeoutMs: number) {
    const retryStrategy = (times: number): number => Math.min(50 * 2 ** Math.min(times, 6), 2000)
    if (isCluster(target)) {
      const nodes = target.cluster.map(seedNode)
      const base: ClusterOptions = {
        lazyConnect: true,
        enableOfflineQueue: false,
        // A failover takes the node timeout and an election: keep asking for the slots meanwhile.
        clusterRetryStrategy: retryStrategy,
        retryDelayOnFailover: 200,
        retryDelayOnClusterDown: 200,
        retryDelayOnTryAgain: 100,
        slotsRefreshTimeout: Math.max(500, commandTimeoutMs),
        redisOptions: { commandTimeout: commandTimeoutMs, maxRetriesPerRequest: 1 },
      }
      this.cmd = new Cluster(nodes, base)
      this.sub = new Cluster(nodes, { ...base, enableOfflineQueue: true, shardedSubscribers: true, redisOptions: { maxRetriesPerRequest: null } })
      this.publish = 'SPUBLISH'
      this.topology = 'cluster'
      this.description = `Redis Cluster at ${target.cluster.join(',')}`
    } else {
      const base: RedisOptions = { enableOfflineQueue: false, commandTimeout: commandTimeoutMs, maxRetriesPerRequest: 1, retryStrategy, lazyConnect: true }
      const subscriber: RedisOptions = { ...base, enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined }
      const make = (options: RedisOptions): Redis => (typeof target === 'string' ? new Redis(target, options) : new Redis({ ...target, ...options }))
      this.cmd = make(base)
      this.sub = make(subscriber)
      this.publish = 'PUBLISH'
      this.topology = 'single'
      this.description = `Redis at ${typeof target === 'string' ? target.replace(/\/\/[^@/]*@/, '//***@') : `${target.host ?? '127.0.0.1'}:${target.port ?? 6379}`}`
    }
  }

  async connect(): Promise<void> {
    await Promise.all([this.cmd.connect(), this.sub.connect()])
  }

  /** Both connections are up. */
  get ready(): boolean {
    return this.cmd.status === 'ready' && this.sub.status === 'ready'
  }

  /** The connections' states; on a cluster, the masters known and how many of them are connected. */
  status(): Record<string, string | number> {
    const states = { commands: this.cmd.status, subscriptions: this.sub.status }
    if (!(this.cmd instanceof Cluster)) return states
    const masters = this.cmd.nodes('master')
    return { ...states, masters: masters.length, masters_connected: masters.filter((node) => node.status === 'ready').length }
  }

  subscribe(channel: string): Promise<unknown> {
    return this.topology === 'cluster' ? this.sub.ssubscribe(channel) : this.sub.subscribe(channel)
  }

  unsubscribe(channel: string): Promise<unknown> {
    return this.topology === 'cluster' ? this.sub.sunsubscribe(channel) : this.sub.unsubscribe(channel)
  }

  /** Each message of a subscribed channel. */
  onMessage(listener: (channel: string, data: string) => void): void {
    this.sub.on(this.topology === 'cluster' ? 'smessage' : 'message', listener)
  }

  /**
   * The subscriptions are in place again after a reconnect (or, on a cluster, a failover or slot
   * move): what was published meanwhile must be read back from the rooms' histories.
   */
  onResubscribed(listener: () => void): void {
    this.sub.on(this.topology === 'cluster' ? 'subscribersReady' : 'ready', listener)
  }

  /** QUIT where there is a connection to say it on (a queued QUIT would wait forever), then disconnect. */
  async close(): Promise<void> {
    const quit = (client: RedisCommands): Promise<unknown> => (client.status === 'ready' ? withTimeout(client.quit(), 1000, 'QUIT took too long').catch(() => undefined) : Promise.resolve())
    await Promise.all([quit(this.cmd), quit(this.sub)])
    this.disconnect()
  }

  disconnect(): void {
    this.cmd.disconnect()
    this.sub.disconnect()
  }
}

/** Why the engine could not start, with what to do when the Redis given is a node of a cluster. */
export function explainConnectError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return /MOVED|CLUSTERDOWN/.test(message) ? `${message} (a node of a Redis Cluster: give its nodes with --redis-cluster, or { cluster: [...] })` : message
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
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

/** Turns connection failures into `EngineUnavailableError` (counted by `onStoreError`); script errors stay what they are. */
export async function guarded<T>(call: Promise<T>, onStoreError: () => void): Promise<T> {
  try {
    return await call
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    if (/ERR |WRONGTYPE|NOSCRIPT|unknown op/.test(message)) throw error
    onStoreError()
    throw new EngineUnavailableError(`Redis unreachable (${message})`)
  }
}
