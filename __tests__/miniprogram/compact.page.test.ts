// The sample's Page() page (miniprogram/pages/compact) on the page shim, which follows WeChat's
// documented Page() rules (see helpers/pageShim.ts: miniprogram-simulate renders components only),
// with the real client on the Node platform against the reference server.
import { installPageShim, openPage, registerPage, type OpenedPage } from '../helpers/pageShim'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { createServer, type LiveServer } from '../../server/server'
import { signToken } from '../../server/token'
import { createNodePlatform, type NodePlatform } from '../../server/node/platform'
import { createNodeWx } from '../../server/node/nodeWx'
import { until } from '../helpers/wait'
import { RawClient } from '../helpers/rawClient'
import type * as Library from '../../src/index'

// Behavior() must exist before mobx-miniprogram-bindings is loaded (it creates one at import).
installPageShim()
// eslint-disable-next-line @typescript-eslint/no-require-imports
const lib = require('../../src/index') as typeof Library

const SECRET = 'page-shim-secret'
const exp = (): number => Math.floor(Date.now() / 1000) + 3600
const token = (uid: string, name: string): string => signToken({ uid, name, role: 'viewer', exp: exp() }, SECRET)
type Comment = { id: string; name: string; content: string }
const comments = (opened: OpenedPage): Comment[] => ((opened.page.data.comments ?? []) as Array<Comment | null>).filter((c): c is Comment => c !== null)

describe('Page() pages with liveRoomBehavior', () => {
  let server: LiveServer
  let platform: NodePlatform
  let client: Library.LiveClient
  // Loaded once the shim's Page() exists: a require, not an import (imports are hoisted).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const compact = registerPage(() => require('../../miniprogram/pages/compact/compact'))

  beforeEach(async () => {
    server = await createServer({ port: 0, secret: SECRET, dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'page-shim-')), likeWindowMs: 20 })
    platform = createNodePlatform()
    ;(globalThis as unknown as { wx: object }).wx = createNodeWx(platform)
    client = lib.createLiveClient({ url: server.url, token: token('v1', 'Vic'), outbox: { storageKey: false }, lingerMs: 10 })
    lib.provideLiveClient(client)
  })

  afterEach(async () => {
    client.close()
    platform.destroy()
    await server.close()
  })

  it('takes the room from onLoad(query), binds fields, comments and actions, and releases the room on unload', async () => {
    const opened = openPage(compact, 'pages/compact/compact', { room_id: 'r1' })
    await until(() => opened.page.data.onlineNum === 1, 'own join bound')
    expect(opened.page.data.liveRoomId).toBe('r1')
    expect(opened.page.data.connectionText).toBe('open')
    expect(lib.heldLiveRooms()).toEqual({ r1: 1 })

    const other = await RawClient.connect(server.url, { token: token('u2', 'Bo') })
    await other.command({ msg_type: 'join', msg_id: 'j', room_id: 'r1' })
    await other.command({ msg_type: 'message', msg_id: 'm1', room_id: 'r1', content: 'hello Page()' })
    await until(() => comments(opened).length === 1, 'comment bound')
    expect(comments(opened)[0]).toMatchObject({ name: 'Bo', content: 'hello Page()' })
    // Counts are throttled fields (at most every 250 ms): the join's count follows.
    await until(() => opened.page.data.onlineNum === 2, 'the join counted')

    // An action from WXML: <button bindtap="like" data-count="1">
    opened.call('like', { currentTarget: { dataset: { count: 3 } } })
    await until(() => opened.page.data.likeNum === 3, 'likes counted by the server')

    opened.unload()
    expect(lib.heldLiveRooms()).toEqual({})
    await until(() => server.connectionCount === 1, "the page's socket closed after unload (the raw client stays)", 3000)
    other.close()
  })

  it('holds updates while hidden and sends them in one setData on show', async () => {
    const opened = openPage(compact, 'pages/compact/compact', { room_id: 'r2' })
    await until(() => opened.page.data.onlineNum === 1, 'joined')
    const other = await RawClient.connect(server.url, { token: token('u2', 'Bo') })
    await other.command({ msg_type: 'join', msg_id: 'j', room_id: 'r2' })
    await until(() => opened.page.data.onlineNum === 2, 'second viewer bound')

    opened.hide()
    const callsWhileHidden = opened.setDataCalls
    for (let i = 1; i <= 3; i++) await other.command({ msg_type: 'message', msg_id: `m${i}`, room_id: 'r2', content: `while hidden ${i}` })
    const room = opened.call('liveRoom') as Library.LiveRoom
    await until(() => room.commentStore.comments.length === 3, 'the store got the comments')
    expect(opened.setDataCalls).toBe(callsWhileHidden)
    expect(comments(opened)).toEqual([])

    opened.show()
    expect(opened.setDataCalls).toBe(callsWhileHidden + 1)
    expect(
      comments(opened)
        .map((c) => c.content)
        .sort(),
    ).toEqual(['while hidden 1', 'while hidden 2', 'while hidden 3'])
    opened.unload()
    other.close()
  })

  it("lets a page's own hooks win, as WeChat does, and join through liveRoomLoad / liveRoomUnload", async () => {
    const behavior = lib.liveRoomBehavior({ comments: false })
    // Its own onLoad hides the behavior's: no room is joined.
    const hidden = registerPage(() => Page({ behaviors: [behavior], onLoad() {} }))
    const silent = openPage(hidden, 'pages/own/own', { room_id: 'r3' })
    expect(lib.heldLiveRooms()).toEqual({})
    silent.unload()

    const calling = registerPage(() =>
      Page({
        behaviors: [behavior],
        data: { loadedWith: '' },
        onLoad(this: { liveRoomLoad(q: object): void; setData(d: object): void }, query: Record<string, string>) {
          this.setData({ loadedWith: query.room_id })
          this.liveRoomLoad(query)
        },
        onUnload(this: { liveRoomUnload(): void }) {
          this.liveRoomUnload()
        },
      }),
    )
    const opened = openPage(calling, 'pages/own/own', { room_id: 'r3' })
    await until(() => opened.page.data.onlineNum === 1, 'joined through liveRoomLoad')
    expect(opened.page.data.loadedWith).toBe('r3')
    expect(lib.heldLiveRooms()).toEqual({ r3: 1 })
    opened.unload()
    expect(lib.heldLiveRooms()).toEqual({})
  })
})

declare const Page: (definition: Record<string, unknown>) => void
