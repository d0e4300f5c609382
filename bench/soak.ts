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
 *   node -r ./scripts/dev-source.js bench/soak.ts [--comments N] [--rooms N]
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

async function startServer(): Promise<Server> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'live-soak-'))
  const child = spawn(
    process.execPath,
    // The compiled server, as production runs it (`npm run build`, which `npm ci` runs); without a
    // build, the bin falls back to ts-node, whose compiler then weighs in the figures.
    ['--expose-gc', path.join(__dirname, '..', 'server', 'bin', 'live-store-server.js'),
      '--port', '0', '--secret', SECRET, '--data-dir', dataDir, '--idle-room-ms', String(IDLE_ROOM_MS),
      '--rate-limit', '1000000:1000000', '--message-rate-limit', '1000000:1000000', '--heartbeat-ms', '600000', '--max-connections-per-user', '1000', '--dedup-ttl-ms', String(DEDUP_TTL_MS)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
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

async function main(): Promise<void> {
  const server = await startServer()
  const rows: Array<[string, string]> = []
  try {
    // Warm up (every code path once: joins, leaves, comments, acks), then idle: the baseline is
    // the server at rest, not a server that has not loaded half its code yet.
    const warm = await Peer.open(server.url, 'warm')
    await warm.command({ msg_type: 'join', msg_id: 'wj', room_id: 'warm' })
    for (let n = 0; n < 1000; n++) await warm.command({ msg_type: 'message', msg_id: `wm${n}`, room_id: 'warm', content: `warm-up ${n}` })
    await warm.command({ msg_type: 'leave', msg_id: 'wl', room_id: 'warm' })
    warm.ws.close()
    await sleep(Math.max(IDLE_ROOM_MS, DEDUP_TTL_MS) + 2500)
    const idle = await rssAfterGc(server)
    const idleHeap = heapAfterGc()
    const mem = (rss: number): string =>
      `${fmt(rss / 2 ** 20)} MiB (${fmt((rss / idle) * 100)}% of idle); heap ${fmt(heapAfterGc() / 2 ** 20)} MiB (${fmt((heapAfterGc() / idleHeap) * 100)}%); external ${fmt(externalAfterGc() / 2 ** 20)} MiB; V8 heap committed ${fmt(heapTotalAfterGc() / 2 ** 20)} MiB`
    rows.push(['idle (after a warm-up of 1,000 comments, everyone gone)', `${fmt(idle / 2 ** 20)} MiB; heap ${fmt(idleHeap / 2 ** 20)} MiB; external ${fmt(externalAfterGc() / 2 ** 20)} MiB; V8 heap committed ${fmt(heapTotalAfterGc() / 2 ** 20)} MiB`])

    // 2. Rooms created and abandoned.
    const wanderers = await Promise.all(Array.from({ length: 20 }, (_, i) => Peer.open(server.url, `w${i}`)))
    await Promise.all(
      wanderers.map(async (peer, w) => {
        for (let r = w; r < ROOMS; r += wanderers.length) {
          await peer.command({ msg_type: 'join', msg_id: `j${r}`, room_id: `room-${r}` })
          await peer.command({ msg_type: 'leave', msg_id: `l${r}`, room_id: `room-${r}` })
        }
      }),
    )
    const roomsHeld = await metric(server, 'live_rooms')
    const peak = await rssAfterGc(server)
    for (const peer of wanderers) peer.ws.close()
    await sleep(IDLE_ROOM_MS + 2500)
    const roomsAfter = await metric(server, 'live_rooms')
    const afterRooms = await rssAfterGc(server)
    rows.push([`${fmt(ROOMS)} rooms created (live_rooms ${fmt(roomsHeld)})`, `${fmt(peak / 2 ** 20)} MiB`])
    rows.push([`... abandoned and freed (live_rooms ${fmt(roomsAfter)})`, mem(afterRooms)])

    // 3. A million comments through one room.
    const reader = await Peer.open(server.url, 'reader')
    await reader.command({ msg_type: 'join', msg_id: 'rj', room_id: 'hot' })
    const senders = await Promise.all(Array.from({ length: 10 }, (_, i) => Peer.open(server.url, `s${i}`)))
    await Promise.all(senders.map((s, i) => s.command({ msg_type: 'join', msg_id: `sj${i}`, room_id: 'hot' })))
    const started = Date.now()
    const perSender = Math.ceil(COMMENTS / senders.length)
    await Promise.all(
      senders.map(async (s, i) => {
        // 100 in flight per sender: acks pace the senders.
        const window: Array<Promise<void>> = []
        for (let n = 0; n < perSender; n++) {
          window.push(s.command({ msg_type: 'message', msg_id: `s${i}-${n}`, room_id: 'hot', content: `comment ${n} from sender ${i}, a typical length` }))
          if (window.length >= 100) await window.shift()
        }
        await Promise.all(window)
      }),
    )
    const seconds = (Date.now() - started) / 1000
    const busy = await rssAfterGc(server)
    for (const peer of [reader, ...senders]) peer.ws.close()
    // The room idles out, and the acks leave the dedup window (the engine sweeps every second).
    await sleep(Math.max(IDLE_ROOM_MS, DEDUP_TTL_MS) + 2500)
    const afterComments = await rssAfterGc(server)
    const roomsLeft = await metric(server, 'live_rooms')
    rows.push([`${fmt(perSender * senders.length)} comments through one room in ${fmt(seconds)} s (${fmt((perSender * senders.length) / seconds)}/s)`, `${fmt(busy / 2 ** 20)} MiB`])
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
  console.log(`## Soak: the in-memory server process, ${compiled ? 'compiled (server/dist)' : 'from source through ts-node (no build)'} (VmRSS after a full GC)\n`)
  console.log('| phase | server RSS |')
  console.log('|---|---|')
  for (const [phase, value] of rows) console.log(`| ${phase} | ${value} |`)
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
