/**
 * `npm run bench:soak`: the server against long life and hostile volume (issue 11), measured,
 * not asserted. The server is a CLI process of its own (in-memory engine) so its memory is
 * measured alone: VmRSS from /proc after a full GC (SIGUSR2 with --expose-gc), and its JS heap.
 * It runs the compiled server (server/dist, built by `npm run build`). The dedup window is 5 s
 * here (10 minutes by default: every ack of that span is held by design, about 200 B each).
 *
 *  1. idle RSS (after a warm-up: every code path loaded, everyone gone);
 *  2. 10,000 rooms created and abandoned by 20 viewers (join, leave), then freed when idle;
 *  3. 1,000,000 comments through one room (10 senders, 1 reader), then everyone leaves;
 *  4. 1,000 viewers joining one room: join frames sent (O(N) with thinning, not N^2/2).
 *
 * Each allocator setting below gets a server process and a run of its own.
 *
 *   node -r ./scripts/dev-source.js bench/soak.ts [--comments N] [--rooms N] [--allocator 0|1|2] [--malloc "K=V ..."]
 */
import { type ChildProcess, spawn } from 'child_process'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import WebSocket from 'ws'
import { signToken } from '../server/token'

const SECRET = 'soak-secret'
const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}
const COMMENTS = arg('--comments', 1_000_000)
const ROOMS = arg('--rooms', 10_000)
const JOINERS = arg('--joiners', 1_000)
/** Comments of the warm-up: the same path as the million, at 2% of its size. */
const WARM_COMMENTS = arg('--warm-comments', 20_000)
const IDLE_ROOM_MS = 2000
/** The dedup window holds every ack of its span by design: a short one, so the soak sees past it. */
const DEDUP_TTL_MS = 5000
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 1 })
const exp = Math.floor(Date.now() / 1000) + 3600

interface Server {
  child: ChildProcess
  url: string
  port: number
}

async function startServer(env: NodeJS.ProcessEnv): Promise<Server> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'live-soak-'))
  const child = spawn(
    process.execPath,
    // The compiled server, as production runs it (`npm run build`, which `npm ci` runs); without a
    // build, the bin falls back to ts-node, whose compiler then weighs in the figures.
    [
      '--expose-gc',
      path.join(__dirname, '..', 'server', 'bin', 'live-store-server.js'),
      '--port',
      '0',
      '--secret',
      SECRET,
      '--data-dir',
      dataDir,
      '--idle-room-ms',
      String(IDLE_ROOM_MS),
      '--rate-limit',
      '1000000:1000000',
      '--message-rate-limit',
      '1000000:1000000',
      '--heartbeat-ms',
      '600000',
      '--max-connections-per-user',
      '1000',
      '--dedup-ttl-ms',
      String(DEDUP_TTL_MS),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env },
  )
  let out = ''
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString()
    serverOutput += d.toString()
  })
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  for (let i = 0; i < 300 && !/listening on (ws:\/\/\S+)/.test(out); i++) await sleep(50)
  const url = /listening on (ws:\/\/\S+)/.exec(out)?.[1]
  if (url === undefined) throw new Error(`server did not start: ${out}`)
  return { child, url, port: Number(new URL(url.replace('ws:', 'http:')).port) }
}

/** The server's output, for the memory lines its SIGUSR2 handler prints. */
let serverOutput = ''

async function rssAfterGc(server: Server): Promise<number> {
  for (let i = 0; i < 3; i++) {
    server.child.kill('SIGUSR2')
    await sleep(300)
  }
  const status = fs.readFileSync(`/proc/${server.child.pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
}

/**
 * RSS after a full GC, once the server has come to rest: V8 gives back its young generation
 * (up to 32 MiB committed under load) only when its memory reducer runs, some seconds into
 * an idle spell (its first step waits 8 s). Reads every 2 s for at least 12 s, then until two
 * readings agree within 1% (at most 40 s).
 */
async function restingRss(server: Server): Promise<number> {
  let last = await rssAfterGc(server)
  for (let waited = 0; waited < 40000; waited += 2000) {
    await sleep(2000)
    const now = await rssAfterGc(server)
    const settled = Math.abs(now - last) < last * 0.01
    last = now
    if (settled && waited >= 10000) break
  }
  return last
}

/**
 * Where the process's resident memory is, by kind of mapping (/proc/PID/smaps): the brk heap
 * (glibc's main arena), anonymous mappings (V8's heap pages, glibc's thread arenas, big
 * buffers), and files (node itself, shared libraries). Explains an RSS the JS heap does not.
 */
function residentByKind(pid: number): Record<string, number> {
  const kinds: Record<string, number> = {}
  let kind = ''
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (mapping) {
      const name = mapping[1]
      kind = name === '' ? 'anonymous' : name.startsWith('[') ? name : 'files'
      continue
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss) kinds[kind] = (kinds[kind] ?? 0) + Number(rss[1]) * 1024
  }
  return kinds
}

/** The JS heap V8 keeps committed after the last GC (used or not). */
function heapTotalAfterGc(): number {
  const all = [...serverOutput.matchAll(/heapTotal=(\d+)/g)]
  return Number(all[all.length - 1]?.[1] ?? 0)
}

/** Native memory Node accounts for (Buffers and the like) after the last GC. */
function externalAfterGc(): number {
  const all = [...serverOutput.matchAll(/external=(\d+)/g)]
  return Number(all[all.length - 1]?.[1] ?? 0)
}

/** The JS heap in use after the last GC (what the server really holds, allocator slack aside). */
function heapAfterGc(): number {
  const all = [...serverOutput.matchAll(/heapUsed=(\d+)/g)]
  return Number(all[all.length - 1]?.[1] ?? 0)
}

async function metric(server: Server, name: string, label = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name}${label} `) || (label === '' && l.startsWith(`${name} `)))
  return Number(line?.split(' ')[1] ?? 0)
}

class Peer {
  private waiting = new Map<string, () => void>()
  received = 0
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.received++
      const text = String(data)
      const id = /"msg_type":"ack","msg_id":"([^"]+)"/.exec(text)?.[1]
      if (id !== undefined) {
        this.waiting.get(id)?.()
        this.waiting.delete(id)
      }
    })
  }
  static async open(url: string, uid: string): Promise<Peer> {
    const ws = new WebSocket(url, ['live.v1'], { headers: { Authorization: `Bearer ${signToken({ uid, name: uid, role: 'viewer', exp }, SECRET)}` }, perMessageDeflate: false })
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    return new Peer(ws)
  }
  command(frame: Record<string, unknown> & { msg_id: string }): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.set(frame.msg_id, resolve)
      this.ws.send(JSON.stringify(frame))
    })
  }
}

/** Each peer joins and leaves its share of `count` rooms named `prefix-N`, one after another. */
async function abandonRooms(peers: Peer[], prefix: string, count: number): Promise<void> {
  await Promise.all(
    peers.map(async (peer, w) => {
      for (let r = w; r < count; r += peers.length) {
        await peer.command({ msg_type: 'join', msg_id: `j${prefix}${r}`, room_id: `${prefix}-${r}` })
        await peer.command({ msg_type: 'leave', msg_id: `l${prefix}${r}`, room_id: `${prefix}-${r}` })
      }
    }),
  )
}

/** `count` comments through one room: 10 senders (100 in flight each, paced by acks) and a reader. */
async function commentsThroughOneRoom(url: string, roomId: string, count: number, tag: string): Promise<{ seconds: number; peers: Peer[] }> {
  const reader = await Peer.open(url, `${tag}-reader`)
  await reader.command({ msg_type: 'join', msg_id: `${tag}rj`, room_id: roomId })
  const senders = await Promise.all(Array.from({ length: 10 }, (_, i) => Peer.open(url, `${tag}${i}`)))
  await Promise.all(senders.map((s, i) => s.command({ msg_type: 'join', msg_id: `${tag}sj${i}`, room_id: roomId })))
  const started = Date.now()
  const perSender = Math.ceil(count / senders.length)
  await Promise.all(
    senders.map(async (s, i) => {
      const window: Array<Promise<void>> = []
      for (let n = 0; n < perSender; n++) {
        window.push(s.command({ msg_type: 'message', msg_id: `${tag}${i}-${n}`, room_id: roomId, content: `comment ${n} from sender ${i}, a typical length` }))
        if (window.length >= 100) await window.shift()
      }
      await Promise.all(window)
    }),
  )
  return { seconds: (Date.now() - started) / 1000, peers: [reader, ...senders] }
}

/**
 * The allocator settings the soak runs under. glibc's defaults keep freed memory of the brk
 * heap (its trim threshold rises with the largest buffer freed, up to 64 MiB, and a small
 * live block high in the heap pins everything below the top); fixed thresholds, with the
 * 64 KiB socket read buffers mapped apart, give it back. jemalloc (when installed) returns
 * freed pages on its own after its decay time. The README's "Running in production"
 * recommends the second setting, or jemalloc.
 */
const JEMALLOC = ['/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2', '/usr/lib64/libjemalloc.so.2'].find((f) => fs.existsSync(f))
const ALLOCATORS: Array<{ name: string; env: Record<string, string> }> = [
  { name: 'glibc defaults', env: {} },
  { name: 'glibc, MALLOC_TRIM_THRESHOLD_=0 MALLOC_MMAP_THRESHOLD_=65536 (recommended in the README)', env: { MALLOC_TRIM_THRESHOLD_: '0', MALLOC_MMAP_THRESHOLD_: '65536' } },
  ...(JEMALLOC === undefined ? [] : [{ name: `jemalloc (LD_PRELOAD=${JEMALLOC})`, env: { LD_PRELOAD: JEMALLOC } }]),
]

async function main(): Promise<void> {
  const only = process.argv.indexOf('--allocator')
  // --malloc "K=V K=V": one run with those allocator variables instead (to try settings).
  const custom = process.argv.indexOf('--malloc')
  const allocators =
    custom === -1
      ? ALLOCATORS
      : [
          {
            name: process.argv[custom + 1],
            env: Object.fromEntries(
              process.argv[custom + 1]
                .split(/\s+/)
                .filter(Boolean)
                .map((kv) => kv.split('=') as [string, string]),
            ),
          },
        ]
  for (const [i, allocator] of allocators.entries()) {
    if (only !== -1 && Number(process.argv[only + 1]) !== i) continue
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MALLOC_') && k !== 'GLIBC_TUNABLES' && k !== 'LD_PRELOAD'))
    await soak(allocator.name, { ...env, ...allocator.env })
  }
}

async function soak(allocator: string, env: NodeJS.ProcessEnv): Promise<void> {
  serverOutput = ''
  const server = await startServer(env)
  const rows: Array<[string, string]> = []
  try {
    // Warm up on the same paths at a small scale (rooms opened and abandoned; comments from 10
    // senders to a reader), then idle: the baseline is the server at rest after it has served,
    // with its code loaded and optimised, not a server that has not run half its code yet.
    const warmRooms = await Promise.all(Array.from({ length: 4 }, (_, i) => Peer.open(server.url, `warm${i}`)))
    await abandonRooms(warmRooms, 'warm-room', 200)
    for (const peer of warmRooms) peer.ws.close()
    const warm = await commentsThroughOneRoom(server.url, 'warm', WARM_COMMENTS, 'w')
    for (const peer of warm.peers) peer.ws.close()
    await sleep(Math.max(IDLE_ROOM_MS, DEDUP_TTL_MS) + 2500)
    const idle = await restingRss(server)
    const idleHeap = heapAfterGc()
    const where = (): string => {
      const k = residentByKind(server.child.pid ?? 0)
      return `resident: brk heap ${fmt((k['[heap]'] ?? 0) / 2 ** 20)} MiB, anonymous ${fmt((k.anonymous ?? 0) / 2 ** 20)} MiB, files ${fmt((k.files ?? 0) / 2 ** 20)} MiB`
    }
    const mem = (rss: number): string =>
      `${fmt(rss / 2 ** 20)} MiB (${fmt((rss / idle) * 100)}% of idle); ${where()}; heap ${fmt(heapAfterGc() / 2 ** 20)} MiB (${fmt((heapAfterGc() / idleHeap) * 100)}%); external ${fmt(externalAfterGc() / 2 ** 20)} MiB; V8 heap committed ${fmt(heapTotalAfterGc() / 2 ** 20)} MiB`
    rows.push([
      `idle (after a warm-up: 200 rooms, ${fmt(WARM_COMMENTS)} comments, everyone gone)`,
      `${fmt(idle / 2 ** 20)} MiB; ${where()}; heap ${fmt(idleHeap / 2 ** 20)} MiB; external ${fmt(externalAfterGc() / 2 ** 20)} MiB; V8 heap committed ${fmt(heapTotalAfterGc() / 2 ** 20)} MiB`,
    ])

    // 2. Rooms created and abandoned.
    const wanderers = await Promise.all(Array.from({ length: 20 }, (_, i) => Peer.open(server.url, `w${i}`)))
    await abandonRooms(wanderers, 'room', ROOMS)
    const roomsHeld = await metric(server, 'live_rooms')
    const peak = await rssAfterGc(server)
    for (const peer of wanderers) peer.ws.close()
    await sleep(IDLE_ROOM_MS + 2500)
    const roomsAfter = await metric(server, 'live_rooms')
    const afterRooms = await restingRss(server)
    rows.push([`${fmt(ROOMS)} rooms created (live_rooms ${fmt(roomsHeld)})`, `${fmt(peak / 2 ** 20)} MiB`])
    rows.push([`... abandoned and freed (live_rooms ${fmt(roomsAfter)})`, mem(afterRooms)])

    // 3. A million comments through one room.
    const hot = await commentsThroughOneRoom(server.url, 'hot', COMMENTS, 's')
    const seconds = hot.seconds
    const busy = await rssAfterGc(server)
    for (const peer of hot.peers) peer.ws.close()
    // The room idles out, and the acks leave the dedup window (the engine sweeps every second).
    await sleep(Math.max(IDLE_ROOM_MS, DEDUP_TTL_MS) + 2500)
    const afterComments = await restingRss(server)
    const roomsLeft = await metric(server, 'live_rooms')
    rows.push([`${fmt(COMMENTS)} comments through one room in ${fmt(seconds)} s (${fmt(COMMENTS / seconds)}/s)`, `${fmt(busy / 2 ** 20)} MiB`])
    rows.push([`... everyone left, room freed (live_rooms ${fmt(roomsLeft)}), acks past the dedup window`, mem(afterComments)])

    // 4. 1,000 viewers joining one room.
    const before = await metric(server, 'live_frames_out_total', '{type="join"}')
    const joiners: Peer[] = []
    for (let i = 0; i < JOINERS; i++) {
      const peer = await Peer.open(server.url, `j${i}`)
      await peer.command({ msg_type: 'join', msg_id: `jj${i}`, room_id: 'crowd' })
      joiners.push(peer)
    }
    await sleep(1500)
    const joinFrames = (await metric(server, 'live_frames_out_total', '{type="join"}')) - before
    rows.push([`${fmt(JOINERS)} viewers join one room: join frames sent`, `${fmt(joinFrames)} (without thinning: ${fmt((JOINERS * (JOINERS + 1)) / 2)})`])
    for (const peer of joiners) peer.ws.terminate()
  } finally {
    server.child.kill('SIGTERM')
  }
  const compiled = fs.existsSync(path.join(__dirname, '..', 'server', 'dist', 'cli.js'))
  console.log(`## Soak: the in-memory server process, ${compiled ? 'compiled (server/dist)' : 'from source through ts-node (no build)'} (VmRSS after a full GC), allocator: ${allocator}\n`)
  console.log('| phase | server RSS |')
  console.log('|---|---|')
  for (const [phase, value] of rows) console.log(`| ${phase} | ${value} |`)
  console.log('')
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
