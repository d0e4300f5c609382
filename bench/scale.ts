/**
 * Scaling out: 1 room, N viewers, events delivered per second by server *processes*
 * (the CLI), so the servers get CPUs of their own and the comparison is fair:
 * - 1 process, in-memory engine;
 * - 2 processes sharing the room through Redis (viewers spread evenly).
 * The publisher is a client on the first process sending `message` commands; viewers are raw
 * `ws` clients in this process that count frames. Redis is a redis-server of the bench's own.
 */
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import WebSocket from 'ws'
import { signToken } from '../server/token'
import { startRedis } from '../__tests__/helpers/redisServer'
import { startServerProcess, type ServerProcess } from '../__tests__/helpers/serverProcess'
import type { FanoutResult } from './fanout'

const SECRET = 'bench-scale-secret'
const CONTENT = 'a typical comment of about forty characters..'

function connect(url: string, uid: string): Promise<WebSocket> {
  const exp = Math.floor(Date.now() / 1000) + 3600
  const ws = new WebSocket(url, ['live.v1'], {
    headers: { Authorization: `Bearer ${signToken({ uid, name: uid, role: 'viewer', exp }, SECRET)}` },
    perMessageDeflate: false,
  })
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

function joined(ws: WebSocket, i: number): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (data: WebSocket.RawData): void => {
      if (String(data).includes('"msg_type":"snapshot"')) {
        ws.off('message', onMessage)
        resolve()
      }
    }
    ws.on('message', onMessage)
    ws.send(JSON.stringify({ msg_type: 'join', msg_id: `j${i}`, room_id: 'bench' }))
  })
}

export async function fanoutProcesses(processes: number, viewers: number, events: number, redisUrl?: string): Promise<FanoutResult> {
  const common = ['--secret', SECRET, '--heartbeat-ms', '600000', '--rate-limit', '1000000:1000000', '--message-rate-limit', '1000000:1000000']
  const prefix = `bench${Date.now()}`
  const servers: ServerProcess[] = await Promise.all(
    Array.from({ length: processes }, () =>
      startServerProcess([...common, '--data-dir', fs.mkdtempSync(path.join(os.tmpdir(), 'bench-scale-')), ...(redisUrl ? ['--redis', redisUrl, '--redis-prefix', prefix] : [])]),
    ),
  )
  const sockets: WebSocket[] = []
  try {
    for (let start = 0; start < viewers; start += 100) {
      const batch = await Promise.all(Array.from({ length: Math.min(100, viewers - start) }, (_, k) => connect(servers[(start + k) % processes].url, `v${start + k}`)))
      await Promise.all(batch.map((ws, k) => joined(ws, start + k)))
      sockets.push(...batch)
    }
    const publisher = await connect(servers[0].url, 'anchor')
    await joined(publisher, -1)
    await new Promise((r) => setTimeout(r, 300)) // let the join notices settle
    const started = process.hrtime.bigint()
    let done = 0
    const counted = new Promise<number>((resolve) => {
      for (const ws of sockets) {
        let seen = 0
        ws.on('message', (data) => {
          if (!String(data).includes('"msg_type":"message"')) return
          if (++seen === events && ++done === sockets.length) resolve(Number(process.hrtime.bigint() - started) / 1e9)
        })
      }
    })
    for (let i = 0; i < events; i++) {
      publisher.send(JSON.stringify({ msg_type: 'message', msg_id: `e${i}`, room_id: 'bench', content: CONTENT }))
      if (i % 20 === 19) await new Promise((r) => setImmediate(r))
    }
    const seconds = await counted
    publisher.terminate()
    const name = redisUrl ? `${processes} processes + Redis` : `${processes} process, in-memory`
    return { name, viewers, events, deliveries: viewers * events, seconds, deliveriesPerSecond: (viewers * events) / seconds }
  } finally {
    for (const ws of sockets) ws.terminate()
    await Promise.all(servers.map((s) => s.kill('SIGTERM')))
  }
}

/** Both set-ups in one run: 2 processes + Redis first, then the 1 in-memory process it is compared with. */
export async function scaleOut(viewers: number, events: number): Promise<FanoutResult[]> {
  const redis = await startRedis()
  try {
    return [await fanoutProcesses(2, viewers, events, redis.url), await fanoutProcesses(1, viewers, events)]
  } finally {
    await redis.stop()
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === __filename) {
  const viewers = Number(process.argv[2] ?? 1000)
  const events = Number(process.argv[3] ?? 200)
  void (async () => {
    const results = await scaleOut(viewers, events)
    const base = results[results.length - 1]
    for (const r of results)
      console.log(
        `${r.name}: ${r.viewers} viewers, ${r.events} events, ${r.seconds.toFixed(3)} s, ${Math.round(r.deliveriesPerSecond)} deliveries/s, ratio ${(r.deliveriesPerSecond / base.deliveriesPerSecond).toFixed(2)}`,
      )
    process.exit(0)
  })()
}
