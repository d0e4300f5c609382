/**
 * The test cluster itself (issue 24's ground): 6 redis-server processes of this file's own,
 * 3 masters and 3 replicas, every slot served; keys of one room (one hash tag) share a slot,
 * and a cluster client reads and writes across masters.
 */
import Redis from 'ioredis'
import { startRedisCluster, type TestRedisCluster } from '../helpers/redisCluster'

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
})
