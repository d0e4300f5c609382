/**
 * The reference server held to protocol.md over real sockets, rule by rule, with a raw
 * WebSocket client. Written once, run against every engine.
 */
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { signToken, type TokenPayload } from '../../server/token'
import type { LiveServer, ServerOptions } from '../../server/server'
import { type Frame, mid, RawClient } from '../helpers/rawClient'
import { pausedReader } from '../helpers/rawSocket'
import { VirtualClock } from '../helpers/virtualClock'
import { until } from '../helpers/wait'

export const SECRET = 'conformance-secret'

export type StartServer = (options: Partial<ServerOptions>) => Promise<LiveServer>

const hour = (): number => Math.floor(Date.now() / 1000) + 3600

export function token(uid: string, extra: Partial<TokenPayload> = {}): string {
  return signToken({ uid, name: `name-${uid}`, role: 'viewer', exp: hour(), ...extra }, SECRET)
}

export function anchorToken(uid: string, rooms: string[]): string {
  return token(uid, { role: 'anchor', rooms })
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A metric's value from the server's registry (0 when the labelled series does not exist yet). */
export async function metric(server: LiveServer, name: string, labels: Record<string, string> = {}): Promise<number> {
  const data = await server.metrics.registry.getSingleMetric(name)?.get()
  const value = data?.values.find((v) => Object.entries(labels).every(([k, l]) => String((v.labels as Record<string, unknown>)[k]) === l))
  return value?.value ?? 0
}

const GOODS = { goods_id: 'g1', goods_name: 'Tea', goods_price: 1999, default_image: 'https://img.example.com/tea.png' }

export function conformanceSuite(engineName: string, start: StartServer): void {
  describe(`reference server conformance (${engineName} engine)`, () => {
    let server: LiveServer
    /** The server this test started and has not closed yet. */
    let running: LiveServer | undefined
    const clients: RawClient[] = []
    let dataDir: string
    /** The server's time: deadlines, windows and rate buckets move only when a test advances it. */
    let clock: VirtualClock

    async function boot(options: Partial<ServerOptions> = {}): Promise<LiveServer> {
      // A test that needs other options than its describe's boots again: the first server goes.
      await running?.close()
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'live-server-'))
      clock = new VirtualClock()
      server = running = await start({ dataDir, clock, ...options })
      return server
    }
    const roundTrip = (c: RawClient): Promise<void> => c.roundTrip()

    async function connect(t?: string, protocols?: string[]): Promise<RawClient> {
      const c = await RawClient.connect(server.url, { token: t, protocols })
      clients.push(c)
      await c.type('init')
      return c
    }

    /** A client authenticated by header and joined to `room`; the snapshot is taken. */
    async function joined(uid: string, room: string, t = token(uid)): Promise<RawClient> {
      const c = await connect(t)
      const ack = await c.command({ msg_type: 'join', msg_id: mid('j'), room_id: room })
      expect(ack).toMatchObject({ ok: true })
      await c.type('snapshot')
      return c
    }

    afterEach(async () => {
      for (const c of clients.splice(0)) c.ws.terminate()
      await running?.close()
      running = undefined
    })

    describe('connection lifecycle', () => {
      beforeEach(() => boot())

      it('sends init with client_id, epoch, server_time, heartbeat_ms and max_frame_bytes, and selects live.v1', async () => {
        const c = await RawClient.connect(server.url)
        clients.push(c)
        const init = await c.type('init')
        expect(c.protocol).toBe('live.v1')
        expect(init).toEqual({
          msg_type: 'init',
          client_id: expect.any(String),
          epoch: expect.any(String),
          server_time: expect.any(Number),
          heartbeat_ms: 25000,
          max_frame_bytes: 65536,
        })
        expect(Math.abs((init.server_time as number) - Date.now())).toBeLessThan(5000)
      })

      it('names the user in init when the handshake header carries a valid token', async () => {
        const c = await RawClient.connect(server.url, { token: token('u1') })
        clients.push(c)
        expect((await c.type('init')).user).toEqual({ uid: 'u1', name: 'name-u1', role: 'viewer' })
        // Authenticated already: join works without an auth frame.
        expect((await c.command({ msg_type: 'join', msg_id: mid(), room_id: 'r' })).ok).toBe(true)
      })

      it('accepts only auth and ping before auth', async () => {
        const c = await connect()
        c.send({ msg_type: 'ping', t: 7 })
        expect(await c.type('pong')).toMatchObject({ t: 7, server_time: expect.any(Number) })
        const refused = await c.command({ msg_type: 'join', msg_id: 'j1', room_id: 'r' })
        expect(refused).toMatchObject({ ok: false, code: 4001 })
        const ack = await c.command({ msg_type: 'auth', msg_id: 'a1', token: token('u2') })
        expect(ack).toEqual({ msg_type: 'ack', msg_id: 'a1', ok: true, user: { uid: 'u2', name: 'name-u2', role: 'viewer' } })
        expect((await c.command({ msg_type: 'join', msg_id: 'j2', room_id: 'r' })).ok).toBe(true)
      })

      it('answers a ping without t', async () => {
        const c = await connect()
        c.send({ msg_type: 'ping' })
        const pong = await c.type('pong')
        expect(pong.t).toBeUndefined()
        expect(typeof pong.server_time).toBe('number')
      })

      it('refuses a bad token with ack 4001 and closes with 4001', async () => {
        const c = await connect()
        // Flip a character in the middle of the signature (the last one also holds padding bits).
        const good = token('u1')
        const at = good.length - 10
        const forged = good.slice(0, at) + (good[at] === 'A' ? 'B' : 'A') + good.slice(at + 1)
        const ack = await c.command({ msg_type: 'auth', msg_id: 'a', token: forged })
        expect(ack).toMatchObject({ ok: false, code: 4001 })
        expect((await c.closed).code).toBe(4001)
      })

      it('refuses an expired token', async () => {
        const c = await connect()
        const expired = signToken({ uid: 'u', name: 'n', role: 'viewer', exp: Math.floor(Date.now() / 1000) - 1 }, SECRET)
        expect(await c.command({ msg_type: 'auth', msg_id: 'a', token: expired })).toMatchObject({ ok: false, code: 4001, reason: 'token expired' })
        expect((await c.closed).code).toBe(4001)
      })

      it('never trusts identity sent in a frame: from_uid and from_name come from the token', async () => {
        const c = await joined('honest', 'r')
        c.send({ msg_type: 'message', msg_id: 'm1', room_id: 'r', content: 'hi', from_uid: 'admin', from_name: 'Admin', role: 'anchor' })
        const msg = await c.type('message')
        expect(msg).toMatchObject({ from_uid: 'honest', from_name: 'name-honest', content: 'hi', msg_id: 'm1' })
      })

      it('broadcasts join and leave with online_num, and closing the socket leaves every room', async () => {
        const a = await joined('a', 'r')
        const b = await joined('b', 'r')
        expect(await a.next((f) => f.msg_type === 'join' && (f.user as Frame).uid === 'b')).toMatchObject({ online_num: 2, room_id: 'r' })
        expect(await b.command({ msg_type: 'leave', msg_id: mid(), room_id: 'r' })).toMatchObject({ ok: true })
        expect(await a.next((f) => f.msg_type === 'leave')).toMatchObject({ user: { uid: 'b', name: 'name-b' }, online_num: 1 })
        const c = await joined('c', 'r')
        await a.next((f) => f.msg_type === 'join' && (f.user as Frame).uid === 'c')
        c.ws.terminate()
        expect(await a.next((f) => f.msg_type === 'leave' && (f.user as Frame).uid === 'c')).toMatchObject({ online_num: 1 })
      })
    })

    describe('deadlines', () => {
      it('closes a connection that has not authenticated in time with 4001', async () => {
        await boot({ authTimeoutMs: 200 })
        const c = await connect()
        // Pings are no authentication: the deadline still runs.
        await roundTrip(c)
        clock.advance(200)
        expect(await metric(server, 'live_closes_total', { code: '4001' })).toBe(0)
        clock.advance(50)
        expect(await metric(server, 'live_closes_total', { code: '4001' })).toBe(1)
        expect((await c.closed).code).toBe(4001)
      })

      it('closes a silent connection after 2.5 x heartbeat_ms with 4008, and keeps one that pings', async () => {
        await boot({ heartbeatMs: 100 })
        const silent = await connect(token('s'))
        const pinging = await connect(token('p'))
        // The sweep runs every 25 ms of server time; the pinging client pings before each step.
        for (let elapsed = 0; elapsed < 250; elapsed += 25) {
          await roundTrip(pinging)
          clock.advance(25)
        }
        // 250 ms silent is not yet more than 2.5 x heartbeat_ms.
        expect(await metric(server, 'live_closes_total', { code: '4008' })).toBe(0)
        await roundTrip(pinging)
        clock.advance(25)
        expect(await metric(server, 'live_closes_total', { code: '4008' })).toBe(1)
        expect((await silent.closed).code).toBe(4008)
        for (let i = 0; i < 20; i++) {
          await roundTrip(pinging)
          clock.advance(25)
        }
        expect(await metric(server, 'live_closes_total', { code: '4008' })).toBe(1)
        expect(pinging.ws.readyState).toBe(pinging.ws.OPEN)
      })
    })

    describe('rooms, seq and recovery', () => {
      it('answers join with an ack (room_id, epoch, head seq) and a snapshot of the room', async () => {
        await boot({
          rateLimit: { perSecond: 1000, burst: 1000 },
          messageRateLimit: { perSecond: 1000, burst: 1000 },
          rooms: [{ id: 'shop', title: 'Spring sale', anchor: { uid: 'boss', name: 'Boss' } }],
        })
        const anchor = await joined('boss', 'shop', anchorToken('boss', ['shop']))
        await anchor.command({ msg_type: 'on_off_shelf', msg_id: mid(), room_id: 'shop', ...GOODS, status: 'on' })
        for (let i = 0; i < 60; i++) await anchor.command({ msg_type: 'message', msg_id: `msg${i}`, room_id: 'shop', content: `hello ${i}` })
        await anchor.command({ msg_type: 'subscribe', msg_id: mid(), room_id: 'shop' })
        await anchor.command({ msg_type: 'like', msg_id: mid(), room_id: 'shop', count: 5 })
        clock.advance(100)
        await anchor.next((f) => f.msg_type === 'like')
        const viewer = await connect(token('v'))
        const ack = await viewer.command({ msg_type: 'join', msg_id: 'jv', room_id: 'shop' })
        const head = 1 + 1 + 60 + 1 + 1 // join, shelf, 60 messages, subscribe, like
        expect(ack).toEqual({ msg_type: 'ack', msg_id: 'jv', ok: true, room_id: 'shop', epoch: expect.any(String), seq: head, recovered: false })
        const snapshot = await viewer.type('snapshot')
        expect(snapshot).toMatchObject({
          room_id: 'shop',
          epoch: ack.epoch,
          seq: head,
          room: { title: 'Spring sale', status: 'live', anchor: { uid: 'boss', name: 'Boss' }, online_num: 1, like_num: 5, subscribe_num: 1 },
          shelf: [{ ...GOODS, status: 'on' }],
        })
        const list = snapshot.message_list as Frame[]
        expect(list).toHaveLength(50)
        expect(list[0]).toMatchObject({ msg_type: 'message', content: 'hello 10', msg_id: 'msg10', room_id: 'shop' })
        expect(list[49]).toMatchObject({ content: 'hello 59' })
        // The viewer's own join comes next, as a live event with the next seq.
        expect(await viewer.type('join')).toMatchObject({ seq: head + 1, online_num: 2 })
      })

      it('refuses rooms that are not in a fixed room list with 4004', async () => {
        await boot({ rooms: [{ id: 'only' }] })
        const c = await connect(token('u'))
        expect(await c.command({ msg_type: 'join', msg_id: mid(), room_id: 'other' })).toMatchObject({ ok: false, code: 4004 })
      })

      it('numbers room events 1, 2, 3 ... with ts, across every event type', async () => {
        await boot({ likeWindowMs: 20 })
        const anchor = await joined('boss', 'r', anchorToken('boss', ['r']))
        const viewer = await joined('v', 'r')
        await viewer.command({ msg_type: 'message', msg_id: mid(), room_id: 'r', content: 'hi' })
        await viewer.command({ msg_type: 'like', msg_id: mid(), room_id: 'r', count: 3 })
        clock.advance(20)
        await anchor.next((f) => f.msg_type === 'like')
        await viewer.command({ msg_type: 'subscribe', msg_id: mid(), room_id: 'r' })
        await anchor.command({ msg_type: 'on_off_shelf', msg_id: mid(), room_id: 'r', ...GOODS, status: 'on' })
        await viewer.command({ msg_type: 'buy', msg_id: mid(), room_id: 'r', goods_id: 'g1' })
        await anchor.command({ msg_type: 'on_off_shelf', msg_id: mid(), room_id: 'r', ...GOODS, status: 'off' })
        await viewer.command({ msg_type: 'leave', msg_id: mid(), room_id: 'r' })
        await anchor.next((f) => f.msg_type === 'leave')
        const events = anchor.frames.filter((f) => typeof f.seq === 'number' && f.msg_type !== 'ack' && f.msg_type !== 'snapshot')
        expect(events.map((f) => f.msg_type)).toEqual(['join', 'join', 'message', 'like', 'subscribe', 'on_off_shelf', 'buy', 'on_off_shelf', 'leave'])
        expect(events.map((f) => f.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])
        for (const e of events) expect(e).toMatchObject({ room_id: 'r', ts: expect.any(Number) })
      })

      it('replays exactly the missed events on a join with since_seq and the same epoch', async () => {
        await boot({ messageRateLimit: { perSecond: 100, burst: 100 } })
        const a = await joined('a', 'r')
        const b = await joined('b', 'r')
        await b.command({ msg_type: 'message', msg_id: mid(), room_id: 'r', content: 'before' })
        const seen = await a.next((f) => f.msg_type === 'message')
        const epoch = (a.frames.find((f) => f.msg_type === 'snapshot') as Frame).epoch
        a.ws.terminate()
        await b.next((f) => f.msg_type === 'leave')
        for (let i = 0; i < 5; i++) await b.command({ msg_type: 'message', msg_id: mid(), room_id: 'r', content: `missed ${i}` })
        const a2 = await connect(token('a'))
        const ack = await a2.command({ msg_type: 'join', msg_id: 'rejoin', room_id: 'r', since_seq: seen.seq, epoch })
        const head = (seen.seq as number) + 1 + 5 // a's leave on terminate, then 5 messages
        expect(ack).toMatchObject({ ok: true, recovered: true, seq: head, epoch })
        const replay: Frame[] = []
        for (let i = 0; i < 6; i++) replay.push(await a2.next((f) => typeof f.seq === 'number' && f.msg_type !== 'ack' && f.msg_type !== 'snapshot'))
        expect(replay.map((f) => f.seq)).toEqual(Array.from({ length: 6 }, (_, i) => (seen.seq as number) + 1 + i))
        expect(replay.map((f) => f.msg_type)).toEqual(['leave', 'message', 'message', 'message', 'message', 'message'])
        expect(a2.all('snapshot')).toHaveLength(0)
        // Then live: a2's own join.
        expect(await a2.type('join')).toMatchObject({ seq: head + 1 })
      })

      it('sends a snapshot instead when the epoch is stale', async () => {
        await boot()
        const a = await joined('a', 'r')
        await a.command({ msg_type: 'message', msg_id: mid(), room_id: 'r', content: 'x' })
        const c = await connect(token('c'))
        const ack = await c.command({ msg_type: 'join', msg_id: 'j', room_id: 'r', since_seq: 1, epoch: 'an-old-epoch' })
        expect(ack).toMatchObject({ ok: true, recovered: false, seq: 2 })
        expect(await c.type('snapshot')).toMatchObject({ seq: 2 })
      })

      it('sends a snapshot instead when history no longer holds every event after since_seq', async () => {
        await boot({ history: 10, rateLimit: { perSecond: 1000, burst: 1000 }, messageRateLimit: { perSecond: 1000, burst: 1000 } })
        const a = await joined('a', 'r')
        const epoch = (a.frames.find((f) => f.msg_type === 'snapshot') as Frame).epoch
        for (let i = 0; i < 40; i++) await a.command({ msg_type: 'message', msg_id: mid(), room_id: 'r', content: `m${i}` })
        const c = await connect(token('c'))
        const tooOld = await c.command({ msg_type: 'join', msg_id: 'old', room_id: 'r', since_seq: 2, epoch })
        expect(tooOld).toMatchObject({ recovered: false, seq: 41 })
        expect(await c.type('snapshot')).toMatchObject({ seq: 41 })
        // A since_seq still inside the history window is recovered.
        const d = await connect(token('d'))
        const recent = await d.command({ msg_type: 'join', msg_id: 'recent', room_id: 'r', since_seq: 36, epoch })
        expect(recent).toMatchObject({ recovered: true, seq: 42 })
        const replay: Frame[] = []
        for (let i = 0; i < 6; i++) replay.push(await d.next((f) => typeof f.seq === 'number' && f.msg_type !== 'ack'))
        expect(replay.map((f) => f.seq)).toEqual([37, 38, 39, 40, 41, 42])
      })
    })

    describe('commands', () => {
      beforeEach(() => boot({ likeWindowMs: 50 }))

      it('acks a repeated msg_id again with dup: true and applies it once', async () => {
        const a = await joined('a', 'r')
        const first = await a.command({ msg_type: 'message', msg_id: 'same', room_id: 'r', content: 'once' })
        const second = await a.command({ msg_type: 'message', msg_id: 'same', room_id: 'r', content: 'once' })
        expect(first).toMatchObject({ ok: true, msg_id: 'same' })
        expect(first.dup).toBeUndefined()
        expect(second).toEqual({ ...first, dup: true })
        // From another connection of the same user too (a resend after a reconnect).
        const again = await joined('a', 'r')
        expect(await again.command({ msg_type: 'message', msg_id: 'same', room_id: 'r', content: 'once' })).toMatchObject({ dup: true })
        await a.command({ msg_type: 'message', msg_id: 'after', room_id: 'r', content: 'after' })
        // The broadcasts travel by the store's pub/sub, the acks by the command's reply: wait for the
        // second comment to arrive, then everything before it has.
        await until(() => a.all('message').some((m) => m.msg_id === 'after'), 'the sender got its second comment')
        expect(a.all('message').map((m) => m.content)).toEqual(['once', 'after'])
        // Another user's msg_id space is its own.
        const b = await joined('b', 'r')
        expect((await b.command({ msg_type: 'message', msg_id: 'same', room_id: 'r', content: 'b' })).dup).toBeUndefined()
      })

      it('lets only the anchor of the room change its shelf (others 4003)', async () => {
        const viewer = await joined('v', 'r')
        const otherAnchor = await joined('x', 'r', anchorToken('x', ['elsewhere']))
        const anchor = await joined('boss', 'r', anchorToken('boss', ['r']))
        const shelf = (m: string) => ({ msg_type: 'on_off_shelf', msg_id: m, room_id: 'r', ...GOODS, status: 'on' })
        expect(await viewer.command(shelf('s1'))).toMatchObject({ ok: false, code: 4003 })
        expect(await otherAnchor.command(shelf('s2'))).toMatchObject({ ok: false, code: 4003 })
        expect(await anchor.command(shelf('s3'))).toMatchObject({ ok: true })
        expect(await viewer.type('on_off_shelf')).toMatchObject({ ...GOODS, status: 'on' })
      })

      it('accepts buy only for goods on the shelf (4004 otherwise)', async () => {
        const anchor = await joined('boss', 'r', anchorToken('boss', ['r']))
        const viewer = await joined('v', 'r')
        expect(await viewer.command({ msg_type: 'buy', msg_id: 'b1', room_id: 'r', goods_id: 'g1' })).toMatchObject({ ok: false, code: 4004 })
        await anchor.command({ msg_type: 'on_off_shelf', msg_id: mid(), room_id: 'r', ...GOODS, status: 'on' })
        expect(await viewer.command({ msg_type: 'buy', msg_id: 'b2', room_id: 'r', goods_id: 'g1' })).toMatchObject({ ok: true })
        expect(await anchor.type('buy')).toMatchObject({ user: { uid: 'v', name: 'name-v' }, goods_id: 'g1', goods_name: 'Tea' })
        await anchor.command({ msg_type: 'on_off_shelf', msg_id: mid(), room_id: 'r', ...GOODS, status: 'off' })
        expect(await viewer.command({ msg_type: 'buy', msg_id: 'b3', room_id: 'r', goods_id: 'g1' })).toMatchObject({ ok: false, code: 4004 })
      })

      it('needs the room joined for room commands (4003)', async () => {
        const c = await connect(token('u'))
        expect(await c.command({ msg_type: 'message', msg_id: 'm', room_id: 'r', content: 'x' })).toMatchObject({ ok: false, code: 4003 })
      })

      it('trims message content, removes control characters and allows 1..200 characters (4000 otherwise)', async () => {
        const a = await joined('a', 'r')
        expect(await a.command({ msg_type: 'message', msg_id: 'e', room_id: 'r', content: '  \u0000\n ' })).toMatchObject({ ok: false, code: 4000 })
        expect(await a.command({ msg_type: 'message', msg_id: 'l', room_id: 'r', content: 'x'.repeat(201) })).toMatchObject({ ok: false, code: 4000 })
        expect(await a.command({ msg_type: 'message', msg_id: 'ok', room_id: 'r', content: '  hi\u0007 there  ' })).toMatchObject({ ok: true })
        // The broadcast reaches its sender too, trimmed (on a shared store it may come just after the ack:
        // it travels by the store's pub/sub, the ack by the command's reply).
        await until(() => a.all('message').length > 0, 'the sender got its own comment')
        expect(a.all('message')).toEqual([expect.objectContaining({ msg_id: 'ok', content: 'hi there' })])
        expect(await a.command({ msg_type: 'message', msg_id: 'max', room_id: 'r', content: '字'.repeat(200) })).toMatchObject({ ok: true })
      })

      it('merges likes in a short window into one like event with the absolute like_num', async () => {
        // A window longer than the test on any machine (Redis times its own part of it in real time).
        await boot({ likeWindowMs: 20000 })
        const a = await joined('a', 'r')
        for (let i = 0; i < 10; i++) a.send({ msg_type: 'like', msg_id: `like${i}`, room_id: 'r', count: 2 })
        for (let i = 0; i < 10; i++) await a.next((f) => f.msg_type === 'ack' && f.msg_id === `like${i}`)
        await roundTrip(a)
        expect(a.all('like')).toEqual([])
        clock.advance(20000)
        expect(await a.type('like')).toMatchObject({ like_num: 20, delta: 20 })
        // A second window adds to the absolute count.
        expect(await a.command({ msg_type: 'like', msg_id: 'like10', room_id: 'r', count: 3 })).toMatchObject({ ok: true })
        clock.advance(20000)
        expect(await a.type('like')).toMatchObject({ like_num: 23, delta: 3 })
        expect(a.all('like')).toHaveLength(2)
      })

      it('answers malformed JSON and unknown commands with error or ack 4000 and keeps the connection', async () => {
        const a = await joined('a', 'r')
        a.send('{not json')
        expect(await a.type('error')).toMatchObject({ code: 4000 })
        a.send({ msg_type: 'teleport' })
        expect(await a.type('error')).toMatchObject({ code: 4000 })
        expect(await a.command({ msg_type: 'teleport', msg_id: 'tp' })).toMatchObject({ ok: false, code: 4000 })
        expect(await a.command({ msg_type: 'like', msg_id: 'bad', room_id: 'r', count: 'many' })).toMatchObject({ ok: false, code: 4000 })
        expect(await a.command({ msg_type: 'message', msg_id: 'p', room_id: 'r', content: 'x', __proto__: { admin: true } } as Record<string, unknown>)).toMatchObject({ ok: true })
        a.send('{"msg_type":"message","msg_id":"pp","room_id":"r","content":"x","__proto__":{"admin":true}}')
        expect(await a.next((f) => f.msg_id === 'pp')).toMatchObject({ ok: false, code: 4000 })
        expect(a.ws.readyState).toBe(a.ws.OPEN)
      })

      it('closes a connection that keeps sending garbage with 1008', async () => {
        const a = await joined('a', 'r')
        for (let i = 0; i < 30; i++) a.send('garbage')
        expect((await a.closed).code).toBe(1008)
      })

      it('appends report logs merged with cache_fields to reports.jsonl and acks after the write', async () => {
        const a = await connect(token('a'))
        const first = await a.command({
          msg_type: 'report',
          msg_id: 'r1',
          cache_fields: { app: '1.2.0', os: 'ios' },
          logs: [{ event: 'view' }, { event: 'tap', os: 'android' }],
        })
        expect(first).toMatchObject({ ok: true, accepted: 2 })
        const file = path.join(dataDir, 'reports.jsonl')
        // The ack came after the write: the lines are there now.
        expect(
          fs
            .readFileSync(file, 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l)),
        ).toEqual([
          { app: '1.2.0', os: 'ios', event: 'view' },
          { app: '1.2.0', os: 'android', event: 'tap' },
        ])
        // Cached fields travel once per connection: later reports get them too.
        await a.command({ msg_type: 'report', msg_id: 'r2', logs: [{ event: 'leave' }] })
        const lines = fs
          .readFileSync(file, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l))
        expect(lines[2]).toEqual({ app: '1.2.0', os: 'ios', event: 'leave' })
        // A repeat is not logged twice.
        expect(await a.command({ msg_type: 'report', msg_id: 'r2', logs: [{ event: 'leave' }] })).toMatchObject({ dup: true })
        expect(fs.readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(3)
      })
    })

    describe('moderation (docs/protocol.md: delete_message, mute, kick)', () => {
      beforeEach(() => boot())

      it('lets the anchor delete a comment: every viewer gets message_deleted, a later snapshot leaves it out, a recovery replays the message then its deletion', async () => {
        const anchor = await joined('host', 'mod', anchorToken('host', ['mod']))
        const viewer = await joined('v1', 'mod')
        const sent = await viewer.command({ msg_type: 'message', msg_id: 'bad', room_id: 'mod', content: 'spam spam' })
        await viewer.command({ msg_type: 'message', msg_id: 'fine', room_id: 'mod', content: 'hello' })
        const deleted = await anchor.command({ msg_type: 'delete_message', msg_id: mid('d'), room_id: 'mod', target_msg_id: 'bad' })
        expect(deleted).toMatchObject({ ok: true, room_id: 'mod' })
        const event = await viewer.next((f) => f.msg_type === 'message_deleted')
        expect(event).toMatchObject({ target_msg_id: 'bad', by: { uid: 'host', name: 'name-host' }, seq: deleted.seq })
        // Gone for good: again is 4004, and so is a message that never was.
        expect(await anchor.command({ msg_type: 'delete_message', msg_id: mid('d'), room_id: 'mod', target_msg_id: 'bad' })).toMatchObject({ ok: false, code: 4004 })
        expect(await anchor.command({ msg_type: 'delete_message', msg_id: mid('d'), room_id: 'mod', target_msg_id: 'never' })).toMatchObject({ ok: false, code: 4004 })
        const late = await connect(token('late'))
        await late.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'mod' })
        const snapshot = await late.type('snapshot')
        expect((snapshot.message_list as Frame[]).map((m) => m.msg_id)).toEqual(['fine'])
        // A viewer that had seen up to the comment recovers across the deletion.
        const back = await connect(token('v2'))
        const ack = await back.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'mod', since_seq: (sent.seq as number) - 1, epoch: snapshot.epoch })
        expect(ack).toMatchObject({ ok: true, recovered: true })
        const replayed = [await back.next((f) => f.msg_type === 'message'), await back.next((f) => f.msg_type === 'message'), await back.next((f) => f.msg_type === 'message_deleted')]
        expect(replayed.map((f) => f.msg_id ?? f.target_msg_id)).toEqual(['bad', 'fine', 'bad'])
      })

      it('mutes a viewer (4030 with until on a comment) until the time passes or the mute is lifted; likes still count', async () => {
        const anchor = await joined('host', 'mute', anchorToken('host', ['mute']))
        const viewer = await joined('troll', 'mute')
        // The name in the notice is the member's: wait until the join is counted (it is applied
        // after the joiner's snapshot was read, so just after the ack).
        await anchor.next((f) => f.msg_type === 'join' && (f.user as Frame).uid === 'troll')
        const muted = await anchor.command({ msg_type: 'mute', msg_id: mid('m'), room_id: 'mute', uid: 'troll', duration_s: 60 })
        expect(muted.ok).toBe(true)
        const event = await viewer.next((f) => f.msg_type === 'muted')
        expect(event).toMatchObject({ user: { uid: 'troll', name: 'name-troll' }, by: { uid: 'host' } })
        const refused = await viewer.command({ msg_type: 'message', msg_id: 'while-muted', room_id: 'mute', content: 'hi' })
        expect(refused).toMatchObject({ ok: false, code: 4030, until: event.until })
        expect(await viewer.command({ msg_type: 'like', msg_id: mid('l'), room_id: 'mute', count: 1 })).toMatchObject({ ok: true })
        // Lifted (duration 0): the same msg_id is judged anew and goes through.
        await anchor.command({ msg_type: 'mute', msg_id: mid('m'), room_id: 'mute', uid: 'troll', duration_s: 0 })
        expect((await viewer.next((f) => f.msg_type === 'muted' && f.until === 0)).user).toMatchObject({ uid: 'troll' })
        expect(await viewer.command({ msg_type: 'message', msg_id: 'while-muted', room_id: 'mute', content: 'hi' })).toMatchObject({ ok: true })
        // A mute of one second lifts by itself.
        // (Refusal while muted is shown above with a long mute: on a shared store a one-second
        // mute runs on real time, and a busy machine may take a second before the next command.)
        await anchor.command({ msg_type: 'mute', msg_id: mid('m'), room_id: 'mute', uid: 'troll', duration_s: 1 })
        const short = await viewer.next((f) => f.msg_type === 'muted' && f.until !== 0)
        expect((short.until as number) - (short.ts as number)).toBe(1000)
        clock.advance(1100)
        await sleep(1100) // a shared store measures the mute on real time
        expect(await viewer.command({ msg_type: 'message', msg_id: mid('x'), room_id: 'mute', content: 'yes' })).toMatchObject({ ok: true })
      })

      it('kicks a viewer: its connections leave the room at once, online_num drops, and its joins get 4031 with until', async () => {
        const anchor = await joined('host', 'kick', anchorToken('host', ['kick']))
        const first = await joined('troll', 'kick')
        const second = await joined('troll', 'kick')
        await anchor.next((f) => f.msg_type === 'join' && (f.user as Frame).uid === 'troll')
        const kicked = await anchor.command({ msg_type: 'kick', msg_id: mid('k'), room_id: 'kick', uid: 'troll', duration_s: 600 })
        expect(kicked.ok).toBe(true)
        for (const c of [first, second]) expect(await c.next((f) => f.msg_type === 'kicked')).toMatchObject({ user: { uid: 'troll', name: 'name-troll' } })
        // The room's count without them rides on the event (a kick sends no leave).
        await until(() => anchor.all('kicked').length > 0, 'the anchor got the kick')
        expect(anchor.all('kicked')).toEqual([expect.objectContaining({ online_num: 1, seq: kicked.seq })])
        // Out of the room on both connections: a comment needs the room joined again.
        for (const c of [first, second]) expect(await c.command({ msg_type: 'message', msg_id: mid('x'), room_id: 'kick', content: 'hi' })).toMatchObject({ ok: false, code: 4003 })
        const rejoin = await first.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'kick' })
        expect(rejoin).toMatchObject({ ok: false, code: 4031 })
        expect(rejoin.until as number).toBeGreaterThan(Date.now() - 60000)
        // Counted out once, and their leaves change nothing: the anchor is alone (a snapshot is read before its joiner counts).
        const probe = await joined('probe', 'kick')
        const seen = probe.all('snapshot')[0] as Frame
        expect((seen.room as Frame).online_num).toBe(1)
        await anchor.command({ msg_type: 'message', msg_id: mid('x'), room_id: 'kick', content: 'calm now' })
        await until(() => anchor.all('message').some((m) => m.content === 'calm now'), 'the anchor got its comment')
        expect(anchor.all('leave').filter((f) => (f.user as Frame).uid === 'troll')).toEqual([])
      })

      it('refuses delete_message, mute and kick from a viewer (4003) and takes them from an admin in any room', async () => {
        await joined('host', 'adm', anchorToken('host', ['adm']))
        const viewer = await joined('v', 'adm')
        const sent = await viewer.command({ msg_type: 'message', msg_id: 'mine', room_id: 'adm', content: 'x' })
        expect(sent.ok).toBe(true)
        for (const frame of [
          { msg_type: 'delete_message', target_msg_id: 'mine' },
          { msg_type: 'mute', uid: 'host', duration_s: 60 },
          { msg_type: 'kick', uid: 'host', duration_s: 60 },
        ]) {
          expect(await viewer.command({ ...frame, msg_id: mid('v'), room_id: 'adm' })).toMatchObject({ ok: false, code: 4003 })
        }
        const admin = await connect(token('root', { role: 'admin' }))
        expect(await admin.command({ msg_type: 'delete_message', msg_id: mid('a'), room_id: 'adm', target_msg_id: 'mine' })).toMatchObject({ ok: true })
        expect(await admin.command({ msg_type: 'mute', msg_id: mid('a'), room_id: 'adm', uid: 'v', duration_s: 30 })).toMatchObject({ ok: true })
      })
    })

    describe('limits', () => {
      it('rate-limits a connection (4029), closes a flood with 1008, and does not slow other connections', async () => {
        await boot({ rateLimit: { perSecond: 20, burst: 40 } })
        const flooder = await joined('f', 'r')
        const calm = await joined('c', 'r')
        for (let i = 0; i < 60; i++) flooder.send({ msg_type: 'like', msg_id: `f${i}`, room_id: 'r', count: 1 })
        const acks = await Promise.all(Array.from({ length: 60 }, (_, i) => flooder.next((f) => f.msg_type === 'ack' && f.msg_id === `f${i}`)))
        // Server time stands still: the burst of 40 (the join took one), then 4029 for the rest.
        expect(acks.filter((a) => a.ok === true)).toHaveLength(39)
        expect(acks.filter((a) => a.code === 4029)).toHaveLength(21)
        // The calm client has a bucket of its own: its ping is answered, its command taken.
        await roundTrip(calm)
        expect(await calm.command({ msg_type: 'like', msg_id: 'calm1', room_id: 'r', count: 1 })).toMatchObject({ ok: true })
        for (let i = 0; i < 200 && flooder.ws.readyState === flooder.ws.OPEN; i++) {
          flooder.send({ msg_type: 'like', msg_id: `g${i}`, room_id: 'r', count: 1 })
        }
        expect((await flooder.closed).code).toBe(1008)
        expect(await calm.command({ msg_type: 'message', msg_id: 'still', room_id: 'r', content: 'fine' })).toMatchObject({ ok: true })
      })

      it('limits messages per user (4029 past the burst)', async () => {
        await boot({ messageRateLimit: { perSecond: 5, burst: 5 } })
        const a = await joined('a', 'r')
        const acks: Frame[] = []
        for (let i = 0; i < 8; i++) acks.push(await a.command({ msg_type: 'message', msg_id: `m${i}`, room_id: 'r', content: `${i}` }))
        expect(acks.filter((x) => x.ok)).toHaveLength(5)
        expect(acks.filter((x) => x.code === 4029)).toHaveLength(3)
        // A refused command may be resent with the same msg_id once the bucket refills: one
        // message per 200 ms of server time.
        clock.advance(150)
        expect(await a.command({ msg_type: 'message', msg_id: 'm7', room_id: 'r', content: '7' })).toMatchObject({ ok: false, code: 4029 })
        clock.advance(100)
        expect(await a.command({ msg_type: 'message', msg_id: 'm7', room_id: 'r', content: '7' })).toMatchObject({ ok: true })
        expect(await a.command({ msg_type: 'message', msg_id: 'm8', room_id: 'r', content: '8' })).toMatchObject({ ok: false, code: 4029 })
      })

      it('closes a connection that sends a frame over max_frame_bytes with 1009', async () => {
        await boot({ maxFrameBytes: 1024 })
        const a = await joined('a', 'r')
        a.send({ msg_type: 'message', msg_id: 'big', room_id: 'r', content: 'x'.repeat(2000) })
        expect((await a.closed).code).toBe(1009)
      })

      it('closes a reader that lets more than maxBufferedBytes wait with 1013, without holding up the room', async () => {
        await boot({ maxBufferedBytes: 1024 * 1024 })
        const fast = await joined('fast', 'r')
        // A slow reader: a raw socket that upgrades, joins, then never reads again.
        const slow = await pausedReader(server.url, token('slow'), 'r')
        const before = server.connectionCount
        const payload = 'x'.repeat(190)
        let published = 0
        // Publish straight through the engine until the slow reader is dropped.
        for (let round = 0; round < 400 && (await metric(server, 'live_slow_readers_dropped_total')) === 0; round++) {
          for (let i = 0; i < 250; i++) {
            await server.engine.apply('r', { type: 'message', msgId: `bulk${published}`, user: { uid: 'sys', name: 'sys' }, content: payload })
            published++
          }
          await sleep(5)
        }
        // Its close frame waits behind what it never read: it is cut off after closeTimeoutMs.
        clock.advance(2000)
        await until(() => server.connectionCount === before - 1, 'the slow reader cut off')
        const metrics = await server.metrics.registry.getSingleMetricAsString('live_slow_readers_dropped_total')
        expect(metrics).toMatch(/live_slow_readers_dropped_total 1/)
        expect(await server.metrics.registry.getSingleMetricAsString('live_closes_total')).toMatch(/code="1013"\} 1/)
        // The fast reader kept up with everything.
        await fast.next((f) => f.msg_id === `bulk${published - 1}`, 10000)
        slow.destroy()
      })
    })

    describe('http and shutdown', () => {
      beforeEach(() => boot())

      it('answers GET /healthz and GET /metrics (Prometheus text)', async () => {
        const c = await joined('a', 'r')
        await c.command({ msg_type: 'message', msg_id: mid(), room_id: 'r', content: 'x' })
        const base = server.url.replace('ws://', 'http://').replace('/ws', '')
        const health = await fetch(`${base}/healthz`)
        expect(health.status).toBe(200)
        expect(await health.json()).toMatchObject({ ok: true, connections: 1, rooms: 1 })
        const metrics = await (await fetch(`${base}/metrics`)).text()
        expect(metrics).toMatch(/live_connections 1/)
        expect(metrics).toMatch(/live_frames_in_total\{type="message"\} 1/)
        expect(metrics).toMatch(/live_frames_out_total\{type="snapshot"\} 1/)
        expect(metrics).toMatch(/live_acks_total\{code="0"\} 2/)
        expect((await fetch(`${base}/nope`)).status).toBe(404)
      })

      it('closes every socket with 1001 on shutdown', async () => {
        const a = await joined('a', 'r')
        const b = await connect()
        await server.close()
        expect((await a.closed).code).toBe(1001)
        expect((await b.closed).code).toBe(1001)
      })

      it('takes no new connection once shutdown has begun (a client reconnecting at once gets 503)', async () => {
        const a = await joined('a', 'r')
        const closed = server.close()
        const refused = await RawClient.connect(server.url, { token: token('b') }).then(
          (c) => {
            clients.push(c)
            return 'accepted'
          },
          (error: Error) => error.message,
        )
        expect(refused).toMatch(/503/)
        expect((await a.closed).code).toBe(1001)
        await closed
        expect(server.connectionCount).toBe(0)
      })
    })
  })
}
