import { randomBytes } from 'crypto'
import * as fs from 'fs'
import { createServer, type ServerOptions } from './server'
import type { RoomConfig } from './room'
import { signToken } from './token'
import { parseClusterNodes } from './engine/redis/clients'
import { BlockedWords } from './blockedWords'
import { blockedWordsCheck } from './contentCheck'
import { ENGINE_DEFAULTS as E, SERVER_DEFAULTS as S } from './defaults'

const HELP = `live-store-server: the reference live-room server (protocol live.v1)

  --port N             port, 0 for a free one [${S.port}]
  --host H             address to listen on [${S.host}]
  --secret S           token secret (or LIVE_SECRET): the project's tokens and HS256 JWTs; a random
                       one is generated without either, unless public keys are given below
  --jwt-public-key F   PEM public key file (RS256 or ES256) for JWTs minted by your backend
  --jwks F             JWKS file for JWTs (re-read when it changes: key rotation)
  --jwt-issuer S       JWTs must carry this iss
  --jwt-audience S     JWTs must carry this aud
  --heartbeat-ms N     heartbeat the clients are told to keep [${S.heartbeatMs}]
  --history N          events kept per room for recovery [${E.history}]
  --max-frame-bytes N  largest frame taken from a client [${S.maxFrameBytes}]
  --data-dir DIR       where reports.jsonl goes [./data]
  --rooms FILE         JSON: [{ "id", "title", "anchor": { "uid", "name" }, "goods": [...] }]
  --blocked-words FILE one blocked word or phrase a line; comments are checked before they go out
                       (case, full-width forms and separators between letters ignored)
  --blocked-words-action A  mask (broadcast with * in their place) or reject (4032) [mask]
  --rate-limit N[:B]   frames per second per connection, burst B [${S.rateLimit.perSecond}:${S.rateLimit.burst}]
  --message-rate-limit N[:B]  messages per second per user, burst B [${S.messageRateLimit.perSecond}:${S.messageRateLimit.burst}]
  --redis URL          share rooms with other processes through Redis (or LIVE_REDIS_URL),
                       e.g. redis://127.0.0.1:6379; without it rooms live in this process
  --redis-cluster HOST:PORT[,HOST:PORT...]  share rooms through a Redis Cluster, given some
                       of its nodes (or LIVE_REDIS_CLUSTER); each room lives in one slot
  --redis-prefix P     prefix of the Redis keys and channels [live]
  --lease-ms N         a process silent this long counts as dead; its viewers leave [${E.leaseMs}]
  --room-creation M    who may open a room not open yet: anyone, anchors (an anchor whose
                       token names it) or fixed (the --rooms list) [anyone; fixed with --rooms]
  --idle-room-ms N     an empty room idle this long is freed from memory [${E.idleRoomMs}]
  --max-connections-per-user N  connections one user may hold in this process [${S.maxConnectionsPerUser}]
  --max-rooms-per-user N  rooms one user may be in at once, sockets and HTTP together [${S.maxRoomsPerUser}]
  --max-connections-per-address N  open sockets one client address may hold; more get 429 [${S.maxConnectionsPerAddress}]
  --reports-max-bytes N  rotate reports.jsonl past this size [${S.reportsMaxBytes}]
  --reports-keep N     rotated report files kept [${S.reportsKeep}]
  --trust-proxy HEADER  the header your reverse proxy puts the client's address in (e.g. x-forwarded-for)
  --crowded-room-size N  past this many members, join/leave notices are thinned [${S.crowdedRoomSize}]
  --presence-window-ms N  in a crowded room, one join/leave notice per window [${S.presenceWindowMs}]
  --dedup-ttl-ms N     how long a command's ack is remembered against resends [${E.dedupTtlMs}]
  --batch-ms N         live.v1.batch: a room's events of one tick in one frame; 0: off [${S.batchMs}]
  --compression-threshold N  permessage-deflate (no server context takeover), room frames
                       compressed once; frames under N bytes go plain [${S.deflateThreshold}]
  --no-compression     no permessage-deflate
  --no-http            no HTTP long-poll fallback (POST /api/commands, GET /api/rooms/:id/events)
  --refuse-upgrades    answer every WebSocket upgrade with 503 (a drill of the HTTP fallback)
  --dev                print a ready anchor token and viewer token for the demo room
  --help
`

/** The demo room the `--dev` tokens are for. */
export const DEV_ROOM = 'demo'

/** The flags; those that are server options have the options' types. */
export interface CliArgs extends Pick<
  ServerOptions,
  | 'rateLimit'
  | 'messageRateLimit'
  | 'roomCreation'
  | 'idleRoomMs'
  | 'maxConnectionsPerUser'
  | 'maxRoomsPerUser'
  | 'maxConnectionsPerAddress'
  | 'trustProxy'
  | 'reports'
  | 'crowdedRoomSize'
  | 'presenceWindowMs'
  | 'dedupTtlMs'
  | 'batchMs'
  | 'compression'
  | 'refuseUpgrades'
> {
  /** false: no HTTP fallback. */
  http?: false
  port: number
  host: string
  secret?: string
  heartbeatMs: number
  history: number
  maxFrameBytes: number
  dataDir: string
  roomsFile?: string
  blockedWordsFile?: string
  blockedWordsAction?: 'mask' | 'reject'
  redis?: string
  redisCluster?: string[]
  redisPrefix?: string
  jwtPublicKeyFile?: string
  jwksFile?: string
  jwtIssuer?: string
  jwtAudience?: string
  leaseMs?: number
  dev: boolean
  help: boolean
}

export function parseArgs(argv: string[]): CliArgs {
  const args: CliArgs = {
    port: 0,
    host: '127.0.0.1',
    heartbeatMs: 25000,
    history: 1000,
    maxFrameBytes: 65536,
    dataDir: './data',
    dev: false,
    help: false,
  }
  // Strict: a value a client could not live with (a heartbeat of 0, a 1-byte frame limit, a
  // rate of 5 with an empty burst) is refused at start with a message, not served.
  const number = (name: string, value: string | undefined, min: number, max: number): number => {
    const n = /^\d+$/.test(value ?? '') ? Number(value) : NaN
    if (!(n >= min && n <= max)) throw new Error(`${name} must be a whole number from ${min} to ${max} (got ${value === undefined ? 'nothing' : JSON.stringify(value)})`)
    return n
  }
  const rate = (name: string, value: string | undefined): { perSecond: number; burst: number } => {
    const match = /^(\d+)(?::(\d+))?$/.exec(value ?? '')
    if (match === null) throw new Error(`${name} must be N or N:B, whole numbers from 1 (got ${value === undefined ? 'nothing' : JSON.stringify(value)})`)
    const perSecond = number(name, match[1], 1, 10000000)
    return { perSecond, burst: match[2] === undefined ? perSecond : number(name, match[2], 1, 10000000) }
  }
  const text = (name: string, value: string | undefined): string => {
    if (value === undefined || value === '' || value.startsWith('--')) throw new Error(`${name} needs a value`)
    return value
  }
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2)
    const value = (): string | undefined => inline ?? argv[++i]
    switch (flag) {
      case '--port':
        args.port = number(flag, value(), 0, 65535)
        break
      case '--host':
        args.host = text(flag, value())
        break
      case '--secret':
        args.secret = text(flag, value())
        break
      case '--heartbeat-ms':
        args.heartbeatMs = number(flag, value(), 1000, 600000)
        break
      case '--history':
        args.history = number(flag, value(), 1, 1000000)
        break
      // Room for an auth frame with a 4,096-character token, at the least.
      case '--max-frame-bytes':
        args.maxFrameBytes = number(flag, value(), 8192, 16 * 1024 * 1024)
        break
      case '--data-dir':
        args.dataDir = text(flag, value())
        break
      case '--rooms':
        args.roomsFile = text(flag, value())
        break
      case '--blocked-words':
        args.blockedWordsFile = text(flag, value())
        break
      case '--blocked-words-action': {
        const action = value()
        if (action !== 'mask' && action !== 'reject') throw new Error(`--blocked-words-action must be mask or reject (got ${JSON.stringify(action ?? '')})`)
        args.blockedWordsAction = action
        break
      }
      case '--rate-limit':
        args.rateLimit = rate(flag, value())
        break
      case '--message-rate-limit':
        args.messageRateLimit = rate(flag, value())
        break
      case '--redis':
        args.redis = text(flag, value())
        break
      case '--redis-cluster':
        args.redisCluster = parseClusterNodes(text(flag, value()))
        break
      case '--redis-prefix':
        args.redisPrefix = text(flag, value())
        break
      case '--lease-ms':
        args.leaseMs = number(flag, value(), 300, 600000)
        break
      case '--room-creation': {
        const mode = value()
        if (mode !== 'anyone' && mode !== 'anchors' && mode !== 'fixed') throw new Error(`--room-creation must be anyone, anchors or fixed (got ${JSON.stringify(mode ?? '')})`)
        args.roomCreation = mode
        break
      }
      case '--idle-room-ms':
        args.idleRoomMs = number(flag, value(), 1000, 7 * 24 * 3600 * 1000)
        break
      case '--max-connections-per-user':
        args.maxConnectionsPerUser = number(flag, value(), 1, 1000)
        break
      case '--max-rooms-per-user':
        args.maxRoomsPerUser = number(flag, value(), 1, 100000)
        break
      case '--max-connections-per-address':
        args.maxConnectionsPerAddress = number(flag, value(), 1, 1000000)
        break
      case '--trust-proxy':
        args.trustProxy = text(flag, value())
        break
      case '--reports-max-bytes':
        args.reports = { ...args.reports, maxFileBytes: number(flag, value(), 1024, 1024 ** 4) }
        break
      case '--reports-keep':
        args.reports = { ...args.reports, keepFiles: number(flag, value(), 0, 1000) }
        break
      case '--crowded-room-size':
        args.crowdedRoomSize = number(flag, value(), 1, 1000000)
        break
      case '--presence-window-ms':
        args.presenceWindowMs = number(flag, value(), 10, 60000)
        break
      case '--dedup-ttl-ms':
        args.dedupTtlMs = number(flag, value(), 1000, 24 * 3600 * 1000)
        break
      case '--batch-ms':
        args.batchMs = number(flag, value(), 0, 1000)
        break
      case '--compression-threshold':
        args.compression = { threshold: number(flag, value(), 0, 16 * 1024 * 1024) }
        break
      case '--no-compression':
        args.compression = false
        break
      case '--no-http':
        args.http = false
        break
      case '--jwt-public-key':
        args.jwtPublicKeyFile = text(flag, value())
        break
      case '--jwks':
        args.jwksFile = text(flag, value())
        break
      case '--jwt-issuer':
        args.jwtIssuer = text(flag, value())
        break
      case '--jwt-audience':
        args.jwtAudience = text(flag, value())
        break
      case '--refuse-upgrades':
        args.refuseUpgrades = true
        break
      case '--dev':
        args.dev = true
        break
      case '--help':
      case '-h':
        args.help = true
        break
      default:
        throw new Error(`unknown flag ${argv[i]} (see --help)`)
    }
  }
  return args
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const args = parseArgs(argv)
  if (args.help) {
    process.stdout.write(HELP)
    return
  }
  const publicKeys = args.jwtPublicKeyFile !== undefined || args.jwksFile !== undefined
  let secret = args.secret ?? env.LIVE_SECRET ?? undefined
  if (!secret && !publicKeys) {
    secret = randomBytes(24).toString('base64url')
    console.log('live-store-server: no --secret or LIVE_SECRET given; generated a random secret for this run')
  }
  if (!secret) {
    secret = undefined
    console.log('live-store-server: no secret: only JWTs verified with the configured public keys are accepted')
  }
  const jwt = {
    ...(args.jwtPublicKeyFile !== undefined ? { publicKey: fs.readFileSync(args.jwtPublicKeyFile, 'utf8') } : {}),
    ...(args.jwksFile !== undefined ? { jwks: args.jwksFile } : {}),
    ...(args.jwtIssuer !== undefined ? { issuer: args.jwtIssuer } : {}),
    ...(args.jwtAudience !== undefined ? { audience: args.jwtAudience } : {}),
  }
  const rooms = args.roomsFile ? (JSON.parse(fs.readFileSync(args.roomsFile, 'utf8')) as RoomConfig[]) : undefined
  const blocked = args.blockedWordsFile !== undefined ? BlockedWords.fromText(fs.readFileSync(args.blockedWordsFile, 'utf8')) : undefined
  const options: ServerOptions = {
    ...(blocked !== undefined ? { contentCheck: blockedWordsCheck(blocked, args.blockedWordsAction) } : {}),
    port: args.port,
    host: args.host,
    ...(secret !== undefined ? { secret } : {}),
    ...(Object.keys(jwt).length > 0 ? { jwt } : {}),
    heartbeatMs: args.heartbeatMs,
    history: args.history,
    maxFrameBytes: args.maxFrameBytes,
    dataDir: args.dataDir,
    rooms,
    rateLimit: args.rateLimit,
    messageRateLimit: args.messageRateLimit,
    roomCreation: args.roomCreation,
    idleRoomMs: args.idleRoomMs,
    maxConnectionsPerUser: args.maxConnectionsPerUser,
    maxRoomsPerUser: args.maxRoomsPerUser,
    maxConnectionsPerAddress: args.maxConnectionsPerAddress,
    ...(args.reports !== undefined ? { reports: args.reports } : {}),
    ...(args.trustProxy !== undefined ? { trustProxy: args.trustProxy } : {}),
    crowdedRoomSize: args.crowdedRoomSize,
    presenceWindowMs: args.presenceWindowMs,
    batchMs: args.batchMs,
    compression: args.compression,
    ...(args.http === false ? { http: false as const } : {}),
    ...(args.refuseUpgrades === true ? { refuseUpgrades: true } : {}),
    dedupTtlMs: args.dedupTtlMs,
    log: (line) => console.error(line),
  }
  const redisUrl = args.redis ?? env.LIVE_REDIS_URL
  const cluster = args.redisCluster ?? (env.LIVE_REDIS_CLUSTER ? parseClusterNodes(env.LIVE_REDIS_CLUSTER) : undefined)
  if (redisUrl && cluster) throw new Error('give --redis (LIVE_REDIS_URL) or --redis-cluster (LIVE_REDIS_CLUSTER), not both')
  const settings = { prefix: args.redisPrefix, leaseMs: args.leaseMs, dedupTtlMs: args.dedupTtlMs }
  if (cluster) options.redis = { cluster, ...settings }
  else if (redisUrl) options.redis = { url: redisUrl, ...settings }
  const server = await createServer(options)
  const engine = cluster ? `Redis engine on the Redis Cluster at ${cluster.join(',')}` : redisUrl ? `Redis engine at ${redisUrl.replace(/\/\/[^@/]*@/, '//***@')}` : 'in-memory engine'
  console.log(`live-store-server listening on ${server.url} (${engine}; health: http://${args.host}:${server.port}/healthz)`)
  if (args.dev && secret !== undefined) {
    const exp = Math.floor(Date.now() / 1000) + 24 * 3600
    const anchor = signToken({ uid: 'anchor-1', name: 'Anchor', role: 'anchor', rooms: [DEV_ROOM], exp }, secret)
    const viewer = signToken({ uid: 'viewer-1', name: 'Viewer', role: 'viewer', exp }, secret)
    console.log(`room: ${DEV_ROOM}`)
    console.log(`anchor token: ${anchor}`)
    console.log(`viewer token: ${viewer}`)
  }
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    console.log(`live-store-server: ${signal}, closing connections (1001)`)
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error)
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  // For memory soaks: with node --expose-gc, SIGUSR2 runs a full collection (RSS then shows what is really held).
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) {
    process.on('SIGUSR2', () => {
      gc()
      const m = process.memoryUsage()
      console.log(`live-store-server: memory after gc: rss=${m.rss} heapTotal=${m.heapTotal} heapUsed=${m.heapUsed} external=${m.external} arrayBuffers=${m.arrayBuffers}`)
    })
  }
}

// NodeJS.Require: the type check of the whole repository also loads WeChat's typings (the client's
// behavior types), whose `require` has no `main`.
if ((require as unknown as NodeJS.Require).main === module) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(`live-store-server: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(2)
  })
}
