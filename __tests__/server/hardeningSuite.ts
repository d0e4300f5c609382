/**
 * The server against hostile clients (issue 11): every input bounded, nothing amplified, no
 * ghost left behind. Written once, run against every engine.
 */
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import type { LiveServer, ServerOptions } from '../../server/server'
import { REPORT_WRITE_FACTOR } from 'miniprogram-live-store/protocol'
import { PRE_AUTH_MAX_FRAME_BYTES } from '../../server/connection'
import WebSocket from 'ws'
import * as net from 'net'
import { type Frame, mid, RawClient } from '../helpers/rawClient'
import { pausedReader, readUntilClose } from '../helpers/rawSocket'
import { VirtualClock } from '../helpers/virtualClock'
import { eventually, until } from '../helpers/wait'
import { metric, SECRET, token } from './conformanceSuite'
import { signToken } from '../../server/token'

export type StartServer = (options: Partial<ServerOptions>) => Promise<LiveServer>

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A promise and the function that settles it: a gate a test opens when it chooses. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open: () => void = () => undefined
  const opened = new Promise<void>((resolve) => (open = resolve))
  return { opened, open }
}

export function hardeningSuite(engineName: string, start: StartServer): void {
  describe(`server hardening (${engineName} engine)`, () => {
    let server: LiveServer
    let dataDir: string
    const clients: RawClient[] = []
    /** The server's time: windows, deadlines and buckets move only when a test advances it. */
    let clock: VirtualClock

    /** The server this test started and has not closed yet. */
    let running: LiveServer | undefined
    async function boot(options: Partial<ServerOptions> = {}): Promise<LiveServer> {
      // A test that boots again (other options) closes the first server.
      await running?.close()
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'live-hardening-'))
      clock = new VirtualClock()
      server = running = await start({ dataDir, clock, ...options })
      return server
    }
    /** Connects with a header token (`null`: none, to authenticate by frame). */
    async function connect(t: string | null = token('u1')): Promise<RawClient> {
      const c = await RawClient.connect(server.url, { token: t ?? undefined })
      clients.push(c)
      await c.type('init')
      return c
    }
    async function joined(uid: string, room: string): Promise<RawClient> {
      const c = await connect(token(uid))
      expect((await c.command({ msg_type: 'join', msg_id: mid('j'), room_id: room })).ok).toBe(true)
      await c.type('snapshot')
      return c
    }
    // A report is acked after its lines are written: what the file holds once the ack is in is final.
    const reportFileBytes = async (): Promise<number> => {
      const file = path.join(dataDir, 'reports.jsonl')
      return fs.existsSync(file) ? fs.statSync(file).size : 0
    }

    afterEach(async () => {
      for (const c of clients.splice(0)) c.ws.terminate()
      await running?.close()
      running = undefined
    })

    describe('report (problem 1)', () => {
      beforeEach(() => boot({ rateLimit: { perSecond: 1000, burst: 1000 } }))

      it('refuses cache_fields over the per-connection cap and a report that would write more than a few times its size', async () => {
        const c = await connect()
        const big = await c.command({ msg_type: 'report', msg_id: mid('r'), logs: [{ e: 1 }], cache_fields: { blob: 'x'.repeat(60000) } })
        expect(big).toMatchObject({ ok: false, code: 4013, reason: expect.stringMatching(/cache_fields/) })
        // Within the cache cap, but 100 tiny logs each carrying it.
        const fields = { device: 'd'.repeat(900) }
        const wide = await c.command({ msg_type: 'report', msg_id: mid('r'), logs: Array.from({ length: 100 }, () => ({})), cache_fields: fields })
        expect(wide).toMatchObject({ ok: false, code: 4013, reason: expect.stringMatching(/would write/) })
        expect(await reportFileBytes()).toBe(0)
        // An ordinary report goes through, the cached fields merged into each log.
        const ok = await c.command({ msg_type: 'report', msg_id: mid('r'), logs: [{ event: 'enter_room', ms: 120 }, { event: 'like' }], cache_fields: { app: '1.2.0', os: 'iOS 17' } })
        expect(ok).toMatchObject({ ok: true, accepted: 2 })
        const lines = fs
          .readFileSync(path.join(dataDir, 'reports.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>)
        expect(lines).toEqual([
          { app: '1.2.0', os: 'iOS 17', event: 'enter_room', ms: 120 },
          { app: '1.2.0', os: 'iOS 17', event: 'like' },
        ])
      })

      it('writes at most a small constant times the bytes an attacker sends', async () => {
        const c = await connect()
        let sent = 0
        const frames: Array<Record<string, unknown>> = [
          { msg_type: 'report', msg_id: mid('r'), logs: [{ a: 1 }], cache_fields: { k: 'v'.repeat(1000) } },
          ...Array.from({ length: 74 }, () => ({ msg_type: 'report', msg_id: mid('r'), logs: Array.from({ length: 100 }, (_, i) => ({ i })) })),
        ]
        for (const frame of frames) {
          sent += Buffer.byteLength(JSON.stringify(frame))
          await c.command(frame)
        }
        const written = await reportFileBytes()
        console.log(`[hardening ${engineName}] report flood: ${sent} B received, ${written} B written (${(written / sent).toFixed(2)}x)`)
        expect(written).toBeLessThanOrEqual(REPORT_WRITE_FACTOR * sent)
        expect(await metric(server, 'live_reports_refused_total', { reason: 'amplification' })).toBeGreaterThan(0)
      })

      /** 1 KiB of cache_fields once, then reports of one empty log: each would write the fields again (round two, problem 3). */
      const cachedFieldsAttack = (n: number): Array<Record<string, unknown>> => [
        { msg_type: 'report', msg_id: mid('r'), logs: [{}], cache_fields: { k: 'v'.repeat(1000) } },
        ...Array.from({ length: n }, () => ({ msg_type: 'report', msg_id: mid('r'), logs: [{}] })),
      ]

      it("bounds what cached fields write over a connection's life: at most REPORT_WRITE_FACTOR x the bytes its reports sent, on a socket (round two, problem 3)", async () => {
        const c = await connect()
        let sent = 0
        const acks: Frame[] = []
        for (const frame of cachedFieldsAttack(60)) {
          sent += Buffer.byteLength(JSON.stringify(frame))
          acks.push(await c.command(frame))
        }
        const written = await reportFileBytes()
        console.log(`[hardening ${engineName}] cached-fields reports on a socket: ${sent} B received, ${written} B written (${(written / sent).toFixed(2)}x)`)
        expect(written).toBeLessThanOrEqual(REPORT_WRITE_FACTOR * sent)
        // The fields paid for some logs; the rest are refused 4013 and say what to do.
        const refused = acks.filter((a) => a.ok === false)
        expect(refused.length).toBeGreaterThan(0)
        expect(refused[0]).toMatchObject({ code: 4013, reason: expect.stringMatching(/send cache_fields again/) })
        expect(acks.filter((a) => a.ok === true).length).toBeGreaterThan(1)
        // Sending the fields again pays for the next log.
        expect(await c.command({ msg_type: 'report', msg_id: mid('r'), logs: [{}], cache_fields: { k: 'v'.repeat(1000) } })).toMatchObject({ ok: true, accepted: 1 })
      })

      it('bounds the same over HTTP, where each request is a connection of its own (round two, problem 3)', async () => {
        const base = server.url.replace(/^ws/, 'http').replace(/\/ws$/, '')
        let sent = 0
        const results: boolean[] = []
        for (let i = 0; i < 3; i++) {
          const commands = cachedFieldsAttack(49)
          sent += commands.reduce((sum, command) => sum + Buffer.byteLength(JSON.stringify(command)), 0)
          const response = await fetch(`${base}/api/commands`, { method: 'POST', headers: { Authorization: `Bearer ${token('u1')}` }, body: JSON.stringify({ commands }) })
          expect(response.status).toBe(200)
          results.push(...((await response.json()) as { acks: Frame[] }).acks.map((a) => a.ok === true))
        }
        const written = await reportFileBytes()
        console.log(`[hardening ${engineName}] cached-fields reports over HTTP: ${sent} B received, ${written} B written (${(written / sent).toFixed(2)}x)`)
        expect(written).toBeLessThanOrEqual(REPORT_WRITE_FACTOR * sent)
        expect(results.filter((ok) => !ok).length).toBeGreaterThan(0)
      })

      it('caps the report bytes one user writes a minute, on every transport together (round two, problem 3)', async () => {
        await boot({ rateLimit: { perSecond: 1000, burst: 1000 }, accountLimits: { reportBytes: { perSecond: 100, burst: 6000 } } })
        const base = server.url.replace(/^ws/, 'http').replace(/\/ws$/, '')
        const logs = Array.from({ length: 10 }, (_, i) => ({ event: 'tap', i, note: 'n'.repeat(80) }))
        const a = await connect(token('writer'))
        const b = await connect(token('writer'))
        const acks: Frame[] = []
        for (let i = 0; i < 3; i++) acks.push(await a.command({ msg_type: 'report', msg_id: mid('r'), logs }))
        for (let i = 0; i < 3; i++) acks.push(await b.command({ msg_type: 'report', msg_id: mid('r'), logs }))
        const http = await fetch(`${base}/api/commands`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token('writer')}` },
          body: JSON.stringify({ commands: [{ msg_type: 'report', msg_id: mid('r'), logs }] }),
        })
        acks.push(...((await http.json()) as { acks: Frame[] }).acks)
        // About 1 KB a report: five fit the 6,000-byte burst, the rest are refused 4029 wherever they came from.
        expect(acks.map((ack) => ack.ok)).toEqual([true, true, true, true, true, false, false])
        expect(acks[6]).toMatchObject({ code: 4029, reason: expect.stringMatching(/report bytes/) })
        const before = await reportFileBytes()
        expect(before).toBeLessThanOrEqual(6000)
        // Another user has a budget of its own; this one's refills with the server's time.
        const other = await connect(token('other'))
        expect(await other.command({ msg_type: 'report', msg_id: mid('r'), logs })).toMatchObject({ ok: true })
        clock.advance(11000)
        expect(await a.command({ msg_type: 'report', msg_id: mid('r'), logs })).toMatchObject({ ok: true })
        expect(await metric(server, 'live_reports_refused_total', { reason: 'user_budget' })).toBe(2)
      })

      it("puts a user's commands on every socket and over HTTP under one budget (round two, problem 3)", async () => {
        await boot({ rateLimit: { perSecond: 1000, burst: 1000 }, accountLimits: { commands: { perSecond: 20, burst: 40 } } })
        const base = server.url.replace(/^ws/, 'http').replace(/\/ws$/, '')
        const c = await joined('liker', 'likes')
        // The join took one; 30 likes over HTTP take 30 more (the HTTP poll joined the room first).
        const poll = await fetch(`${base}/api/rooms/likes/events?wait_ms=0`, { headers: { Authorization: `Bearer ${token('liker')}` } })
        expect(poll.status).toBe(200)
        const likes = (n: number): Array<Record<string, unknown>> => Array.from({ length: n }, () => ({ msg_type: 'like', msg_id: mid('l'), room_id: 'likes', count: 1 }))
        const http = await fetch(`${base}/api/commands`, { method: 'POST', headers: { Authorization: `Bearer ${token('liker')}` }, body: JSON.stringify({ commands: likes(30) }) })
        const httpAcks = ((await http.json()) as { acks: Frame[] }).acks
        expect(httpAcks.filter((a) => a.ok === true)).toHaveLength(30)
        // Nine left for the socket, whatever its own bucket holds.
        const socketAcks: Frame[] = []
        for (const like of likes(12)) socketAcks.push(await c.command(like))
        expect(socketAcks.map((a) => a.ok)).toEqual([...Array<boolean>(9).fill(true), false, false, false])
        expect(socketAcks[9]).toMatchObject({ code: 4029, reason: expect.stringMatching(/all its connections and HTTP together/) })
        // Another user is not affected; a second later this one has 20 again.
        const other = await joined('other', 'likes')
        expect(await other.command(likes(1)[0])).toMatchObject({ ok: true })
        clock.advance(1000)
        const again = await fetch(`${base}/api/commands`, { method: 'POST', headers: { Authorization: `Bearer ${token('liker')}` }, body: JSON.stringify({ commands: likes(25) }) })
        expect(((await again.json()) as { acks: Frame[] }).acks.filter((a) => a.ok === true)).toHaveLength(20)
        expect(await metric(server, 'live_frames_in_total', { type: 'user_rate_limited' })).toBe(3 + 5)
      })

      it('rotates reports.jsonl by size and keeps keepFiles of them: the disk it takes is bounded (round two, problem 3)', async () => {
        await boot({ rateLimit: { perSecond: 1000, burst: 1000 }, reports: { maxFileBytes: 2000, keepFiles: 2 } })
        const c = await connect()
        for (let i = 0; i < 40; i++) {
          expect(await c.command({ msg_type: 'report', msg_id: mid('r'), logs: [{ event: 'tap', n: i, note: 'n'.repeat(100) }] })).toMatchObject({ ok: true })
        }
        const files = fs
          .readdirSync(dataDir)
          .filter((f) => f.startsWith('reports.jsonl'))
          .sort()
        expect(files).toEqual(['reports.jsonl', 'reports.jsonl.1', 'reports.jsonl.2'])
        const sizes = files.map((f) => fs.statSync(path.join(dataDir, f)).size)
        for (const size of sizes) expect(size).toBeLessThanOrEqual(2000)
        // Nothing lost from what is kept: the newest file ends with the last report, the files follow each other.
        const lines = (f: string): number[] =>
          fs
            .readFileSync(path.join(dataDir, f), 'utf8')
            .trim()
            .split('\n')
            .map((l) => (JSON.parse(l) as { n: number }).n)
        const kept = [...lines('reports.jsonl.2'), ...lines('reports.jsonl.1'), ...lines('reports.jsonl')]
        expect(kept[kept.length - 1]).toBe(39)
        expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 40 - kept.length + i))
      })

      it('refuses a log nested deeper than 8 levels with 4000 and keeps serving the connection (point 7)', async () => {
        const c = await connect()
        const deep = `${'['.repeat(20000)}${']'.repeat(20000)}`
        c.send(`{"msg_type":"report","msg_id":"deep","logs":[{"x":${deep}}]}`)
        expect(await c.next((f) => f.msg_id === 'deep')).toMatchObject({ ok: false, code: 4000, reason: expect.stringMatching(/nested deeper/) })
        expect(await c.command({ msg_type: 'report', msg_id: mid('r'), logs: [{ ok: true }] })).toMatchObject({ ok: true })
      })

      it('refuses __proto__ spelt with escapes in a log and writes nothing (point 7)', async () => {
        const c = await connect()
        c.send('{"msg_type":"report","msg_id":"esc","logs":[{"\\u005f_proto__":{"polluted":true}}]}')
        expect(await c.next((f) => f.msg_id === 'esc')).toMatchObject({ ok: false, code: 4000, reason: expect.stringMatching(/forbidden key/) })
        expect(await reportFileBytes()).toBe(0)
      })
    })

    describe('joins', () => {
      beforeEach(() => boot())

      it('leaves no ghost when the link dies while the join reads the snapshot (problem 5)', async () => {
        const engine = server.engine
        const snapshot = engine.snapshot.bind(engine)
        const apply = engine.apply.bind(engine)
        // The join's snapshot read waits until the test has cut the link.
        const reading = gate()
        const linkGone = gate()
        let read = false
        engine.snapshot = async (roomId) => {
          reading.open()
          await linkGone.opened
          const result = await snapshot(roomId)
          read = true
          return result
        }
        const presence: string[] = []
        engine.apply = (roomId, action, ...rest) => {
          if (action.type === 'join' || action.type === 'leave') presence.push(`${action.type} ${action.user.uid}`)
          return apply(roomId, action, ...rest)
        }
        const c = await connect(token('ghost'))
        c.send({ msg_type: 'join', msg_id: 'j1', room_id: 'r1' })
        await reading.opened
        c.ws.terminate()
        await until(() => server.connectionCount === 0, 'the server saw the link go')
        linkGone.open()
        await until(() => read, 'the snapshot read finished')
        // What the join does after its read runs before the next turn of the event loop.
        await new Promise((resolve) => setImmediate(resolve))
        engine.snapshot = snapshot
        engine.apply = apply
        // The close handler's leave may run (a no-op for a member never counted); no join is applied.
        expect(presence.filter((p) => p.startsWith('join'))).toEqual([])
        expect((await engine.snapshot('r1')).room.online_num).toBe(0)
      })

      it('keeps acks of two users apart whose uid and msg_id run together (point 7)', async () => {
        const a = await joined('x:y', 'r1')
        const b = await joined('x', 'r1')
        const engine = server.engine
        const apply = engine.apply.bind(engine)
        // Both commands are in flight together: each waits for the other to arrive.
        let arrived = 0
        const both = gate()
        engine.apply = async (...args) => {
          if (++arrived === 2) both.open()
          await both.opened
          return apply(...args)
        }
        const [ackA, ackB] = await Promise.all([
          a.command({ msg_type: 'message', msg_id: 'z', room_id: 'r1', content: 'from x:y' }),
          b.command({ msg_type: 'message', msg_id: 'y:z', room_id: 'r1', content: 'from x' }),
        ])
        engine.apply = apply
        expect(ackA).toMatchObject({ ok: true })
        expect(ackB).toMatchObject({ ok: true })
        expect(ackA.dup).toBeUndefined()
        expect(ackB.dup).toBeUndefined()
        expect(ackA.seq).not.toBe(ackB.seq)
      })

      it('limits purchases per user like comments (point 7)', async () => {
        const anchor = await connect(signToken({ uid: 'a1', name: 'A', role: 'anchor', rooms: ['r1'], exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET))
        await anchor.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'r1' })
        await anchor.command({
          msg_type: 'on_off_shelf',
          msg_id: mid('s'),
          room_id: 'r1',
          goods_id: 'g1',
          goods_name: 'Tea',
          goods_price: 100,
          default_image: 'https://i.example.com/t.png',
          status: 'on',
        })
        const buyer = await joined('buyer', 'r1')
        const acks: Frame[] = []
        for (let i = 0; i < 20; i++) acks.push(await buyer.command({ msg_type: 'buy', msg_id: mid('b'), room_id: 'r1', goods_id: 'g1' }))
        // Server time stands still: the burst of 5, then 4029 for every other one.
        expect(acks.filter((a) => a.ok)).toHaveLength(5)
        expect(acks.filter((a) => a.code === 4029)).toHaveLength(15)
      })
    })

    describe('only final answers are remembered (round two, problem 5)', () => {
      beforeEach(() => boot())
      const anchorToken = (): string => signToken({ uid: 'a1', name: 'A', role: 'anchor', rooms: ['r1'], exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET)
      const TEA = { goods_id: 'g1', goods_name: 'Tea', goods_price: 100, default_image: 'https://i.example.com/t.png' }

      it('a comment refused before the join is applied when resent after it, once', async () => {
        const c = await connect(token('early'))
        expect(await c.command({ msg_type: 'message', msg_id: 'early-1', room_id: 'r1', content: 'first words' })).toMatchObject({ ok: false, code: 4003 })
        expect((await c.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'r1' })).ok).toBe(true)
        const resent = await c.command({ msg_type: 'message', msg_id: 'early-1', room_id: 'r1', content: 'first words' })
        expect(resent).toMatchObject({ ok: true, seq: expect.any(Number) })
        expect(resent.dup).toBeUndefined()
        // Now it is remembered: a further resend is a repeat, not a second comment.
        expect(await c.command({ msg_type: 'message', msg_id: 'early-1', room_id: 'r1', content: 'first words' })).toMatchObject({ ok: true, dup: true, seq: resent.seq })
        expect((await server.engine.snapshot('r1')).message_list.map((m) => m.content)).toEqual(['first words'])
      })

      it('a purchase refused while the goods were off the shelf is judged anew once they are on', async () => {
        const anchor = await connect(anchorToken())
        expect((await anchor.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'r1' })).ok).toBe(true)
        const buyer = await joined('buyer', 'r1')
        expect(await buyer.command({ msg_type: 'buy', msg_id: 'buy-1', room_id: 'r1', goods_id: 'g1' })).toMatchObject({ ok: false, code: 4004 })
        expect((await anchor.command({ msg_type: 'on_off_shelf', msg_id: mid('s'), room_id: 'r1', ...TEA, status: 'on' })).ok).toBe(true)
        const again = await buyer.command({ msg_type: 'buy', msg_id: 'buy-1', room_id: 'r1', goods_id: 'g1' })
        expect(again).toMatchObject({ ok: true })
        expect(again.dup).toBeUndefined()
      })

      it('a command malformed in itself is refused once and remembered (the resend is told dup, 4000)', async () => {
        const c = await joined('m', 'r1')
        const bad = { msg_type: 'message', msg_id: 'empty', room_id: 'r1', content: '   ' }
        expect(await c.command(bad)).toMatchObject({ ok: false, code: 4000 })
        expect(await c.command(bad)).toMatchObject({ ok: false, code: 4000, dup: true })
      })
    })

    describe('rooms one account can open (round two, problem 1)', () => {
      it('lets a user open its burst of rooms, then refuses new ones (4029 on a socket, 429 over HTTP); joining open rooms is unaffected', async () => {
        await boot({ roomCreationRate: { perMinute: 6, burst: 3 } })
        const base = server.url.replace(/^ws/, 'http').replace(/\/ws$/, '')
        const opener = await connect(token('opener'))
        for (let i = 0; i < 3; i++) expect(await opener.command({ msg_type: 'join', msg_id: mid('j'), room_id: `new-${i}` })).toMatchObject({ ok: true })
        expect(await opener.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'new-3' })).toMatchObject({ ok: false, code: 4029, reason: expect.stringMatching(/too many new rooms/) })
        const poll = await fetch(`${base}/api/rooms/new-4/events?wait_ms=0`, { headers: { Authorization: `Bearer ${token('opener')}` } })
        expect(poll.status).toBe(429)
        expect(server.engine.roomCount).toBe(3)
        expect(await metric(server, 'live_rooms_refused_total', { reason: 'user_rate' })).toBe(2)
        // Rooms already open take the same user, and another user may open rooms of their own.
        const other = await connect(token('other'))
        expect(await opener.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'new-0' })).toMatchObject({ ok: true })
        expect(await other.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'other-0' })).toMatchObject({ ok: true })
        // One a minute per 10 s of server time: the bucket refills.
        clock.advance(10000)
        expect(await opener.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'new-3' })).toMatchObject({ ok: true })
      })

      it('caps the rooms one user is in at once, over all its sockets and HTTP leases (round two, problem 7)', async () => {
        await boot({ maxRoomsPerUser: 3, roomCreationRate: { perMinute: 600, burst: 100 } })
        const base = server.url.replace(/^ws/, 'http').replace(/\/ws$/, '')
        const headers = { Authorization: `Bearer ${token('roamer')}` }
        const join = (c: RawClient, room: string): Promise<Frame> => c.command({ msg_type: 'join', msg_id: mid('j'), room_id: room })
        const a = await connect(token('roamer'))
        const b = await connect(token('roamer'))
        expect(await join(a, 'r1')).toMatchObject({ ok: true })
        expect(await join(a, 'r2')).toMatchObject({ ok: true })
        // The same room on another socket is still one room.
        expect(await join(b, 'r2')).toMatchObject({ ok: true })
        expect(await join(b, 'r3')).toMatchObject({ ok: true })
        expect(await join(b, 'r4')).toMatchObject({ ok: false, code: 4029, reason: expect.stringMatching(/in too many rooms: a user may be in 3/) })
        expect((await fetch(`${base}/api/rooms/r4/events?wait_ms=0`, { headers })).status).toBe(429)
        expect((await fetch(`${base}/api/rooms/r1/events?wait_ms=0`, { headers })).status).toBe(200)
        // Leaving r1 on the socket is not enough while the HTTP lease holds it; leaving it there too is.
        expect(await a.command({ msg_type: 'leave', msg_id: mid('l'), room_id: 'r1' })).toMatchObject({ ok: true })
        expect(await join(b, 'r4')).toMatchObject({ ok: false, code: 4029 })
        const leave = await fetch(`${base}/api/commands`, { method: 'POST', headers, body: JSON.stringify({ commands: [{ msg_type: 'leave', msg_id: mid('l'), room_id: 'r1' }] }) })
        expect(leave.status).toBe(200)
        expect(await join(b, 'r4')).toMatchObject({ ok: true })
        // A closed socket leaves its rooms: r2 stays (socket b), r3 and r4 go with b.
        b.close()
        await eventually(async () => server.connectionCount === 1, 'b closed')
        for (const room of ['r5', 'r6']) expect(await join(a, room)).toMatchObject({ ok: true })
        expect(await join(a, 'r7')).toMatchObject({ ok: false, code: 4029 })
        // Another user is not affected.
        const other = await connect(token('other'))
        expect(await join(other, 'r7')).toMatchObject({ ok: true })
      })

      it('holds at most maxRooms rooms: a join that would open one more gets 4500 (try again later)', async () => {
        await boot({ maxRooms: 2 })
        const a = await connect(token('a'))
        const b = await connect(token('b'))
        expect(await a.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'one' })).toMatchObject({ ok: true })
        expect(await b.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'two' })).toMatchObject({ ok: true })
        expect(await b.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'three' })).toMatchObject({ ok: false, code: 4500, reason: expect.stringMatching(/maximum of 2 rooms/) })
        expect(await b.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'one' })).toMatchObject({ ok: true })
        expect(server.engine.roomCount).toBe(2)
        expect(await metric(server, 'live_rooms_refused_total', { reason: 'server_full' })).toBe(1)
      })
    })

    describe('before auth, almost nothing (round two, problem 2)', () => {
      /** Upgrades with these headers; resolves with the socket once open, or the HTTP status that refused it. */
      const upgrade = (headers: Record<string, string>, deflate = true): Promise<{ ws?: WebSocket; status?: number }> =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(server.url, ['live.v1'], { headers, perMessageDeflate: deflate })
          ws.once('open', () => resolve({ ws }))
          ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode }))
          ws.once('error', reject)
        })

      it('negotiates compression only for a socket whose upgrade carried a good token', async () => {
        await boot()
        const withToken = await RawClient.connect(server.url, { token: token('z1'), deflate: true })
        const withoutToken = await RawClient.connect(server.url, { deflate: true })
        const badToken = await RawClient.connect(server.url, { token: 'forged.token', deflate: true })
        clients.push(withToken, withoutToken, badToken)
        expect(withToken.ws.extensions).toMatch(/permessage-deflate/)
        expect(withoutToken.ws.extensions).toBe('')
        expect(badToken.ws.extensions).toBe('')
        // The socket without a token can still authenticate by frame.
        await withoutToken.type('init')
        expect(await withoutToken.command({ msg_type: 'auth', msg_id: 'a1', token: token('z2') })).toMatchObject({ ok: true })
      })

      it('closes a socket that sends a frame over 8 KiB before it is authenticated with 1009; after auth the usual limit holds', async () => {
        await boot()
        const early = await connect(null)
        early.send({ msg_type: 'ping', t: 1, pad: 'x'.repeat(PRE_AUTH_MAX_FRAME_BYTES) })
        expect((await early.closed).code).toBe(1009)
        expect(await metric(server, 'live_frames_in_total', { type: 'too_large_before_auth' })).toBe(1)
        // An auth frame with a token at its longest fits under the bound.
        const later = await connect(null)
        const longest = await later.command({ msg_type: 'auth', msg_id: 'a-long', token: 'x'.repeat(4096) })
        expect(longest).toMatchObject({ ok: false, code: 4001 })
        const good = await connect(null)
        expect(await good.command({ msg_type: 'auth', msg_id: 'a', token: token('big-reporter') })).toMatchObject({ ok: true })
        expect(await good.command({ msg_type: 'report', msg_id: mid('r'), logs: [{ blob: 'y'.repeat(20 * 1024) }] })).toMatchObject({ ok: true })
      })

      it("refuses upgrades past maxConnectionsPerAddress with 429, and counts the trusted proxy's address when configured", async () => {
        await boot({ maxConnectionsPerAddress: 3 })
        const held = await Promise.all([1, 2, 3].map(() => upgrade({})))
        expect(held.map((h) => h.ws !== undefined)).toEqual([true, true, true])
        expect(await upgrade({})).toEqual({ status: 429 })
        expect(await metric(server, 'live_upgrades_refused_total', { reason: 'address_limit' })).toBe(1)
        held[0].ws?.terminate()
        await until(() => server.connectionCount === 2, 'the place freed')
        const again = await upgrade({})
        expect(again.ws).toBeDefined()
        for (const h of [...held.slice(1), again]) h.ws?.terminate()
        await until(() => server.connectionCount === 0, 'all closed')

        await boot({ maxConnectionsPerAddress: 1, trustProxy: 'X-Forwarded-For' })
        const a = await upgrade({ 'x-forwarded-for': '203.0.113.9, 10.0.0.1' })
        const b = await upgrade({ 'x-forwarded-for': '198.51.100.7, 10.0.0.2' })
        expect([a.ws !== undefined, b.ws !== undefined]).toEqual([true, true])
        expect(await upgrade({ 'x-forwarded-for': '192.0.2.1, 10.0.0.1' })).toEqual({ status: 429 })
        for (const h of [a, b]) h.ws?.terminate()
      })
    })

    describe('HTTP bounds like a production server (round two, problem 4)', () => {
      /** A raw HTTP request on its own socket: what comes back, and whether the server closed the socket. */
      const raw = (head: string, body = ''): { socket: net.Socket; answer: Promise<string>; closed: Promise<void> } => {
        const url = new URL(server.url)
        const socket = net.connect(Number(url.port), url.hostname)
        let text = ''
        socket.on('data', (d) => (text += d.toString('latin1')))
        socket.on('error', () => undefined)
        const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
        const answer = new Promise<string>((resolve) => {
          socket.on('data', () => {
            if (/\r\n\r\n/.test(text)) resolve(text)
          })
          socket.once('close', () => resolve(text))
        })
        socket.write(head + body)
        return { socket, answer, closed }
      }
      const post = (headers: string): string => `POST /api/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}\r\n`

      it('refuses a declared body over the limit at once and closes the connection instead of reading it', async () => {
        await boot()
        const r = raw(post(`Authorization: Bearer ${token('big')}\r\nContent-Length: 1000000000\r\n`), 'x'.repeat(1000))
        expect(await r.answer).toMatch(/^HTTP\/1\.1 413 .*\r\nconnection: close\r\n/is)
        await r.closed
      })

      it('closes the connection after refusing a bad token, without reading the body', async () => {
        await boot()
        const r = raw(post('Authorization: Bearer forged.token\r\nContent-Length: 100000\r\n'), '{"commands":[')
        // Said in the answer, and done: no keep-alive on a connection whose body was never read.
        expect(await r.answer).toMatch(/^HTTP\/1\.1 401 .*\r\nconnection: close\r\n/is)
        await r.closed
      })

      it('drops a body that does not arrive within the request deadline (408), and counts a client that gave up, logging nothing', async () => {
        const lines: string[] = []
        await boot({ requestTimeoutMs: { headers: 500, whole: 500 }, log: (line) => lines.push(line) })
        const slow = raw(post(`Authorization: Bearer ${token('slow')}\r\nContent-Length: 100\r\n`), '{')
        // A byte now and then, never the whole body: the server gives up on it.
        const trickle = setInterval(() => slow.socket.write(' '), 50)
        try {
          expect(await slow.answer).toMatch(/^HTTP\/1\.1 408 /)
          await slow.closed
        } finally {
          clearInterval(trickle)
        }
        const gone = raw(post(`Authorization: Bearer ${token('gone')}\r\nContent-Length: 100\r\n`), '{"comm')
        await until(() => server.httpRequests === 1, 'the request reached the server')
        gone.socket.destroy()
        await eventually(async () => (await metric(server, 'live_http_refused_total', { reason: 'client_aborted' })) === 1, 'the abort counted')
        await until(() => server.httpRequests === 0, 'nothing left in flight')
        expect(lines.filter((l) => l.startsWith('http '))).toEqual([])
      })

      it('caps requests in flight per user (429), whatever the rate left', async () => {
        await boot({ rateLimit: { perSecond: 1000, burst: 1000 }, http: { maxRequestsPerUser: 2 } })
        const base = server.url.replace(/^ws/, 'http').replace(/\/ws$/, '')
        const headers = { Authorization: `Bearer ${token('holder')}` }
        // Two held polls (nothing happens in the room; the server's time does not move).
        const first = await fetch(`${base}/api/rooms/held/events?wait_ms=0`, { headers }).then((r) => r.json() as Promise<{ seq: number; epoch: string }>)
        const polls = [1, 2].map(() => fetch(`${base}/api/rooms/held/events?since_seq=${first.seq}&epoch=${first.epoch}&wait_ms=25000`, { headers }))
        await until(() => server.httpPollers === 1, 'the poller counted')
        await eventually(async () => (await fetch(`${base}/api/commands`, { method: 'POST', headers, body: '{"commands":[]}' })).status === 429, 'the third request refused')
        expect(await metric(server, 'live_http_refused_total', { reason: 'user_in_flight' })).toBeGreaterThanOrEqual(1)
        // Another user is not affected.
        expect((await fetch(`${base}/api/commands`, { method: 'POST', headers: { Authorization: `Bearer ${token('other')}` }, body: '{"commands":[]}' })).status).toBe(200)
        // The polls end when their wait does (server time); a poll still reading the room's
        // history sets its wait only then, so time moves until both have answered.
        let answered = 0
        for (const p of polls) void p.then(() => answered++)
        await until(() => {
          clock.advance(25000)
          return answered === 2
        }, 'both polls answered')
        expect((await Promise.all(polls)).map((r) => r.status)).toEqual([200, 200])
        expect((await fetch(`${base}/api/commands`, { method: 'POST', headers, body: '{"commands":[]}' })).status).toBe(200)
      })
    })

    describe('room history is paid by its bytes (round two, problem 6)', () => {
      /** A room of 50 long comments: each snapshot carries them all. */
      async function longRoom(): Promise<void> {
        await boot({ rateLimit: { perSecond: 1000, burst: 1000 }, messageRateLimit: { perSecond: 1000, burst: 1000 } })
        const anchor = await joined('writer', 'long')
        for (let i = 0; i < 50; i++) expect(await anchor.command({ msg_type: 'message', msg_id: mid('m'), room_id: 'long', content: `${i} ${'长'.repeat(190)}` })).toMatchObject({ ok: true })
      }
      const burst = (): number => server.accountLimits.historyBytes.burst

      it("re-joins on a socket: snapshots stop at the user's history budget (4029), a join that recovers nothing still goes through, and the budget refills", async () => {
        await longRoom()
        const c = await connect(token('rejoiner'))
        let received = 0
        let snapshotBytes = 0
        let refused = 0
        let head = { seq: 0, epoch: '' }
        for (let i = 0; i < 40; i++) {
          const join = { msg_type: 'join', msg_id: mid('j'), room_id: 'long' }
          received += Buffer.byteLength(JSON.stringify(join))
          const ack = await c.command(join)
          if (ack.ok !== true) {
            expect(ack).toMatchObject({ code: 4029, reason: expect.stringMatching(/too many snapshots/) })
            refused++
            continue
          }
          const snapshot = await c.type('snapshot')
          snapshotBytes += Buffer.byteLength(JSON.stringify(snapshot))
          head = { seq: snapshot.seq as number, epoch: snapshot.epoch as string }
        }
        const one = snapshotBytes / (40 - refused)
        console.log(
          `[hardening ${engineName}] 40 socket re-joins of a room of 50 long comments: ${received} B received, ${snapshotBytes} B of snapshots sent (${(snapshotBytes / received).toFixed(0)}x; ${40 - refused} snapshots of ${one.toFixed(0)} B, ${refused} refused 4029) for a budget of ${burst()} B`,
        )
        expect(refused).toBeGreaterThan(0)
        // The budget, and at most the one snapshot that took it into debt.
        expect(snapshotBytes).toBeLessThanOrEqual(burst() + one)
        expect(await metric(server, 'live_history_refused_total')).toBe(refused)
        // Out of the room after a refused re-join: a message is refused, the room counts one viewer less.
        expect(await c.command({ msg_type: 'like', msg_id: mid('l'), room_id: 'long', count: 1 })).toMatchObject({ ok: false, code: 4003 })
        // In debt, a join that missed something is refused; one that misses nothing recovers at no cost.
        expect(await c.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'long', since_seq: head.seq - 1, epoch: head.epoch })).toMatchObject({ ok: false, code: 4029 })
        const now = await server.engine.snapshot('long')
        expect(await c.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'long', since_seq: now.seq, epoch: now.epoch })).toMatchObject({ ok: true, recovered: true })
        // Another user has a budget of its own; this one's refills with the server's time.
        const other = await connect(token('other'))
        expect(await other.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'long' })).toMatchObject({ ok: true, recovered: false })
        clock.advance(60000)
        expect(await c.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'long' })).toMatchObject({ ok: true, recovered: false })
      })

      it('polls over HTTP: a snapshot or events read again are paid for, new events are free (429 past the budget)', async () => {
        await longRoom()
        const base = server.url.replace(/^ws/, 'http').replace(/\/ws$/, '')
        const headers = { Authorization: `Bearer ${token('poller')}` }
        let sent = 0
        let refused = 0
        let last = { seq: 0, epoch: '' }
        for (let i = 0; i < 40; i++) {
          const response = await fetch(`${base}/api/rooms/long/events?wait_ms=0`, { headers })
          const text = await response.text()
          if (response.status === 429) {
            expect(text).toMatch(/too many snapshots/)
            refused++
            continue
          }
          expect(response.status).toBe(200)
          sent += Buffer.byteLength(text)
          last = JSON.parse(text) as { seq: number; epoch: string }
        }
        console.log(`[hardening ${engineName}] 40 snapshot polls of the same room over HTTP: ${sent} B sent, ${refused} refused 429, for a budget of ${burst()} B`)
        expect(refused).toBeGreaterThan(0)
        expect(sent).toBeLessThanOrEqual(burst() + sent / (40 - refused) + 1000)
        // New events are free, in debt or not.
        const writer = await joined('writer2', 'long')
        expect(await writer.command({ msg_type: 'message', msg_id: mid('m'), room_id: 'long', content: 'new' })).toMatchObject({ ok: true })
        const fresh = await fetch(`${base}/api/rooms/long/events?since_seq=${last.seq}&epoch=${last.epoch}&wait_ms=0`, { headers })
        expect(fresh.status).toBe(200)
        expect(((await fresh.json()) as { events: Frame[] }).events.map((e) => e.msg_type)).toContain('message')
        // Reading from the start again is history: refused while in debt.
        expect((await fetch(`${base}/api/rooms/long/events?since_seq=0&epoch=${last.epoch}&wait_ms=0`, { headers })).status).toBe(429)
      })
    })

    describe('online_num counts users, not connections (round two, problem 7)', () => {
      it('counts a user with several sockets and an HTTP lease once; tells of their arrival and departure once', async () => {
        await boot()
        const watcher = await joined('watcher', 'count')
        const sockets = [await joined('many', 'count'), await joined('many', 'count'), await joined('many', 'count')]
        const base = server.url.replace(/^ws/, 'http').replace(/\/ws$/, '')
        const poll = await fetch(`${base}/api/rooms/count/events?wait_ms=0`, { headers: { Authorization: `Bearer ${token('many')}` } })
        expect(((await poll.json()) as { snapshot: { room: { online_num: number } } }).snapshot.room.online_num).toBe(2)
        expect((await server.engine.snapshot('count')).room.online_num).toBe(2)
        // Two connections of the same user leave: they are still here.
        sockets[0].close()
        expect(await sockets[1].command({ msg_type: 'leave', msg_id: mid('l'), room_id: 'count' })).toMatchObject({ ok: true })
        await eventually(async () => server.connectionCount === 3, 'the first socket closed')
        expect((await server.engine.snapshot('count')).room.online_num).toBe(2)
        // The HTTP lease and the last socket go: now they left.
        const leave = await fetch(`${base}/api/commands`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token('many')}` },
          body: JSON.stringify({ commands: [{ msg_type: 'leave', msg_id: mid('l'), room_id: 'count' }] }),
        })
        expect(leave.status).toBe(200)
        expect((await server.engine.snapshot('count')).room.online_num).toBe(2)
        expect(await sockets[2].command({ msg_type: 'leave', msg_id: mid('l'), room_id: 'count' })).toMatchObject({ ok: true })
        const left = await watcher.next((f) => f.msg_type === 'leave')
        expect(left).toMatchObject({ user: { uid: 'many' }, online_num: 1 })
        // What the watcher saw: one join and one leave of that user, whatever their connections did.
        await watcher.roundTrip()
        expect(watcher.all('join').map((e) => [(e.user as { uid: string }).uid, e.online_num])).toEqual([
          ['watcher', 1],
          ['many', 2],
        ])
        expect(watcher.all('leave').map((e) => [(e.user as { uid: string }).uid, e.online_num])).toEqual([['many', 1]])
      })
    })

    describe('one rule for room ids on both transports (round two, problem 7)', () => {
      beforeEach(() => boot())
      const BAD = ['x'.repeat(129), 'a\u0000b', 'a\r\nb', '<script>alert(1)</script>', 'a b', 'a/b', '{tag}', '']

      it('refuses the same room ids on a socket (4000) and in an HTTP path (400), and creates no room', async () => {
        const c = await connect(token('ids'))
        const base = server.url.replace(/^ws/, 'http').replace(/\/ws$/, '')
        for (const id of BAD) {
          expect(await c.command({ msg_type: 'join', msg_id: mid('j'), room_id: id })).toMatchObject({ ok: false, code: 4000 })
          const response = await fetch(`${base}/api/rooms/${encodeURIComponent(id)}/events?wait_ms=0`, { headers: { Authorization: `Bearer ${token('ids')}` } })
          // An empty id does not match the route at all (404); every other one is a bad request.
          expect(response.status).toBe(id === '' ? 404 : 400)
        }
        expect(server.engine.roomCount).toBe(0)
        // Ids of other scripts and the usual punctuation are fine on both.
        for (const id of ['直播间-1', 'room_9.a:b@c']) {
          expect(await c.command({ msg_type: 'join', msg_id: mid('j'), room_id: id })).toMatchObject({ ok: true })
          expect((await fetch(`${base}/api/rooms/${encodeURIComponent(id)}/events?wait_ms=0`, { headers: { Authorization: `Bearer ${token('ids')}` } })).status).toBe(200)
        }
      })
    })

    describe('shelf and snapshot (problem 3)', () => {
      beforeEach(() => boot({ rateLimit: { perSecond: 10000, burst: 10000 }, messageRateLimit: { perSecond: 10000, burst: 10000 } }))

      it('caps the shelf, and the fullest room still gives a snapshot inside the client frame limit', async () => {
        const anchor = await connect(signToken({ uid: 'a1', name: 'A', role: 'anchor', rooms: ['big'], exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET))
        await anchor.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'big' })
        // Every field at its cap: ids of 128, names of 256 three-byte characters, 2,048-character image URLs.
        const goods = (i: number) => ({
          goods_id: `${i}`.padStart(128, 'g'),
          goods_name: '茶'.repeat(256),
          goods_price: 999999999,
          default_image: `https://img.example.com/${'p'.repeat(2048 - 24)}`,
          status: 'on',
        })
        const acks: Frame[] = []
        for (let i = 0; i < 201; i++) acks.push(await anchor.command({ msg_type: 'on_off_shelf', msg_id: mid('s'), room_id: 'big', ...goods(i) }))
        expect(acks.slice(0, 200).every((a) => a.ok)).toBe(true)
        expect(acks[200]).toMatchObject({ ok: false, code: 4013, reason: expect.stringMatching(/200 goods at most/) })
        // 50 comments at their caps too.
        const talker = await joined('t'.repeat(128), 'big')
        for (let i = 0; i < 50; i++) await talker.command({ msg_type: 'message', msg_id: mid('m'), room_id: 'big', content: '😀'.repeat(200) })
        const viewer = await connect(token('late'))
        viewer.send({ msg_type: 'join', msg_id: 'late-join', room_id: 'big' })
        const snapshot = await viewer.type('snapshot', 10000)
        const bytes = Buffer.byteLength(JSON.stringify(snapshot))
        console.log(`[hardening ${engineName}] largest snapshot: ${bytes} B (200 goods and 50 comments, every field at its cap)`)
        expect((snapshot.shelf as unknown[]).length).toBe(200)
        expect(bytes).toBeLessThan(1024 * 1024)
        expect(viewer.ws.readyState).toBe(viewer.ws.OPEN)
      })
    })

    describe('who opens a room (problem 2)', () => {
      const anchorFor = (rooms: string[]) => signToken({ uid: 'a1', name: 'A', role: 'anchor', rooms, exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET)

      it("with roomCreation 'anchors', a viewer cannot open a room; its anchor can, and then viewers join", async () => {
        await boot({ roomCreation: 'anchors' })
        const viewer = await connect(token('v1'))
        expect(await viewer.command({ msg_type: 'join', msg_id: 'v-early', room_id: 'show' })).toMatchObject({ ok: false, code: 4004, reason: expect.stringMatching(/its anchor opens it/) })
        expect(server.engine.roomCount).toBe(0)
        const anchor = await connect(anchorFor(['show']))
        expect(await anchor.command({ msg_type: 'join', msg_id: 'a-open', room_id: 'show' })).toMatchObject({ ok: true })
        expect(await viewer.command({ msg_type: 'join', msg_id: 'v-late', room_id: 'show' })).toMatchObject({ ok: true })
      })

      it('with a fixed room list, a shelf change cannot create an unlisted room', async () => {
        await boot({ rooms: [{ id: 'listed', title: 'Listed' }] })
        const anchor = await connect(anchorFor(['listed', 'unlisted']))
        const ack = await anchor.command({
          msg_type: 'on_off_shelf',
          msg_id: mid('s'),
          room_id: 'unlisted',
          goods_id: 'g',
          goods_name: 'G',
          goods_price: 1,
          default_image: 'https://i.example.com/g.png',
          status: 'on',
        })
        expect(ack).toMatchObject({ ok: false, code: 4004 })
        expect(await server.engine.isOpen('unlisted')).toBe(false)
      })
    })

    describe('crowded rooms (problem 6)', () => {
      beforeEach(() => boot({ crowdedRoomSize: 5, presenceWindowMs: 100 }))

      it('thins join and leave notices past the crowd size: arrivals cost O(N) frames, and the count stays exact', async () => {
        const first = await joined('first', 'crowd')
        await first.next((f) => f.msg_type === 'join' && f.online_num === 1)
        const others: RawClient[] = []
        for (let i = 0; i < 30; i++) {
          others.push(await joined(`v${i}`, 'crowd'))
          // While each join still has a notice, the next waits for it: a notice reaches exactly
          // the members in the room when it is sent (with Redis it comes back through pub/sub, and
          // a member joining meanwhile would get it too, its snapshot being older).
          if (i < 4) await first.next((f) => f.msg_type === 'join' && f.online_num === i + 2)
        }
        const online = async (): Promise<number> => (await server.engine.snapshot('crowd')).room.online_num
        await eventually(async () => (await online()) === 31, 'all 31 counted')
        // Server time has not moved: the window opened by the sixth arrival is still open.
        clock.advance(100)
        // The window's one notice carries the absolute count.
        await first.next((f) => f.msg_type === 'join' && f.online_num === 31)
        const joins = first.all('join')
        const framesOut = await metric(server, 'live_frames_out_total', { type: 'join' })
        console.log(`[hardening ${engineName}] 31 viewers joined a room thinned past 5: the first viewer got ${joins.length} join notices; ${framesOut} join frames sent in all`)
        // One notice each while the room had at most 5 members (to 1, 2, ... 5 members: 15 frames),
        // then one for the window (to 31). Without thinning: 31 notices and 31 * 32 / 2 = 496 frames.
        expect(joins.map((f) => f.online_num)).toEqual([1, 2, 3, 4, 5, 31])
        expect(framesOut).toBe(15 + 31)
        for (const c of others.slice(0, 20)) c.close()
        await eventually(async () => (await online()) === 11, 'the 20 leaves counted')
        clock.advance(100)
        await first.next((f) => f.msg_type === 'leave' && f.online_num === 11)
        expect(first.all('leave').map((f) => f.online_num)).toEqual([11])
        expect((await server.engine.snapshot('crowd')).room.online_num).toBe(11)
      })
    })

    describe('connections per user (problem 6)', () => {
      beforeEach(() => boot({ maxConnectionsPerUser: 3 }))

      it("closes a user's connection past the limit with 1008, by header or by auth frame, and frees a place on close", async () => {
        const held = [await connect(token('many')), await connect(token('many')), await connect(token('many'))]
        const fourth = await RawClient.connect(server.url, { token: token('many') })
        clients.push(fourth)
        expect(await fourth.closed).toEqual({ code: 1008, reason: 'more than 3 connections for this user' })
        const byFrame = await connect(null)
        expect(await byFrame.command({ msg_type: 'auth', msg_id: 'a', token: token('many') })).toMatchObject({ ok: false, code: 4029 })
        expect((await byFrame.closed).code).toBe(1008)
        // Another user is not affected.
        expect((await (await connect(token('other'))).command({ msg_type: 'join', msg_id: mid('j'), room_id: 'r' })).ok).toBe(true)
        held[0].close()
        await held[0].closed
        await until(() => server.connectionCount === 3, 'the place freed')
        const again = await connect(token('many'))
        expect((await again.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'r' })).ok).toBe(true)
      })
    })

    describe('tokens and auth (point 7)', () => {
      beforeEach(() => boot())

      it('refuses a token over 4,096 characters with 4001 and closes with 4001', async () => {
        const c = await connect(null)
        const ack = await c.command({ msg_type: 'auth', msg_id: 'a1', token: 'x'.repeat(5000) })
        expect(ack).toMatchObject({ ok: false, code: 4001, reason: expect.stringMatching(/longer than 4096/) })
        expect(await c.closed).toMatchObject({ code: 4001 })
      })

      it("takes a fresh token of the same user on an authenticated connection, refuses another user's, and closes on garbage", async () => {
        const c = await connect(token('same'))
        expect(await c.command({ msg_type: 'auth', msg_id: 'a1', token: token('same') })).toMatchObject({ ok: true, user: { uid: 'same' } })
        expect(await c.command({ msg_type: 'auth', msg_id: 'a2', token: token('other') })).toMatchObject({ ok: false, code: 4003 })
        expect(await c.command({ msg_type: 'auth', msg_id: 'a3', token: 'garbage' })).toMatchObject({ ok: false, code: 4001 })
        expect(await c.closed).toMatchObject({ code: 4001 })
      })
    })

    describe('close accounting (point 7)', () => {
      it('counts a frame over the limit as the 1009 it closed with, not 1006', async () => {
        await boot({ maxFrameBytes: 1024 })
        const before1006 = await metric(server, 'live_closes_total', { code: '1006' })
        const c = await connect()
        c.send('x'.repeat(5000))
        expect((await c.closed).code).toBe(1009)
        await until(() => server.connectionCount === 0, 'closed')
        expect(await metric(server, 'live_closes_total', { code: '1009' })).toBe(1)
        expect(await metric(server, 'live_closes_total', { code: '1006' })).toBe(before1006)
      })

      /** Publishes into `roomId` until the server gives up on a reader (the slow-reader counter moves). */
      async function fillUntilSlowReaderDropped(roomId: string): Promise<void> {
        const payload = 'x'.repeat(190)
        for (let round = 0; round < 400 && (await metric(server, 'live_slow_readers_dropped_total')) === 0; round++) {
          for (let i = 0; i < 250; i++) {
            await server.engine.apply(roomId, { type: 'message', msgId: mid('bulk'), user: { uid: 'sys', name: 'sys' }, content: payload })
          }
          await delay(5)
        }
        expect(await metric(server, 'live_slow_readers_dropped_total')).toBe(1)
      }

      it('a slow reader that never reads again: counted 1013 as sent, and cut off, which is the 1006 it sees', async () => {
        await boot({ maxBufferedBytes: 64 * 1024, closeTimeoutMs: 200 })
        const socket = await pausedReader(server.url, token('slow'), 'r')
        await fillUntilSlowReaderDropped('r')
        clock.advance(199)
        expect(await metric(server, 'live_closes_cut_off_total', { code: '1013' })).toBe(0)
        clock.advance(1)
        await until(() => server.connectionCount === 0, 'slow reader cut off')
        expect(await metric(server, 'live_closes_total', { code: '1013' })).toBe(1)
        expect(await metric(server, 'live_closes_cut_off_total', { code: '1013' })).toBe(1)
        expect(await readUntilClose(socket)).toBe(1006)
      })

      it('a slow reader that reads again within the close timeout sees the 1013 it is counted as', async () => {
        await boot({ maxBufferedBytes: 64 * 1024, closeTimeoutMs: 60000 })
        const socket = await pausedReader(server.url, token('slow'), 'r')
        await fillUntilSlowReaderDropped('r')
        expect(await readUntilClose(socket)).toBe(1013)
        await until(() => server.connectionCount === 0, 'close handshake finished')
        expect(await metric(server, 'live_closes_total', { code: '1013' })).toBe(1)
        expect(await metric(server, 'live_closes_cut_off_total', { code: '1013' })).toBe(0)
      })
    })
  })
}

/** Token expiry on an open connection, on a clock the test moves (createServer's `now`). */
export function expirySuite(engineName: string, start: StartServer): void {
  describe(`token expiry on open connections (${engineName} engine)`, () => {
    it('closes a connection with 4001 "token expired" once its exp passes (point 7)', async () => {
      // A whole second, so exp (in seconds) falls exactly on a sweep.
      const clock = new VirtualClock(Math.floor(Date.now() / 1000) * 1000)
      const server = await start({ dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'live-exp-')), clock, authTimeoutMs: 200, heartbeatMs: 3600000 })
      try {
        const t = signToken({ uid: 'u', name: 'U', role: 'viewer', exp: clock.now() / 1000 + 60 }, SECRET)
        const c = await RawClient.connect(server.url, { token: t })
        await c.type('init')
        expect((await c.command({ msg_type: 'join', msg_id: 'j', room_id: 'r1' })).ok).toBe(true)
        clock.advance(59950)
        expect(await metric(server, 'live_closes_total', { code: '4001' })).toBe(0)
        // A frame after the sweeps: the connection is still served.
        expect(await c.command({ msg_type: 'like', msg_id: 'l', room_id: 'r1', count: 1 })).toMatchObject({ ok: true })
        clock.advance(50)
        expect(await metric(server, 'live_closes_total', { code: '4001' })).toBe(1)
        expect(await c.closed).toEqual({ code: 4001, reason: 'token expired' })
      } finally {
        await server.close()
      }
    })
  })
}

/** Idle rooms freed from memory (problem 2), on a clock the test moves. */
export function idleRoomSuite(start: StartServer): void {
  describe('idle rooms (in-memory engine)', () => {
    it('frees rooms nobody owns 10 s after everyone left, the others once idle, and a freed room comes back under an epoch of its own', async () => {
      const clock = new VirtualClock()
      // The rate limiter runs on the same frozen clock: give it room.
      const server = await start({
        dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'live-idle-')),
        clock,
        idleRoomMs: 60000,
        heartbeatMs: 3600000,
        rateLimit: { perSecond: 1000, burst: 1000 },
        roomCreationRate: { perMinute: 1000, burst: 1000 },
      })
      try {
        const c = await RawClient.connect(server.url, { token: token('wanderer') })
        await c.type('init')
        // One viewer walks through 200 rooms (within every limit) and leaves each; in half of
        // them it says something, so someone "owns" those: they are kept for idleRoomMs.
        let first: Frame | undefined
        for (let i = 0; i < 200; i++) {
          const ack = await c.command({ msg_type: 'join', msg_id: `j${i}`, room_id: `room-${i}` })
          first ??= ack
          if (i % 2 === 1) await c.command({ msg_type: 'like', msg_id: `k${i}`, room_id: `room-${i}`, count: 1 })
          await c.command({ msg_type: 'leave', msg_id: `l${i}`, room_id: `room-${i}` })
        }
        // The likes' window ends (server time 100 ms): each is a like in its room.
        clock.advance(100)
        expect(server.engine.roomCount).toBe(200)
        // The engine's sweep runs every 5 s: rooms nobody owns and where nothing happened go 10 s
        // after they emptied (round two, problem 1); the others after idleRoomMs (60 s).
        clock.advance(9899)
        expect(server.engine.roomCount).toBe(200)
        clock.advance(5001)
        expect(server.engine.roomCount).toBe(100)
        // The liked rooms were last active at 100 ms: idle for 60 s at the sweep of 65 s.
        clock.advance(49999)
        expect(server.engine.roomCount).toBe(100)
        clock.advance(1)
        expect(server.engine.roomCount).toBe(0)
        // Back to the first room with what the client knew: a new epoch, so a snapshot, not a "recovery".
        const back = await c.command({ msg_type: 'join', msg_id: 'back', room_id: 'room-0', since_seq: first?.seq, epoch: first?.epoch })
        expect(back).toMatchObject({ ok: true, recovered: false })
        expect(back.epoch).not.toBe(first?.epoch)
        c.close()
      } finally {
        await server.close()
      }
    })
  })
}

/** The in-memory engine's dedup window across a restart and over a long life (point 7). */
export function dedupSuite(start: StartServer): void {
  describe('dedup window (in-memory engine)', () => {
    it('answers a msg_id resent after a restart on the same data dir with its first ack, not a second comment', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'live-dedup-'))
      const first = await start({ dataDir: dir })
      let firstAck: Frame
      try {
        const c = await RawClient.connect(first.url, { token: token('resender') })
        await c.type('init')
        await c.command({ msg_type: 'join', msg_id: 'j1', room_id: 'r' })
        firstAck = await c.command({ msg_type: 'message', msg_id: 'm-once', room_id: 'r', content: 'only once' })
        expect(firstAck).toMatchObject({ ok: true })
        c.ws.terminate()
      } finally {
        await first.close()
      }
      const second = await start({ dataDir: dir })
      try {
        const c = await RawClient.connect(second.url, { token: token('resender') })
        await c.type('init')
        await c.command({ msg_type: 'join', msg_id: 'j2', room_id: 'r' })
        const resent = await c.command({ msg_type: 'message', msg_id: 'm-once', room_id: 'r', content: 'only once' })
        expect(resent).toMatchObject({ ok: true, dup: true, seq: firstAck.seq })
        expect((await second.engine.snapshot('r')).message_list).toEqual([])
        c.ws.terminate()
      } finally {
        await second.close()
      }
    })
  })
}
