/**
 * Fan-out past the per-message limit (issue 13), measured the way its table was: one room,
 * N viewers on 127.0.0.1, events generated in the server process (bench/fanoutServer.ts, a
 * process of its own) at fixed rates and sent through each server's real path; the viewers
 * are clients in this process. For every server: the time to connect the viewers, memory per
 * connection (server RSS and heap after a full GC, before and after), then rates up to where
 * it saturates (p99 event-to-viewer latency over 200 ms, or events lost), and at each rate the
 * server's CPU per delivered event, p99, and bytes on the wire per delivered event.
 *
 *   node --expose-gc -r ./scripts/dev-source.js bench/fanoutRates.ts [--viewers N] [--quick] [--only 0,1,3]
 */
import { type ChildProcess, fork } from 'child_process'
import { randomBytes } from 'crypto'
import * as net from 'net'
import * as path from 'path'
import WebSocket from 'ws'
import { io as socketIoClient, type Socket } from 'socket.io-client'
import { signToken } from '../server/token'
import { frameReader, maskedFrame } from '../__tests__/helpers/rawSocket'

export interface RateRun {
  rate: number
  /** The rate the server kept: events / the time it took to send them. */
  achievedRate: number
  /** Events delivered to viewers / events sent x viewers. */
  deliveredShare: number
  p99Ms: number
  cpuUsPerDelivery: number
  wireBytesPerDelivery: number
}

export interface FanoutRow {
  name: string
  viewers: number
  connectSeconds: number
  rssPerConnectionBytes: number
  heapPerConnectionBytes: number
  runs: RateRun[]
  /** The highest rate with p99 < 200 ms and every event delivered. */
  saturationRate: number
}

interface Mode {
  name: string
  server: 'bare' | 'frameOnce' | 'deflate' | 'socketio' | 'ours'
  protocols?: string[]
  deflate?: boolean
}

export const FANOUT_MODES: Mode[] = [
  { name: 'bare ws, JSON.stringify once, send(text) per viewer', server: 'bare' },
  { name: 'ws, frame once, same frame to every viewer', server: 'frameOnce' },
  { name: 'socket.io 4.8 room broadcast', server: 'socketio' },
  { name: 'this server, live.v1 (frame once)', server: 'ours', protocols: ['live.v1'] },
  { name: 'this server, live.v1.batch', server: 'ours', protocols: ['live.v1.batch', 'live.v1'] },
  { name: 'this server, batched + compressed once', server: 'ours', protocols: ['live.v1.batch', 'live.v1'], deflate: true },
  { name: 'ws, per-socket deflate (context takeover)', server: 'deflate', deflate: true },
]

/** Viewers connected and closed before a row's measurements start. */
const WARM_UP_VIEWERS = 200

/** Latency is read on every 20th viewer: spread over the connection order (the first served first). */
const SAMPLE_EVERY = 20
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

class ServerProcess {
  private waiting: Array<(m: Record<string, number | string>) => void> = []
  private constructor(readonly child: ChildProcess) {
    child.on('message', (m: Record<string, number | string>) => this.waiting.shift()?.(m))
  }
  static async start(mode: string): Promise<{ server: ServerProcess; url: string }> {
    const child = fork(path.join(__dirname, 'fanoutServer.ts'), [mode], {
      execArgv: ['--expose-gc', '-r', path.join(__dirname, '..', 'scripts', 'dev-source.js')],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    const server = new ServerProcess(child)
    const ready = await server.next()
    return { server, url: String(ready.url) }
  }
  next(): Promise<Record<string, number | string>> {
    return new Promise((resolve) => this.waiting.push(resolve))
  }
  async ask(message: Record<string, unknown>): Promise<Record<string, number | string>> {
    const answer = this.next()
    this.child.send(message)
    return answer
  }
  stop(): void {
    this.child.kill('SIGKILL')
  }
}

/** A viewer: counts events (one per frame, or the events of a batch) and, if sampled, their latency. */
interface Viewer {
  events: number
  /** Frames that carried events (sampled ws viewers), to compare raw viewers with. */
  frameCount?: number
  latencies: number[] | undefined
  bytesRead(): number
  close(): void
}

function countEvents(text: string): number {
  if (!text.startsWith('{"msg_type":"batch"')) return text.includes('"msg_type":"message"') ? 1 : 0
  let n = 0
  for (let at = text.indexOf('"msg_type":"message"'); at !== -1; at = text.indexOf('"msg_type":"message"', at + 1)) n++
  return n
}

function onText(viewer: Viewer, text: string): void {
  const n = countEvents(text)
  if (n === 0) return
  viewer.events += n
  viewer.frameCount = (viewer.frameCount ?? 0) + 1
  if (viewer.latencies === undefined) return
  const now = Date.now()
  const frame = JSON.parse(text) as { ts?: number; events?: Array<{ ts: number }> }
  for (const e of frame.events ?? [frame]) if (typeof e.ts === 'number') viewer.latencies.push(now - e.ts)
}

async function connectWs(url: string, mode: Mode, i: number): Promise<Viewer> {
  const exp = Math.floor(Date.now() / 1000) + 3600
  const headers = mode.server === 'ours' ? { Authorization: `Bearer ${signToken({ uid: `v${i}`, name: `viewer ${i}`, role: 'viewer', exp }, 'bench-secret')}` } : undefined
  if (mode.deflate === true && i % SAMPLE_EVERY !== SAMPLE_EVERY - 1) return connectRaw(url, mode, i, headers)
  const ws = new WebSocket(url, mode.protocols ?? ['live.v1'], { headers, perMessageDeflate: mode.deflate === true })
  const viewer: Viewer = {
    events: 0,
    latencies: i % SAMPLE_EVERY === SAMPLE_EVERY - 1 ? [] : undefined,
    bytesRead: () => (ws as unknown as { _socket?: { bytesRead: number } })._socket?.bytesRead ?? 0,
    close: () => ws.terminate(),
  }
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  if (mode.server === 'ours') {
    await new Promise<void>((resolve) => {
      const onJoin = (data: WebSocket.RawData): void => {
        if (!String(data).includes('"msg_type":"snapshot"')) return
        ws.off('message', onJoin)
        resolve()
      }
      ws.on('message', onJoin)
      ws.send(JSON.stringify({ msg_type: 'join', msg_id: `j${i}`, room_id: 'bench' }))
    })
  }
  ws.on('message', (data) => onText(viewer, String(data)))
  return viewer
}

/**
 * A viewer of a compressed stream that does not inflate: a bare TCP WebSocket client that
 * negotiates permessage-deflate as any other, then counts frames and bytes. One process cannot
 * inflate for 1,000 phones (ws inflates on libuv's thread pool: the queue, not the server,
 * would set the latency); sampled viewers are ordinary ws clients and read every event.
 * Its `events` are frames (a batch counts once); `fanoutRow` compares frames with frames.
 */
async function connectRaw(url: string, mode: Mode, i: number, headers: Record<string, string> | undefined): Promise<Viewer & { frames: true }> {
  const { hostname, port } = new URL(url)
  const socket = net.connect(Number(port), hostname)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('error', reject)
  })
  const viewer = { events: 0, latencies: undefined, frames: true as const, bytesRead: () => socket.bytesRead, close: () => socket.destroy() }
  const extra = Object.entries(headers ?? {})
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')
  socket.write(
    `GET /ws HTTP/1.1\r\nHost: ${hostname}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${(mode.protocols ?? ['live.v1']).join(', ')}\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n${extra}\r\n`,
  )
  let upgraded = false
  let joined: (() => void) | undefined
  const joinedP = new Promise<void>((resolve) => (joined = resolve))
  const read = frameReader(({ compressed, payload }) => {
    if (joined !== undefined && !compressed && payload.includes('"msg_type":"snapshot"')) {
      joined()
      joined = undefined
    } else viewer.events++
  })
  let response = ''
  socket.on('data', (chunk: Buffer) => {
    if (upgraded) return read(chunk)
    // The HTTP response first (latin1: one char per byte), then frames.
    response += chunk.toString('latin1')
    const end = response.indexOf('\r\n\r\n')
    if (end === -1) return
    upgraded = true
    if (mode.server !== 'ours') joined?.()
    read(Buffer.from(response.slice(end + 4), 'latin1'))
  })
  if (mode.server === 'ours') socket.write(maskedFrame(Buffer.from(JSON.stringify({ msg_type: 'join', msg_id: `j${i}`, room_id: 'bench' }))))
  await joinedP
  return viewer
}

async function connectSocketIo(url: string, i: number): Promise<Viewer> {
  const socket: Socket = socketIoClient(url, { transports: ['websocket'], forceNew: true })
  const viewer: Viewer = {
    events: 0,
    latencies: i % SAMPLE_EVERY === SAMPLE_EVERY - 1 ? [] : undefined,
    bytesRead: () => (socket.io.engine?.transport as unknown as { ws?: { _socket?: { bytesRead: number } } } | undefined)?.ws?._socket?.bytesRead ?? 0,
    close: () => socket.disconnect(),
  }
  socket.on('message', (text: string) => onText(viewer, text))
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('connect_error', reject)
  })
  return viewer
}

function p99(values: number[]): number {
  if (values.length === 0) return Infinity
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]
}

export async function fanoutRow(mode: Mode, viewerCount: number, rates: number[], seconds: number, referenceRate: number): Promise<FanoutRow> {
  const { server, url } = await ServerProcess.start(mode.server)
  try {
    const connect = (i: number): Promise<Viewer> => (mode.server === 'socketio' ? connectSocketIo(url, i) : connectWs(url, mode, i))
    // 100 at a time, as a crowd arrives.
    const crowd = async (from: number, count: number): Promise<Viewer[]> => {
      const crowdViewers: Viewer[] = []
      for (let i = from; i < from + count; i += 100) crowdViewers.push(...(await Promise.all(Array.from({ length: Math.min(100, from + count - i) }, (_, k) => connect(i + k)))))
      return crowdViewers
    }
    // A first crowd comes and goes before anything is measured: the code it compiles (a few
    // hundred KiB of the heap, once per process) is not a cost per connection, nor its time.
    for (const v of await crowd(viewerCount, WARM_UP_VIEWERS)) v.close()
    await sleep(500)
    const before = await server.ask({ cmd: 'mem' })
    const started = Date.now()
    const viewers = await crowd(0, viewerCount)
    const connectSeconds = (Date.now() - started) / 1000
    await sleep(1500) // join notices settle
    const after = await server.ask({ cmd: 'mem' })
    const runs: RateRun[] = []
    let saturationRate = 0
    let saturated = false
    for (const rate of rates) {
      for (const v of viewers) {
        v.events = 0
        v.frameCount = 0
        if (v.latencies) v.latencies.length = 0
      }
      const bytesBefore = viewers.reduce((sum, v) => sum + v.bytesRead(), 0)
      const result = await server.ask({ cmd: 'rate', rate, seconds })
      const sent = Number(result.events)
      // Drain: what is still in flight may arrive for up to 2 s more.
      for (let waited = 0; waited < 2000 && viewers.some((v) => !('frames' in v) && v.events < sent); waited += 100) await sleep(100)
      await sleep(200)
      // Raw viewers count frames: each should have as many as a sampled viewer's frames.
      const sampledFrames = viewers
        .filter((v) => v.latencies !== undefined)
        .map((v) => v.frameCount ?? 0)
        .sort((a, b) => a - b)
      const expectedFrames = sampledFrames[Math.floor(sampledFrames.length / 2)] ?? 0
      const delivered = viewers.reduce((sum, v) => sum + ('frames' in v ? (expectedFrames === 0 ? 0 : Math.min(1, v.events / expectedFrames)) * sent : Math.min(v.events, sent)), 0)
      const bytes = viewers.reduce((sum, v) => sum + v.bytesRead(), 0) - bytesBefore
      const run: RateRun = {
        rate,
        achievedRate: sent / Number(result.emitSeconds),
        deliveredShare: delivered / (sent * viewerCount),
        p99Ms: p99(viewers.flatMap((v) => v.latencies ?? [])),
        cpuUsPerDelivery: Number(result.cpuUs) / Math.max(1, delivered),
        wireBytesPerDelivery: bytes / Math.max(1, delivered),
      }
      runs.push(run)
      // Saturated: late (p99 over 200 ms), lossy, or unable to keep the rate (its loop lags).
      const ok = run.p99Ms < 200 && run.deliveredShare >= 0.999 && run.achievedRate >= rate * 0.95
      if (!ok) saturated = true
      if (!saturated) saturationRate = rate
      // Past saturation, rates go on up to the reference rate (its CPU and bytes are compared).
      else if (rate >= referenceRate) break
      await sleep(300)
    }
    for (const v of viewers) v.close()
    return {
      name: mode.name,
      viewers: viewerCount,
      connectSeconds,
      rssPerConnectionBytes: (Number(after.rss) - Number(before.rss)) / viewerCount,
      heapPerConnectionBytes: (Number(after.heapUsed) - Number(before.heapUsed)) / viewerCount,
      runs,
      saturationRate,
    }
  } finally {
    server.stop()
  }
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

/** The run at the reference rate (the highest of `referenceRates` that every row sustained), else the row's first. */
function referenceRun(row: FanoutRow, rate: number): RateRun | undefined {
  return row.runs.find((r) => r.rate === rate) ?? row.runs[0]
}

export function formatFanoutRows(rows: FanoutRow[], referenceRate: number): string {
  const frameOnce = rows.find((r) => r.name.startsWith('ws, frame once'))
  const bare = rows.find((r) => r.name.startsWith('bare ws'))
  const json = rows.find((r) => r.name === 'this server, live.v1 (frame once)')
  const base = frameOnce ? referenceRun(frameOnce, referenceRate) : undefined
  const lines = [
    `| server | saturation (p99 < 200 ms) | x frame-once | CPU us per delivery at ${referenceRate} ev/s | x frame-once | p99 ms at ${referenceRate} ev/s | wire bytes per delivery | x live.v1 | RSS / heap KiB per connection | heap x bare ws | connect ${rows[0]?.viewers ?? 0} viewers, s | x bare ws |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  const jsonRun = json ? referenceRun(json, referenceRate) : undefined
  for (const row of rows) {
    const run = referenceRun(row, referenceRate)
    const cell = (v: number | undefined, d = 1): string => (v === undefined || !Number.isFinite(v) ? '-' : fmt(v, d))
    lines.push(
      `| ${row.name} | ${row.saturationRate} ev/s | ${frameOnce ? cell(row.saturationRate / frameOnce.saturationRate, 2) : '-'} | ${cell(run?.cpuUsPerDelivery, 2)} | ${base && run ? cell(run.cpuUsPerDelivery / base.cpuUsPerDelivery, 2) : '-'} | ${cell(run?.p99Ms, 0)} | ${cell(run?.wireBytesPerDelivery, 1)} | ${jsonRun && run ? cell(run.wireBytesPerDelivery / jsonRun.wireBytesPerDelivery, 2) : '-'} | ${fmt(row.rssPerConnectionBytes / 1024, 1)} / ${fmt(row.heapPerConnectionBytes / 1024, 1)} | ${bare ? cell(row.heapPerConnectionBytes / bare.heapPerConnectionBytes, 2) : '-'} | ${fmt(row.connectSeconds, 2)} | ${bare ? cell(row.connectSeconds / bare.connectSeconds, 2) : '-'} |`,
    )
  }
  lines.push('')
  lines.push('Every rate tried (rate: rate kept, p99 ms, delivered share, CPU us per delivery):')
  lines.push('')
  for (const row of rows)
    lines.push(
      `- ${row.name}: ${row.runs.map((r) => `${r.rate}: ${fmt(r.achievedRate)}/s, ${Number.isFinite(r.p99Ms) ? r.p99Ms : '-'} ms, ${fmt(r.deliveredShare * 100, 1)}%, ${fmt(r.cpuUsPerDelivery, 2)} us`).join('; ')}`,
    )
  return lines.join('\n')
}

export const FANOUT_RATES = [50, 100, 150, 200, 300, 400, 600, 800, 1200]
/** CPU and bytes per delivery are compared at this rate (the issue's table: 100-200 ev/s). */
export const REFERENCE_RATE = 200

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === __filename) {
  const arg = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(name)
    return i === -1 ? fallback : Number(process.argv[i + 1])
  }
  const quick = process.argv.includes('--quick')
  const viewers = arg('--viewers', quick ? 300 : 1000)
  void (async () => {
    const rows: FanoutRow[] = []
    const only = process.argv.indexOf('--only')
    const picked = only === -1 ? FANOUT_MODES : process.argv[only + 1].split(',').map((i) => FANOUT_MODES[Number(i)])
    for (const mode of picked) {
      rows.push(await fanoutRow(mode, viewers, FANOUT_RATES, quick ? 2 : 3, REFERENCE_RATE))
      console.error(`${mode.name}: saturation ${rows[rows.length - 1].saturationRate} ev/s`)
    }
    console.log(formatFanoutRows(rows, REFERENCE_RATE))
    process.exit(0)
  })()
}
