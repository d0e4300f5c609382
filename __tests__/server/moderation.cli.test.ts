/**
 * Issue 25's acceptance, against the CLI as an operator runs it (`--blocked-words FILE`), with
 * clients of this library on the Node platform: one process in memory, then two processes
 * sharing one Redis (the anchor on one, the author on the other, a watcher on each).
 */
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { createLiveClient, type LiveClient } from '../../src/connection/client'
import { createLiveRoom, type LiveRoom } from '../../src/stores/liveRoom'
import { createNodePlatform, type NodePlatform } from '../../server/node/platform'
import { redisForThisFile } from '../helpers/redisServer'
import { startServerProcess, type ServerProcess } from '../helpers/serverProcess'
import { startTcpProxy, type TcpProxy } from '../helpers/tcpProxy'
import { until } from '../helpers/wait'
import { anchorToken, SECRET, token } from './conformanceSuite'

const ROOM = 'live'
const redis = redisForThisFile()

const processes: ServerProcess[] = []
const clients: LiveClient[] = []
const rooms: LiveRoom[] = []
const platforms: NodePlatform[] = []
const proxies: TcpProxy[] = []

afterEach(async () => {
  for (const r of rooms.splice(0)) r.dispose()
  for (const c of clients.splice(0)) c.close()
  for (const p of platforms.splice(0)) p.destroy()
  await Promise.all(proxies.splice(0).map((p) => p.close()))
  await Promise.all(processes.splice(0).map((p) => p.kill('SIGTERM')))
})

function blockedWordsFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'live-words-'))
  const file = path.join(dir, 'blocked.txt')
  fs.writeFileSync(file, '# one word or phrase a line\nspamshop\n傻瓜\n')
  return file
}

async function startProcesses(n: number, store: string[]): Promise<string[]> {
  const words = blockedWordsFile()
  const started = await Promise.all(
    Array.from({ length: n }, () => startServerProcess(['--secret', SECRET, ...store, '--blocked-words', words, '--data-dir', fs.mkdtempSync(path.join(os.tmpdir(), 'live-mod-'))])),
  )
  processes.push(...started)
  return started.map((p) => p.url)
}

function join(url: string, uid: string, tokenOf: string = token(uid)): LiveRoom {
  const platform = createNodePlatform()
  platforms.push(platform)
  const client = createLiveClient({ url, platform, token: tokenOf, backoff: { minMs: 10, maxMs: 100 }, outbox: { storageKey: false } })
  clients.push(client)
  const room = createLiveRoom(client, ROOM)
  rooms.push(room)
  return room
}

const contents = (room: LiveRoom): string[] => room.commentStore.comments.map((c) => c.content)

function moderationAcceptance(name: string, processCount: number, store: () => string[]): void {
  it(`${name}: deletes for everyone (also across a recovery and for a later joiner), mutes and kicks with until, refuses viewers 4003, masks blocked words`, async () => {
    const urls = await startProcesses(processCount, store())
    const far = urls[urls.length - 1]
    const proxy = await startTcpProxy(Number(new URL(far).port))
    proxies.push(proxy)
    const anchor = join(urls[0], 'host', anchorToken('host', [ROOM]))
    const troll = join(far, 'troll')
    const watchers = urls.map((url, i) => join(url, `watcher${i}`))
    const proxied = new URL(far)
    proxied.port = String(proxy.port)
    const recovering = join(proxied.toString(), 'recovering')
    const meddler = join(urls[0], 'meddler')
    const everyone = [anchor, troll, ...watchers, recovering, meddler]
    await until(() => everyone.every((r) => r.roomStore.joined && r.roomStore.onlineNum === everyone.length), 'everyone in the room, counted everywhere', 20000)

    // Blocked words: masked in every store, the author's own comment included, in any case or width.
    troll.commentStore.send('buy at SpamShop now')
    troll.commentStore.send('ＳＰＡＭＳＨＯＰ again')
    troll.commentStore.send('s p a m s h o p, 傻 瓜')
    const masked = ['buy at ******** now', '******** again', '***************, ***']
    for (const r of everyone) await until(() => contents(r).length === 3, 'three comments everywhere')
    for (const r of everyone) expect(contents(r)).toEqual(masked)
    expect(troll.commentStore.comments.map((c) => [c.status, c.own])).toEqual([
      ['sent', true],
      ['sent', true],
      ['sent', true],
    ])

    // A deletion, while one viewer is cut off: it recovers the message and then its deletion.
    const sent = troll.commentStore.send('delete me')
    if (!sent.ok) throw new Error(sent.reason)
    for (const r of everyone) await until(() => r.commentStore.byId(sent.id)?.status === 'sent', 'the comment everywhere')
    const recoveringSnapshots = recovering.commentStore.generation
    proxy.cut()
    await until(() => recovering.roomStore.connection.status !== 'open', 'the viewer cut off')
    await anchor.moderationStore.deleteComment(sent.id)
    const online = everyone.filter((r) => r !== recovering)
    for (const r of online) await until(() => r.commentStore.byId(sent.id) === undefined, 'the comment gone everywhere')
    proxy.restore()
    await until(() => recovering.roomStore.connection.status === 'open' && recovering.commentStore.byId(sent.id) === undefined, 'the cut-off viewer recovered across the deletion', 20000)
    expect(recovering.commentStore.generation).toBe(recoveringSnapshots)
    expect(contents(recovering)).toEqual(masked)
    const late = join(far, 'late')
    await until(() => late.roomStore.joined && contents(late).length === 3, 'a later joiner has the room')
    expect(contents(late)).toEqual(masked)

    // A viewer may not moderate.
    const refusals = await Promise.allSettled([
      meddler.moderationStore.deleteComment(troll.commentStore.comments[0].id),
      meddler.moderationStore.mute('troll', 60),
      meddler.moderationStore.kick('troll', 60),
    ])
    expect(refusals.map((r) => (r.status === 'rejected' ? (r.reason as { code?: number }).code : 'applied'))).toEqual([4003, 4003, 4003])
    expect(meddler.moderationStore.error).toMatch(/anchor/)

    // A mute: comments refused with 4030 and until. Then a mute of 1 s in its place lifts by
    // itself (a long one first, so no busy machine can let the refused comment through).
    await anchor.moderationStore.mute('troll', 600)
    await until(() => troll.roomStore.mutedUntil > Date.now() + 500_000, 'the author knows it is muted')
    const refused = troll.commentStore.send('can you hear me')
    if (!refused.ok) throw new Error(refused.reason)
    await until(() => troll.commentStore.byId(refused.id)?.status === 'failed', 'the comment refused')
    expect(troll.commentStore.byId(refused.id)?.reason).toBe('you are muted in this room')
    for (const w of watchers) expect(contents(w)).not.toContain('can you hear me')
    await anchor.moderationStore.mute('troll', 1)
    await until(() => troll.roomStore.mutedUntil === 0, 'the mute lifted by itself', 10000)
    const after = troll.commentStore.send('back again')
    for (const w of watchers) await until(() => contents(w).includes('back again'), 'heard again everywhere')
    expect(after.ok).toBe(true)

    // A kick: out at once, counted out everywhere, and a rejoin gets 4031 with until.
    await anchor.moderationStore.kick('troll', 600)
    await until(() => !troll.roomStore.joined && troll.roomStore.kickedUntil > Date.now(), 'the author is out')
    const count = everyone.length // the late joiner came, the troll went
    for (const r of [anchor, ...watchers]) await until(() => r.roomStore.onlineNum === count, 'counted out everywhere')
    const rejoin = join(urls[0], 'troll')
    await until(() => rejoin.roomStore.error !== null, 'the rejoin refused')
    expect(rejoin.roomStore.error?.code).toBe(4031)
    expect(rejoin.roomStore.kickedUntil).toBe(troll.roomStore.kickedUntil)
    for (const r of [anchor, ...watchers]) expect(r.roomStore.onlineNum).toBe(count)
  }, 90000)
}

describe('moderation against the CLI (issue 25 acceptance)', () => {
  moderationAcceptance('one process, in memory', 1, () => [])
  moderationAcceptance('two processes sharing one Redis', 2, () => ['--redis', redis.url, '--redis-prefix', 'mod'])
})
