/**
 * Scaling out: 1 room, N viewers, events delivered per second by server *processes*
 * (the CLI), so the servers get CPUs of their own and the comparison is fair:
 * - 2 processes sharing the room through a 3-master Redis Cluster (`--redis-cluster`);
 * - 2 processes sharing the room through one Redis (viewers spread evenly);
 * - 1 process, in-memory engine.
 * The publisher is a client on the first process sending `message` commands; viewers are raw
 * `ws` clients in this process that count frames. Redis (one, or a cluster of 6 nodes) is the
 * bench's own. For the Redis rows: the commands the masters processed and the CPU every Redis
 * node used, per event, read from INFO before and after the run.
 */
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import WebSocket from 'ws'
import { RedisEngine } from '../server/engine/redis/engine'
import { signToken } from '../server/token'
import Redis from 'ioredis'
import { startRedisCluster } from '../__tests__/helpers/redisCluster'
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

/** The Redis the processes share: its CLI flags, its name in the table, and the nodes whose INFO is read. */
export interface SharedStore {
  name: string
  args: string[]
  /** Ports of the nodes that take commands (one Redis, or a cluster's masters). */
  masters: number[]
  /** Ports of every node (replicas spend CPU too). */
  nodes: number[]
}

/** What a scaling row adds to a fan-out result. */
export interface ScaleResult extends FanoutResult {
  /** Publish-to-delivery latency over every delivery, 99th percentile (the events go out in one burst). */
  p99Ms: number
  /** Commands the masters processed per event (the store's cost of one event, whatever the viewers). */
  redisCommandsPerEvent?: number
  /** CPU the masters used per event, microseconds. */
  redisMasterCpuUsPerEvent?: number
  /** CPU every Redis node (replicas too) used per event, microseconds. */
  redisCpuUsPerEvent?: number
}

interface RedisReading {
  commands: number
  /** CPU of the masters (what a room's events cost where they are applied), and of every node. */
  masterCpuSeconds: number
  cpuSeconds: number
}

async function readRedis(store: SharedStore): Promise<RedisReading> {
  let commands = 0
  let masterCpuSeconds = 0
  let cpuSeconds = 0
  for (const port of store.nodes) {
    const node = new Redis(port, '127.0.0.1', { lazyConnect: true })
    try {
      await node.connect()
      const info = await node.info()
      const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0)
      const cpu = field('used_cpu_sys') + field('used_cpu_user')
      if (store.masters.includes(port)) {
        commands += field('total_commands_processed')
        masterCpuSeconds += cpu
      }
      cpuSeconds += cpu
    } finally {
      node.disconnect()
    }
  }
  return { commands, masterCpuSeconds, cpuSeconds }
}

export async function fanoutProcesses(processes: number, viewers: number, events: number, store?: SharedStore): Promise<ScaleResult> {
  // Every viewer comes from 127.0.0.1: the per-address cap (a defence against one host's flood) is lifted here.
  const common = ['--secret', SECRET, '--heartbeat-ms', '600000', '--rate-limit', '1000000:1000000', '--message-rate-limit', '1000000:1000000', '--max-connections-per-address', '1000000']
  const prefix = `bench${Date.now()}`
  const servers: ServerProcess[] = await Promise.all(
    Array.from({ length: processes }, () =>
      startServerProcess([...common, '--data-dir', fs.mkdtempSync(path.join(os.tmpdir(), 'bench-scale-')), ...(store ? [...store.args, '--redis-prefix', prefix] : [])]),
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
    const before = store ? await readRedis(store) : undefined
    const sentAt = new Float64Array(events)
    const latencies = new Float64Array(viewers * events)
    let samples = 0
    const now = (): number => Number(process.hrtime.bigint()) / 1e6
    const started = process.hrtime.bigint()
    let done = 0
    const counted = new Promise<number>((resolve) => {
      for (const ws of sockets) {
        let seen = 0
        ws.on('message', (data) => {
          const text = String(data)
          if (!text.includes('"msg_type":"message"')) return
          const index = /"msg_id":"e(\d+)"/.exec(text)
          if (index !== null) latencies[samples++] = now() - sentAt[Number(index[1])]
          if (++seen === events && ++done === sockets.length) resolve(Number(process.hrtime.bigint() - started) / 1e9)
        })
      }
    })
    for (let i = 0; i < events; i++) {
      sentAt[i] = now()
      publisher.send(JSON.stringify({ msg_type: 'message', msg_id: `e${i}`, room_id: 'bench', content: CONTENT }))
      if (i % 20 === 19) await new Promise((r) => setImmediate(r))
    }
    const seconds = await counted
    publisher.terminate()
    const after = store ? await readRedis(store) : undefined
    const sorted = latencies.subarray(0, samples).sort()
    const name = store ? `${processes} processes + ${store.name}` : `${processes} process, in-memory`
    return {
      name,
      viewers,
      events,
      deliveries: viewers * events,
      seconds,
      deliveriesPerSecond: (viewers * events) / seconds,
      p99Ms: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0,
      ...(before && after
        ? {
            redisCommandsPerEvent: (after.commands - before.commands) / events,
            redisMasterCpuUsPerEvent: ((after.masterCpuSeconds - before.masterCpuSeconds) * 1e6) / events,
            redisCpuUsPerEvent: ((after.cpuSeconds - before.cpuSeconds) * 1e6) / events,
          }
        : {}),
    }
  } finally {
    for (const ws of sockets) ws.terminate()
    await Promise.all(servers.map((s) => s.kill('SIGTERM')))
  }
}

/**
 * Every set-up in one run, same load: 2 processes on a 3-master Redis Cluster, 2 on one Redis,
 * then the 1 in-memory process they are compared with.
 */
export async function scaleOut(viewers: number, events: number): Promise<ScaleResult[]> {
  const results: ScaleResult[] = []
  const cluster = await startRedisCluster()
  try {
    const masters = cluster.ports.slice(0, 3)
    results.push(await fanoutProcesses(2, viewers, events, { name: 'Redis Cluster (3 masters)', args: ['--redis-cluster', cluster.seeds.join(',')], masters, nodes: cluster.ports }))
  } finally {
    await cluster.stop()
  }
  const redis = await startRedis()
  try {
    results.push(await fanoutProcesses(2, viewers, events, { name: 'one Redis', args: ['--redis', redis.url], masters: [redis.port], nodes: [redis.port] }))
  } finally {
    await redis.stop()
  }
  results.push(await fanoutProcesses(1, viewers, events))
  return results
}

/**
 * The store's cost of one comment, the engine alone (no sockets): `events` comments applied 50 at
 * a time, the masters' commands and CPU read from INFO before and after.
 */
export async function redisCostAlone(events: number): Promise<Array<{ name: string; commandsPerEvent: number; cpuUsPerEvent: number; eventsPerSecond: number }>> {
  const rows: Array<{ name: string; commandsPerEvent: number; cpuUsPerEvent: number; eventsPerSecond: number }> = []
  const measure = async (name: string, target: string | { cluster: string[] }, store: SharedStore): Promise<void> => {
    const engine = await RedisEngine.connect({ redis: target, prefix: `cost${Date.now()}` })
    try {
      const stop = engine.subscribe('r', () => undefined)
      await engine.snapshot('r')
      await engine.apply('r', { type: 'join', connId: 'c', user: { uid: 'u', name: 'n' } })
      const before = await readRedis(store)
      const started = process.hrtime.bigint()
      const inFlight: Array<Promise<unknown>> = []
      for (let i = 0; i < events; i++) {
        inFlight.push(engine.apply('r', { type: 'message', msgId: `m${i}`, user: { uid: 'u', name: 'n' }, content: CONTENT }, { uid: 'u', msgId: `m${i}` }))
        if (inFlight.length >= 50) await Promise.all(inFlight.splice(0))
      }
      await Promise.all(inFlight)
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      const after = await readRedis(store)
      stop()
      rows.push({
        name,
        commandsPerEvent: (after.commands - before.commands) / events,
        cpuUsPerEvent: ((after.masterCpuSeconds - before.masterCpuSeconds) * 1e6) / events,
        eventsPerSecond: events / seconds,
      })
    } finally {
      await engine.close()
    }
  }
  const cluster = await startRedisCluster()
  try {
    await measure('Redis Cluster (3 masters)', { cluster: cluster.seeds }, { name: '', args: [], masters: cluster.ports.slice(0, 3), nodes: cluster.ports.slice(0, 3) })
  } finally {
    await cluster.stop()
  }
  const redis = await startRedis()
  try {
    await measure('one Redis', redis.url, { name: '', args: [], masters: [redis.port], nodes: [redis.port] })
  } finally {
    await redis.stop()
  }
  return rows
}

/** Redis commands per event with few and with many viewers: the store's cost must not grow with them. */
export async function commandsPerEventByViewers(viewerCounts: number[], events: number): Promise<Array<{ viewers: number; cluster: number; single: number }>> {
  const rows: Array<{ viewers: number; cluster: number; single: number }> = []
  const cluster = await startRedisCluster()
  const redis = await startRedis()
  try {
    for (const viewers of viewerCounts) {
      const onCluster = await fanoutProcesses(2, viewers, events, { name: 'cluster', args: ['--redis-cluster', cluster.seeds.join(',')], masters: cluster.ports.slice(0, 3), nodes: cluster.ports })
      const onOne = await fanoutProcesses(2, viewers, events, { name: 'one', args: ['--redis', redis.url], masters: [redis.port], nodes: [redis.port] })
      rows.push({ viewers, cluster: onCluster.redisCommandsPerEvent ?? 0, single: onOne.redisCommandsPerEvent ?? 0 })
    }
  } finally {
    await cluster.stop()
    await redis.stop()
  }
  return rows
}

export function formatScale(results: ScaleResult[]): string {
  const base = results[results.length - 1]
  const fixed = (n: number | undefined, digits: number): string => (n === undefined ? '-' : n.toFixed(digits))
  const rows = results.map(
    (r) =>
      `| ${r.name} | ${r.viewers} | ${r.events} | ${r.seconds.toFixed(3)} | ${Math.round(r.deliveriesPerSecond).toLocaleString('en-US')} | ${(r.deliveriesPerSecond / base.deliveriesPerSecond).toFixed(2)} | ${Math.round(r.p99Ms).toLocaleString('en-US')} | ${fixed(r.redisCommandsPerEvent, 2)} | ${fixed(r.redisMasterCpuUsPerEvent, 0)} | ${fixed(r.redisCpuUsPerEvent, 0)} |`,
  )
  return [
    '| server | viewers | events | seconds | deliveries/s | ratio to last row | p99 ms (one burst) | Redis commands per event (masters) | Redis CPU us per event (masters) | Redis CPU us per event (all nodes) |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n')
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === __filename) {
  const viewers = Number(process.argv[2] ?? 1000)
  const events = Number(process.argv[3] ?? 200)
  void (async () => {
    console.log(formatScale(await scaleOut(viewers, events)))
    for (const row of await commandsPerEventByViewers([Math.max(10, Math.floor(viewers / 10)), viewers], events))
      console.log(`${row.viewers} viewers: ${row.cluster.toFixed(2)} commands per event on the cluster, ${row.single.toFixed(2)} on one Redis`)
    for (const row of await redisCostAlone(20000))
      console.log(
        `engine alone on ${row.name}: ${row.commandsPerEvent.toFixed(2)} commands, ${row.cpuUsPerEvent.toFixed(1)} us of master CPU per comment, ${Math.round(row.eventsPerSecond)} comments/s from one process`,
      )
    process.exit(0)
  })()
}
