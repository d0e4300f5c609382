// Deadlines and storage of the client's outbox, in virtual time on the test kit's platform.
import { TestScheduler } from 'rxjs/testing'
import { createLiveClient, type LiveClient, type LiveClientError, type LiveClientOptions } from '../../src/connection/client'
import { AckTimeoutError } from '../../src/connection/errors'
import { FakePlatform } from '../../src/testing'

const microtasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

function inVirtualTime(body: (scheduler: TestScheduler, make: (extra?: Partial<LiveClientOptions>, platform?: FakePlatform) => { client: LiveClient; platform: FakePlatform }) => void): void {
  const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
  scheduler.run(() => {
    scheduler.maxFrames = 60000
    const made: LiveClient[] = []
    body(scheduler, (extra = {}, platform = new FakePlatform()) => {
      const client = createLiveClient({
        url: 'ws://fake/ws',
        platform,
        token: 'u1',
        scheduler,
        random: () => 1,
        backoff: { minMs: 100, maxMs: 800 },
        heartbeatMs: 5000,
        ackTimeoutMs: 1000,
        outbox: { storageKey: false },
        ...extra,
      })
      made.push(client)
      return { client, platform }
    })
    scheduler.schedule(() => made.forEach((c) => c.close()), 59999)
    scheduler.flush()
  })
}

describe('outbox deadlines and storage', () => {
  it('gives up an attempt after connectTimeoutMs (open + init + auth) and reconnects', () => {
    inVirtualTime((scheduler, make) => {
      const { client, platform } = make({ connectTimeoutMs: 2000 })
      platform.scripts = [{ openMs: 5000 }, {}]
      client.room('r1').subscribe()
      scheduler.schedule(() => expect(client.state).toMatchObject({ status: 'reconnecting', attempt: 1 }), 2050)
      scheduler.schedule(() => expect(client.state.status).toBe('open'), 2300)
      scheduler.schedule(() => expect(platform.connectTimes).toEqual([0, 2100]), 2300)
    })
  })

  it('resends an unacked command with the same msg_id after each ack deadline and rejects it after the third', async () => {
    let result: unknown
    let sent: string[] = []
    let timedOut = 0
    inVirtualTime((scheduler, make) => {
      const { client, platform } = make()
      platform.scripts = [{ ackCommands: false }]
      client.send({ msg_type: 'report', logs: [{ a: 1 }] }).then(
        () => (result = 'acked'),
        (e: unknown) => (result = e),
      )
      scheduler.schedule(() => {
        sent = platform.tasks.flatMap((t) => t.sent.filter((f) => f.msg_type === 'report').map((f) => f.msg_id))
        timedOut = client.stats.acksTimedOut
      }, 5000)
    })
    await microtasks()
    expect(sent).toHaveLength(3)
    expect(new Set(sent).size).toBe(1)
    expect(timedOut).toBe(3)
    expect(result).toBeInstanceOf(AckTimeoutError)
    expect((result as AckTimeoutError).attempts).toBe(3)
  })

  it('counts and reports storage write errors and still sends the command from memory', async () => {
    let result: unknown
    const errors: LiveClientError[] = []
    let storageErrors = 0
    inVirtualTime((scheduler, make) => {
      const platform = new FakePlatform()
      platform.setStorageSync = () => {
        throw new Error('setStorageSync:fail exceed storage max size 10MB')
      }
      const { client } = make({ outbox: { storageKey: 'app-scope' } }, platform)
      client.errors$.subscribe((e) => errors.push(e))
      client.send({ msg_type: 'report', logs: [{ a: 1 }] }).then(
        (ack) => (result = ack),
        (e: unknown) => (result = e),
      )
      scheduler.schedule(() => (storageErrors = client.stats.storageErrors), 1000)
    })
    await microtasks()
    expect(result).toMatchObject({ ok: true })
    expect(storageErrors).toBeGreaterThanOrEqual(1)
    expect(errors[0]).toEqual({ kind: 'storage', reason: 'setStorageSync:fail exceed storage max size 10MB' })
  })

  it('does not resend a restored command older than maxAgeMs (the server forgets msg_ids after 10 minutes)', () => {
    // Stored by an earlier run: one 11 minutes old, one 1 minute old (the platform's clock reads 11 min).
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    scheduler.run(() => {
      const platform = new FakePlatform()
      platform.now = () => 660000
      platform.setStorageSync('scope', [
        { command: { msg_type: 'report', msg_id: 'old', logs: [{ a: 1 }] }, createdAt: 0 },
        { command: { msg_type: 'report', msg_id: 'recent', logs: [{ a: 2 }] }, createdAt: 600000 },
      ])
      const client = createLiveClient({ url: 'ws://fake/ws', platform, token: 't', scheduler, outbox: { storageKey: 'scope' } })
      expect(client.stats.outboxExpired).toBe(1)
      expect(client.pending().map((c) => c.msg_id)).toEqual(['recent'])
      client.room('r1').subscribe()
      scheduler.schedule(() => client.close(), 100)
      scheduler.flush()
      expect(platform.tasks[0].sent.filter((f) => f.msg_type === 'report').map((f) => f.msg_id)).toEqual(['recent'])
    })
  })
})
