/**
 * Issue 24: a Redis Cluster master killed with SIGKILL while comments flow through two server
 * processes. Redis replication is asynchronous: the replica promoted in its place may lack the
 * last events. Every acked comment must reach every viewer exactly once in order, or the viewer
 * must be sent to a snapshot under a new epoch; no seq may ever be delivered twice carrying
 * different events; comments are acked again within 30 s.
 */
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import Redis from 'ioredis'
import { createLiveClient, type LiveClient } from '../../src/connection/client'
import { CommandRejectedError } from '../../src/connection/errors'
import type { RoomEvent } from '../../src/protocol/frames'
import { createServer, type LiveServer } from '../../server/server'
import { createNodePlatform, type NodePlatform } from '../../server/node/platform'
import { clusterForThisFile } from '../helpers/redisCluster'
import { until } from '../helpers/wait'
import { SECRET, token } from './conformanceSuite'

const redis = clusterForThisFile()
const ROOM = 'hot'
const PREFIX = 'fo'

const servers: LiveServer[] = []
const clients: LiveClient[] = []
const platforms: NodePlatform[] = []
afterAll(async () => {
  for (const c of clients) c.close()
  for (const p of platforms) p.destroy()
  for (const s of servers) await s.close()
})

interface Viewer {
  client: LiveClient
  /** [epoch, event] in the order they came. */
  events: Array<[string, RoomEvent]>
  /** Epochs of the snapshots it took, in order. */
  snapshots: string[]
  /** Message ids in its snapshots. */
  inSnapshots: Set<string>
  epoch: string
}

function connect(urls: string[], uid: string): LiveClient {
  const platform = createNodePlatform()
  platforms.push(platform)
  const client = createLiveClient({
    url: urls,
    platform,
    token: () => token(uid),
    backoff: { minMs: 50, maxMs: 500 },
    heartbeatMs: 1000,
    ackTimeoutMs: 5000,
    outbox: { storageKey: false, max: 1000 },
  })
  clients.push(client)
  return client
}

function viewer(urls: string[], uid: string): Viewer {
  const v: Viewer = { client: connect(urls, uid), events: [], snapshots: [], inSnapshots: new Set(), epoch: '' }
  v.client.room(ROOM).subscribe((u) => {
    if (u.type === 'joined' && u.epoch !== undefined) v.epoch = u.epoch
    if (u.type === 'snapshot') {
      v.epoch = u.snapshot.epoch
      v.snapshots.push(u.snapshot.epoch)
      for (const m of u.snapshot.message_list) if (m.msg_id !== undefined) v.inSnapshots.add(m.msg_id)
    }
    if (u.type === 'event') v.events.push([v.epoch, u.event])
  })
  return v
}

/** The ports of the master that serves `key`'s slot and of its replica. */
async function shardOf(key: string, seed: string): Promise<{ master: number; replica: number }> {
  const node = new Redis(Number(seed.split(':')[1]), '127.0.0.1')
  try {
    const slot = Number(await node.cluster('KEYSLOT', key))
    const ranges = await node.cluster('SLOTS')
    const range = ranges.find(([from, to]) => slot >= from && slot <= to)
    if (range === undefined || range[2] === undefined || range[3] === undefined) throw new Error(`no master with a replica serves slot ${slot}`)
    return { master: range[2][1], replica: range[3][1] }
  } finally {
    node.disconnect()
  }
}

describe('a Redis Cluster failover under load (issue 24)', () => {
  it('kill -9 of the master of a busy room: acked comments reach every viewer exactly once, or a snapshot under a new epoch tells it; no seq twice with different events; acks again within 30 s', async () => {
    for (let i = 0; i < 2; i++) {
      servers.push(
        await createServer({
          port: 0,
          secret: SECRET,
          dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'live-fo-')),
          redis: { cluster: redis.seeds, prefix: PREFIX, commandTimeoutMs: 1000 },
          messageRateLimit: { perSecond: 1000, burst: 1000 },
          rateLimit: { perSecond: 1000, burst: 1000 },
          log: (line) => process.env.FO_LOG && process.stderr.write(`[s${i}] ${Date.now() % 100000} ${line}\n`),
        }),
      )
    }
    const urls = servers.map((s) => s.url)
    const viewers = [viewer(urls, 'v0'), viewer(urls, 'v1'), viewer([...urls].reverse(), 'v2'), viewer([...urls].reverse(), 'v3')]
    const senders = [connect(urls, 's0'), connect([...urls].reverse(), 's1')]
    for (const s of senders) s.room(ROOM).subscribe(() => undefined)
    await until(() => viewers.every((v) => v.snapshots.length === 1) && senders.every((s) => s.state.status === 'open'), 'every client joined')

    const acked: Array<{ msgId: string; seq: number; at: number }> = []
    const refused = new Map<number, number>()
    let stop = false
    let serial = 0
    const send = async (s: LiveClient, tag: string): Promise<void> => {
      while (!stop) {
        const msgId = `${tag}-${serial++}`
        for (;;) {
          try {
            const ack = await s.send({ msg_type: 'message', msg_id: msgId, room_id: ROOM, content: msgId })
            acked.push({ msgId, seq: ack.seq as number, at: Date.now() })
            break
          } catch (error) {
            if (!(error instanceof CommandRejectedError)) throw error
            refused.set(error.code, (refused.get(error.code) ?? 0) + 1)
            // Refused while the slot has no master (4500) or the link moved: the same msg_id again, judged anew.
            await new Promise((resolve) => setTimeout(resolve, 100))
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    }
    const sending = senders.map((s, i) => send(s, `s${i}`))
    await until(() => acked.length >= 200, '200 comments acked before the kill', 30000)

    const { master, replica } = await shardOf(`${PREFIX}:room:{${ROOM}}:meta`, redis.seeds[0])
    // The replica falls behind (replication is asynchronous): its link is cut while it is stopped,
    // so the last comments acked by the master never reach it, and die with the master.
    redis.cluster.pause(replica)
    const admin = new Redis(master, '127.0.0.1')
    await admin.call('CLIENT', 'KILL', 'TYPE', 'replica')
    admin.disconnect()
    const stalledAt = acked.length
    await until(() => acked.length >= stalledAt + 20, '20 comments acked that the replica has not got', 30000)
    const killedAt = Date.now()
    const ackedBefore = acked.length
    redis.cluster.kill(master)
    redis.cluster.resume(replica)
    // What /healthz says meanwhile: its status and the cluster's masters it sees connected.
    const healthSeen = new Map<string, number>()
    const health = async (): Promise<{ status: number; store: Record<string, unknown> }> => {
      const res = await fetch(`http://127.0.0.1:${servers[0].port}/healthz`)
      return { status: res.status, store: ((await res.json()) as { store: Record<string, unknown> }).store }
    }
    const probe = setInterval(() => {
      health()
        .then(({ status, store }) => {
          const said = `${status} masters ${String(store.masters_connected)}/${String(store.masters)}`
          healthSeen.set(said, (healthSeen.get(said) ?? 0) + 1)
        })
        .catch(() => undefined)
    }, 200)
    try {
      await until(() => acked.filter((a) => a.at > killedAt).length >= 200, '200 comments acked after the kill', 30000)
    } finally {
      clearInterval(probe)
    }
    stop = true
    await Promise.all(sending)
    const lastIds = senders.map((_, i) => [...acked].reverse().find((a) => a.msgId.startsWith(`s${i}-`))?.msgId)
    // Every viewer has caught up with the last comment of each sender (as an event, or in a snapshot).
    const has = (v: Viewer, id: string | undefined): boolean => id === undefined || v.inSnapshots.has(id) || v.events.some(([, e]) => e.msg_type === 'message' && e.msg_id === id)
    await until(() => viewers.every((v) => lastIds.every((id) => has(v, id))), 'every viewer caught up', 30000)
    // What the store itself lost: acked comments missing from the room's history after the failover.
    const reader = new Redis.Cluster(redis.seeds.map((seed) => ({ host: '127.0.0.1', port: Number(seed.split(':')[1]) })))
    const kept = new Set<string>()
    try {
      for (const [, fields] of await reader.xrange(`${PREFIX}:room:{${ROOM}}:hist`, '-', '+')) {
        const event = JSON.parse(fields[1]) as RoomEvent
        if (event.msg_type === 'message' && event.msg_id !== undefined) kept.add(event.msg_id)
      }
    } finally {
      reader.disconnect()
    }
    const lostByStore = acked.filter((a) => !kept.has(a.msgId)).length
    // The room's history went back: every process moves its viewers to the new epoch (within a
    // lease renewal at most, when a process missed the channel's note).
    if (lostByStore > 0) await until(() => viewers.every((v) => new Set(v.snapshots).size > 1), 'every viewer sent to a snapshot under the new epoch', 10000)

    // No (epoch, seq) ever carried two different events, over all viewers.
    const bySeq = new Map<string, string>()
    for (const v of viewers) {
      for (const [epoch, event] of v.events) {
        const { ts: _ts, ...rest } = event
        const key = `${epoch}|${event.seq as number}`
        const text = JSON.stringify(rest)
        expect(bySeq.get(key) ?? text).toBe(text)
        bySeq.set(key, text)
      }
    }
    // Within an epoch each viewer's seqs only go up, and each comment comes once.
    let lost = 0
    let signalled = 0
    for (const v of viewers) {
      const seen = new Set<string>()
      let last = new Map<string, number>()
      for (const [epoch, event] of v.events) {
        expect(event.seq as number).toBeGreaterThan(last.get(epoch) ?? 0)
        last = last.set(epoch, event.seq as number)
        if (event.msg_type !== 'message') continue
        const key = `${epoch}|${event.msg_id}`
        expect(seen.has(key)).toBe(false)
        seen.add(key)
      }
      const got = new Set([...v.events].filter(([, e]) => e.msg_type === 'message').map(([, e]) => (e as Extract<RoomEvent, { msg_type: 'message' }>).msg_id))
      const missing = acked.filter((a) => !got.has(a.msgId) && !v.inSnapshots.has(a.msgId))
      // A comment acked and then lost with the old master: this viewer was sent to a snapshot under a new epoch.
      if (missing.length > 0) expect(new Set(v.snapshots).size).toBeGreaterThan(1)
      lost += missing.length
      if (new Set(v.snapshots).size > 1) signalled++
    }
    // The longest stretch without an ack from the kill on: the failover as comments see it.
    const times = [killedAt, ...acked.filter((a) => a.at > killedAt).map((a) => a.at)]
    // Afterwards it sees three masters again, all connected (the promoted replica in the dead one's place).
    let after = await health()
    for (let i = 0; i < 100 && after.store.masters_connected !== 3; i++) after = await new Promise((resolve) => setTimeout(() => resolve(health()), 100))
    expect(after).toMatchObject({ status: 200, store: { topology: 'cluster', masters: 3, masters_connected: 3, lease: 'fresh' } })
    const gap = times.slice(1).reduce((most, at, i) => Math.max(most, at - times[i]), 0)
    expect(gap).toBeLessThan(30000)
    console.log(
      `[cluster failover] master :${master} killed after ${ackedBefore} acked comments (its replica ${ackedBefore - stalledAt} behind); longest time without an ack ${gap} ms; ` +
        `refused ${JSON.stringify(Object.fromEntries(refused))}; ${acked.length} acked in all; ` +
        `${lostByStore} acked comments lost by the store; ${lost} (viewer, comment) pairs never delivered; ${signalled} of ${viewers.length} viewers sent to a snapshot under a new epoch; ` +
        `/healthz ${JSON.stringify(Object.fromEntries(healthSeen))}; epochs ${JSON.stringify([...new Set(viewers.flatMap((v) => v.snapshots))].length)}`,
    )
  }, 120000)
})
