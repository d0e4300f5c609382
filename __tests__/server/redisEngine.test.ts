/**
 * The Redis engine against a redis-server of the test's own: the same room rules as the
 * in-memory engine (differential property test), the epoch when Redis loses its data, and
 * an outage (Redis unreachable, then back) with nothing acked lost.
 */
import fc from 'fast-check'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import Redis from 'ioredis'
import { MemoryEngine } from '../../server/engine/memory'
import { RedisEngine } from '../../server/engine/redis/engine'
import type { RoomAction } from '../../server/room'
import { createServer, type LiveServer } from '../../server/server'
import type { RoomEvent, SnapshotFrame } from '../../src/protocol/frames'
import { RawClient, mid } from '../helpers/rawClient'
import { findRedisServer, startRedis, type TestRedis } from '../helpers/redisServer'
import { startTcpProxy } from '../helpers/tcpProxy'
import { eventually, until } from '../helpers/wait'
import { SECRET, token } from './conformanceSuite'

let redis: TestRedis
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis?.stop()
})

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

describe('Redis engine', () => {
  it('applies any sequence of actions exactly as the in-memory engine does (events, snapshot, recovery)', async () => {
    let longest = 0
    await fc.assert(
      fc.asyncProperty(fc.array(action, { maxLength: 120, size: 'max' }), async (actions) => {
        const memory = new MemoryEngine({ history: 40 })
        const shared = await RedisEngine.connect({ redis: redis.url, prefix: prefix(), history: 40 })
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
    const a = await RedisEngine.connect({ redis: redis.url, prefix: p, leaseMs: 300 })
    const b = await RedisEngine.connect({ redis: redis.url, prefix: p, leaseMs: 300 })
    const admin = new Redis(redis.url)
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
      expect(await admin.zscore(`${p}:procs`, 'dead1')).toBeNull()

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
    const engine = await RedisEngine.connect({ redis: redis.url, prefix: p, rooms: [{ id: 'listed', title: 'Listed' }], fixedRooms: false })
    const admin = new Redis(redis.url)
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
      for (const key of await admin.keys(`${p}:room:{passing}:*`)) {
        // The generation counter lives a day on purpose: a room created again gets an epoch of its own.
        if (key.endsWith(':gen')) continue
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
    const b = await RedisEngine.connect({ redis: redis.url, prefix: p, leaseMs: 300, crowdedRoomSize: 3 })
    const admin = new Redis(redis.url)
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
    const a = await RedisEngine.connect({ redis: redis.url, prefix: p, likeWindowMs: 150 })
    const b = await RedisEngine.connect({ redis: redis.url, prefix: p, likeWindowMs: 150 })
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

  it('fails with the install instruction when there is no redis-server binary', () => {
    const saved = process.env.REDIS_SERVER
    process.env.REDIS_SERVER = '/nonexistent/redis-server'
    try {
      expect(() => findRedisServer()).toThrow(/apt-get install -y redis-server/)
    } finally {
      if (saved === undefined) delete process.env.REDIS_SERVER
      else process.env.REDIS_SERVER = saved
    }
  })

  describe('with servers', () => {
    const clients: RawClient[] = []
    const servers: LiveServer[] = []
    const boot = async (redisUrl: string, extra: Record<string, unknown> = {}): Promise<LiveServer> => {
      const server = await createServer({
        port: 0,
        secret: SECRET,
        dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'live-redis-')),
        redis: { url: redisUrl, prefix: prefixNow, leaseMs: 600 },
        messageRateLimit: { perSecond: 1000, burst: 1000 },
        ...extra,
      })
      servers.push(server)
      return server
    }
    const joinedClient = async (server: LiveServer, uid: string, room: string, resume?: { since_seq: number; epoch: string }) => {
      const c = await RawClient.connect(server.url, { token: token(uid) })
      clients.push(c)
      await c.type('init')
      const ack = await c.command({ msg_type: 'join', msg_id: mid('j'), room_id: room, ...resume })
      return { c, ack }
    }
    const health = async (server: LiveServer): Promise<{ status: number; body: Record<string, unknown> }> => {
      const res = await fetch(`http://127.0.0.1:${server.port}/healthz`)
      return { status: res.status, body: (await res.json()) as Record<string, unknown> }
    }
    const metricValue = async (server: LiveServer, name: string): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text()
      return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0)
    }
    let prefixNow = ''
    beforeEach(() => {
      prefixNow = prefix()
    })
    afterEach(async () => {
      for (const c of clients.splice(0)) c.ws.terminate()
      for (const s of servers.splice(0)) await s.close()
    })

    it('reports an outage in /healthz and /metrics, refuses joins and commands clearly, and resumes with nothing acked lost', async () => {
      const proxy = await startTcpProxy(redis.port)
      try {
        const server = await boot(`redis://127.0.0.1:${proxy.port}`)
        const { c: viewer } = await joinedClient(server, 'v1', 'o')
        await viewer.type('snapshot')
        const { c: leaver } = await joinedClient(server, 'v2', 'o')
        await leaver.type('snapshot')
        for (let i = 0; i < 5; i++) {
          const ack = await viewer.command({ msg_type: 'message', msg_id: mid('keep'), room_id: 'o', content: `kept ${i}` })
          expect(ack.ok).toBe(true)
        }
        expect((await health(server)).status).toBe(200)

        proxy.cut()
        await until(() => !server.engine.healthy, 'engine unhealthy', 3000)
        const down = await health(server)
        expect(down.status).toBe(503)
        expect(down.body.ok).toBe(false)
        const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text()
        expect(metrics).toMatch(/^live_engine_healthy 0$/m)
        expect(Number(/^live_engine_store_errors_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0)
        // A new join is refused with a reason; so is a command of a joined client.
        const { ack: refused } = await joinedClient(server, 'v3', 'o')
        expect(refused).toMatchObject({ ok: false, code: 4500 })
        expect(String(refused.reason)).toMatch(/unavailable/)
        const during = await viewer.command({ msg_type: 'message', msg_id: mid('down'), room_id: 'o', content: 'during the outage' })
        expect(during).toMatchObject({ ok: false, code: 4500 })
        expect(String(during.reason)).toMatch(/unavailable/)
        // A viewer leaves while Redis is away: its leave must not be lost.
        leaver.ws.terminate()
        await until(() => server.connectionCount === 2, 'leaver gone (viewer and the refused v3 stay)', 3000)

        proxy.restore()
        await until(() => server.engine.healthy, 'engine healthy again', 5000)
        expect((await health(server)).status).toBe(200)
        // The leave that happened during the outage is applied once Redis is back.
        const left = await viewer.next((f) => f.msg_type === 'leave')
        expect(left).toMatchObject({ user: { uid: 'v2' }, online_num: 1 })
        const { c: late, ack } = await joinedClient(server, 'v4', 'o')
        expect(ack.ok).toBe(true)
        const snapshot = (await late.type('snapshot')) as unknown as SnapshotFrame
        expect(snapshot.message_list.map((m) => m.content)).toEqual([0, 1, 2, 3, 4].map((i) => `kept ${i}`))
        expect(snapshot.room.online_num).toBe(1)
        expect(await late.next((f) => f.msg_type === 'join')).toMatchObject({ user: { uid: 'v4' }, online_num: 2 })
        const after = await viewer.command({ msg_type: 'message', msg_id: mid('after'), room_id: 'o', content: 'after' })
        expect(after.ok).toBe(true)
        const seen = await late.next((f) => f.msg_type === 'message' && f.content === 'after')
        expect(seen.seq).toBe(after.seq)
        // The viewer got every event in order, with no gap, across the outage.
        const seqs = viewer.frames.filter((f) => typeof f.seq === 'number' && f.msg_type !== 'ack').map((f) => f.seq as number)
        expect(seqs).toEqual(seqs.map((_, i) => seqs[0] + i))
      } finally {
        await proxy.close()
      }
    })

    it('reports a stalled Redis (stopped, TCP up) within the lease, answers 4500 instead of hanging, and sweeps nobody (issue 11, problem 4)', async () => {
      const a = await boot(redis.url, { redis: { url: redis.url, prefix: prefixNow, leaseMs: 600, commandTimeoutMs: 300 } })
      const b = await boot(redis.url, { redis: { url: redis.url, prefix: prefixNow, leaseMs: 600, commandTimeoutMs: 300 } })
      const { c: alice } = await joinedClient(a, 'alice', 's')
      await alice.type('snapshot')
      const { c: bob } = await joinedClient(b, 'bob', 's')
      await bob.type('snapshot')
      expect((await health(a)).status).toBe(200)
      const pid = redis.process.pid as number
      process.kill(pid, 'SIGSTOP')
      let stalledAck: Record<string, unknown> | undefined
      try {
        await until(() => !a.engine.healthy, 'unhealthy while Redis is stopped', 3000)
        expect((await health(a)).status).toBe(503)
        stalledAck = await alice.command({ msg_type: 'message', msg_id: mid('stall'), room_id: 's', content: 'while stalled' }, 3000)
        // Stopped for several leases: every process's lease runs out meanwhile.
        await new Promise((resolve) => setTimeout(resolve, 2000))
      } finally {
        process.kill(pid, 'SIGCONT')
      }
      expect(stalledAck).toMatchObject({ ok: false, code: 4500 })
      await until(() => a.engine.healthy && b.engine.healthy, 'healthy again', 5000)
      // Two more leases: time enough for a wrong sweep to happen, had it been going to.
      await new Promise((resolve) => setTimeout(resolve, 1500))
      expect(bob.all('leave').map((f) => (f.user as { uid: string }).uid)).not.toContain('alice')
      expect(alice.all('leave').map((f) => (f.user as { uid: string }).uid)).not.toContain('bob')
      expect((await a.engine.snapshot('s')).room.online_num).toBe(2)
      expect(Number(await metricValue(a, 'live_engine_swept_connections_total')) + Number(await metricValue(b, 'live_engine_swept_connections_total'))).toBe(0)
    })

    it("lets an empty room's keys expire, keeps a room with members, and gives a room created again an epoch of its own (issue 11, problem 2)", async () => {
      const server = await boot(redis.url, { idleRoomMs: 400 })
      const raw = new Redis(redis.url)
      try {
        const meta = (room: string): string => `${prefixNow}:room:{${room}}:meta`
        const { c: stayer } = await joinedClient(server, 'stayer', 'kept')
        await stayer.type('snapshot')
        const { c: visitor, ack: first } = await joinedClient(server, 'visitor', 'gone')
        await visitor.type('snapshot')
        const sent = await visitor.command({ msg_type: 'message', msg_id: mid('m'), room_id: 'gone', content: 'before' })
        expect(sent.ok).toBe(true)
        await visitor.command({ msg_type: 'leave', msg_id: mid('l'), room_id: 'gone' })
        expect(await raw.pttl(meta('gone'))).toBeGreaterThan(0)
        expect(await raw.pttl(meta('kept'))).toBe(-1)
        // Redis expires the key on its own clock: wait for that, not for a fixed time.
        await eventually(async () => (await raw.exists(meta('gone'))) === 0, "the empty room's keys expired")
        expect(await raw.exists(meta('kept'))).toBe(1)
        expect(await raw.pttl(meta('kept'))).toBe(-1)
        // Back with what the client knew: a new epoch, so a snapshot, never a "recovery" into the new seq.
        const back = await visitor.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'gone', since_seq: sent.seq, epoch: first.epoch })
        expect(back).toMatchObject({ ok: true, recovered: false })
        expect(back.epoch).not.toBe(first.epoch)
        const snapshot = await visitor.next((f) => f.msg_type === 'snapshot' && f.room_id === 'gone' && f.epoch === back.epoch)
        expect(snapshot.message_list).toEqual([])
      } finally {
        raw.disconnect()
      }
    })

    it('writes a report sent to two processes at once with the same msg_id once (issue 11, point 7)', async () => {
      const dirs = [fs.mkdtempSync(path.join(os.tmpdir(), 'live-rep-a-')), fs.mkdtempSync(path.join(os.tmpdir(), 'live-rep-b-'))]
      const a = await boot(redis.url, { dataDir: dirs[0], rateLimit: { perSecond: 1000, burst: 1000 } })
      const b = await boot(redis.url, { dataDir: dirs[1], rateLimit: { perSecond: 1000, burst: 1000 } })
      const ca = await RawClient.connect(a.url, { token: token('reporter') })
      const cb = await RawClient.connect(b.url, { token: token('reporter') })
      clients.push(ca, cb)
      await Promise.all([ca.type('init'), cb.type('init')])
      const pairs = 30
      const acks = await Promise.all(
        Array.from({ length: pairs }, (_, i) => {
          const frame = { msg_type: 'report', msg_id: `rep-${i}`, logs: [{ n: i }] }
          return Promise.all([ca.command(frame, 8000), cb.command(frame, 8000)])
        }),
      )
      await Promise.all([a.close(), b.close()])
      const lines = dirs.flatMap((dir) => {
        const file = path.join(dir, 'reports.jsonl')
        return fs.existsSync(file)
          ? fs
              .readFileSync(file, 'utf8')
              .trim()
              .split('\n')
              .filter((l) => l !== '')
          : []
      })
      expect(lines).toHaveLength(pairs)
      expect(new Set(lines).size).toBe(pairs)
      for (const [x, y] of acks) {
        expect(x.ok && y.ok).toBe(true)
        expect([x.dup, y.dup].filter((d) => d === true)).toHaveLength(1)
      }
    })

    it('reads back from the Stream what its subscription missed while cut off: clients on it see no gap', async () => {
      const proxy = await startTcpProxy(redis.port)
      try {
        const cut = await boot(`redis://127.0.0.1:${proxy.port}`)
        const direct = await boot(redis.url)
        const { c: watcher } = await joinedClient(cut, 'watch', 'g')
        await watcher.type('snapshot')
        const { c: talker } = await joinedClient(direct, 'talk', 'g')
        await talker.type('snapshot')
        proxy.cut()
        await until(() => !cut.engine.healthy, 'cut off', 3000)
        const acks = []
        for (let i = 0; i < 20; i++) acks.push(await talker.command({ msg_type: 'message', msg_id: mid('gap'), room_id: 'g', content: `while cut ${i}` }))
        expect(acks.every((a) => a.ok)).toBe(true)
        proxy.restore()
        await until(() => watcher.all('message').length === 20, 'the 20 messages on the cut-off process', 5000)
        expect(watcher.all('message').map((m) => m.content)).toEqual(acks.map((_, i) => `while cut ${i}`))
        const seqs = watcher.frames.filter((f) => typeof f.seq === 'number' && f.msg_type !== 'ack').map((f) => f.seq as number)
        expect(seqs).toEqual(seqs.map((_, i) => seqs[0] + i))
        const metrics = await (await fetch(`http://127.0.0.1:${cut.port}/metrics`)).text()
        expect(Number(/^live_engine_gap_fills_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(20)
      } finally {
        await proxy.close()
      }
    })

    it('gives a room whose seq went back (a promoted replica lacked the last events) a new epoch: no seq is delivered twice with different events (issue 24)', async () => {
      const a = await boot(redis.url)
      const b = await boot(redis.url)
      const { c: onA, ack: first } = await joinedClient(a, 'v1', 'back')
      await onA.type('snapshot')
      const { c: onB } = await joinedClient(b, 'v2', 'back')
      await onB.type('snapshot')
      const texts: string[] = []
      for (let i = 0; i < 5; i++) {
        const ack = await onA.command({ msg_type: 'message', msg_id: mid('b'), room_id: 'back', content: `m${i}` })
        texts.push(`m${i}`)
        expect(ack.ok).toBe(true)
      }
      const seen = new Map<number, string>()
      const record = (f: Record<string, unknown>): boolean => {
        if (f.msg_type === 'message') {
          const seq = f.seq as number
          const before = seen.get(seq)
          if (before !== undefined) expect(f.content).toBe(before)
          seen.set(seq, f.content as string)
        }
        return false
      }
      await onB.next((f) => record(f) || (f.msg_type === 'message' && f.content === 'm4'))
      for (const f of onB.frames) record(f)
      const head = [...seen.keys()].reduce((m, n) => Math.max(m, n), 0)
      // What a replica promoted after the last two events had not reached it would hold.
      const admin = new Redis(redis.url)
      try {
        const meta = `${prefixNow}:room:{back}:meta`
        await admin.hset(meta, 'seq', head - 2)
        await admin.xtrim(`${prefixNow}:room:{back}:hist`, 'MAXLEN', head - 2)
      } finally {
        admin.disconnect()
      }
      // The next comment finds the seq behind what process A delivered: a new epoch, seqs go on.
      const late = await onA.command({ msg_type: 'message', msg_id: mid('b'), room_id: 'back', content: 'after' }).catch(() => undefined)
      expect((await onA.closed).code).toBe(1012)
      expect((await onB.closed).code).toBe(1012)
      // Every frame either socket got carried each seq with one event only.
      for (const f of [...onA.frames, ...onB.frames]) record(f)
      const { c: again, ack } = await joinedClient(b, 'v2', 'back', { since_seq: head, epoch: first.epoch as string })
      expect(ack).toMatchObject({ ok: true, recovered: false })
      expect(ack.epoch).not.toBe(first.epoch)
      expect(ack.seq as number).toBeGreaterThanOrEqual(head)
      const snapshot = (await again.type('snapshot')) as unknown as SnapshotFrame
      expect(snapshot.epoch).toBe(ack.epoch)
      // The comment sent after the rollback is acked (or refused while the room renewed, never lost silently).
      if (late?.ok === true) expect(late.seq as number).toBeGreaterThan(head)
      const next = await again.command({ msg_type: 'message', msg_id: mid('b'), room_id: 'back', content: 'next' })
      expect(next.seq as number).toBeGreaterThan(head)
      expect(texts).toHaveLength(5)
    })

    it('takes a new epoch when Redis loses its data: clients are closed with 1012 and rejoin to a snapshot', async () => {
      const server = await boot(redis.url)
      const { c } = await joinedClient(server, 'e1', 'ep')
      await c.type('snapshot')
      for (let i = 0; i < 3; i++) await c.command({ msg_type: 'message', msg_id: mid('ep'), room_id: 'ep', content: `m${i}` })
      const before = server.engine.epoch
      const admin = new Redis(redis.url)
      try {
        await admin.flushall()
      } finally {
        admin.disconnect()
      }
      expect((await c.closed).code).toBe(1012)
      expect(server.engine.epoch).not.toBe(before)
      const { c: again, ack } = await joinedClient(server, 'e1', 'ep', { since_seq: 4, epoch: before })
      expect(ack).toMatchObject({ ok: true, recovered: false, epoch: server.engine.epoch })
      const snapshot = (await again.type('snapshot')) as unknown as SnapshotFrame
      expect(snapshot.message_list).toEqual([])
      // The new history starts over: the closed connection leaves it, the new one counts.
      await again.next((f) => f.msg_type === 'join')
      await eventually(async () => (await server.engine.snapshot('ep')).room.online_num === 1, 'the new connection counted once in the new history')
    })
  })
})
