/**
 * Fan-out past the per-message limit (issue 13): each event framed once, each tick batched and
 * compressed once, against a real server and raw ws clients (plain, batch, deflate).
 */
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { createServer, type LiveServer, type ServerOptions } from '../../server/server'
import { type Frame, mid, RawClient } from '../helpers/rawClient'
import { VirtualClock } from '../helpers/virtualClock'
import { until } from '../helpers/wait'
import { metric, SECRET, token } from './conformanceSuite'

const BATCH = ['live.v1.batch', 'live.v1']
/** ws's per-socket compressor (not among its exports: loaded by path, the same module ws uses). Node's
 * `require` (the repository's type check also loads WeChat's typings, whose `require` has no `resolve`). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const PerMessageDeflate = require(path.join(path.dirname((require as unknown as NodeJS.Require).resolve('ws')), 'lib', 'permessage-deflate.js')) as { prototype: { compress: () => void } }

/** Every room event a client received, alone or in batches, in arrival order. */
const eventsOf = (c: RawClient): Frame[] => c.frames.flatMap((f) => (f.msg_type === 'batch' ? (f.events as Frame[]) : ['message', 'join', 'leave', 'like'].includes(f.msg_type) ? [f] : []))

describe('fan-out: frame once, batch per tick, compress once', () => {
  let server: LiveServer
  const clients: RawClient[] = []
  let tickMs = 50
  /** The server's time: a batch tick ends only when the test advances it. */
  let clock: VirtualClock
  async function boot(options: Partial<ServerOptions> = {}): Promise<LiveServer> {
    tickMs = options.batchMs ?? 50
    clock = new VirtualClock()
    server = await createServer({ port: 0, secret: SECRET, dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'live-fanout-')), clock, ...options })
    return server
  }
  async function viewer(uid: string, options: { protocols?: string[]; deflate?: boolean } = {}): Promise<RawClient> {
    const c = await RawClient.connect(server.url, { token: token(uid), ...options })
    clients.push(c)
    await c.type('init')
    expect((await c.command({ msg_type: 'join', msg_id: mid('j'), room_id: 'r' })).ok).toBe(true)
    await c.type('snapshot')
    return c
  }
  const publish = (n: number, content = (i: number): string => `event ${i}`): Promise<unknown> =>
    (async () => {
      for (let i = 0; i < n; i++) await server.engine.apply('r', { type: 'message', msgId: mid('e'), user: { uid: 'sys', name: 'sys' }, content: content(i) })
    })()

  /** The joins' own events opened a tick: let it and the (empty) one after it end. */
  const quiet = (): void => {
    clock.advance(tickMs)
    clock.advance(tickMs)
  }
  const roundTrip = (c: RawClient): Promise<void> => c.roundTrip()

  afterEach(async () => {
    for (const c of clients.splice(0)) c.ws.terminate()
    await server?.close()
  })

  it('frames each event once for all plain viewers: 10 events to 20 viewers build 10 frames and write 200', async () => {
    await boot()
    const viewers = await Promise.all(Array.from({ length: 20 }, (_, i) => viewer(`v${i}`)))
    // Every viewer saw the last join: the joins' own frames are behind them.
    await until(() => viewers.every((v) => v.all('join').some((f) => f.online_num === 20)), 'every viewer saw all 20 joins')
    const builtBefore = await metric(server, 'live_fanout_frames_built_total')
    const sentBefore = await metric(server, 'live_frames_out_total', { type: 'message' })
    await publish(10)
    await until(() => viewers.every((v) => v.all('message').length === 10), 'every viewer has the 10 events')
    expect((await metric(server, 'live_fanout_frames_built_total')) - builtBefore).toBe(10)
    expect((await metric(server, 'live_frames_out_total', { type: 'message' })) - sentBefore).toBe(200)
    for (const v of viewers) expect(v.all('message').map((f) => f.content)).toEqual(Array.from({ length: 10 }, (_, i) => `event ${i}`))
  })

  it('selects live.v1.batch when offered: a lone event at once, the rest of its tick in one batch frame, acks never held back', async () => {
    await boot({ batchMs: 300 })
    const b = await viewer('b', { protocols: BATCH })
    expect(b.protocol).toBe('live.v1.batch')
    const plain = await viewer('p')
    expect(plain.protocol).toBe('live.v1')
    quiet()
    await roundTrip(b)
    const batchesBefore = b.all('batch').length
    const batchFramesBefore = await metric(server, 'live_frames_out_total', { type: 'batch' })
    await publish(1)
    // The lone event comes alone, without waiting for the tick to end.
    expect(await b.next((f) => f.msg_type === 'message')).toMatchObject({ content: 'event 0' })
    await publish(5, (i) => `burst ${i}`)
    // A command's ack is not held behind the tick: it comes while the tick still holds five events.
    const ack = await b.command({ msg_type: 'like', msg_id: 'like1', room_id: 'r', count: 1 })
    expect(ack.ok).toBe(true)
    expect(b.all('batch')).toHaveLength(batchesBefore)
    expect(b.all('message')).toHaveLength(1)
    clock.advance(300)
    const batch = await b.type('batch')
    expect((batch.events as Frame[]).map((e) => e.content)).toEqual(['burst 0', 'burst 1', 'burst 2', 'burst 3', 'burst 4'])
    // Exactly the same events, in the same order, for both kinds of viewer; seqs contiguous.
    await until(() => plain.all('message').length === 6, 'the plain viewer has all six')
    const seqs = (c: RawClient): number[] =>
      eventsOf(c)
        .filter((e) => e.msg_type === 'message')
        .map((e) => Number(e.seq))
    expect(seqs(b)).toEqual(seqs(plain))
    expect(seqs(b)).toEqual(Array.from({ length: 6 }, (_, i) => seqs(b)[0] + i))
    expect((await metric(server, 'live_frames_out_total', { type: 'batch' })) - batchFramesBefore).toBe(1)
  })

  it('compresses a tick once for every viewer that negotiated deflate; viewers read it whole, with fewer bytes on the wire', async () => {
    await boot({ batchMs: 200 })
    const viewers = await Promise.all(Array.from({ length: 10 }, (_, i) => viewer(`d${i}`, { protocols: BATCH, deflate: true })))
    const negotiated = (viewers[0].ws as unknown as { _extensions: Record<string, { params: Record<string, unknown> }> })._extensions['permessage-deflate']
    expect(negotiated.params.server_no_context_takeover).toBe(true)
    quiet()
    for (const v of viewers) await roundTrip(v)
    const bytesRead = (v: RawClient): number => (v.ws as unknown as { _socket: { bytesRead: number } })._socket.bytesRead
    const compressedBefore = await metric(server, 'live_fanout_frames_compressed_total')
    await publish(1)
    await until(() => viewers.every((v) => v.all('message').length === 1), 'every viewer has the lone first event')
    const readBefore = viewers.map(bytesRead)
    const batchesBefore = viewers.map((v) => v.all('batch').length)
    await publish(40, (i) => `a comment long enough to be worth compressing, number ${i} of the burst`)
    // The tick holds all 40: one batch frame when it ends.
    clock.advance(200)
    await until(() => viewers.every((v) => eventsOf(v).filter((e) => e.msg_type === 'message').length === 41), 'every viewer has all 41')
    viewers.forEach((v, i) => expect(v.all('batch')).toHaveLength(batchesBefore[i] + 1))
    const burst = viewers[0].all('batch')[batchesBefore[0]]
    expect((burst.events as Frame[]).length).toBe(40)
    // One tick, compressed once (the lone first event is under the threshold: plain).
    expect((await metric(server, 'live_fanout_frames_compressed_total')) - compressedBefore).toBe(1)
    const batchJson = JSON.stringify(burst)
    // The batch frame alone on the wire: 40 similar comments compress to well under half their JSON.
    const wire = bytesRead(viewers[0]) - readBefore[0]
    expect(wire).toBeLessThan(batchJson.length / 2)
    const messages = (c: RawClient): unknown[] =>
      eventsOf(c)
        .filter((e) => e.msg_type === 'message')
        .map((e) => [e.seq, e.content])
    for (const v of viewers) expect(messages(v)).toEqual(messages(viewers[0]))
  })

  it("one connection in three rooms gets each room's events; leaving one or closing leaves exactly those", async () => {
    await boot()
    const multi = await RawClient.connect(server.url, { token: token('multi') })
    const watcher = await RawClient.connect(server.url, { token: token('watcher') })
    clients.push(multi, watcher)
    for (const room of ['a', 'b', 'c']) {
      expect((await watcher.command({ msg_type: 'join', msg_id: mid('w'), room_id: room })).ok).toBe(true)
      expect((await multi.command({ msg_type: 'join', msg_id: mid('m'), room_id: room })).ok).toBe(true)
    }
    // Joining a room twice replaces the membership: one viewer, not two.
    expect((await multi.command({ msg_type: 'join', msg_id: mid('m'), room_id: 'a' })).ok).toBe(true)
    await until(() => watcher.all('join').filter((f) => (f.user as Frame).uid === 'multi').length === 3, 'multi joined three rooms')
    const say = (room: string, content: string): Promise<unknown> => server.engine.apply(room, { type: 'message', msgId: mid('e'), user: { uid: 'sys', name: 'sys' }, content })
    for (const room of ['a', 'b', 'c']) await say(room, `to ${room}`)
    await until(() => multi.all('message').length === 3, 'multi has one message per room')
    expect(multi.all('message').map((f) => [f.room_id, f.content])).toEqual([
      ['a', 'to a'],
      ['b', 'to b'],
      ['c', 'to c'],
    ])
    expect((await multi.command({ msg_type: 'leave', msg_id: mid('l'), room_id: 'b' })).ok).toBe(true)
    for (const room of ['a', 'b', 'c']) await say(room, `again ${room}`)
    await until(() => watcher.all('message').length === 6, 'the watcher has all six')
    await until(() => multi.all('message').length === 5, 'multi has a and c again')
    expect(
      multi
        .all('message')
        .slice(3)
        .map((f) => f.room_id),
    ).toEqual(['a', 'c'])
    // A command for the room it left is refused; the two it is in still take them.
    expect((await multi.command({ msg_type: 'like', msg_id: mid('k'), room_id: 'b', count: 1 })).ok).toBe(false)
    expect((await multi.command({ msg_type: 'like', msg_id: mid('k'), room_id: 'c', count: 1 })).ok).toBe(true)
    multi.ws.terminate()
    await until(() => watcher.all('leave').filter((f) => (f.user as Frame).uid === 'multi').length === 3, 'multi left b, then a and c on close')
    expect(
      watcher
        .all('leave')
        .filter((f) => (f.user as Frame).uid === 'multi')
        .map((f) => [f.room_id, f.online_num]),
    ).toEqual([
      ['b', 1],
      ['a', 1],
      ['c', 1],
    ])
  })

  it("compresses a socket's own large frames (its snapshot) itself: ws keeps no zlib stream per socket", async () => {
    await boot({ batchMs: 50 })
    for (let i = 0; i < 30; i++) await server.engine.apply('r', { type: 'message', msgId: mid('h'), user: { uid: 'sys', name: 'sys' }, content: `history comment number ${i}, long enough to matter` })
    // ws's per-socket compressor: each socket that used it keeps a zlib stream (~26 KB native) for its life.
    const perSocket = jest.spyOn(PerMessageDeflate.prototype, 'compress')
    try {
      const viewers = await Promise.all(Array.from({ length: 5 }, (_, i) => viewer(`z${i}`, { protocols: BATCH, deflate: true })))
      for (const v of viewers) {
        const snapshot = v.all('snapshot')[0]
        expect((snapshot.message_list as Frame[]).length).toBe(30)
        // Compressed on the wire: fewer bytes read than the snapshot's JSON.
        expect((v.ws as unknown as { _socket: { bytesRead: number } })._socket.bytesRead).toBeLessThan(JSON.stringify(snapshot).length)
      }
      expect(perSocket).not.toHaveBeenCalled()
    } finally {
      perSocket.mockRestore()
    }
  })

  it('a batch viewer that joins during a tick gets each event once: what its snapshot lacks, nothing twice', async () => {
    await boot({ batchMs: 300 })
    const first = await viewer('first', { protocols: BATCH })
    quiet()
    await publish(1)
    await first.type('message')
    await publish(3, (i) => `before ${i}`)
    // Joins while the tick holds three events: its snapshot has them.
    const late = await viewer('late', { protocols: BATCH })
    const snapshot = { seq: Number(late.all('snapshot')[0].seq), messages: (late.all('snapshot')[0].message_list as Frame[]).map((m) => m.content) }
    expect(snapshot.messages).toEqual(['event 0', 'before 0', 'before 1', 'before 2'])
    await publish(3, (i) => `after ${i}`)
    clock.advance(300)
    clock.advance(300)
    await until(() => eventsOf(late).filter((e) => e.msg_type === 'message').length >= 3, 'the late viewer has the events after its snapshot')
    await roundTrip(late)
    // Its own join, then the three after its snapshot: each once, in seq order, none it already had.
    const seqs = eventsOf(late).map((e) => Number(e.seq))
    expect(eventsOf(late).map((e) => e.content ?? e.msg_type)).toEqual(['join', 'after 0', 'after 1', 'after 2'])
    expect(seqs).toEqual(Array.from({ length: 4 }, (_, i) => snapshot.seq + 1 + i))
  })
})
