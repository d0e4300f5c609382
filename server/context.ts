import type { ContentCheckOptions } from './contentCheck'
import type { AckFrame } from 'miniprogram-live-store/protocol'
import type { AccountBudgets } from './budgets'
import type { Clock } from './clock'
import type { Engine } from './engine/types'
import type { FanoutRegistry } from './fanout'
import type { ServerMetrics } from './metrics'
import type { PresenceThinner } from './presence'
import type { ReportSink } from './reports'
import type { Tally } from './tally'
import type { TokenVerifier } from './token'
import type { UserRooms } from './userRooms'

/** What the server keeps of an open socket connection (connection.ts's `LiveConnection`). */
export interface OpenConnection {
  readonly address: string
  close(code: number, reason: string): void
}

/**
 * The server's context: what both transports (a socket's `LiveConnection`, the HTTP fallback's
 * `HttpApi`) and the command path share; built once by `createServer`.
 */
export interface ServerContext {
  engine: Engine
  /** The open connections: a connection is in it from its socket's open to its close. */
  connections: Set<OpenConnection>
  /** Checks tokens: the project's own, and JWTs (HS256 with the secret, RS256 / ES256 with public keys). */
  tokens: TokenVerifier
  metrics: ServerMetrics
  reports: ReportSink
  now: () => number
  /** The server's clock: every deadline and window of a connection runs on it. */
  clock: Clock
  heartbeatMs: number
  maxFrameBytes: number
  maxBufferedBytes: number
  /** How long a peer has to finish a close handshake the server started before its socket is cut. */
  closeTimeoutMs: number
  rate: { perSecond: number; burst: number }
  /** What each account may cost (commands, messages, rooms opened, report and snapshot bytes), whatever the transport. */
  budgets: AccountBudgets
  /** Authenticated connections per user in this process, and the most one user may hold. */
  userConnections: Tally
  maxConnectionsPerUser: number
  /** Join and leave notices, thinned in crowded rooms. */
  presence: PresenceThinner
  /** Frames of at least this many bytes are compressed for sockets that negotiated deflate (Infinity: never). */
  deflateThreshold: number
  /** The rooms' fan-outs: one engine subscription per room, frames built once. */
  fanouts: FanoutRegistry
  /** Who may open a room that is not open yet: anyone, only an anchor of it, or nobody (the configured list). */
  roomCreation: 'anyone' | 'anchors' | 'fixed'
  /** Commands being applied right now, by `uid:msg_id`: a resend waits for the first's ack. */
  inflight: Map<string, Promise<AckFrame>>
  /** The most rooms this process holds. */
  maxRooms: number
  /** The content check comments go through before they are applied, if any. */
  contentCheck: ContentCheckOptions | undefined
  /** The rooms each user is in now, over every socket and HTTP lease, and the most one user may be in. */
  userRooms: UserRooms
  /** Open sockets per client address (the trusted proxy's header when configured), and the most one address may hold. */
  addressConnections: Tally
  maxConnectionsPerAddress: number
  log: (line: string) => void
}
