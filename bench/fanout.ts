/**
 * Server fan-out: 1 room, N viewers on 127.0.0.1. Events delivered per second by the
 * reference server, next to a bare `ws` broadcast loop on the same machine, same run.
 * Viewers are raw `ws` clients in this process that only count frames.
 */
import * as os from 'os'
import * as path from 'path'
import * as fs from 'fs'
import WebSocket, { WebSocketServer } from 'ws'
import type { AddressInfo } from 'net'
import { createServer } from '../server/server'
import { signToken } from '../server/token'

export interface FanoutResult {
  name: string
  viewers: number
  events: number
  deliveries: number
  seconds: number
  deliveriesPerSecond: number
  /** Heap growth per connection while the viewers connected (server and client objects share the process). */
  heapPerConnectionBytes?: number
}

/** Heap in use after a collection when `--expose-gc` is on, else as it is. */
export function heapUsed(): number {
  ;(global as { gc?: () => void }).gc?.()
  return process.memoryUsage().heapUsed
}

const SECRET = 'bench-secret'
const CONTENT = 'a typical comment of about forty characters..'

async function openViewers(url: string, n: number, onOpen: (ws: WebSocket, i: number) => void, headers?: (i: number) => Record<string, string>): Promise<WebSocket[]> {
  const sockets: WebSocket[] = []
  const batch = 100
  for (let start = 0; start < n; start += batch) {
    const opened = []
    for (let i = start; i < Math.min(n, start + batch); i++) {
      const ws = new WebSocket(url, ['live.v1'], { headers: headers?.(i), perMessageDeflate: false })
      sockets.push(ws)
      opened.push(
        new Promise<void>((resolve, reject) => {
          ws.once('open', () => {
            onOpen(ws, i)
            resolve()
          })
          ws.once('error', reject)
        }),
      )
    }
    await Promise.all(opened)
  }
  return sockets
}

function countUntil(sockets: WebSocket[], match: (data: string) => boolean, perSocket: number): Promise<number> {
  const started = process.hrtime.bigint()
  let done = 0
  return new Promise((resolve) => {
    for (const ws of sockets) {
      let seen = 0
      ws.on('message', (data) => {
        if (!match(String(data))) return
        if (++seen === perSocket && ++done === sockets.length) resolve(Number(process.hrtime.bigint() - started) / 1e9)
      })
    }
  })
}

/** The reference server with the in-memory engine. */
export async function fanoutReference(viewers: number, events: number): Promise<FanoutResult> {
  const server = await createServer({
    port: 0,
    secret: SECRET,
    dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'bench-')),
    heartbeatMs: 600000,
    messageRateLimit: { perSecond: 1e9, burst: 1e9 },
    // Every viewer comes from 127.0.0.1: the per-address cap is lifted for the bench.
    maxConnectionsPerAddress: 1_000_000,
  })
  const exp = Math.floor(Date.now() / 1000) + 3600
  const heapBefore = heapUsed()
  const joined: Array<Promise<void>> = []
  const sockets = await openViewers(
    server.url,
    viewers,
    (ws, i) => {
      joined.push(
        new Promise((resolve) => {
          const onMessage = (data: WebSocket.RawData): void => {
            if (String(data).includes('"msg_type":"snapshot"')) {
              ws.off('message', onMessage)
              resolve()
            }
          }
          ws.on('message', onMessage)
          ws.send(JSON.stringify({ msg_type: 'join', msg_id: `j${i}`, room_id: 'bench' }))
        }),
      )
    },
    (i) => ({ Authorization: `Bearer ${signToken({ uid: `v${i}`, name: `viewer ${i}`, role: 'viewer', exp }, SECRET)}` }),
  )
  await Promise.all(joined)
  await new Promise((r) => setTimeout(r, 200)) // let the join notices settle
  const heapPerConnectionBytes = (heapUsed() - heapBefore) / viewers
  const counted = countUntil(sockets, (d) => d.includes('"msg_type":"message"'), events)
  for (let i = 0; i < events; i++) {
    await server.engine.apply('bench', { type: 'message', msgId: `e${i}`, user: { uid: 'anchor', name: 'Anchor' }, content: CONTENT })
    if (i % 20 === 19) await new Promise((r) => setImmediate(r))
  }
  const seconds = await counted
  for (const ws of sockets) ws.terminate()
  await server.close()
  return { name: 'reference server (in-memory)', viewers, events, deliveries: viewers * events, seconds, deliveriesPerSecond: (viewers * events) / seconds, heapPerConnectionBytes }
}

/** A bare `ws` server: JSON.stringify once per event, `send` to every client. The floor. */
export async function fanoutBareWs(viewers: number, events: number): Promise<FanoutResult> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`
  const heapBefore = heapUsed()
  const sockets = await openViewers(url, viewers, () => undefined)
  while (wss.clients.size < viewers) await new Promise((r) => setTimeout(r, 5))
  const heapPerConnectionBytes = (heapUsed() - heapBefore) / viewers
  const counted = countUntil(sockets, (d) => d.includes('"msg_type":"message"'), events)
  for (let i = 0; i < events; i++) {
    const data = JSON.stringify({ msg_type: 'message', room_id: 'bench', seq: i + 1, ts: Date.now(), msg_id: `e${i}`, from_uid: 'anchor', from_name: 'Anchor', content: CONTENT })
    for (const ws of wss.clients) ws.send(data)
    if (i % 20 === 19) await new Promise((r) => setImmediate(r))
  }
  const seconds = await counted
  for (const ws of sockets) ws.terminate()
  await new Promise<void>((resolve) => wss.close(() => resolve()))
  return { name: 'bare ws broadcast loop', viewers, events, deliveries: viewers * events, seconds, deliveriesPerSecond: (viewers * events) / seconds, heapPerConnectionBytes }
}

export function formatFanout(results: FanoutResult[]): string {
  const base = results[results.length - 1]
  const rows = results.map(
    (r) =>
      `| ${r.name} | ${r.viewers} | ${r.events} | ${r.seconds.toFixed(3)} | ${Math.round(r.deliveriesPerSecond).toLocaleString('en-US')} | ${(r.deliveriesPerSecond / base.deliveriesPerSecond).toFixed(2)} | ${r.heapPerConnectionBytes === undefined ? '-' : Math.round(r.heapPerConnectionBytes / 1024).toLocaleString('en-US')} |`,
  )
  return ['| server | viewers | events | seconds | deliveries/s | ratio to last row | heap KB per connection (server + client) |', '|---|---|---|---|---|---|---|', ...rows].join('\n')
}

// Run directly (not imported by bench/run.ts).
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === __filename) {
  const viewers = Number(process.argv[2] ?? 1000)
  const events = Number(process.argv[3] ?? 200)
  void (async () => {
    const results: FanoutResult[] = []
    results.push(await fanoutReference(viewers, events))
    results.push(await fanoutBareWs(viewers, events))
    console.log(formatFanout(results))
  })()
}
