/**
 * Problem 1 of issue 21 as a probe: how many rooms one account can make the server hold, and
 * what they cost. One viewer token, 10 sockets joining a new room id at the frame rate for 12 s,
 * then HTTP polls of new ids for 12 s; prints joins taken and refused, rooms held, heap per room,
 * and rooms left once the sockets closed and the empty-room delay passed.
 * Run: node --expose-gc -r ./scripts/dev-source.js bench/roomsPerAccount.ts
 */
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import WebSocket from 'ws'
import { createServer } from '../server/server'
import { signToken } from '../server/token'

const SECRET = 'probe-secret'
const RUN_MS = 12000
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const heap = (): number => {
  ;(global as { gc?: () => void }).gc?.()
  return process.memoryUsage().heapUsed
}

void (async () => {
  const server = await createServer({ port: 0, secret: SECRET, dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'rooms-probe-')) })
  const token = signToken({ uid: 'attacker', name: 'A', role: 'viewer', exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET)
  const heapBefore = heap()
  let n = 0
  const answers = { ok: 0, refused4029: 0, other: 0 }
  const sockets = await Promise.all(
    Array.from(
      { length: 10 },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(server.url, ['live.v1'], { headers: { Authorization: `Bearer ${token}` } })
          ws.on('open', () => resolve(ws))
          ws.on('error', reject)
          ws.on('message', (data) => {
            const frame = JSON.parse(String(data)) as { msg_type: string; ok?: boolean; code?: number; msg_id?: string }
            if (frame.msg_type !== 'ack' || !frame.msg_id?.startsWith('j')) return
            if (frame.ok === true) answers.ok++
            else if (frame.code === 4029) answers.refused4029++
            else answers.other++
          })
        }),
    ),
  )
  const started = Date.now()
  while (Date.now() - started < RUN_MS) {
    for (const ws of sockets) {
      const id = n++
      ws.send(JSON.stringify({ msg_type: 'join', msg_id: `j${id}`, room_id: `probe-${id}` }))
    }
    await sleep(50)
  }
  await sleep(500)
  const held = server.engine.roomCount
  const heapHeld = heap()
  console.log(
    `[rooms per account] socket: ${n} joins of new ids in ${RUN_MS / 1000} s from 10 sockets of one user: ${answers.ok} taken, ${answers.refused4029} refused 4029, ${answers.other} other; ` +
      `rooms held ${held}, heap +${((heapHeld - heapBefore) / 1e6).toFixed(2)} MB (${held > 0 ? ((heapHeld - heapBefore) / held / 1024).toFixed(1) : '-'} KB per room)`,
  )
  // Over HTTP, the same account (its room budget partly refilled meanwhile).
  const base = server.url.replace(/^ws/, 'http').replace(/\/ws$/, '')
  const statuses = new Map<number, number>()
  const httpStarted = Date.now()
  let polls = 0
  while (Date.now() - httpStarted < RUN_MS) {
    const response = await fetch(`${base}/api/rooms/http-probe-${polls++}/events?wait_ms=0`, { headers: { Authorization: `Bearer ${token}` } })
    await response.arrayBuffer()
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
    await sleep(20)
  }
  console.log(
    `[rooms per account] HTTP: ${polls} polls of new ids in ${RUN_MS / 1000} s: ${[...statuses].map(([status, count]) => `${count} x ${status}`).join(', ')}; rooms held now ${server.engine.roomCount}`,
  )
  for (const ws of sockets) ws.close()
  // Empty rooms nobody owns go 10 s after they emptied (the sweep runs every 5 s); HTTP leases end 60 s after the last poll.
  await sleep(16000)
  console.log(`[rooms per account] 16 s after the sockets closed: rooms held ${server.engine.roomCount} (the HTTP ones wait for their 60 s lease)`)
  await server.close()
})()
