/** Ingest, reconnect storm, bytes on the wire and socket.io fan-out benchmarks. */
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import * as zlib from 'zlib'
import * as http from 'http'
import type { AddressInfo } from 'net'
import { Server as SocketIoServer } from 'socket.io'
import { io as socketIoClient } from 'socket.io-client'
import { createLiveClient } from '../src/connection/client'
import { createLiveRoom } from '../src/stores/liveRoom'
import { createNodePlatform } from '../server/node/platform'
import { createServer } from '../server/server'
import { signToken } from '../server/token'
import { FakePlatform } from '../src/testing'
import { eventStream } from './pageCost'
import { type FanoutResult, heapUsed } from './fanout'

const now = (): number => Number(process.hrtime.bigint()) / 1e6

/**
 * Frames per second through parse + validate + reduce into stores, next to a bare JSON.parse
 * loop over the same texts. Each path runs `rounds` times, alternating (so both see the same
 * machine), after a warm-up round each; the ratio is the median of the rounds' ratios.
 */
export async function ingest(seconds: number, rounds = 7): Promise<{ frames: number; oursPerSecond: number; jsonParsePerSecond: number; ratio: number }> {
  const texts = eventStream(seconds, 1000).map(([, f]) => JSON.stringify(f))
  const lastSeq = (JSON.parse(texts[texts.length - 1]) as { seq: number }).seq
  let sink = 0
  const jsonRound = (): number => {
    const t = now()
    for (const text of texts) sink += (JSON.parse(text) as { seq: number }).seq
    return now() - t
  }
  const oursRound = async (): Promise<number> => {
    const platform = new FakePlatform()
    platform.scripts = [{ init: { msg_type: 'init', client_id: 'c', epoch: 'e1', heartbeat_ms: 600000, user: { uid: 'me', name: 'Me', role: 'viewer' } } }]
    const client = createLiveClient({ url: 'ws://bench/ws', platform, outbox: { storageKey: false } })
    const room = createLiveRoom(client, 'bench', { flushMs: 1 })
    while (!room.roomStore.joined) await new Promise((r) => setTimeout(r, 5))
    const t = now()
    for (const text of texts) platform.last.deliver(text)
    while (room.roomStore.seq !== lastSeq) await new Promise((r) => setImmediate(r))
    const ms = now() - t
    room.dispose()
    client.close()
    return ms
  }
  jsonRound()
  await oursRound()
  const jsonMs: number[] = []
  const oursMs: number[] = []
  // Each round from a collected heap (npm run bench runs with --expose-gc): garbage of one
  // path is not collected on the other's time.
  const gc = (globalThis as { gc?: () => void }).gc ?? ((): void => undefined)
  for (let i = 0; i < rounds; i++) {
    gc()
    jsonMs.push(jsonRound())
    gc()
    oursMs.push(await oursRound())
  }
  if (sink < 0) console.log(sink)
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const frames = texts.length
  // The ratio of each pair (a JSON round and ours right after it, on the same machine state),
  // then the median: this VM's speed drifts by a third between runs, not within a pair.
  const ratio = median(jsonMs.map((json, i) => json / oursMs[i]))
  return { frames, oursPerSecond: (frames / median(oursMs)) * 1000, jsonParsePerSecond: (frames / median(jsonMs)) * 1000, ratio }
}

/** Bytes on the wire for the typical mix: JSON, and JSON with permessage-deflate (context takeover). */
export async function wireBytes(seconds: number): Promise<{ frames: number; json: number; deflate: number; deflateNoContext: number }> {
  const texts = eventStream(seconds, 1000).map(([, f]) => JSON.stringify(f))
  const json = texts.reduce((sum, t) => sum + Buffer.byteLength(t), 0)
  const deflateNoContext = texts.reduce((sum, t) => sum + zlib.deflateRawSync(t).length, 0)
  const stream = zlib.createDeflateRaw()
  let deflate = 0
  for (const text of texts) {
    const chunks: Buffer[] = []
    const onData = (c: Buffer): number => chunks.push(c)
    stream.on('data', onData)
    stream.write(text)
    await new Promise<void>((resolve) => stream.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()))
    stream.off('data', onData)
    // RFC 7692: the trailing 00 00 ff ff of each sync flush is not sent.
    deflate += Buffer.concat(chunks).length - 4
  }
  stream.close()
  return { frames: texts.length, json, deflate, deflateNoContext }
}

/** 1,000 clients dropped at once: reconnect attempts per 100 ms bucket, with and without jitter. */
export async function reconnectStorm(clients: number, jitter: boolean): Promise<{ clients: number; jitter: boolean; buckets: number[]; peak: number; mean: number; peakOverMean: number }> {
  const secret = 'storm'
  // Every client comes from 127.0.0.1: the per-address cap is lifted for the bench.
  const server = await createServer({ port: 0, secret, dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'storm-')), heartbeatMs: 600000, maxConnectionsPerAddress: 1_000_000 })
  const exp = Math.floor(Date.now() / 1000) + 3600
  const attempts: number[] = []
  const all: Array<{ client: ReturnType<typeof createLiveClient>; platform: ReturnType<typeof createNodePlatform>; sub: { unsubscribe(): void } }> = []
  for (let i = 0; i < clients; i++) {
    const platform = createNodePlatform()
    const connect = platform.connectSocket.bind(platform)
    platform.connectSocket = (o) => {
      attempts.push(Date.now())
      return connect(o)
    }
    const client = createLiveClient({
      url: server.url,
      platform,
      token: signToken({ uid: `s${i}`, name: 's', role: 'viewer', exp }, secret),
      outbox: { storageKey: false },
      ...(jitter ? {} : { random: () => 1 }),
    })
    const sub = client.frames$.subscribe()
    all.push({ client, platform, sub })
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 20))
  }
  while (all.some((c) => c.client.state.status !== 'open')) await new Promise((r) => setTimeout(r, 20))
  attempts.length = 0
  const dropAt = Date.now()
  server.dropConnections()
  const deadline = Date.now() + 15000
  const back = (): boolean => all.every((c) => c.client.stats.reconnects >= 1 && c.client.state.status === 'open')
  while (!back() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  const buckets: number[] = []
  for (const t of attempts) buckets[Math.floor((t - dropAt) / 100)] = (buckets[Math.floor((t - dropAt) / 100)] ?? 0) + 1
  const filled = Array.from({ length: buckets.length }, (_, i) => buckets[i] ?? 0)
  const peak = Math.max(...filled)
  const mean = attempts.length / Math.max(1, filled.length)
  for (const c of all) {
    c.sub.unsubscribe()
    c.client.close()
    c.platform.destroy()
  }
  await server.close()
  return { clients, jitter, buckets: filled, peak, mean, peakOverMean: peak / mean }
}

/** socket.io doing the same broadcast: 1 room, N clients (websocket transport). */
export async function fanoutSocketIo(viewers: number, events: number): Promise<FanoutResult> {
  const httpServer = http.createServer()
  const ioServer = new SocketIoServer(httpServer, { transports: ['websocket'] })
  ioServer.on('connection', (socket) => void socket.join('bench'))
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', () => resolve()))
  const port = (httpServer.address() as AddressInfo).port
  const heapBefore = heapUsed()
  const clients: Array<ReturnType<typeof socketIoClient>> = []
  for (let i = 0; i < viewers; i++) {
    const c = socketIoClient(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false })
    clients.push(c)
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 20))
  }
  while (ioServer.sockets.adapter.rooms.get('bench')?.size !== viewers) await new Promise((r) => setTimeout(r, 10))
  const heapPerConnectionBytes = (heapUsed() - heapBefore) / viewers
  const started = now()
  let done = 0
  const finished = new Promise<void>((resolve) => {
    for (const c of clients) {
      let seen = 0
      c.on('message', () => {
        if (++seen === events && ++done === clients.length) resolve()
      })
    }
  })
  for (let i = 0; i < events; i++) {
    ioServer
      .to('bench')
      .emit('message', { msg_type: 'message', room_id: 'bench', seq: i + 1, msg_id: `e${i}`, from_uid: 'anchor', from_name: 'Anchor', content: 'a typical comment of about forty characters..' })
    if (i % 20 === 19) await new Promise((r) => setImmediate(r))
  }
  await finished
  const seconds = (now() - started) / 1000
  for (const c of clients) c.close()
  void ioServer.close()
  await new Promise((r) => httpServer.close(() => r(undefined)))
  return { name: 'socket.io broadcast (room emit)', viewers, events, deliveries: viewers * events, seconds, deliveriesPerSecond: (viewers * events) / seconds, heapPerConnectionBytes }
}
