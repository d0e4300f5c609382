/**
 * The client over real sockets on 127.0.0.1, through the Node platform, against a live peer.
 * Short intervals keep each test to a few seconds; nothing sleeps to wait for a timer
 * that a scheduler could drive instead.
 */
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import fc from 'fast-check'
import { createLiveClient, tokenClaims, type LiveClient } from '../../src/connection/client'
import { outboxKeyFor } from '../../src/connection/outbox'
import type { RoomUpdate } from '../../src/connection/rooms'
import { createNodePlatform, type NodePlatform } from '../../server/node/platform'
import { createServer, type LiveServer } from '../../server/server'
import { signToken } from '../../server/token'
import { MiniServer } from '../helpers/miniServer'
import { RawClient } from '../helpers/rawClient'
import { freePort } from '../helpers/redisServer'
import { sleep, until } from '../helpers/wait'

const SECRET = 'real-socket-secret'
const tokenFor = (uid: string): string => signToken({ uid, name: uid, role: 'viewer', exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET)

function clientFor(server: { url: string }, platform: NodePlatform, extra: Partial<Parameters<typeof createLiveClient>[0]> = {}): LiveClient {
  return createLiveClient({
    url: server.url,
    platform,
    token: server instanceof MiniServer ? 'okviewer' : () => tokenFor('viewer'),
    backoff: { minMs: 5, maxMs: 40 },
    heartbeatMs: 1000,
    ackTimeoutMs: 2000,
    lingerMs: 20,
    outbox: { storageKey: false },
    ...extra,
  })
}

describe('client over real sockets, against the reference server', () => {
  let server: LiveServer
  let platform: NodePlatform
  let client: LiveClient | undefined

  beforeEach(async () => {
    server = await createServer({
      port: 0,
      secret: SECRET,
      dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'live-rs-')),
      // The tests here are about delivery across kills, not about the rate limits (conformance has those).
      rateLimit: { perSecond: 1000, burst: 1000 },
      messageRateLimit: { perSecond: 1000, burst: 1000 },
    })
    platform = createNodePlatform()
  })
  afterEach(async () => {
    client?.close()
    client = undefined
    platform.destroy()
    await server.close()
  })

  it('survives 20 server-side kills during 1,000 sequenced events: each seq exactly once, in order', async () => {
    client = clientFor(server, platform)
    const seqs: number[] = []
    let snapshots = 0
    client.room('r1').subscribe((u: RoomUpdate) => {
      if (u.type === 'event' && u.event.msg_type === 'like') seqs.push(u.event.like_num)
      if (u.type === 'snapshot') snapshots++
    })
    await until(() => snapshots === 1, 'first snapshot', 5000)
    const allSeqs: number[] = []
    client.room('r1').subscribe((u) => u.type === 'event' && allSeqs.push(u.event.seq ?? -1))
    let kills = 0
    for (let i = 1; i <= 1000; i++) {
      if (i % 50 === 25 && kills < 20) {
        // Kill only a link that is up, then keep publishing while the client is away:
        // what it misses must come back through recovery.
        await until(() => client!.stats.reconnects === kills && client!.state.status === 'open', 'reconnect', 5000)
        if (server.dropConnections() > 0) kills++
      }
      // One like event per publish: like_num counts 1..1000 in seq order.
      await server.engine.apply('r1', { type: 'like', delta: 1 })
      if (i % 10 === 0) await sleep(1)
    }
    await until(() => seqs.length >= 1000, 'all events', 10000)
    await sleep(50)
    expect(kills).toBe(20)
    expect(seqs).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1))
    // Every room seq (likes, and the client's own join/leave events) once, in order, no gap.
    expect(allSeqs).toEqual(Array.from({ length: allSeqs.length }, (_, i) => allSeqs[0] + i))
    expect(client.stats.reconnects).toBe(20)
    expect(client.stats.gapsDetected).toBe(0)
    // Recovery, not snapshots, filled every hole: the history held everything.
    expect(snapshots).toBe(1)
    console.log(
      `[real-socket] kills=${kills} like-events=${seqs.length} room-events=${allSeqs.length} duplicates=0 gaps=0 reconnects=${client.stats.reconnects} duplicatesDropped=${client.stats.duplicatesDropped}`,
    )
  })

  it('acks 100 commands sent across reconnects exactly once each', async () => {
    client = clientFor(server, platform)
    const observer = await RawClient.connect(server.url, { token: tokenFor('observer') })
    await observer.command({ msg_type: 'join', msg_id: 'obs', room_id: 'r1' })
    client.room('r1').subscribe()
    await until(() => client!.state.status === 'open')
    const acks: Array<Promise<{ dup?: boolean }>> = []
    let kills = 0
    for (let i = 0; i < 100; i++) {
      acks.push(client.send({ msg_type: 'message', room_id: 'r1', content: `m${i}` }))
      if (i % 10 === 5) {
        // Kill a link that is up, with commands just sent on it and more to come while it is down.
        await until(() => client!.stats.reconnects === kills && client!.state.status === 'open', 'reconnected')
        if (server.dropConnections() > 0) kills++
      }
    }
    const results = await Promise.allSettled(acks)
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(100)
    await until(() => observer.all('message').length >= 100 || observer.ws.readyState !== observer.ws.OPEN, 'broadcasts', 5000)
    // The observer was dropped too; count what the room's history holds instead.
    const history = await server.engine.recover('r1', 0, server.engine.epoch)
    const messages = (history?.events ?? []).filter((e) => e.msg_type === 'message')
    const perId = new Map<string, number>()
    for (const m of messages) if (m.msg_type === 'message') perId.set(m.msg_id ?? '', (perId.get(m.msg_id ?? '') ?? 0) + 1)
    expect(perId.size).toBe(100)
    expect([...perId.values()].every((n) => n === 1)).toBe(true)
    expect(kills).toBe(10)
    expect(client.pendingCommands).toBe(0)
    const dups = results.filter((r) => r.status === 'fulfilled' && r.value.dup).length
    console.log(`[real-socket] commands=100 kills=${kills} applied-once=${perId.size} acked-as-dup=${dups}`)
  })

  it("refuses a command over the server's frame limit before it leaves: no 1009, no reconnect, no resend", async () => {
    // Issue 10, problem 4: a 70 KB report against the 64 KiB limit used to close the socket
    // with 1009, stay in the outbox and be resent on every reconnect (98 sockets in 3 s).
    client = clientFor(server, platform)
    client.room('r1').subscribe()
    await until(() => client!.state.status === 'open')
    const big = client.send({ msg_type: 'report', logs: [{ event: 'trace', blob: 'x'.repeat(70 * 1024) }] })
    await expect(big).rejects.toMatchObject({ name: 'CommandTooLargeError', maxBytes: 64 * 1024 })
    const error = await big.catch((e: Error) => e)
    // The connection is untouched: the next command goes out and is acked on the same socket.
    // Acked on the first socket: had the report gone out, the server would have closed it (1009)
    // before reading this command.
    await expect(client.send({ msg_type: 'message', room_id: 'r1', content: 'still here' })).resolves.toMatchObject({ ok: true })
    expect(platform.sockets).toHaveLength(1)
    expect(client.stats.reconnects).toBe(0)
    expect(client.stats.commandsTooLarge).toBe(1)
    expect(client.pendingCommands).toBe(0)
    console.log(`[real-socket] oversized report: sockets opened ${platform.sockets.length}, caller got ${String(error)}`)
  })

  it('retries with backoff when token() rejects, and reports it on errors$ (issue 10, problem 5)', async () => {
    let calls = 0
    client = clientFor(server, platform, {
      token: () => {
        calls++
        return calls === 1 ? Promise.reject(new Error('login service down')) : Promise.resolve(tokenFor('viewer'))
      },
    })
    const errors: string[] = []
    client.errors$.subscribe((e) => errors.push(`${e.kind}:${'callback' in e ? e.callback : ''}:${e.reason}`))
    const statuses: string[] = []
    client.state$.subscribe((s) => statuses.push(s.status))
    client.room('r1').subscribe()
    await until(() => client!.state.status === 'open', 'open after the token came back')
    expect(errors).toEqual(['callback:token:token() failed: login service down'])
    expect(statuses).not.toContain('failed')
    expect(calls).toBe(2)
  })

  it('drops a queued command that the next server takes as too large instead of resending it forever', async () => {
    // Queued while the client knew no smaller limit; this server announces 8 KiB in `init`.
    const small = await createServer({ port: 0, secret: SECRET, dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'live-rs-')), maxFrameBytes: 8 * 1024 })
    try {
      client = clientFor(small, platform)
      const queued = client.send({ msg_type: 'report', logs: [{ blob: 'y'.repeat(20 * 1024) }] })
      client.room('r1').subscribe()
      await expect(queued).rejects.toMatchObject({ name: 'CommandTooLargeError', maxBytes: 8 * 1024 })
      await expect(client.send({ msg_type: 'message', room_id: 'r1', content: 'fits' })).resolves.toMatchObject({ ok: true })
      expect(platform.sockets).toHaveLength(1)
      expect(client.stats.reconnects).toBe(0)
    } finally {
      client?.close()
      client = undefined
      await small.close()
    }
  })

  it('opens at most one socket over 100 subscribe/unsubscribe cycles and leaves no listener behind', async () => {
    client = clientFor(server, platform, { lingerMs: 5 })
    const baseListeners = platform.listenerCount
    for (let i = 0; i < 100; i++) {
      const a = client.room('r1').subscribe()
      const b = client.frames$.subscribe()
      const c = client.room('r1').subscribe()
      if (i % 10 === 0) await until(() => client!.state.status === 'open')
      a.unsubscribe()
      b.unsubscribe()
      c.unsubscribe()
      if (i % 25 === 0) await sleep(15)
    }
    await until(() => platform.openSockets === 0, 'socket closed after linger', 5000)
    expect(platform.peakSockets).toBe(1)
    expect(platform.listenerCount).toBe(baseListeners)
    await until(() => server.connectionCount === 0, 'server saw the close', 2000)
    const snapshot = await server.engine.snapshot('r1')
    expect(snapshot.room.online_num).toBe(0)
    expect(client.state.status).toBe('idle')
    client.close()
    expect(platform.listenerCount).toBe(0)
  })

  it('waits for its own closing socket before opening the next one (quick leave and rejoin)', async () => {
    client = clientFor(server, platform, { lingerMs: 5 })
    const first = client.room('r1').subscribe()
    await until(() => client!.state.status === 'open')
    // Rejoin the moment the linger runs out: idle is set as the close is asked for, and the close
    // handshake needs the network (a macrotask), so a microtask later the socket is still closing.
    // (Polling for idle instead raced the loopback close: it failed once in CI.)
    let socketsAtIdle = -1
    let second: { unsubscribe(): void } | undefined
    const watch = client.state$.subscribe((s) => {
      if (s.status !== 'idle' || socketsAtIdle !== -1) return
      socketsAtIdle = platform.openSockets
      queueMicrotask(() => (second = client!.room('r1').subscribe()))
    })
    first.unsubscribe()
    await until(() => second !== undefined && client!.state.status === 'open', 'reopened')
    watch.unsubscribe()
    expect(socketsAtIdle).toBe(1)
    expect(platform.peakSockets).toBe(1)
    second?.unsubscribe()
  })

  it('sends what the last client left unacked when a new client starts on the same storage (app restart)', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'live-outbox-')), 'storage.json')
    // First run: offline, so nothing leaves the device.
    const first = createNodePlatform({ storageFile: file, online: false })
    const c1 = clientFor(server, first, { outbox: { storageKey: 'live-outbox' } })
    const pending = [1, 2, 3].map((i) => c1.send({ msg_type: 'message', room_id: 'r1', content: `offline ${i}` }).catch((e: Error) => e.name))
    c1.room('r1').subscribe()
    await sleep(50)
    c1.close()
    expect(await Promise.all(pending)).toEqual(['ClientClosedError', 'ClientClosedError', 'ClientClosedError'])
    first.destroy()
    // Second run on the same storage file: the three commands go out once the room is joined.
    const second = createNodePlatform({ storageFile: file })
    client = clientFor(server, second, { outbox: { storageKey: 'live-outbox' } })
    expect(client.pendingCommands).toBe(3)
    const contents: string[] = []
    client.room('r1').subscribe((u) => {
      if (u.type === 'event' && u.event.msg_type === 'message') contents.push(u.event.content)
    })
    await until(() => contents.length === 3)
    expect(contents).toEqual(['offline 1', 'offline 2', 'offline 3'])
    await until(() => client!.pendingCommands === 0)
    expect(createNodePlatform({ storageFile: file }).getStorageSync('live-outbox')).toBeUndefined()
    second.destroy()
  })
})

describe('nothing written offline is lost (issue 22, problem 5)', () => {
  const FIVE = ['offline 1', 'offline 2', 'offline 3', 'offline 4', 'offline 5']

  /** Five comments written while the server cannot be reached, then the app is killed: the storage file the next run gets. */
  async function killedOffline(token: string | (() => string), port: number, file: string, offline: boolean): Promise<string> {
    const url = `ws://127.0.0.1:${port}/ws`
    const first = createNodePlatform({ storageFile: file, online: !offline })
    const c1 = createLiveClient({ url, platform: first, token, backoff: { minMs: 5, maxMs: 40 }, heartbeatMs: 1000, ackTimeoutMs: 2000, lingerMs: 20 })
    for (const content of FIVE) c1.send({ msg_type: 'message', room_id: 'r1', content }).catch(() => undefined)
    c1.room('r1').subscribe()
    await until(() => {
      const stored = createNodePlatform({ storageFile: file }).getStorageSync(outboxKeyFor(url, 'writer'))
      return Array.isArray(stored) && stored.length === 5
    }, 'the five comments persisted')
    expect(c1.user).toBeUndefined()
    // Killed: the disk as it is now is all the next run gets (a copy, so that stopping the dead
    // client's timers afterwards cannot write anything the next run would see).
    const disk = `${file}.at-kill`
    fs.copyFileSync(file, disk)
    c1.close()
    first.destroy()
    return disk
  }

  async function restartWithServerUp(port: number, file: string): Promise<void> {
    const server = await createServer({ port, secret: SECRET, dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'live-offline-')) })
    const platform = createNodePlatform({ storageFile: file })
    const client = createLiveClient({ url: server.url, platform, token: () => tokenFor('writer'), backoff: { minMs: 5, maxMs: 40 }, heartbeatMs: 1000, ackTimeoutMs: 2000, lingerMs: 20 })
    try {
      const restored: string[] = []
      client.restored$.subscribe((command) => restored.push(command.msg_type === 'message' ? command.content : command.msg_type))
      client.room('r1').subscribe()
      await until(() => client.pendingCommands === 0 && restored.length === 5, 'the five comments acked')
      expect(restored).toEqual(FIVE)
      const contents = (await server.engine.snapshot('r1')).message_list.map((m) => m.content)
      expect(contents).toEqual(FIVE) // each applied once
    } finally {
      client.close()
      platform.destroy()
      await server.close()
    }
  }

  it("keeps comments written while the server is down under the token's user, and a restart with the server up applies each once", async () => {
    const port = await freePort()
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'live-outbox-')), 'storage.json')
    await restartWithServerUp(port, await killedOffline(() => tokenFor('writer'), port, file, false))
  })

  it('does the same with the device offline from the start and a token given as a string', async () => {
    const port = await freePort()
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'live-outbox-')), 'storage.json')
    await restartWithServerUp(port, await killedOffline(tokenFor('writer'), port, file, true))
  })

  it('reads the user a token names without checking it: uid, a JWT sub, UTF-8 names; an opaque token names nobody', () => {
    const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')
    expect(tokenClaims(tokenFor('writer'))).toMatchObject({ uid: 'writer' })
    expect(tokenClaims(`${b64({ alg: 'RS256' })}.${b64({ sub: '用户-7', exp: 2000000000 })}.sig`)).toEqual({ uid: '用户-7', exp: 2000000000 })
    expect(tokenClaims('opaque-session-id')).toEqual({})
    expect(tokenClaims(`${b64({ alg: 'none' })}.${b64({ uid: 42 })}.x`)).toEqual({})
  })
})

describe('client against a scripted peer (what the reference server never sends)', () => {
  let server: MiniServer
  let platform: NodePlatform
  let client: LiveClient | undefined

  beforeEach(async () => {
    server = await MiniServer.start()
    platform = createNodePlatform()
  })
  afterEach(async () => {
    client?.close()
    client = undefined
    platform.destroy()
    await server.close()
  })

  it('stays up through 10,000 random and hostile frames: Object.prototype untouched, badFrames exact', async () => {
    client = clientFor(server, platform, { maxFrameBytes: 4096 })
    const likes: number[] = []
    const errors: string[] = []
    client.errors$.subscribe((e) => errors.push(e.kind))
    client.room('r1').subscribe((u) => {
      if (u.type === 'event' && u.event.msg_type === 'like') likes.push(u.event.like_num)
    })
    await until(() => client!.state.status === 'open' && server.joins === 1)
    await sleep(20)
    const hostile = fc.sample(
      fc.oneof(
        fc.string().map((s) => `{${s}`), // malformed JSON
        fc
          .jsonValue()
          .filter((v) => typeof v !== 'object' || v === null || Array.isArray(v))
          .map((v) => JSON.stringify(v)), // not an object
        fc.constantFrom('{"msg_type":"like","room_id":"r1","like_num":"9"}', '{"msg_type":"join","room_id":"r1","user":null,"online_num":1}'),
        fc.string({ minLength: 1, maxLength: 20 }).map((t) => JSON.stringify({ msg_type: `x_${t}`, room_id: 'r1' })), // unknown type
        fc.constant('{"msg_type":"like","room_id":"r1","like_num":1,"__proto__":{"polluted":true}}'),
        fc.constant('{"msg_type":"ack","msg_id":"m","ok":true,"constructor":{"prototype":{"polluted":true}}}'),
        fc.constant(JSON.stringify({ msg_type: 'error', code: 1, reason: 'x'.repeat(5000) })), // over maxFrameBytes
        fc.constantFrom('', ' ', '\u0000', 'undefined', 'NaN', '{"msg_type":null}', '{"msg_type":["like"]}'),
      ),
      { numRuns: 10000, seed: 42 },
    )
    expect(hostile).toHaveLength(10000)
    for (let i = 0; i < hostile.length; i++) {
      server.sendRaw(hostile[i])
      if (i % 100 === 0) server.publish('r1', { msg_type: 'like', like_num: i / 100 + 1, delta: 1 })
      if (i % 500 === 0) await sleep(1)
    }
    await until(() => likes.length === 100, 'valid events among the hostile ones', 20000)
    await until(() => client!.stats.badFrames >= 10000, 'bad frames counted', 20000)
    expect(client.stats.badFrames).toBe(10000)
    expect(errors.filter((k) => k === 'bad_frame')).toHaveLength(10000)
    expect(likes).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
    expect(client.state.status).toBe('open')
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.keys(Object.prototype)).toEqual([])
  })
})

describe('client against a plain-protocol peer (no seq, ack or epoch)', () => {
  it('counts commands delivered when the socket takes them and passes events in arrival order', async () => {
    const server = await MiniServer.start({ plain: true })
    const platform = createNodePlatform()
    const client = clientFor(server, platform)
    try {
      const contents: string[] = []
      client.room('r1').subscribe((u) => {
        if (u.type === 'event' && u.event.msg_type === 'message') contents.push(u.event.content)
      })
      const acks = await Promise.all([1, 2, 3].map((i) => client.send({ msg_type: 'message', room_id: 'r1', content: `hello ${i}` })))
      expect(acks.map((a) => a.ok)).toEqual([true, true, true])
      await until(() => contents.length === 3)
      expect(contents).toEqual(['hello 1', 'hello 2', 'hello 3'])
      expect(client.stats.badFrames).toBe(0)
    } finally {
      client.close()
      platform.destroy()
      await server.close()
    }
  })
})
