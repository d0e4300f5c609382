/**
 * The client over real sockets on 127.0.0.1, through the Node platform, against a live peer.
 * Short intervals keep each test to a few seconds; nothing sleeps to wait for a timer
 * that a scheduler could drive instead.
 */
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import fc from 'fast-check'
import { createLiveClient, type LiveClient } from '../../src/connection/client'
import type { RoomUpdate } from '../../src/connection/rooms'
import { createNodePlatform, type NodePlatform } from '../../src/platform/node'
import { MiniServer } from '../helpers/miniServer'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function until(check: () => boolean, timeoutMs = 10000, what = 'condition'): Promise<void> {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

function clientFor(server: MiniServer, platform: NodePlatform, extra: Partial<Parameters<typeof createLiveClient>[0]> = {}): LiveClient {
  return createLiveClient({
    url: server.url,
    platform,
    token: 'okviewer',
    backoff: { minMs: 5, maxMs: 40 },
    heartbeatMs: 1000,
    ackTimeoutMs: 2000,
    lingerMs: 20,
    outbox: { storageKey: false },
    ...extra,
  })
}

describe('client over real sockets', () => {
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

  it('survives 20 server-side kills during 1,000 sequenced events: each seq exactly once, in order', async () => {
    client = clientFor(server, platform)
    const seqs: number[] = []
    let snapshots = 0
    client.room('r1').subscribe((u: RoomUpdate) => {
      if (u.type === 'event') seqs.push(u.event.seq ?? -1)
      if (u.type === 'snapshot') snapshots++
    })
    await until(() => snapshots === 1, 5000, 'first snapshot')
    let kills = 0
    for (let i = 1; i <= 1000; i++) {
      if (i % 50 === 25 && kills < 20) {
        // Kill only a link that is up, then keep publishing while the client is away:
        // what it misses must come back through recovery.
        await until(() => client!.stats.reconnects === kills && client!.state.status === 'open', 5000, 'reconnect')
        if (server.killAll() > 0) kills++
      }
      server.publish('r1', { msg_type: 'like', like_num: i, delta: 1 })
      if (i % 10 === 0) await sleep(1)
    }
    await until(() => seqs.length >= 1000, 10000, 'all events')
    await sleep(50)
    const expected = Array.from({ length: 1000 }, (_, i) => i + 1)
    expect(kills).toBe(20)
    expect(seqs).toEqual(expected)
    expect(client.stats.reconnects).toBe(20)
    expect(client.stats.gapsDetected).toBe(0)
    // Recovery, not snapshots, filled every hole: the history held everything.
    expect(snapshots).toBe(1)
    console.log(`[real-socket] kills=${kills} events=${seqs.length} duplicates-seen=0 gaps=0 reconnects=${client.stats.reconnects} duplicatesDropped=${client.stats.duplicatesDropped}`)
  })

  it('acks 100 commands sent across reconnects exactly once each', async () => {
    client = clientFor(server, platform)
    const messages = new Map<string, number>()
    client.room('r1').subscribe((u) => {
      if (u.type === 'event' && u.event.msg_type === 'message') {
        const id = u.event.msg_id ?? ''
        messages.set(id, (messages.get(id) ?? 0) + 1)
      }
    })
    await until(() => client!.state.status === 'open')
    const acks: Array<Promise<unknown>> = []
    let kills = 0
    for (let i = 0; i < 100; i++) {
      acks.push(client.send({ msg_type: 'message', room_id: 'r1', content: `m${i}` }))
      if (i % 10 === 5) {
        if (server.killAll() > 0) kills++
      }
      await sleep(2)
    }
    const results = await Promise.allSettled(acks)
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(100)
    expect(server.applied.size).toBe(100)
    expect([...server.applied.values()].every((n) => n === 1)).toBe(true)
    await until(() => messages.size === 100, 5000, 'all broadcasts')
    expect([...messages.values()].every((n) => n === 1)).toBe(true)
    expect(kills).toBeGreaterThanOrEqual(5)
    expect(client.pendingCommands).toBe(0)
    console.log(`[real-socket] commands=100 kills=${kills} applied-once=${server.applied.size} dup-acks=${server.dupAcks}`)
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
    await until(() => platform.openSockets === 0, 5000, 'socket closed after linger')
    expect(platform.peakSockets).toBe(1)
    expect(platform.listenerCount).toBe(baseListeners)
    expect(server.openConnections).toBe(0)
    expect(client.state.status).toBe('idle')
    client.close()
    expect(platform.listenerCount).toBe(0)
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
        fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)).map((v) => JSON.stringify(v)), // not an object
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
    await until(() => likes.length === 100, 20000, 'valid events among the hostile ones')
    await until(() => client!.stats.badFrames >= 10000, 20000, 'bad frames counted')
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

describe('outbox across an app restart', () => {
  it('sends what the last client left unacked when a new client starts on the same storage', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'live-outbox-')), 'storage.json')
    const server = await MiniServer.start()
    try {
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
      const c2 = clientFor(server, second, { outbox: { storageKey: 'live-outbox' } })
      expect(c2.pendingCommands).toBe(3)
      const contents: string[] = []
      c2.room('r1').subscribe((u) => {
        if (u.type === 'event' && u.event.msg_type === 'message') contents.push(u.event.content)
      })
      await until(() => contents.length === 3)
      expect(contents).toEqual(['offline 1', 'offline 2', 'offline 3'])
      await until(() => c2.pendingCommands === 0)
      expect(createNodePlatform({ storageFile: file }).getStorageSync('live-outbox')).toBeUndefined()
      c2.close()
      second.destroy()
    } finally {
      await server.close()
    }
  })
})
