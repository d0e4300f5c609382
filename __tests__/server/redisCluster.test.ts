/**
 * The test cluster itself (issue 24's ground): 6 redis-server processes of this file's own,
 * 3 masters and 3 replicas, every slot served; keys of one room (one hash tag) share a slot,
 * and a cluster client reads and writes across masters.
 */
import Redis from 'ioredis'
import { RedisEngine } from '../../server/engine/redis/engine'
import type { RoomEvent } from '../../src/protocol/frames'
import { startRedisCluster, type TestRedisCluster } from '../helpers/redisCluster'
import { until } from '../helpers/wait'

describe('a Redis Cluster of the tests own', () => {
  let cluster: TestRedisCluster
  beforeAll(async () => {
    cluster = await startRedisCluster()
  }, 60000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it('has 3 masters with a replica each and serves all 16,384 slots', async () => {
    const node = new Redis(Number(cluster.ports[0]), '127.0.0.1')
    try {
      const info = String(await node.cluster('INFO'))
      expect(info).toContain('cluster_state:ok')
      expect(info).toContain('cluster_slots_assigned:16384')
      expect(info).toContain('cluster_known_nodes:6')
      const nodes = String(await node.cluster('NODES'))
        .trim()
        .split('\n')
      expect(nodes.filter((line) => line.includes('master')).length).toBe(3)
      expect(nodes.filter((line) => line.includes('slave')).length).toBe(3)
      // A room's keys share its hash tag, so they share a slot (a room's script may touch them all).
      const slots = await Promise.all(['live:room:{r1}:meta', 'live:room:{r1}:hist', 'live:room:{r1}:events'].map((key) => node.cluster('KEYSLOT', key)))
      expect(new Set(slots).size).toBe(1)
      expect(await node.cluster('KEYSLOT', 'live:room:{r2}:meta')).not.toBe(slots[0])
    } finally {
      node.disconnect()
    }
  })

  it('is written and read through a cluster client across masters', async () => {
    const client = new Redis.Cluster(cluster.seeds.map((seed) => ({ host: '127.0.0.1', port: Number(seed.split(':')[1]) })))
    try {
      for (let i = 0; i < 30; i++) await client.set(`key:{room-${i}}`, String(i))
      const values = await Promise.all(Array.from({ length: 30 }, (_, i) => client.get(`key:{room-${i}}`)))
      expect(values).toEqual(Array.from({ length: 30 }, (_, i) => String(i)))
      // The keys spread over the masters: each holds some, and together they hold all 30.
      const counts = await Promise.all(client.nodes('master').map((master) => master.dbsize()))
      expect(counts.length).toBe(3)
      expect(counts.filter((n) => n > 0).length).toBeGreaterThan(1)
      expect(counts.reduce((a, b) => a + b, 0)).toBe(30)
    } finally {
      client.disconnect()
    }
  })

  it("runs the engine with every room in one slot: no store-wide key, sharded pub/sub on the slot's master, subscribed only while served (issue 24)", async () => {
    const engine = await RedisEngine.connect({ redis: { cluster: cluster.seeds }, prefix: 'slots' })
    const client = new Redis.Cluster(cluster.seeds.map((seed) => ({ host: '127.0.0.1', port: Number(seed.split(':')[1]) })))
    try {
      expect(engine.topology).toBe('cluster')
      const rooms = ['a', 'b', 'c', 'd', 'e', 'f']
      const seen = new Map<string, RoomEvent[]>()
      const stops = rooms.map((room) => engine.subscribe(room, (event) => seen.set(room, [...(seen.get(room) ?? []), event])))
      for (const room of rooms) {
        await engine.snapshot(room)
        await engine.apply(room, { type: 'join', connId: `c-${room}`, user: { uid: 'u1', name: 'n1' } })
        await engine.apply(room, { type: 'message', msgId: `m-${room}`, user: { uid: 'u1', name: 'n1' }, content: 'hi' }, { uid: 'u1', msgId: `m-${room}` })
      }
      await until(() => rooms.every((room) => seen.get(room)?.length === 2), 'each room saw its join and message')
      // Every key the engine wrote: a room's keys sit in the room's slot; no key is shared by all rooms.
      const keys: string[] = []
      for (const master of client.nodes('master')) keys.push(...(await master.keys('slots:*')))
      const roomKeys = keys.filter((key) => key.startsWith('slots:room:{'))
      expect(roomKeys.length).toBeGreaterThan(rooms.length * 5)
      for (const key of roomKeys) {
        const room = /^slots:room:\{([^}]*)\}/.exec(key)?.[1] as string
        expect(await client.cluster('KEYSLOT', key)).toBe(await client.cluster('KEYSLOT', `slots:room:{${room}}:meta`))
      }
      // Besides rooms: the process registry and this process's index of rooms, nothing else.
      expect(keys.filter((key) => !key.startsWith('slots:room:{')).sort()).toEqual([`slots:proc:${engine.id}:rooms`, 'slots:procs'])
      // The rooms' channels are shard channels on the masters that own their slots; no classic channel.
      const shardChannels: string[] = []
      const classic: string[] = []
      for (const master of client.nodes('master')) {
        shardChannels.push(...((await master.call('PUBSUB', 'SHARDCHANNELS', 'slots:*')) as string[]))
        classic.push(...((await master.call('PUBSUB', 'CHANNELS', 'slots:*')) as string[]))
      }
      expect(shardChannels.sort()).toEqual(rooms.map((room) => `slots:room:{${room}}:events`))
      expect(classic).toEqual([])
      // A room no longer served is no longer subscribed.
      stops[0]()
      const served = async (): Promise<string[]> => {
        const all: string[] = []
        for (const master of client.nodes('master')) all.push(...((await master.call('PUBSUB', 'SHARDCHANNELS', 'slots:*')) as string[]))
        return all
      }
      for (let i = 0; i < 100 && (await served()).includes('slots:room:{a}:events'); i++) await new Promise((resolve) => setTimeout(resolve, 20))
      expect((await served()).sort()).toEqual(rooms.slice(1).map((room) => `slots:room:{${room}}:events`))
    } finally {
      client.disconnect()
      await engine.close()
    }
  })

  it('tells an operator who points --redis at a node of a cluster to use --redis-cluster (issue 24)', async () => {
    const outcomes = await Promise.all(
      cluster.seeds.map((seed) =>
        RedisEngine.connect({ redis: `redis://${seed}`, prefix: 'moved', connectTimeoutMs: 3000 }).then(
          async (engine) => {
            await engine.close()
            return 'started'
          },
          (error: Error) => error.message,
        ),
      ),
    )
    // The node that owns the registry's slot answers; the two others answer MOVED, and the engine says what to do.
    const refused = outcomes.filter((outcome) => outcome !== 'started')
    expect(refused.length).toBe(2)
    for (const message of refused) expect(message).toMatch(/MOVED \d+ .* \(a node of a Redis Cluster: give its nodes with --redis-cluster, or \{ cluster: \[\.\.\.\] \}\)/)
  })
})
