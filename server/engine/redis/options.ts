import type { RedisTarget } from './clients'
import type { Clock } from '../../clock'
import type { RoomConfig } from '../../room'

export interface RedisEngineOptions {
  /**
   * One Redis (`redis://host:port/db`, or ioredis options), or a Redis Cluster by some of its
   * nodes: `{ cluster: ['10.0.0.1:7000', '10.0.0.2:7000'] }`.
   */
  redis: RedisTarget
  /** Prefix of every key and channel, so several deployments can share one Redis. Default `live`. */
  prefix?: string
  /** Events kept per room for recovery (docs/protocol.md, "Epochs and recovery": at least 1000). */
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
