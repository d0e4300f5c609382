/**
 * A backend that speaks the seed articles' frames (issue 14, part 4): `init` with `client_id`,
 * then flat `from_uid` / `from_name`, `online_num`, `message_list` on the join reply, no seq,
 * no ack, no subprotocol. The client and the stores work against it with `codec: 'plain'`.
 */
import type { AddressInfo } from 'net'
import { WebSocketServer, type WebSocket } from 'ws'
import { createLiveClient, type LiveClient } from '../../src/connection/client'
import { PlainDecoder } from '../../src/protocol/plain'
import { createLiveRoom } from '../../src/stores/liveRoom'
import { createNodePlatform, type NodePlatform } from '../../server/node/platform'
import { until } from '../helpers/wait'

interface Viewer {
  ws: WebSocket
  uid: string
  name: string
  rooms: Set<string>
}

/** The seed articles' backend, as small as it gets: one process, rooms in memory. */
class SeedBackend {
  readonly wss: WebSocketServer
  readonly viewers = new Set<Viewer>()
  readonly history = new Map<string, Array<Record<string, unknown>>>()
  /** Subprotocols clients offered (a plain backend selects none). */
  readonly offered: string[] = []
  likes = 0
  private nextId = 0

  constructor() {
    this.wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => false })
    this.wss.on('connection', (ws, req) => {
      this.offered.push(String(req.headers['sec-websocket-protocol'] ?? ''))
      // The uid and name from the token, as such backends do: "Bearer uid:name".
      const [uid, name] = String(req.headers.authorization ?? '')
        .replace('Bearer ', '')
        .split(':')
      const viewer: Viewer = { ws, uid, name, rooms: new Set() }
      this.viewers.add(viewer)
      ws.send(JSON.stringify({ msg_type: 'init', client_id: `c${++this.nextId}` }))
      ws.on('message', (raw) => this.onFrame(viewer, JSON.parse(String(raw)) as Record<string, unknown>))
      ws.on('close', () => {
        this.viewers.delete(viewer)
        for (const room of viewer.rooms) this.broadcast(room, { msg_type: 'leave', room_id: room, from_uid: uid, from_name: name, online_num: this.online(room) })
      })
    })
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/ws`
  }

  online(room: string): number {
    return [...this.viewers].filter((v) => v.rooms.has(room)).length
  }

  broadcast(room: string, frame: Record<string, unknown>): void {
    for (const v of this.viewers) if (v.rooms.has(room)) v.ws.send(JSON.stringify(frame))
  }

  private onFrame(v: Viewer, frame: Record<string, unknown>): void {
    const room = String(frame.room_id ?? '')
    const from = { room_id: room, from_uid: v.uid, from_name: v.name }
    switch (frame.msg_type) {
      case 'join': {
        v.rooms.add(room)
        const join = { msg_type: 'join', ...from, online_num: this.online(room) }
        for (const other of this.viewers) if (other !== v && other.rooms.has(room)) other.ws.send(JSON.stringify(join))
        // The joiner's reply carries the recent comments.
        v.ws.send(JSON.stringify({ ...join, message_list: (this.history.get(room) ?? []).slice(-10) }))
        return
      }
      case 'message': {
        const message = { msg_type: 'message', ...from, content: frame.content }
        this.history.set(room, [...(this.history.get(room) ?? []), message])
        this.broadcast(room, message)
        return
      }
      case 'subscribe':
        return this.broadcast(room, { msg_type: 'subscribe', ...from })
      case 'like':
        this.likes += Number(frame.count ?? 1)
        return this.broadcast(room, { msg_type: 'like', room_id: room, like_num: this.likes })
      case 'buy':
        return this.broadcast(room, { msg_type: 'buy', ...from, goods_id: frame.goods_id, goods_name: 'Tea' })
      case 'leave':
        v.rooms.delete(room)
        return this.broadcast(room, { msg_type: 'leave', ...from, online_num: this.online(room) })
    }
  }

  shelf(room: string, goodsId: string, status: 'on' | 'off'): void {
    this.broadcast(room, { msg_type: 'on_off_shelf', room_id: room, goods_id: goodsId, goods_name: 'Tea', goods_price: 1990, default_image: 'https://img/t.png', status })
  }

  dropAll(): void {
    for (const v of this.viewers) v.ws.terminate()
  }

  close(): Promise<void> {
    for (const v of this.viewers) v.ws.terminate()
    return new Promise((resolve) => this.wss.close(() => resolve()))
  }
}

describe('a backend of the seed articles (codec: plain)', () => {
  let backend: SeedBackend
  let platform: NodePlatform
  let client: LiveClient | undefined
  /** Everything a test opened, closed after it whatever happened. */
  const others: Array<{ close?: () => void; destroy?: () => void }> = []
  beforeEach(async () => {
    backend = new SeedBackend()
    await new Promise((resolve) => backend.wss.once('listening', resolve))
    platform = createNodePlatform()
  })
  afterEach(async () => {
    for (const o of others.splice(0)) (o.close ?? o.destroy)?.call(o)
    client?.close()
    platform.destroy()
    await backend.close()
  })

  it("fills the stores: the join reply's message_list in commentStore, counts, notices, shelf, own comments once; a rejoin replaces, never doubles", async () => {
    backend.history.set('r', [
      { msg_type: 'message', room_id: 'r', from_uid: 'old1', from_name: 'Old One', content: 'first!' },
      { msg_type: 'message', room_id: 'r', from_uid: 'old2', from_name: 'Old Two', content: 'hello' },
    ])
    client = createLiveClient({
      url: backend.url,
      platform,
      token: 'u1:Ann',
      codec: 'plain',
      plainUser: { uid: 'u1', name: 'Ann', role: 'viewer' },
      backoff: { minMs: 5, maxMs: 20 },
      lingerMs: 20,
      outbox: { storageKey: false },
    })
    const room = createLiveRoom(client, 'r', { flushMs: 5 })
    await until(() => room.commentStore.comments.length === 2, 'the message_list in commentStore')
    expect(room.commentStore.comments.map((c) => [c.name, c.content])).toEqual([
      ['Old One', 'first!'],
      ['Old Two', 'hello'],
    ])
    expect(backend.offered).toEqual([''])
    expect(room.roomStore.onlineNum).toBe(1)

    // Own comments: shown at once, confirmed by the echo, never twice (even the same text twice).
    room.commentStore.send('666')
    room.commentStore.send('666')
    await until(() => room.commentStore.comments.length === 4 && room.commentStore.comments.every((c) => c.status === 'sent'), 'own comments confirmed')
    expect(room.commentStore.comments.slice(2).map((c) => [c.uid, c.content, c.own])).toEqual([
      ['u1', '666', true],
      ['u1', '666', true],
    ])

    // Someone else: join notice and count, a comment, a follow, a like, a purchase; the shelf.
    const other = createNodePlatform()
    const bob = createLiveClient({
      url: backend.url,
      platform: other,
      token: 'u2:Bob',
      codec: 'plain',
      plainUser: { uid: 'u2', name: 'Bob', role: 'viewer' },
      lingerMs: 20,
      outbox: { storageKey: false },
    })
    others.push(bob, other)
    bob.room('r').subscribe()
    await until(() => room.roomStore.onlineNum === 2, 'Bob counted')
    await bob.send({ msg_type: 'message', room_id: 'r', content: 'hi from Bob' })
    await bob.send({ msg_type: 'subscribe', room_id: 'r' })
    await bob.send({ msg_type: 'like', room_id: 'r', count: 3 })
    backend.shelf('r', 'g1', 'on')
    await bob.send({ msg_type: 'buy', room_id: 'r', goods_id: 'g1' })
    await until(() => room.roomStore.subscribeNum === 1 && room.shelfStore.goods.length === 1 && room.commentStore.comments.length === 5, 'follow, shelf, comment')
    await until(() => room.roomStore.likeNum >= 3, 'likes')
    expect(room.commentStore.comments[4]).toMatchObject({ uid: 'u2', name: 'Bob', content: 'hi from Bob', own: false })
    expect(room.roomStore.notices.map((n) => [n.kind, n.user.name])).toEqual(
      expect.arrayContaining([
        ['join', 'Bob'],
        ['subscribe', 'Bob'],
        ['buy', 'Bob'],
      ]),
    )
    bob.close()
    await until(() => room.roomStore.onlineNum === 1, 'Bob left')

    // The link drops: the rejoin's message_list replaces the comments (the last 10), no doubles.
    backend.dropAll()
    await until(() => client!.stats.reconnects === 1 && client!.state.status === 'open', 'reconnected')
    await until(() => room.commentStore.generation >= 2, 'replaced by the rejoin')
    const contents = room.commentStore.comments.map((c) => c.content)
    expect(contents).toEqual(['first!', 'hello', '666', '666', 'hi from Bob'])
    expect(client.stats.badFrames).toBe(0)
    room.dispose()
  })
})

describe('PlainDecoder', () => {
  it('maps flat frames, fills counts a frame leaves out, refuses what is not a frame', () => {
    const d = new PlainDecoder()
    const one = (frame: unknown): unknown => {
      const r = d.decode(JSON.stringify(frame))
      return r.ok ? r.frames : r.error
    }
    expect(one({ msg_type: 'init', client_id: 7 })).toEqual([{ msg_type: 'init', client_id: '7' }])
    expect(one({ msg_type: 'join', room_id: 'r', from_uid: 'a', from_name: 'A', online_num: 4 })).toEqual([{ msg_type: 'join', room_id: 'r', user: { uid: 'a', name: 'A' }, online_num: 4 }])
    // No online_num on a leave: one fewer than the last known.
    expect(one({ msg_type: 'leave', room_id: 'r', from_uid: 'a', from_name: 'A' })).toEqual([{ msg_type: 'leave', room_id: 'r', user: { uid: 'a', name: 'A' }, online_num: 3 }])
    expect(one({ msg_type: 'subscribe', room_id: 'r', from_uid: 'a', from_name: 'A' })).toEqual([{ msg_type: 'subscribe', room_id: 'r', user: { uid: 'a', name: 'A' }, subscribe_num: 1 }])
    expect(one({ msg_type: 'like', room_id: 'r', count: 5 })).toEqual([{ msg_type: 'like', room_id: 'r', like_num: 5 }])
    expect(one({ msg_type: 'like', room_id: 'r', like_num: 40 })).toEqual([{ msg_type: 'like', room_id: 'r', like_num: 40 }])
    expect(one({ msg_type: 'gift', room_id: 'r' })).toMatchObject({ unknownType: true })
    expect(one({ msg_type: 'message', room_id: 'r', from_uid: 'a', from_name: 'A', content: 7 })).toEqual([{ msg_type: 'message', room_id: 'r', from_uid: 'a', from_name: 'A', content: '7' }])
    // Still the protocol's checks: a room id is required, forbidden keys are refused.
    expect(one({ msg_type: 'message', from_uid: 'a', from_name: 'A', content: 'x' })).toMatchObject({ code: 4000 })
    expect(d.decode('{"msg_type":"message","room_id":"r","__proto__":{"x":1}}')).toMatchObject({ ok: false })
    expect(d.decode('not json')).toMatchObject({ ok: false, error: { reason: 'malformed JSON' } })
  })
})
