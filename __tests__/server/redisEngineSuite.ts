/**
 * The Redis engine's own rules, on one Redis (redisEngine.test.ts) and on a Redis Cluster
 * (redisEngine.cluster.test.ts): the same room rules as the in-memory engine (differential
 * property test), leases and sweeps of dead processes, rooms' life (expiry), likes merged
 * across processes.
 */
import fc from 'fast-check'
import Redis, { Cluster } from 'ioredis'
import { MemoryEngine } from '../../server/engine/memory'
import type { RedisTarget } from '../../server/engine/redis/clients'
import { RedisEngine } from '../../server/engine/redis/engine'
import type { RoomAction } from '../../server/room'
import type { RoomEvent, SnapshotFrame } from '../../src/protocol/frames'
import { eventually, until } from '../helpers/wait'

let prefixes = 0
const prefix = (): string => `t${++prefixes}-${process.pid}`

const users = [
  { uid: 'u1', name: 'n1' },
  { uid: 'u2', name: 'n2' },
  // Hostile strings travel through Lua as JSON fragments, never decoded and re-encoded.
  { uid: 'u"3', name: 'q"\\/\u2028 é 😀 </script>' },
]
const goodsIds = ['g1', 'g2', 'g3']
const action: fc.Arbitrary<RoomAction> = fc.oneof(
  fc.record({ type: fc.constant('join' as const), connId: fc.constantFrom('c1', 'c2', 'c3', 'c4'), user: fc.constantFrom(...users) }),
  fc.record({ type: fc.constant('leave' as const), connId: fc.constantFrom('c1', 'c2', 'c3', 'c4'), user: fc.constantFrom(...users) }),
  fc.record({
    type: fc.constant('message' as const),
    msgId: fc.string({ minLength: 1, maxLength: 8 }),
    user: fc.constantFrom(...users),
    content: fc.string({ minLength: 1, maxLength: 20, unit: 'grapheme' }),
  }),
  fc.record({ type: fc.constant('like' as const), delta: fc.integer({ min: 1, max: 100 }) }),
  fc.record({ type: fc.constant('subscribe' as const), user: fc.constantFrom(...users) }),
  fc.record({ type: fc.constant('buy' as const), user: fc.constantFrom(...users), goodsId: fc.constantFrom(...goodsIds) }),
  fc.record({
    type: fc.constant('shelf' as const),
    item: fc.record({
      goods_id: fc.constantFrom(...goodsIds),
      goods_name: fc.constantFrom('Tea', 'Cup "deluxe" 🍵'),
      // Prices with more digits than Lua's cjson keeps: they must come back exact.
      goods_price: fc.oneof(fc.integer({ min: 0, max: 100000 }), fc.constant(1234567.123456789), fc.constant(2 ** 53 - 1)),
      default_image: fc.constant('https://img/x.png'),
      status: fc.constantFrom('on' as const, 'off' as const),
    }),
  }),
  fc.record({ type: fc.constant('room_state' as const), status: fc.constantFrom('live' as const, 'ended' as const), title: fc.option(fc.string({ maxLength: 10 }), { nil: undefined }) }),
)

const withoutTs = (e: RoomEvent): Omit<RoomEvent, 'ts'> => {
  const { ts: _ts, ...rest } = e
  return rest
}
const comparable = (s: SnapshotFrame): Omit<SnapshotFrame, 'epoch' | 'message_list'> & { message_list: unknown[] } => {
  const { epoch: _epoch, ...rest } = s
  return { ...rest, message_list: s.message_list.map(withoutTs) }
}

/** An admin connection of the test's own to the same store. */
function adminOf(target: RedisTarget): Redis | Cluster {
  if (typeof target === 'object' && 'cluster' in target) return new Cluster(target.cluster.map((node) => ({ host: node.split(':')[0], port: Number(node.split(':')[1]) })))
  return typeof target === 'string' ? new Redis(target) : new Redis(target)
}

/** Keys matching a pattern, on every master of a cluster. */
async function keysOf(admin: Redis | Cluster, pattern: string): Promise<string[]> {
  if (admin instanceof Cluster) return (await Promise.all(admin.nodes('master').map((node) => node.keys(pattern)))).flat()
  return admin.keys(pattern)
}

export function redisEngineSuite(topology: string, store: () => RedisTarget): void {
  describe(`Redis engine (${topology})`, () => {
    it('applies any sequence of actions exactly as the in-memory engine does (events, snapshot, recovery)', async () => {
      let longest = 0
      await fc.assert(
        fc.asyncProperty(fc.array(action, { maxLength: 120, size: 'max' }), async (actions) => {
          const memory = new MemoryEngine({ history: 40 })
          const shared = await RedisEngine.connect({ redis: store(), prefix: prefix(), history: 40 })
          try {
            const expected: RoomEvent[] = []
            const seen: RoomEvent[] = []
            memory.subscribe('r', (e) => expected.push(e))
            shared.subscribe('r', (e, data) => {
              expect(JSON.parse(data)).toEqual(e)
              seen.push(e)
            })
            await shared.snapshot('r')
            for (const a of actions) {
              const want = await memory.apply('r', a)
              const got = await shared.apply('r', a)
              expect(got.ok).toBe(want.ok)
              if (want.ok === false && got.ok === false) expect([got.code, got.reason]).toEqual([want.code, want.reason])
            }
            await until(() => seen.length === expected.length, `all ${expected.length} events delivered`, 5000)
            expect(seen.map(withoutTs)).toEqual(expected.map(withoutTs))
            longest = Math.max(longest, seen.length)
            expect(comparable(await shared.snapshot('r'))).toEqual(comparable(await memory.snapshot('r')))
            const from = Math.max(0, seen.length - 40)
            // The room's own epoch (docs/protocol.md, "Epochs and recovery"), as its snapshot gives it.
            const roomEpoch = (await shared.snapshot('r')).epoch
            const recovered = await shared.recover('r', from, roomEpoch)
            expect(recovered?.events.map(withoutTs)).toEqual(expected.slice(from).map(withoutTs))
            if (seen.length > 40) expect(await shared.recover('r', seen.length - 41, roomEpoch)).toBeNull()
            expect(await shared.recover('r', 0, 'another-epoch')).toBeNull()
          } finally {
            await memory.close()
            await shared.close()
          }
        }),
        { numRuns: 40 },
      )
      expect(longest).toBeGreaterThan(40)
    })

    it('takes the members of a process whose lease ran out out of their rooms (with leave events), and a swept live process puts its own back', async () => {
      const p = prefix()
      const a = await RedisEngine.connect({ redis: store(), prefix: p, leaseMs: 300 })
      const b = await RedisEngine.connect({ redis: store(), prefix: p, leaseMs: 300 })
      const admin = adminOf(store())
      try {
        const seen: RoomEvent[] = []
        b.subscribe('l', (e) => seen.push(e))
        await b.snapshot('l')
        await a.apply('l', { type: 'join', connId: 'a1', user: { uid: 'x', name: 'X' } })
        await a.apply('l', { type: 'join', connId: 'a2', user: { uid: 'y', name: 'Y' } })
        await b.apply('l', { type: 'join', connId: 'b1', user: { uid: 'z', name: 'Z' } })
        expect((await b.snapshot('l')).room.online_num).toBe(3)
        // a stops renewing, as a killed process would: b takes its members out, each with a leave.
        await a.close().catch(() => undefined)
        // close() is a clean exit; to model a crash the members come back as a dead process left them.
        await admin.hset(`${p}:room:{l}:members:dead1`, 'd1', JSON.stringify({ uid: 'q', name: 'Q' }), 'd2', JSON.stringify({ uid: 'r', name: 'R' }))
        await admin.incrby(`${p}:room:{l}:online`, 2)
        await admin.hset(`${p}:room:{l}:users`, 'q', 1, 'r', 1)
        await admin.sadd(`${p}:proc:dead1:rooms`, 'l')
        await admin.zadd(`${p}:procs`, 1, 'dead1')
        await until(() => seen.filter((e) => e.msg_type === 'leave' && ['q', 'r'].includes(e.user.uid)).length === 2, 'the dead process swept', 3000)
        expect((await b.snapshot('l')).room.online_num).toBe(1)
        // The sweep ends by taking the dead process out of the registry, after its rooms' leaves.
        await eventually(async () => (await admin.zscore(`${p}:procs`, 'dead1')) === null, 'the dead process out of the registry')

        // b itself is taken for dead while alive (its lease entry and members removed, as a sweep does):
        // at its next renewal it puts its member back.
        await admin.zrem(`${p}:procs`, b.id)
        await admin.del(`${p}:room:{l}:members:${b.id}`)
        await admin.decrby(`${p}:room:{l}:online`, 1)
        await admin.hdel(`${p}:room:{l}:users`, 'z')
        expect((await b.snapshot('l')).room.online_num).toBe(0)
        await eventually(async () => (await b.snapshot('l')).room.online_num === 1, 'b put its member back at its next renewal')
      } finally {
        admin.disconnect()
        await b.close()
      }
    })

    it('lets the keys of an empty room nobody owns, where nothing but joins and leaves happened, expire in seconds; the others after idleRoomMs (round two, problem 1)', async () => {
      const p = prefix()
      const engine = await RedisEngine.connect({ redis: store(), prefix: p, rooms: [{ id: 'listed', title: 'Listed' }], fixedRooms: false })
      const admin = adminOf(store())
      const viewer = { uid: 'v', name: 'V' }
      try {
        const visit = async (roomId: string, between?: RoomAction): Promise<void> => {
          await engine.apply(roomId, { type: 'join', connId: `c-${roomId}`, user: viewer })
          if (between !== undefined) await engine.apply(roomId, between)
          expect(await admin.pttl(`${p}:room:{${roomId}}:meta`)).toBe(-1)
          await engine.apply(roomId, { type: 'leave', connId: `c-${roomId}`, user: viewer })
        }
        const ttl = (roomId: string): Promise<number> => admin.pttl(`${p}:room:{${roomId}}:meta`)
        await visit('passing')
        await visit('talked', { type: 'message', msgId: 'm1', user: viewer, content: 'hi' })
        await visit('liked', { type: 'like', delta: 3 })
        await visit('listed')
        await engine.apply('owned', { type: 'join', connId: 'c-a', user: { uid: 'a', name: 'Anchor' }, anchor: true })
        await engine.apply('owned', { type: 'leave', connId: 'c-a', user: { uid: 'a', name: 'Anchor' } })
        // Only the room where nobody did anything and nobody owns goes within seconds; every key of it.
        const passing = await ttl('passing')
        expect(passing).toBeGreaterThan(0)
        expect(passing).toBeLessThanOrEqual(10000)
        for (const key of await keysOf(admin, `${p}:room:{passing}:*`)) {
          const left = await admin.pttl(key)
          expect(left).toBeGreaterThan(0)
          expect(left).toBeLessThanOrEqual(10000)
        }
        // A comment, a like, a configured room, an anchor: kept for idleRoomMs (10 min).
        for (const roomId of ['talked', 'liked', 'listed', 'owned']) expect(await ttl(roomId)).toBeGreaterThan(9 * 60 * 1000)
      } finally {
        admin.disconnect()
        await engine.close()
      }
    })

    it('sweeps a dead process out of a crowded room with one leave notice, not one per viewer (issue 11, problem 6)', async () => {
      const p = prefix()
      const b = await RedisEngine.connect({ redis: store(), prefix: p, leaseMs: 300, crowdedRoomSize: 3 })
      const admin = adminOf(store())
      try {
        const seen: RoomEvent[] = []
        b.subscribe('crowd', (e) => seen.push(e))
        await b.snapshot('crowd')
        await b.apply('crowd', { type: 'join', connId: 'b1', user: { uid: 'keep', name: 'Keep' } })
        // A crashed process left 40 viewers in the room.
        const dead: string[] = []
        for (let i = 0; i < 40; i++) dead.push(`d${i}`, JSON.stringify({ uid: `v${i}`, name: `V${i}` }))
        await admin.hset(`${p}:room:{crowd}:members:dead2`, ...dead)
        await admin.incrby(`${p}:room:{crowd}:online`, 40)
        await admin.hset(`${p}:room:{crowd}:users`, ...Array.from({ length: 40 }, (_, i) => [`v${i}`, 1]).flat())
        await admin.sadd(`${p}:proc:dead2:rooms`, 'crowd')
        await admin.zadd(`${p}:procs`, 1, 'dead2')
        await until(() => seen.some((e) => e.msg_type === 'leave' && e.online_num === 1), 'the dead process swept', 3000)
        const leaves = seen.filter((e) => e.msg_type === 'leave')
        // Down to the crowd size each leaves quietly; below it, one notice each: 40 -> 4 notices at most.
        expect(leaves.length).toBeLessThanOrEqual(4)
        expect(leaves[leaves.length - 1]).toMatchObject({ online_num: 1 })
        expect((await b.snapshot('crowd')).room.online_num).toBe(1)
      } finally {
        admin.disconnect()
        await b.close()
      }
    })

    it('merges likes sent to different processes in one window into one like event with the absolute total', async () => {
      const p = prefix()
      const a = await RedisEngine.connect({ redis: store(), prefix: p, likeWindowMs: 150 })
      const b = await RedisEngine.connect({ redis: store(), prefix: p, likeWindowMs: 150 })
      try {
        const seenA: RoomEvent[] = []
        const seenB: RoomEvent[] = []
        a.subscribe('likes', (e) => seenA.push(e))
        b.subscribe('likes', (e) => seenB.push(e))
        await Promise.all([a.snapshot('likes'), b.snapshot('likes')])
        await Promise.all([a.like('likes', 3), b.like('likes', 4), a.like('likes', 1), b.like('likes', 2)])
        await until(() => seenA.length === 1 && seenB.length === 1, 'one like event on each process', 3000)
        expect(seenA[0]).toMatchObject({ msg_type: 'like', like_num: 10, delta: 10, seq: 1 })
        expect(seenB[0]).toEqual(seenA[0])
        await a.like('likes', 5)
        await until(() => seenB.length === 2, 'the next window', 3000)
        expect(seenB[1]).toMatchObject({ like_num: 15, delta: 5, seq: 2 })
        // A repeated like command counts once, on any process.
        expect(await a.like('likes', 7, { uid: 'u', msgId: 'l1' })).toBeUndefined()
        expect(await b.like('likes', 7, { uid: 'u', msgId: 'l1' })).toMatchObject({ msg_type: 'ack', msg_id: 'l1', ok: true, room_id: 'likes' })
        await until(() => seenA.length === 3, 'the third window', 3000)
        expect(seenA[2]).toMatchObject({ like_num: 22, delta: 7 })
      } finally {
        await a.close()
        await b.close()
      }
    })
  })
}
