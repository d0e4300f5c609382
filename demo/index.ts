/**
 * `npm start`: the reference server, the sample viewer page rendered in
 * miniprogram-simulate on the Node platform, and a simulated audience; a live
 * terminal view drawn from what the page rendered.
 *
 *   npm start -- [--duration 30] [--viewers 50] [--rate 20] [--chaos] [--port 0] [--serve [--host H]] [--redis URL]
 */
import './env'
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { randomBytes } from 'crypto'
// eslint-disable-next-line @typescript-eslint/no-require-imports
const simulate = require('miniprogram-simulate') as typeof import('miniprogram-simulate')
import { createServer, type LiveServer } from '../server/server'
import { signToken } from '../server/token'
import { createLiveClient, type LiveClient } from '../src/connection/client'
import { provideLiveClient } from '../src/bindings/injection'
import { createLiveRoom, type LiveRoom } from '../src/stores/liveRoom'
import { createNodePlatform, type NodePlatform } from '../server/node/platform'
import { createNodeWx } from '../server/node/nodeWx'

interface Args {
  durationS: number
  viewers: number
  rate: number
  chaos: boolean
  port: number
  serve: boolean
  /** Run the server on the Redis engine (a chaos restart then keeps the history). */
  redis?: string
  /** With --serve: the address to listen on (0.0.0.0 for a phone on the LAN). */
  host?: string
}

function parseArgs(argv: string[]): Args {
  const args: Args = { durationS: 30, viewers: 50, rate: 20, chaos: false, port: 0, serve: false }
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2)
    const num = (): number => {
      const n = Number(inline ?? argv[++i])
      if (!Number.isFinite(n) || n < 0) throw new Error(`${flag} needs a number`)
      return n
    }
    if (flag === '--duration') args.durationS = num()
    else if (flag === '--viewers') args.viewers = Math.floor(num())
    else if (flag === '--rate') args.rate = num()
    else if (flag === '--port') args.port = Math.floor(num())
    else if (flag === '--chaos') args.chaos = true
    else if (flag === '--serve') args.serve = true
    else if (flag === '--redis') args.redis = inline ?? argv[++i]
    else if (flag === '--host') args.host = inline ?? argv[++i]
    else throw new Error(`unknown flag ${argv[i]}`)
  }
  return args
}

const ROOM = 'demo'
const LINES = ['this tea smells great', 'how much is shipping?', 'bought two!', 'hello from Hangzhou', 'is the cup dishwasher safe?', 'love this room', '666']

const percentile = (values: number[], p: number): number => {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

async function run(args: Args): Promise<void> {
  const secret = randomBytes(16).toString('base64url')
  const exp = Math.floor(Date.now() / 1000) + 24 * 3600
  const token = (uid: string, name: string, role: 'viewer' | 'anchor' = 'viewer'): string => signToken({ uid, name, role, exp, ...(role === 'anchor' ? { rooms: [ROOM] } : {}) }, secret)
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'live-demo-'))
  const serverOptions = {
    secret,
    host: '127.0.0.1',
    dataDir,
    rooms: [{ id: ROOM, title: 'Spring tea sale', anchor: { uid: 'anchor-1', name: 'Ann' } }],
    messageRateLimit: { perSecond: 50, burst: 50 },
    ...(args.redis ? { redis: { url: args.redis, prefix: `demo-${randomBytes(3).toString('hex')}` } } : {}),
  }
  let server: LiveServer = await createServer({ ...serverOptions, port: args.port })
  const port = server.port
  const url = server.url

  // The viewer: the real room page, on its own Node platform, as a phone would run it.
  const viewerPlatform: NodePlatform = createNodePlatform()
  Object.assign((global as unknown as { wx: object }).wx, createNodeWx(viewerPlatform))
  const viewer = createLiveClient({ url, token: token('viewer-1', 'You'), outbox: { storageKey: false }, backoff: { minMs: 200, maxMs: 2000 } })
  provideLiveClient(viewer)
  const root = path.join(__dirname, '..', 'miniprogram')
  // The page's WXML imports the library's fmt.wxs from miniprogram_npm/, where Build npm puts it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  ;(require('../scripts/wxs.js') as { layWxs(npmDir: string): void }).layWxs(path.join(root, 'miniprogram_npm'))
  const pageId = simulate.load(path.join(root, 'pages/room/room'), { rootPath: root })
  const page = simulate.render(pageId, { room_id: ROOM }) as unknown as {
    attach(parent: unknown): void
    detach(): void
    instance: { setData(d: Record<string, unknown>): void; liveRoom(): LiveRoom | undefined; liveSetDataStats(): { calls: number; bytes: number } }
    querySelector(s: string): { dom?: { textContent: string | null } } | undefined
    querySelectorAll(s: string): Array<{ dom?: { textContent: string | null; getAttribute(name: string): string | null } }>
  }
  const latencies: number[] = []
  const original = page.instance.setData.bind(page.instance)
  page.instance.setData = (data) => {
    const now = Date.now()
    const room = page.instance.liveRoom()
    for (const [key, value] of Object.entries(data)) {
      if (!/^comments\[\d+\]$/.test(key)) continue
      // A rendered comment is { k, name, content }: find it in the store, newest first.
      const { name, content } = value as { name: string; content: string }
      const comments = room?.commentStore.comments ?? []
      for (let i = comments.length - 1; i >= 0; i--) {
        if (comments[i].name !== name || comments[i].content !== content) continue
        if (comments[i].ts) latencies.push(now - comments[i].ts)
        break
      }
    }
    original(data)
  }
  page.attach(document.createElement('parent-wrapper'))

  // Seqs the viewer's room stream delivered: gaps and duplicates, per epoch.
  const seen = { events: 0, gaps: 0, duplicates: 0, snapshots: 0, last: 0 }
  const roomSub = viewer.room(ROOM).subscribe((u) => {
    if (u.type === 'snapshot') {
      seen.snapshots++
      seen.last = u.snapshot.seq
    } else if (u.type === 'event' && u.event.seq !== undefined) {
      seen.events++
      if (u.event.seq <= seen.last) seen.duplicates++
      else if (u.event.seq > seen.last + 1) seen.gaps++
      seen.last = u.event.seq
    }
  })

  // The anchor and the audience: library clients, each on its own platform (5 sockets each at most).
  const platforms: NodePlatform[] = []
  const clientFor = (t: string): LiveClient => {
    const platform = createNodePlatform()
    platforms.push(platform)
    return createLiveClient({ url, token: t, platform, outbox: { storageKey: false }, backoff: { minMs: 200, maxMs: 2000 } })
  }
  // The anchor: the real anchor console page, on its own client and platform (scope 'anchor').
  const anchorClient = clientFor(token('anchor-1', 'Ann', 'anchor'))
  provideLiveClient(anchorClient, 'anchor')
  const anchorPageId = simulate.load(path.join(root, 'pages/anchor/anchor'), { rootPath: root })
  const anchorPage = simulate.render(anchorPageId, { room_id: ROOM, liveScope: 'anchor' }) as unknown as {
    attach(parent: unknown): void
    detach(): void
    querySelectorAll(s: string): Array<{ dispatchEvent(name: string): void }>
  }
  anchorPage.attach(document.createElement('parent-wrapper'))
  const audience: LiveRoom[] = []
  for (let i = 0; i < args.viewers; i++) audience.push(createLiveRoom(clientFor(token(`v${i}`, `viewer ${i}`)), ROOM))

  let actions = 0
  const act = (): void => {
    if (audience.length === 0) return
    const who = audience[Math.floor(Math.random() * audience.length)]
    const dice = Math.random()
    actions++
    if (dice < 0.6) who.commentStore.send(LINES[Math.floor(Math.random() * LINES.length)])
    else if (dice < 0.85) who.roomStore.like(1 + Math.floor(Math.random() * 5))
    else if (dice < 0.92) who.roomStore.subscribe().catch(() => undefined)
    else {
      const goods = who.shelfStore.current
      if (goods) who.shelfStore.buy(goods.goods_id).catch(() => undefined)
    }
  }
  const audienceTimer = args.rate > 0 ? setInterval(act, 1000 / args.rate) : undefined
  // The anchor taps the console's buttons: the next goods on, every third tap one off.
  let shelfIndex = 0
  const shelfTimer = setInterval(() => {
    const putOn = anchorPage.querySelectorAll('.put-on')
    const takeOff = anchorPage.querySelectorAll('.take-off')
    const button = shelfIndex % 3 === 2 && takeOff.length > 0 ? takeOff[0] : (putOn[0] ?? takeOff[0])
    button?.dispatchEvent('tap')
    shelfIndex++
  }, 2500)

  // Chaos: drop the viewer's link, then restart the server (a new epoch: history lost).
  let chaosEvents = 0
  let chaosTimer: NodeJS.Timeout | undefined
  if (args.chaos) {
    chaosTimer = setInterval(() => {
      chaosEvents++
      if (chaosEvents % 2 === 1) {
        for (const task of viewerPlatform.sockets) task.drop()
      } else {
        const old = server
        void old.close().then(async () => {
          server = await createServer({ ...serverOptions, port })
        })
      }
    }, 4000)
  }

  const text = (selector: string): string => (page.querySelector(selector)?.dom?.textContent ?? '').replace(/\s+/g, ' ').trim()
  /**
   * The comments the page rendered, "name: content", oldest first: read from the rendered
   * elements (slots of a ring, put in arrival order by their CSS `order`). Each comment
   * element holds one .name and one .content, so the three lists line up.
   */
  const onScreen = (): string[] => {
    const texts = (selector: string): string[] => page.querySelectorAll(selector).map((e) => (e.dom?.textContent ?? '').trim())
    const names = texts('.comment .name')
    const contents = texts('.comment .content')
    const order = page.querySelectorAll('.comment').map((e) => Number(/order:\s*(\d+)/.exec(e.dom?.getAttribute('style') ?? '')?.[1] ?? 0))
    return names
      .map((name, i) => ({ k: order[i] ?? i, line: `${name}: ${contents[i] ?? ''}` }))
      .sort((a, b) => a.k - b.k)
      .map((c) => c.line)
  }
  const started = Date.now()
  const interactive = process.stdout.isTTY === true
  const draw = (): void => {
    const stats = page.instance.liveSetDataStats()
    const last = onScreen()
      .slice(-8)
      .map((c) => `  ${c}`)
    const elapsed = (Date.now() - started) / 1000
    const lines = [
      `miniprogram-live-store demo: ${url}  room "${ROOM}"  ${args.chaos ? '(chaos)' : ''}`,
      `connection: ${viewer.state.status}${text('.banner') ? ` (${text('.banner')})` : ''}`,
      `${text('.title')} | online ${text('.online')} | likes ${text('.likes')} | followers ${text('.follows')}`,
      `notice: ${text('.notice') || '-'}`,
      `on the shelf now: ${text('.current-name') || '-'} ${text('.current-price')}`,
      'last comments:',
      ...last,
      `${elapsed.toFixed(1)} s / ${args.durationS || '∞'} s | audience actions ${actions} | room events ${seen.events} | setData ${stats.calls} calls, ${stats.bytes} B | seq gaps ${seen.gaps}, duplicates ${seen.duplicates} | reconnects ${viewer.stats.reconnects}`,
    ]
    if (interactive) process.stdout.write(`\x1b[2J\x1b[H${lines.join('\n')}\n`)
    else if (Math.floor(elapsed) % 5 === 0) process.stdout.write(`${lines[lines.length - 1]}\n`)
  }
  const drawTimer = setInterval(draw, interactive ? 250 : 1000)

  await new Promise<void>((resolve) => {
    const stop = (): void => resolve()
    process.once('SIGINT', stop)
    if (args.durationS > 0) setTimeout(stop, args.durationS * 1000)
  })
  clearInterval(drawTimer)
  if (audienceTimer) clearInterval(audienceTimer)
  clearInterval(shelfTimer)
  if (chaosTimer) clearInterval(chaosTimer)
  await new Promise((r) => setTimeout(r, 500))
  draw()
  const stats = page.instance.liveSetDataStats()
  console.log('\nsummary')
  console.log(`  frames in/out (viewer): ${viewer.stats.framesIn} / ${viewer.stats.framesOut}`)
  console.log(`  room events delivered: ${seen.events}, snapshots ${seen.snapshots}`)
  console.log(`  setData: ${stats.calls} calls, ${stats.bytes} bytes (the page and its like-button)`)
  const rendered = onScreen()
  console.log(`  comments on screen: ${rendered.length}; the last: ${rendered[rendered.length - 1] ?? '-'}`)
  console.log(`  event-to-render latency: p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms (${latencies.length} comments rendered)`)
  console.log(`  reconnects: ${viewer.stats.reconnects}, chaos events: ${chaosEvents}`)
  console.log(`  gaps: ${seen.gaps}, duplicates: ${seen.duplicates}`)
  console.log(`  anchor console: ${anchorPage.querySelectorAll('.take-off').length} goods on the shelf, ${anchorPage.querySelectorAll('.purchase').length} purchases shown`)
  roomSub.unsubscribe()
  page.detach()
  anchorPage.detach()
  for (const room of audience) room.dispose()
  anchorClient.close()
  viewer.close()
  viewerPlatform.destroy()
  for (const p of platforms) p.destroy()
  await server.close()
  process.exit(seen.gaps === 0 && seen.duplicates === 0 ? 0 : 1)
}

const args = parseArgs(process.argv.slice(2))
if (args.serve) {
  // The CLI server with --dev tokens, for pointing WeChat DevTools (or a phone: --host 0.0.0.0)
  // at it. LIVE_SECRET in the environment keeps the printed tokens valid across restarts.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cli = require('../server/cli') as { main(argv: string[]): Promise<void> }
  void cli.main(['--dev', '--port', String(args.port || 8080), ...(args.host ? ['--host', args.host] : []), ...(args.redis ? ['--redis', args.redis] : [])])
} else {
  run(args).catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
