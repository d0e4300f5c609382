/**
 * `client.report` (issue 14, part 3): batches in virtual time, `cache_fields` once per
 * connection, the frame and write bounds, the connection's own life as a stream and a summary;
 * then against the real server, through reconnects and over HTTP.
 */
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'
import { TestScheduler } from 'rxjs/testing'
import { createLiveClient, type LiveClient, type LiveClientError, type LiveClientOptions } from '../../src/connection/client'
import type { ConnectionLogEvent } from '../../src/connection/connectionLog'
import { type ClientFrame, REPORT_WRITE_FACTOR, type ReportCommand } from '../../src/protocol/frames'
import { createNodePlatform, type NodePlatform } from '../../server/node/platform'
import { createServer, type LiveServer } from '../../server/server'
import { signToken } from '../../server/token'
import { fakeClient } from '../helpers/fakeClient'
import { until } from '../helpers/wait'

const END_MS = 60000

const setup = (scheduler: TestScheduler, extra: Partial<LiveClientOptions> = {}): ReturnType<typeof fakeClient> => fakeClient(scheduler, END_MS, { heartbeatMs: 1000, pongTimeoutMs: 50, ...extra })

const reportsOf = (frames: ClientFrame[]): ReportCommand[] => frames.filter((f): f is ReportCommand => f.msg_type === 'report')
const bytesOf = (frame: unknown): number => Buffer.byteLength(JSON.stringify(frame))

describe('client.report (virtual time)', () => {
  it('sends logs in batches: every flushMs, every maxLogs, an important one at once', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    scheduler.run(() => {
      const { platform, client } = setup(scheduler, { reports: { flushMs: 5000, maxLogs: 4 } })
      client.frames$.subscribe()
      const sentAt: Array<[number, number]> = []
      platform.sent$.subscribe((f) => f.msg_type === 'report' && sentAt.push([scheduler.now(), f.logs.length]))
      scheduler.schedule(() => {
        client.report({ event: 'view', n: 1 })
        client.report({ event: 'view', n: 2 })
      }, 100)
      // Four in a row: out at once, without waiting for the timer.
      scheduler.schedule(() => ['a', 'b', 'c', 'd'].forEach((n) => client.report({ event: 'tap', n })), 7000)
      // Important: at once.
      scheduler.schedule(() => client.report({ event: 'pay_failed' }, { important: true }), 9000)
      scheduler.schedule(() => client.close(), 20000)
      scheduler.flush()
      expect(sentAt).toEqual([
        [5100, 2],
        [7000, 4],
        [9000, 1],
      ])
      expect(client.pendingCommands).toBe(0)
    })
  })

  it('sends cache_fields in the first report of each connection, again after a reconnect, and with a resend', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    scheduler.run(() => {
      const { platform, client } = setup(scheduler, { reports: { flushMs: 1000, maxLogs: 100 } })
      client.setReportFields({ app: '1.2.3', device: 'iPhone' })
      client.frames$.subscribe()
      scheduler.schedule(() => client.report({ n: 1 }, { important: true }), 10)
      scheduler.schedule(() => client.report({ n: 2 }, { important: true }), 20)
      // The third is not acked before the link drops: resent on the next link, with the fields.
      scheduler.schedule(() => {
        platform.last.script.ackCommands = false
        client.report({ n: 3 }, { important: true })
      }, 30)
      scheduler.schedule(() => platform.last.serverClose(1001, 'deploy'), 40)
      scheduler.schedule(() => client.report({ n: 4 }, { important: true }), 500)
      scheduler.schedule(() => client.close(), 2000)
      scheduler.flush()
      const first = reportsOf(platform.tasks[0].sent)
      expect(first.map((r) => [r.logs.map((l) => l.n), r.cache_fields])).toEqual([
        [[1], { app: '1.2.3', device: 'iPhone' }],
        [[2], undefined],
        [[3], undefined],
      ])
      const second = reportsOf(platform.tasks[1].sent)
      expect(second.map((r) => [r.logs.map((l) => l.n), r.cache_fields])).toEqual([
        [[3], { app: '1.2.3', device: 'iPhone' }],
        [[4], undefined],
      ])
      // The resend is the same command: same msg_id (the server dedups).
      expect(second[0].msg_id).toBe(first[2].msg_id)
    })
  })

  it('never makes a report larger than the frame limit or the server write bound; drops a log that fits no report', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    scheduler.run(() => {
      const { platform, client } = setup(scheduler, { reports: { flushMs: 1000, maxLogs: 1000, maxBuffered: 1000 } })
      platform.scripts = [{ init: { msg_type: 'init', client_id: 'c', epoch: 'e1', heartbeat_ms: 25000, max_frame_bytes: 4096 } }]
      const errors: LiveClientError[] = []
      client.errors$.subscribe((e) => errors.push(e))
      client.frames$.subscribe()
      scheduler.schedule(() => {
        for (let i = 0; i < 300; i++) client.report({ i, page: 'room', text: 'x'.repeat(40) })
        client.report({ huge: 'y'.repeat(5000) })
        client.flushReports()
      }, 10)
      // With 900 bytes of cached fields, each small log costs the server 900 bytes more to write.
      scheduler.schedule(() => {
        client.setReportFields({ blob: 'z'.repeat(880) })
        for (let i = 0; i < 50; i++) client.report({ j: i })
        client.flushReports()
      }, 100)
      scheduler.schedule(() => client.close(), 2000)
      scheduler.flush()
      const reports = reportsOf(platform.tasks[0].sent)
      expect(reports.every((r) => bytesOf(r) <= 4096)).toBe(true)
      expect(reports.every((r) => r.logs.length <= 100)).toBe(true)
      const small = reports.filter((r) => r.logs.some((l) => 'i' in l))
      expect(small.flatMap((r) => r.logs.map((l) => l.i))).toEqual(Array.from({ length: 300 }, (_, i) => i))
      expect(small.length).toBeGreaterThanOrEqual(Math.ceil((300 * bytesOf({ i: 100, page: 'room', text: 'x'.repeat(40) })) / 4096))
      expect(client.stats.reportsDropped).toBe(1)
      expect(errors).toEqual([expect.objectContaining({ kind: 'report', dropped: 1 })])
      // The write bound: each report's logs, written with the fields merged in, at most 8x its frame.
      const withFields = reports.filter((r) => r.logs.some((l) => 'j' in l))
      expect(withFields.flatMap((r) => r.logs.map((l) => l.j))).toEqual(Array.from({ length: 50 }, (_, i) => i))
      for (const r of withFields) {
        const written = r.logs.reduce((sum, log) => sum + bytesOf({ blob: 'z'.repeat(880), ...log }) + 1, 0)
        expect(written).toBeLessThanOrEqual(8 * bytesOf(r) + 1024)
      }
      expect(withFields.length).toBeGreaterThan(1)
      expect(() => client.setReportFields(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])))).toThrow(RangeError)
    })
  })

  it('keeps what the server writes within REPORT_WRITE_FACTOR x what the connection sent: lone small logs send the fields again when they run out (round two, problem 3)', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    scheduler.run(() => {
      const { platform, client } = setup(scheduler, { reports: { flushMs: 1000, maxLogs: 100 } })
      const fields = { blob: 'z'.repeat(900) }
      client.setReportFields(fields)
      client.frames$.subscribe()
      // Sixty important taps, each in a report of its own: each makes the server write the fields again.
      for (let i = 0; i < 60; i++) scheduler.schedule(() => client.report({ tap: i }, { important: true }), 10 + i * 10)
      scheduler.schedule(() => client.close(), 2000)
      scheduler.flush()
      const reports = reportsOf(platform.tasks[0].sent)
      expect(reports.flatMap((r) => r.logs.map((l) => l.tap))).toEqual(Array.from({ length: 60 }, (_, i) => i))
      // The server's rule, report by report: bytes written (each log with the cached fields merged in) <= 8x bytes received.
      let received = 0
      let written = 0
      for (const r of reports) {
        received += bytesOf(r)
        written += r.logs.reduce((sum, log) => sum + bytesOf({ ...fields, ...log }) + 1, 0)
        expect(written).toBeLessThanOrEqual(REPORT_WRITE_FACTOR * received)
      }
      // The fields went again now and then, not with every report.
      const carrying = reports.filter((r) => r.cache_fields !== undefined).length
      expect(carrying).toBeGreaterThan(1)
      expect(carrying).toBeLessThan(reports.length / 2)
    })
  })

  it('tells the connection life as a stream and a summary, and reports it when asked', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    scheduler.run(() => {
      const { platform, client } = setup(scheduler, { reports: { connectionEvents: true, flushMs: 100 } })
      platform.scripts = [{ refuse: true }, {}, {}]
      const events: ConnectionLogEvent[] = []
      client.connectionLog$.subscribe((e) => events.push(e))
      client.room('r').subscribe()
      scheduler.schedule(() => platform.last.serverClose(1001, 'deploy'), 3000)
      scheduler.schedule(() => client.close(), 8000)
      scheduler.flush()
      expect(events.map((e) => e.type).filter((t) => t !== 'rtt')).toEqual(['attempt', 'close', 'retry', 'attempt', 'open', 'close', 'retry', 'attempt', 'open', 'rejoin'])
      const closes = events.filter((e): e is Extract<ConnectionLogEvent, { type: 'close' }> => e.type === 'close')
      expect(closes.map((c) => [c.code, c.livedMs])).toEqual([
        [1006, 0],
        [1001, 3000 - 102],
      ])
      const summary = client.connectionSummary()
      expect(summary).toMatchObject({ attempts: 3, opens: 2, closes: { '1006': 1, '1001': 1 }, retries: 2, retryWaitMs: 200, snapshotRejoins: 1, fallbacks: 0 })
      expect(summary.rttSamples).toBeGreaterThan(0)
      // Reported through the same path: reports of kind live_connection, acked.
      const reported = platform.tasks.flatMap((t) => reportsOf(t.sent)).flatMap((r) => r.logs)
      expect(reported.filter((l) => l.kind === 'live_connection' && l.type === 'close').map((l) => l.code)).toEqual([1006, 1001])
    })
  })
})

describe('client.report against the real server', () => {
  const SECRET = 'report-secret'
  let server: LiveServer
  let platform: NodePlatform
  let client: LiveClient | undefined
  let dataDir: string
  afterEach(async () => {
    client?.close()
    platform?.destroy()
    await server?.close()
  })

  it('writes every log once with the cached fields, across server-side drops and over HTTP', async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'live-reports-'))
    server = await createServer({ port: 0, secret: SECRET, dataDir })
    platform = createNodePlatform()
    client = createLiveClient({
      url: server.url,
      platform,
      token: () => signToken({ uid: 'r1', name: 'R', role: 'viewer', exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET),
      backoff: { minMs: 5, maxMs: 20 },
      lingerMs: 20,
      outbox: { storageKey: false },
      reports: { flushMs: 20, maxLogs: 10 },
      httpFallback: { probeDelayMs: () => 60000 },
    })
    client.setReportFields({ app: '9.9.9' })
    client.room('r').subscribe()
    await until(() => client!.state.status === 'open', 'open')
    for (let i = 0; i < 100; i++) {
      client.report({ i })
      if (i === 30 || i === 60) {
        await until(() => client!.pendingCommands === 0, 'reports acked')
        server.dropConnections()
        await until(() => client!.state.status === 'open' && client!.stats.reconnects === (i === 30 ? 1 : 2), 'reconnected')
      }
      if (i === 80) {
        client.useHttp()
        await until(() => client!.state.transport === 'http', 'on HTTP')
      }
      // Over HTTP, reports in requests of their own (the server's cache lives as long as one request).
      if (i > 80 && i % 5 === 0) {
        client.flushReports()
        await until(() => client!.pendingCommands === 0, 'report acked over HTTP')
      }
    }
    client.flushReports()
    await until(() => client!.pendingCommands === 0, 'all reports acked', 10000)
    await server.close()
    const lines = fs
      .readFileSync(path.join(dataDir, 'reports.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.map((l) => l.i).sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 100 }, (_, i) => i))
    // Every log carries the fields, on each connection and over HTTP (each request its own).
    expect(lines.every((l) => l.app === '9.9.9')).toBe(true)
  })
})
