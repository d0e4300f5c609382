/**
 * Several server processes (the CLI, `--redis` or `--redis-cluster`), one room, clients of this
 * library spread over them on the Node platform. Every event must reach every client exactly
 * once and in order, also when a process is killed with SIGKILL in the middle of the stream.
 * Run on one Redis (multiProcess.redis.test.ts) and on a Redis Cluster (multiProcess.cluster.test.ts).
 */
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { createLiveClient, type LiveClient } from '../../src/connection/client'
import { createNodePlatform, type NodePlatform } from '../../server/node/platform'
import type { AckFrame, RoomEvent, SnapshotFrame } from '../../src/protocol/frames'
import { mid, RawClient } from '../helpers/rawClient'
import { startServerProcess, type ServerProcess } from '../helpers/serverProcess'
import { until } from '../helpers/wait'
import { SECRET, token } from './conformanceSuite'

const ROOM = 'big'
const EVENTS = 5000

let prefixes = 0
const processes: ServerProcess[] = []
const clients: LiveClient[] = []
const platforms: NodePlatform[] = []
const raws: RawClient[] = []

/** The CLI flags that name the store: `--redis URL` or `--redis-cluster NODES`. */
let storeArgs: () => string[] = () => []

afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  for (const p of platforms.splice(0)) p.destroy()
  for (const r of raws.splice(0)) r.ws.terminate()
  await Promise.all(processes.splice(0).map((p) => p.kill('SIGTERM')))
})

async function startProcesses(n: number): Promise<ServerProcess[]> {
  const prefix = `mp${++prefixes}`
  const started = await Promise.all(
    Array.from({ length: n }, () =>
      startServerProcess([
        '--secret',
        SECRET,
        ...storeArgs(),
        '--redis-prefix',
        prefix,
        '--lease-ms',
        '1000',
        '--history',
        '5000',
        '--rate-limit',
        '2000:4000',
        '--message-rate-limit',
        '2000:4000',
        '--data-dir',
        fs.mkdtempSync(path.join(os.tmpdir(), 'live-mp-')),
      ]),
    ),
  )
  processes.push(...started)
  return started
}

interface Viewer {
  client: LiveClient
  events: RoomEvent[]
  snapshots: number
}

/** A client whose URL list starts at process `first`: clients spread over the processes. */
function viewer(urls: string[], first: number, uid: string): Viewer {
  const platform = createNodePlatform()
  platforms.push(platform)
  const client = createLiveClient({
    url: [...urls.slice(first), ...urls.slice(0, first)],
    platform,
    token: () => token(uid),
    backoff: { minMs: 10, maxMs: 100 },
    heartbeatMs: 1000,
    ackTimeoutMs: 3000,
    outbox: { storageKey: false, max: 1000 },
  })
  clients.push(client)
  const v: Viewer = { client, events: [], snapshots: 0 }
  client.room(ROOM).subscribe((u) => {
    if (u.type === 'event') v.events.push(u.event)
    if (u.type === 'snapshot') v.snapshots++
  })
  return v
}

/** Sends `count` messages from one client, `window` in flight at a time. */
async function sendMessages(v: Viewer, tag: string, count: number, window = 25): Promise<AckFrame[]> {
  const acks: AckFrame[] = []
  for (let i = 0; i < count; i += window) {
    const batch = Array.from({ length: Math.min(window, count - i) }, (_, k) => v.client.send({ msg_type: 'message', msg_id: `${tag}-${i + k}`, room_id: ROOM, content: `${tag} ${i + k}` }))
    acks.push(...(await Promise.all(batch)))
  }
  return acks
}

/** Every client saw one contiguous run of seqs, and each message id exactly once. */
function expectExactlyOnce(viewers: Viewer[], messageIds: string[]): void {
  for (const v of viewers) {
    const seqs = v.events.map((e) => e.seq as number)
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0] + i))
    const ids = v.events.filter((e): e is Extract<RoomEvent, { msg_type: 'message' }> => e.msg_type === 'message').map((e) => e.msg_id)
    expect(ids.length).toBe(new Set(ids).size)
    expect(new Set(ids)).toEqual(new Set(messageIds))
    // One snapshot when the room was first joined; after that, recovery only.
    expect(v.snapshots).toBe(1)
  }
}

async function snapshotVia(url: string): Promise<SnapshotFrame> {
  const raw = await RawClient.connect(url, { token: token(`probe-${mid()}`) })
  raws.push(raw)
  await raw.type('init')
  await raw.command({ msg_type: 'join', msg_id: mid('probe'), room_id: ROOM })
  const snapshot = (await raw.type('snapshot')) as unknown as SnapshotFrame
  raw.ws.terminate()
  return snapshot
}

export function multiProcessSuite(store: string, args: () => string[]): void {
  storeArgs = args
  describe(`several server processes sharing rooms through ${store}`, () => {
    it(`2 processes: ${EVENTS} events sent from clients on both reach every client exactly once, in order`, async () => {
      const procs = await startProcesses(2)
      const urls = procs.map((p) => p.url)
      const viewers = Array.from({ length: 6 }, (_, i) => viewer(urls, i % 2, `v${i}`))
      await until(() => viewers.every((v) => v.snapshots === 1), 'every viewer joined', 10000)
      const started = Date.now()
      const perClient = EVENTS / viewers.length
      const ids: string[] = []
      const acks = await Promise.all(
        viewers.map((v, i) => {
          const n = Math.floor(perClient) + (i < EVENTS % viewers.length ? 1 : 0)
          for (let k = 0; k < n; k++) ids.push(`two${i}-${k}`)
          return sendMessages(v, `two${i}`, n)
        }),
      )
      expect(ids).toHaveLength(EVENTS)
      expect(acks.flat().every((a) => a.ok)).toBe(true)
      await until(() => viewers.every((v) => v.events.filter((e) => e.msg_type === 'message').length >= EVENTS), 'every event everywhere', 20000)
      const seconds = (Date.now() - started) / 1000
      expectExactlyOnce(viewers, ids)
      // The seqs of the acks are the seqs the viewers saw: one sequence across both processes.
      const ackSeqs = acks
        .flat()
        .map((a) => a.seq as number)
        .sort((a, b) => a - b)
      expect(new Set(ackSeqs).size).toBe(EVENTS)
      console.log(`[multi-process] 2 processes, ${viewers.length} clients: ${EVENTS} events to each in ${seconds.toFixed(1)} s, 0 gaps, 0 duplicates`)
    })

    it('3 processes, one killed with SIGKILL mid-stream: its clients move, recover without gap or duplicate; resends are acked dup:true; online_num settles', async () => {
      const procs = await startProcesses(3)
      const urls = procs.map((p) => p.url)
      const viewers = Array.from({ length: 9 }, (_, i) => viewer(urls, i % 3, `w${i}`))
      await until(() => viewers.every((v) => v.snapshots === 1), 'every viewer joined', 10000)
      await until(() => viewers.every((v) => v.events.some((e) => e.msg_type === 'join' && e.online_num === 9)), 'nine online', 10000)

      // A raw client on the doomed process sends a command and gets its ack...
      const doomed = procs[1]
      const raw = await RawClient.connect(doomed.url, { token: token('resender') })
      raws.push(raw)
      await raw.type('init')
      await raw.command({ msg_type: 'join', msg_id: mid('j'), room_id: ROOM })
      const first = await raw.command({ msg_type: 'message', msg_id: 'resent-1', room_id: ROOM, content: 'sent once, resent after a move' })
      expect(first.ok).toBe(true)

      const ids = ['resent-1']
      const sending = viewers.map((v, i) => {
        // The resent command is one of the EVENTS.
        const n = Math.floor((EVENTS - 1) / viewers.length) + (i < (EVENTS - 1) % viewers.length ? 1 : 0)
        for (let k = 0; k < n; k++) ids.push(`three${i}-${k}`)
        return sendMessages(v, `three${i}`, n)
      })
      // ...then the process dies mid-stream, without a chance to clean up.
      await until(() => viewers[0].events.length > 1500, 'stream under way', 20000)
      const killedAt = viewers[0].events.length
      await doomed.kill('SIGKILL')
      const moved = viewers.filter((_, i) => i % 3 === 1)

      // The resend goes to another process: recognised as a repeat, same seq.
      const other = await RawClient.connect(procs[2].url, { token: token('resender') })
      raws.push(other)
      await other.type('init')
      await other.command({ msg_type: 'join', msg_id: mid('j'), room_id: ROOM })
      const again = await other.command({ msg_type: 'message', msg_id: 'resent-1', room_id: ROOM, content: 'sent once, resent after a move' })
      expect(again).toMatchObject({ ok: true, dup: true, seq: first.seq })
      other.ws.terminate()

      const acks = (await Promise.all(sending)).flat()
      expect(acks.every((a) => a.ok)).toBe(true)
      const dupAcks = acks.filter((a) => a.dup === true).length
      const total = ids.length
      expect(total).toBe(EVENTS)
      await until(() => viewers.every((v) => v.events.filter((e) => e.msg_type === 'message').length >= total), 'every event everywhere', 20000)
      expectExactlyOnce(viewers, ids)
      for (const v of moved) {
        expect(v.client.url).not.toBe(doomed.url)
        expect(v.client.stats.reconnects).toBeGreaterThanOrEqual(1)
      }

      // The dead process's connections leave once its lease runs out: 9 viewers online again.
      let online = -1
      const deadline = Date.now() + 10000
      while (online !== 9 && Date.now() < deadline) {
        online = (await snapshotVia(urls[0])).room.online_num
        if (online !== 9) await new Promise((r) => setTimeout(r, 100))
      }
      expect(online).toBe(9)
      console.log(
        `[multi-process] 3 processes, 9 clients, SIGKILL after ${killedAt} events: ${total} messages to each exactly once; ` +
          `${moved.length} clients moved; ${dupAcks} resends acked dup:true; online_num back to 9`,
      )
    })
  })
}
