/**
 * The HTTP long-poll fallback (issue 14, part 1): the server's `/api` on both engines, and the
 * client moving to it when the socket is refused, then back when the socket returns.
 */
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { describeConnection } from '../../src/bindings/roomFields'
import { createLiveClient, type LiveClient } from '../../src/connection/client'
import type { ConnectionState } from '../../src/connection/state'
import { createLiveRoom } from '../../src/stores/liveRoom'
import { createNodePlatform, type NodePlatform } from '../../server/node/platform'
import { createServer, type LiveServer, type ServerOptions } from '../../server/server'
import { signToken } from '../../server/token'
import { redisForThisFile } from '../helpers/redisServer'
import { VirtualClock } from '../helpers/virtualClock'
import { until } from '../helpers/wait'

const SECRET = 'http-fallback-secret'
const tokenFor = (uid: string): string => signToken({ uid, name: `name-${uid}`, role: 'viewer', exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET)
const redis = redisForThisFile()

async function boot(engine: 'memory' | 'redis', extra: Partial<ServerOptions> = {}): Promise<LiveServer> {
  return createServer({
    port: 0,
    secret: SECRET,
    dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'live-http-')),
    messageRateLimit: { perSecond: 1000, burst: 1000 },
    ...(engine === 'redis' ? { redis: { url: redis.url, prefix: `http${Math.random().toString(36).slice(2, 8)}:` } } : {}),
    ...extra,
  })
}

const httpOf = (server: LiveServer): string => server.url.replace(/^ws/, 'http').replace(/\/ws$/, '')

async function api(server: LiveServer, method: 'GET' | 'POST', route: string, options: { token?: string; body?: unknown } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(httpOf(server) + route, {
    method,
    headers: options.token !== undefined ? { Authorization: `Bearer ${options.token}` } : {},
    body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

describe.each(['memory', 'redis'] as const)('HTTP fallback endpoints (%s engine)', (engine) => {
  let server: LiveServer
  afterEach(async () => {
    await server?.close()
  })

  it('takes the token only from the Authorization header', async () => {
    server = await boot(engine)
    expect((await api(server, 'POST', '/api/commands', { body: { commands: [] } })).status).toBe(401)
    expect((await api(server, 'POST', `/api/commands?token=${tokenFor('a')}`, { body: { commands: [] } })).status).toBe(401)
    const ok = await api(server, 'POST', '/api/commands', { token: tokenFor('a'), body: { commands: [] } })
    expect(ok.status).toBe(200)
    expect(ok.body).toMatchObject({ msg_type: 'commands', user: { uid: 'a', name: 'name-a', role: 'viewer' }, acks: [] })
    expect((await api(server, 'GET', '/api/rooms/r/events', { token: 'not-a-token' })).status).toBe(401)
    await server.close()
    // Turned off: not there at all.
    server = await boot(engine, { http: false })
    expect((await fetch(`${httpOf(server)}/api/commands`, { method: 'POST', headers: { Authorization: `Bearer ${tokenFor('a')}` }, body: '{"commands":[]}' })).status).toBe(404)
  })

  it('polls as a join does: snapshot, presence, commands with acks and dedup, events held until they come, leave', async () => {
    // The server's time stands still unless the test moves it: a held poll ends by an event or by an advance.
    const clock = new VirtualClock()
    server = await boot(engine, { clock })
    const a = tokenFor('a')
    const say = (msgId: string, content: string): Promise<{ status: number; body: Record<string, unknown> }> =>
      api(server, 'POST', '/api/commands', { token: a, body: { commands: [{ msg_type: 'message', msg_id: msgId, room_id: 'r', content }] } })
    // Not in the room yet: refused, as on a socket before its join.
    expect(((await say('m0', 'too early')).body.acks as Array<Record<string, unknown>>)[0]).toMatchObject({ ok: false, code: 4003 })
    const first = await api(server, 'GET', '/api/rooms/r/events?wait_ms=0', { token: a })
    expect(first.body).toMatchObject({ msg_type: 'poll', room_id: 'r', recovered: false, events: [] })
    const snapshot = first.body.snapshot as { seq: number; epoch: string }
    expect(first.body.seq).toBe(snapshot.seq)
    // The poll counted the user in: the join event is in the room's history.
    const recovered = await api(server, 'GET', `/api/rooms/r/events?since_seq=0&epoch=${snapshot.epoch}&wait_ms=0`, { token: a })
    expect((recovered.body.events as Array<Record<string, unknown>>).map((e) => [e.msg_type, e.online_num])).toEqual([['join', 1]])

    const sent = await say('m1', 'hello over http')
    const ack = (sent.body.acks as Array<Record<string, unknown>>)[0]
    expect(ack).toMatchObject({ msg_id: 'm1', ok: true, room_id: 'r' })
    expect(((await say('m1', 'hello over http')).body.acks as Array<Record<string, unknown>>)[0]).toMatchObject({ msg_id: 'm1', ok: true, dup: true, seq: ack.seq })

    // A poll at the head is held until the next event, then answers with it (and nothing before it).
    const head = Number(ack.seq)
    const held = api(server, 'GET', `/api/rooms/r/events?since_seq=${head}&epoch=${snapshot.epoch}&wait_ms=5000`, { token: a })
    let answered = false
    void held.then(() => (answered = true))
    // Another request answered meanwhile; the held one is not (no event yet, no time passed).
    expect((await api(server, 'POST', '/api/commands', { token: tokenFor('b'), body: { commands: [] } })).status).toBe(200)
    expect(answered).toBe(false)
    await server.engine.apply('r', { type: 'message', msgId: 'x1', user: { uid: 'sys', name: 'sys' }, content: 'news' })
    // The news wakes it; it gathers for 250 ms of server time, then answers.
    await until(() => {
      clock.advance(50)
      return answered
    }, 'the held poll answered')
    const news = await held
    expect((news.body.events as Array<Record<string, unknown>>).map((e) => [e.seq, e.content])).toEqual([[head + 1, 'news']])
    expect(news.body).toMatchObject({ recovered: true, seq: head + 1 })
    // A held poll that sees nothing answers with nothing when its time is up.
    let quietDone = false
    const quietPoll = api(server, 'GET', `/api/rooms/r/events?since_seq=${head + 1}&epoch=${snapshot.epoch}&wait_ms=100`, { token: a }).finally(() => (quietDone = true))
    await until(() => {
      clock.advance(50)
      return quietDone
    }, 'the quiet poll answered')
    const quiet = await quietPoll
    expect(quiet.body).toMatchObject({ recovered: true, seq: head + 1, events: [] })
    // A stale epoch gets a snapshot, as a socket's join would.
    expect((await api(server, 'GET', `/api/rooms/r/events?since_seq=1&epoch=old&wait_ms=0`, { token: a })).body).toMatchObject({ recovered: false })

    expect(server.httpPollers).toBe(1)
    const left = await api(server, 'POST', '/api/commands', { token: a, body: { commands: [{ msg_type: 'leave', msg_id: 'l1', room_id: 'r' }] } })
    expect((left.body.acks as Array<Record<string, unknown>>)[0]).toMatchObject({ ok: true })
    expect(server.httpPollers).toBe(0)
    const after = await api(server, 'GET', `/api/rooms/r/events?since_seq=${head + 1}&epoch=${snapshot.epoch}&wait_ms=0`, { token: tokenFor('b') })
    expect((after.body.events as Array<Record<string, unknown>>).filter((e) => e.msg_type === 'leave').map((e) => e.online_num)).toEqual([0])
  })

  it('bounds a request: 50 commands, the frame limit, whole numbers in the query', async () => {
    server = await boot(engine, { maxFrameBytes: 4096 })
    const a = tokenFor('a')
    const many = Array.from({ length: 51 }, (_, i) => ({ msg_type: 'like', msg_id: `k${i}`, room_id: 'r', count: 1 }))
    expect((await api(server, 'POST', '/api/commands', { token: a, body: { commands: many } })).status).toBe(413)
    expect((await api(server, 'POST', '/api/commands', { token: a, body: { commands: [{ msg_type: 'message', msg_id: 'big', room_id: 'r', content: 'x'.repeat(5000) }] } })).status).toBe(413)
    expect((await api(server, 'GET', '/api/rooms/r/events?since_seq=-1&epoch=e', { token: a })).status).toBe(400)
    // A malformed escape in the room id is a bad request, not a crash of the server.
    expect(await api(server, 'GET', '/api/rooms/%E0%A4%A/events', { token: a })).toMatchObject({ status: 400, body: { code: 4000, reason: 'malformed room id in the path' } })
    expect((await api(server, 'POST', '/api/commands', { token: a, body: { commands: [] } })).status).toBe(200)
    const bad = await api(server, 'POST', '/api/commands', {
      token: a,
      body: {
        commands: [
          { msg_type: 'like', msg_id: 'k', room_id: 'r', count: 1000 },
          { msg_type: 'join', msg_id: 'j', room_id: 'r' },
        ],
      },
    })
    expect((bad.body.acks as Array<Record<string, unknown>>).map((x) => [x.msg_id, x.ok, x.code])).toEqual([
      ['k', false, 4000],
      ['j', false, 4000],
    ])
  })
})

describe('client on the HTTP fallback', () => {
  let server: LiveServer
  let platform: NodePlatform
  let client: LiveClient | undefined
  afterEach(async () => {
    client?.close()
    platform?.destroy()
    await server?.close()
  })

  it('keeps a room page working over HTTP while the socket is refused, with no gap or duplicate, then moves back', async () => {
    server = await boot('memory', { refuseUpgrades: true })
    platform = createNodePlatform()
    client = createLiveClient({
      url: server.url,
      platform,
      token: () => tokenFor('viewer'),
      backoff: { minMs: 5, maxMs: 40 },
      ackTimeoutMs: 5000,
      lingerMs: 20,
      outbox: { storageKey: false },
      httpFallback: { afterFailures: 3, waitMs: 2000, probeDelayMs: () => 100 },
    })
    const states: ConnectionState[] = []
    client.state$.subscribe((s) => states.push(s))
    const seqs: number[] = []
    const all: number[] = []
    let joins = 0
    client.room('r').subscribe((u) => {
      if (u.type === 'joined') joins++
      if (u.type === 'event') all.push(u.event.seq ?? -1)
      if (u.type === 'event' && u.event.msg_type === 'message') seqs.push(u.event.seq ?? -1)
    })
    const room = createLiveRoom(client, 'r', { flushMs: 10 })
    await until(() => client!.state.status === 'open', 'open over HTTP', 10000)
    expect(client.state.transport).toBe('http')
    // What a page's banner says.
    expect(describeConnection(client.state)).toBe('open (over HTTP)')
    // Three socket attempts failed first (the upgrades were refused), then HTTP.
    expect(platform.sockets.length).toBeGreaterThanOrEqual(3)
    expect(client.stats.httpFallbacks).toBe(1)
    // Joined (its first poll answered) before anything is published: every event comes as an event.
    await until(() => joins === 1, 'joined over HTTP', 5000)

    // Events from the room and the viewer's own comments, over HTTP.
    const publish = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        await server.engine.apply('r', { type: 'message', msgId: `e${i}`, user: { uid: 'anchor', name: 'Anchor' }, content: `event ${i}` })
        if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 5))
      }
    }
    const getsBefore = platform.requests.filter((r) => r.method === 'GET').length
    const busyFrom = Date.now()
    // A busy room: one event every few ms.
    for (let i = 0; i < 150; i++) {
      await server.engine.apply('r', { type: 'message', msgId: `e${i}`, user: { uid: 'anchor', name: 'Anchor' }, content: `event ${i}` })
      await new Promise((resolve) => setTimeout(resolve, 3))
    }
    await until(() => seqs.length === 150, 'the 150 events over HTTP', 10000)
    // A poll answers with what came in its gathering window (250 ms): one request per window, not
    // per event (the bound grows with the time it took, so a slow machine does not fail it).
    const gets = platform.requests.filter((r) => r.method === 'GET').length - getsBefore
    expect(gets).toBeLessThanOrEqual(Math.ceil((Date.now() - busyFrom) / 250) + 2)
    const mine = await Promise.all(Array.from({ length: 10 }, (_, i) => client!.send({ msg_type: 'message', room_id: 'r', content: `mine ${i}` })))
    expect(mine.every((ack) => ack.ok)).toBe(true)
    await until(() => seqs.length === 160, 'all 160 comments over HTTP', 10000)
    const overHttp = seqs.length
    expect(client.state.transport).toBe('http')
    await until(() => room.commentStore.comments.some((c) => c.content === 'mine 9'), 'the store shows the own comment', 5000)

    // The socket comes back: the client finds it with a probe and moves back, the room recovering.
    const back = Date.now()
    server.refuseUpgrades(false)
    await until(() => client!.state.status === 'open' && client!.state.transport === 'socket', 'back on the socket', 10000)
    const backMs = Date.now() - back
    // It left its HTTP presence on the way back: counted once, by its socket.
    await until(() => server.httpPollers === 0, 'the HTTP lease given back')
    await publish(150, 250)
    await until(() => seqs.length === 260, 'all 260 comments', 10000)

    // Every seq exactly once, in order, across both moves (comments, and the joins and leaves between them).
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => all[0] + i))
    expect(seqs).toHaveLength(260)
    expect(client.stats.gapsDetected).toBe(0)
    expect(client.stats.duplicatesDropped).toBe(0)
    expect(client.stats.socketProbes).toBeGreaterThanOrEqual(1)
    expect(states.filter((s) => s.status === 'open').map((s) => s.transport)).toEqual(['http', 'socket'])
    expect(describeConnection(client.state)).toBe('open')
    // WeChat's limits: never more than 10 requests at once, and no token in any URL.
    expect(platform.peakRequests).toBeLessThanOrEqual(10)
    expect(platform.requests.length).toBeGreaterThan(0)
    expect(platform.requests.every((r) => !r.url.includes('token') && !r.url.includes(tokenFor('viewer').slice(0, 20)))).toBe(true)
    room.dispose()
    // For the note: what went over HTTP, and how long the move back took.
    process.stdout.write(
      `http fallback: ${overHttp} events over HTTP, ${platform.requests.length} requests, gaps ${client.stats.gapsDetected}, duplicates ${client.stats.duplicatesDropped}, back on the socket in ${backMs} ms\n`,
    )
  })

  it('moves to HTTP when the app asks, and stays on the socket when the fallback is off', async () => {
    server = await boot('memory')
    platform = createNodePlatform()
    client = createLiveClient({
      url: server.url,
      platform,
      token: () => tokenFor('v2'),
      backoff: { minMs: 5, maxMs: 40 },
      lingerMs: 20,
      outbox: { storageKey: false },
      httpFallback: { probeDelayMs: () => 60000 },
    })
    client.room('r').subscribe()
    await until(() => client!.state.status === 'open', 'open', 5000)
    expect(client.state.transport).toBe('socket')
    client.useHttp()
    await until(() => client!.state.status === 'open' && client!.state.transport === 'http', 'on HTTP', 5000)
    const ack = await client.send({ msg_type: 'like', room_id: 'r', count: 3 })
    expect(ack.ok).toBe(true)
    client.close()

    const off = createLiveClient({
      url: server.url,
      platform,
      token: () => tokenFor('v3'),
      backoff: { minMs: 5, maxMs: 10, maxAttempts: 4 },
      lingerMs: 20,
      outbox: { storageKey: false },
      httpFallback: false,
    })
    server.refuseUpgrades(true)
    off.room('r').subscribe()
    await until(() => off.state.status === 'failed', 'failed without a fallback', 5000)
    expect(off.stats.httpFallbacks).toBe(0)
    expect(platform.requests.filter((r) => r.url.includes('v3'))).toEqual([])
    off.close()
  })
})
