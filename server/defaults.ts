/**
 * The server's defaults, in one place: `createServer`, both engines and the CLI's `--help` read
 * them from here.
 */
import { DEFAULT_MAX_FRAME_BYTES } from 'miniprogram-live-store/protocol'

const MINUTE = 60 * 1000

/** Defaults of both room engines (`MemoryEngine`, `RedisEngine`). */
export const ENGINE_DEFAULTS = {
  /** Events kept per room for recovery. */
  history: 1000,
  /** Likes of one room summed over this window into one `like` event. */
  likeWindowMs: 100,
  /** Acks remembered against resends (memory engine: at most this many). */
  dedupMax: 10000,
  dedupTtlMs: 10 * MINUTE,
  /** An empty room idle this long is freed. */
  idleRoomMs: 10 * MINUTE,
  /** An empty room nobody configured or anchored, where only joins and leaves happened, is freed sooner. */
  emptyRoomMs: 10 * 1000,
  /** Redis: a process silent this long counts as dead; its viewers leave. */
  leaseMs: 3000,
  /** Redis: a command not answered in this long fails (the store is unreachable). */
  commandTimeoutMs: 2000,
  /** Redis: the first connection must answer within this long. */
  connectTimeoutMs: 5000,
} as const

/** Defaults of `createServer` (and the CLI). */
export const SERVER_DEFAULTS = {
  port: 0,
  host: '127.0.0.1',
  heartbeatMs: 25000,
  authTimeoutMs: 10000,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  /** Frames per second per connection, and the burst. */
  rateLimit: { perSecond: 20, burst: 40 },
  /** `message` and `buy` per second per user, and the burst. */
  messageRateLimit: { perSecond: 5, burst: 5 },
  crowdedRoomSize: 100,
  presenceWindowMs: 1000,
  batchMs: 50,
  deflateThreshold: 1024,
  maxBufferedBytes: 1024 * 1024,
  closeTimeoutMs: 2000,
  maxConnectionsPerUser: 10,
  maxRooms: 10000,
  maxRoomsPerUser: 10,
  maxConnectionsPerAddress: 500,
  headersTimeoutMs: 10000,
  requestTimeoutMs: 15000,
  reportsMaxBytes: 64 * 1024 * 1024,
  reportsKeep: 5,
} as const
