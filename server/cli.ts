import { randomBytes } from 'crypto'
import * as fs from 'fs'
import { createServer, type ServerOptions } from './server'
import type { RoomConfig } from './room'
import { signToken } from './token'

const HELP = `live-store-server: the reference live-room server (protocol live.v1)

  --port N             port, 0 for a free one [0]
  --host H             address to listen on [127.0.0.1]
  --secret S           token secret (or LIVE_SECRET); a random one is generated without either
  --heartbeat-ms N     heartbeat the clients are told to keep [25000]
  --history N          events kept per room for recovery [1000]
  --max-frame-bytes N  largest frame taken from a client [65536]
  --data-dir DIR       where reports.jsonl goes [./data]
  --rooms FILE         JSON: [{ "id", "title", "anchor": { "uid", "name" }, "goods": [...] }]
  --rate-limit N[:B]   frames per second per connection, burst B [20:40]
  --message-rate-limit N[:B]  messages per second per user, burst B [5:5]
  --redis URL          share rooms with other processes through Redis (or LIVE_REDIS_URL),
                       e.g. redis://127.0.0.1:6379; without it rooms live in this process
  --redis-prefix P     prefix of the Redis keys and channels [live]
  --lease-ms N         a process silent this long counts as dead; its viewers leave [3000]
  --dev                print a ready anchor token and viewer token for the demo room
  --help
`

/** The demo room the `--dev` tokens are for. */
export const DEV_ROOM = 'demo'

export interface CliArgs {
  port: number
  host: string
  secret?: string
  heartbeatMs: number
  history: number
  maxFrameBytes: number
  dataDir: string
  roomsFile?: string
  rateLimit?: { perSecond: number; burst: number }
  messageRateLimit?: { perSecond: number; burst: number }
  redis?: string
  redisPrefix?: string
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
  const number = (name: string, value: string | undefined): number => {
    const n = Number(value)
    if (value === undefined || !Number.isInteger(n) || n < 0) throw new Error(`${name} needs a whole number`)
    return n
  }
  const rate = (name: string, value: string | undefined): { perSecond: number; burst: number } => {
    const [perSecond, burst] = (value ?? '').split(':')
    const n = number(name, perSecond)
    return { perSecond: n, burst: burst === undefined ? n : number(name, burst) }
  }
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2)
    const value = (): string | undefined => inline ?? argv[++i]
    switch (flag) {
      case '--port': args.port = number(flag, value()); break
      case '--host': args.host = value() ?? args.host; break
      case '--secret': args.secret = value(); break
      case '--heartbeat-ms': args.heartbeatMs = number(flag, value()); break
      case '--history': args.history = number(flag, value()); break
      case '--max-frame-bytes': args.maxFrameBytes = number(flag, value()); break
      case '--data-dir': args.dataDir = value() ?? args.dataDir; break
      case '--rooms': args.roomsFile = value(); break
      case '--rate-limit': args.rateLimit = rate(flag, value()); break
      case '--message-rate-limit': args.messageRateLimit = rate(flag, value()); break
      case '--redis': args.redis = value(); break
      case '--redis-prefix': args.redisPrefix = value(); break
      case '--lease-ms': args.leaseMs = number(flag, value()); break
      case '--dev': args.dev = true; break
      case '--help': case '-h': args.help = true; break
      default: throw new Error(`unknown flag ${argv[i]} (see --help)`)
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
  let secret = args.secret ?? env.LIVE_SECRET
  if (!secret) {
    secret = randomBytes(24).toString('base64url')
    console.log('live-store-server: no --secret or LIVE_SECRET given; generated a random secret for this run')
  }
  const rooms = args.roomsFile ? (JSON.parse(fs.readFileSync(args.roomsFile, 'utf8')) as RoomConfig[]) : undefined
  const options: ServerOptions = {
    port: args.port,
    host: args.host,
    secret,
    heartbeatMs: args.heartbeatMs,
    history: args.history,
    maxFrameBytes: args.maxFrameBytes,
    dataDir: args.dataDir,
    rooms,
    rateLimit: args.rateLimit,
    messageRateLimit: args.messageRateLimit,
    log: (line) => console.error(line),
  }
  const redisUrl = args.redis ?? env.LIVE_REDIS_URL
  if (redisUrl) options.redis = { url: redisUrl, prefix: args.redisPrefix, leaseMs: args.leaseMs }
  const server = await createServer(options)
  const engine = redisUrl ? `Redis engine at ${redisUrl.replace(/\/\/[^@/]*@/, '//***@')}` : 'in-memory engine'
  console.log(`live-store-server listening on ${server.url} (${engine}; health: http://${args.host}:${server.port}/healthz)`)
  if (args.dev) {
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
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(`live-store-server: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(2)
  })
}
