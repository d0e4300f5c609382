// The client's lifecycle at its edges (issue 10), in virtual time on the fake platform.
import { TestScheduler } from 'rxjs/testing'
import { type LiveClient, type LiveClientError, type LiveClientOptions } from '../../src/connection/client'
import { AckTimeoutError, ClientClosedError, CommandTooLargeError, ConnectionFailedError } from '../../src/connection/errors'
import type { RoomUpdate } from '../../src/connection/rooms'
import { createLiveRoom } from '../../src/stores/liveRoom'
import type { ClientFrame } from '../../src/protocol/frames'
import { FakePlatform, type FakeTask } from '../../src/testing'
import { fakeClient } from '../helpers/fakeClient'

const END_MS = 60000

const setup = (scheduler: TestScheduler, extra: Partial<LiveClientOptions> = {}, platform = new FakePlatform()): { platform: FakePlatform; client: LiveClient } =>
  fakeClient(scheduler, END_MS, { heartbeatMs: 1000, pongTimeoutMs: 500, ackTimeoutMs: 1000, lingerMs: 10, ...extra }, platform)

const newScheduler = (): TestScheduler => new TestScheduler((a, b) => expect(a).toEqual(b))
const sentOf = (platform: FakePlatform, type: ClientFrame['msg_type']): ClientFrame[] => platform.tasks.flatMap((t) => t.sent.filter((f) => f.msg_type === type))
/** Settles a promise into a value the test can read after `flush()`. */
function outcome<T>(promise: Promise<T>): { value?: T; error?: unknown; settled: number } {
  const o: { value?: T; error?: unknown; settled: number } = { settled: 0 }
  promise.then(
    (value) => {
      o.value = value
      o.settled++
    },
    (error: unknown) => {
      o.error = error
      o.settled++
    },
  )
  return o
}
/** Promise callbacks run as microtasks: let them run between virtual-time steps. */
const microtasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('client edges (issue 10)', () => {
  it('1. gives a late subscriber of a room its current state: joined, snapshot and what came after', () => {
    const scheduler = newScheduler()
    scheduler.run(() => {
      const { platform, client } = setup(scheduler)
      const first = createLiveRoom(client, 'r1', { scheduler })
      scheduler.schedule(() => platform.last.deliver({ msg_type: 'join', room_id: 'r1', seq: 1, user: { uid: 'u2', name: 'Bo' }, online_num: 2 }), 100)
      let late: ReturnType<typeof createLiveRoom> | undefined
      const lateUpdates: string[] = []
      scheduler.schedule(() => {
        late = createLiveRoom(client, 'r1', { scheduler })
        client.room('r1').subscribe((u: RoomUpdate) => lateUpdates.push(u.type))
      }, 500)
      scheduler.schedule(() => {
        expect(late?.roomStore).toMatchObject({ title: 't', joined: true, onlineNum: 2 })
        expect(first.roomStore.onlineNum).toBe(2)
      }, 600)
      scheduler.flush()
      expect(lateUpdates).toEqual(['joined', 'snapshot', 'event'])
      // One join on the wire, whatever the number of subscribers.
      expect(sentOf(platform, 'join')).toHaveLength(1)
    })
  })

  it('1b. past the replay limit, a late subscriber gets a fresh snapshot (everyone does)', () => {
    const scheduler = newScheduler()
    scheduler.run(() => {
      const { platform, client } = setup(scheduler)
      client.room('r1').subscribe()
      scheduler.schedule(() => {
        for (let seq = 1; seq <= 1001; seq++) platform.last.deliver({ msg_type: 'like', room_id: 'r1', seq, like_num: seq })
      }, 100)
      const late: string[] = []
      scheduler.schedule(() => client.room('r1').subscribe((u: RoomUpdate) => late.push(u.type)), 200)
      scheduler.flush()
      expect(late).toEqual(['joined', 'snapshot'])
      expect(sentOf(platform, 'join')).toHaveLength(2)
      expect(sentOf(platform, 'join')[1]).not.toHaveProperty('since_seq')
    })
  })

  it('2. connects for a send with no room open, and settles it; a command for a room nobody joins times out', async () => {
    const scheduler = newScheduler()
    let report: ReturnType<typeof outcome> | undefined
    let orphan: ReturnType<typeof outcome> | undefined
    let platform: FakePlatform | undefined
    scheduler.run(() => {
      const made = setup(scheduler)
      platform = made.platform
      report = outcome(made.client.send({ msg_type: 'report', logs: [{ event: 'open' }] }))
      orphan = outcome(made.client.send({ msg_type: 'message', room_id: 'nobody', content: 'hi' }))
      scheduler.schedule(() => expect(made.client.state.status).toBe('open'), 50)
      // Three deadlines of ackTimeoutMs (1000) on an open link, then the orphan settles.
      scheduler.schedule(() => expect(made.client.pendingCommands).toBe(0), 3100)
      scheduler.flush()
    })
    await microtasks()
    expect(platform?.tasks).toHaveLength(1)
    expect(sentOf(platform as FakePlatform, 'report')).toHaveLength(1)
    expect(sentOf(platform as FakePlatform, 'message')).toHaveLength(0)
    expect(report).toMatchObject({ settled: 1, value: { ok: true } })
    expect(orphan?.settled).toBe(1)
    expect(orphan?.error).toBeInstanceOf(AckTimeoutError)
  })

  it('3. close() is final: no room joins, no socket, sends reject with ClientClosedError, streams complete', async () => {
    const scheduler = newScheduler()
    let sendAfterClose: ReturnType<typeof outcome> | undefined
    const completed: string[] = []
    let roomCompleted = false
    let tasksAtClose = -1
    scheduler.run(() => {
      const { platform, client } = setup(scheduler)
      client.errors$.subscribe({ complete: () => completed.push('errors$') })
      client.results$.subscribe({ complete: () => completed.push('results$') })
      client.rtt$.subscribe({ complete: () => completed.push('rtt$') })
      client.room('r1').subscribe()
      scheduler.schedule(() => {
        client.close()
        tasksAtClose = platform.tasks.length
        client.room('r2').subscribe({ complete: () => (roomCompleted = true) })
        sendAfterClose = outcome(client.send({ msg_type: 'report', logs: [{ a: 1 }] }))
      }, 100)
      scheduler.schedule(() => expect(platform.tasks).toHaveLength(tasksAtClose), 5000)
      scheduler.flush()
      expect(client.state.status).toBe('closed')
    })
    await microtasks()
    expect(tasksAtClose).toBe(1)
    expect(roomCompleted).toBe(true)
    expect(sendAfterClose?.error).toBeInstanceOf(ClientClosedError)
    expect(completed.sort()).toEqual(['errors$', 'results$', 'rtt$'])
  })

  it('3b. failed stays failed: a new room subscriber opens nothing, a send rejects at once; reconnect() starts over', async () => {
    const scheduler = newScheduler()
    let pending: ReturnType<typeof outcome> | undefined
    let afterFail: ReturnType<typeof outcome> | undefined
    scheduler.run(() => {
      const { platform, client } = setup(scheduler)
      platform.scripts = [{ ackCommands: false }, {}]
      client.room('r1').subscribe()
      scheduler.schedule(() => (pending = outcome(client.send({ msg_type: 'report', logs: [{ a: 1 }] }))), 50)
      scheduler.schedule(() => platform.last.serverClose(4003, 'banned from this room'), 100)
      scheduler.schedule(() => {
        expect(client.state).toMatchObject({ status: 'failed', code: 4003, reason: 'banned from this room' })
        client.room('r2').subscribe()
        afterFail = outcome(client.send({ msg_type: 'report', logs: [{ b: 2 }] }))
      }, 200)
      scheduler.schedule(() => expect(platform.tasks).toHaveLength(1), 5000)
      scheduler.schedule(() => client.reconnect(), 5001)
      scheduler.schedule(() => {
        expect(platform.tasks).toHaveLength(2)
        expect(client.state.status).toBe('open')
        // Both rooms are joined on the new link.
        expect(
          platform.last.sent
            .filter((f) => f.msg_type === 'join')
            .map((f) => (f as { room_id: string }).room_id)
            .sort(),
        ).toEqual(['r1', 'r2'])
      }, 5100)
      scheduler.flush()
    })
    await microtasks()
    expect(pending?.error).toBeInstanceOf(ConnectionFailedError)
    expect(afterFail?.error).toBeInstanceOf(ConnectionFailedError)
    expect((afterFail?.error as ConnectionFailedError).reason).toBe('banned from this room')
  })

  it('4. drops the command a 1009 close was about, counts it, and does not resend it after the reconnect', async () => {
    const scheduler = newScheduler()
    let big: ReturnType<typeof outcome> | undefined
    let platform: FakePlatform | undefined
    let client: LiveClient | undefined
    scheduler.run(() => {
      const made = setup(scheduler)
      platform = made.platform
      client = made.client
      // This server's real limit is below what it announced: it closes with 1009 on the report.
      platform.scripts = [
        {
          reply: (frame, task) => {
            if (frame.msg_type !== 'report') return false
            task.serverClose(1009, 'frame too big')
            return true
          },
        },
      ]
      client.room('r1').subscribe()
      scheduler.schedule(() => (big = outcome(made.client.send({ msg_type: 'report', logs: [{ blob: 'x'.repeat(1000) }] }))), 50)
      scheduler.flush()
    })
    await microtasks()
    expect(big?.error).toBeInstanceOf(CommandTooLargeError)
    expect(client?.stats.commandsTooLarge).toBe(1)
    expect(client?.stats.reconnects).toBe(1)
    expect(sentOf(platform as FakePlatform, 'report')).toHaveLength(1)
    expect(platform?.tasks).toHaveLength(2)
  })

  it('4b. follows a reconnect schedule of the app (fixed steps 3 s, 10 s, 450 s)', () => {
    const scheduler = newScheduler()
    scheduler.run(() => {
      const steps = [3000, 10000, 450000]
      const { platform, client } = setup(scheduler, { reconnectAfterMs: (n) => steps[Math.min(n, 3) - 1] })
      platform.scripts = [{ refuse: true }]
      client.room('r1').subscribe()
      scheduler.schedule(() => expect(client.state).toMatchObject({ status: 'reconnecting', attempt: 3, retryInMs: 450000 }), 14000)
      scheduler.flush()
      // Each refusal takes 1 ms (open delay) before the wait starts; the 450 s wait outlasts the test.
      expect(platform.connectTimes).toEqual([0, 3001, 13002])
    })
  })

  it('5. a token() and a url() that throw are reported and retried with backoff, never a dead client', () => {
    const scheduler = newScheduler()
    scheduler.run(() => {
      let tokenCalls = 0
      let urlCalls = 0
      const { platform, client } = setup(scheduler, {
        token: () => {
          tokenCalls++
          if (tokenCalls === 1) throw new Error('login service down')
          // (A rejected promise takes the same path; its microtask is outside virtual time:
          // realSocket.test.ts covers it.)
          if (tokenCalls === 2) throw new TypeError('network error')
          return 'tok'
        },
        url: () => {
          urlCalls++
          if (urlCalls === 1) throw new Error('no route')
          return 'ws://fake/ws'
        },
      })
      const errors: LiveClientError[] = []
      client.errors$.subscribe((e) => errors.push(e))
      const statuses: string[] = []
      client.state$.subscribe((s) => statuses.push(s.status))
      client.room('r1').subscribe()
      scheduler.flush()
      expect(errors.filter((e) => e.kind === 'callback').map((e) => (e as { callback: string }).callback)).toEqual(['token', 'token', 'url'])
      expect(statuses).not.toContain('failed')
      expect(statuses.filter((s) => s === 'reconnecting')).toHaveLength(3)
      // Three attempts failed before a socket was asked for (token, token, url): the fourth opened the only one.
      expect(platform.tasks).toHaveLength(1)
      expect(statuses).toContain('open')
    })
  })

  it('5b. a random() that throws is replaced, and reported', () => {
    const scheduler = newScheduler()
    scheduler.run(() => {
      const { platform, client } = setup(scheduler, {
        random: () => {
          throw new Error('no entropy')
        },
      })
      const errors: LiveClientError[] = []
      client.errors$.subscribe((e) => errors.push(e))
      platform.scripts = [{ refuse: true }, {}]
      client.room('r1').subscribe()
      scheduler.flush()
      expect(errors.some((e) => e.kind === 'callback' && e.callback === 'random')).toBe(true)
      expect(platform.tasks.length).toBeGreaterThanOrEqual(2)
    })
  })

  it("6. keeps two users' commands apart on one storage, and after a restart each resends only its own", () => {
    const scheduler = newScheduler()
    scheduler.run(() => {
      const platform = new FakePlatform()
      // Auth answers with the user the token names; commands are never acked (the app "dies").
      const asUser = (frame: ClientFrame, task: FakeTask): boolean => {
        if (frame.msg_type !== 'auth') return false
        task.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: true, user: { uid: frame.token, name: frame.token, role: 'viewer' } })
        return true
      }
      platform.scripts = [{ reply: asUser, ackCommands: false }]
      const options = { tokenIn: 'frame' as const, outbox: {} }
      const viewer = setup(scheduler, { ...options, token: () => 'viewer' }, platform).client
      const anchor = setup(scheduler, { ...options, token: () => 'anchor' }, platform).client
      viewer.send({ msg_type: 'report', logs: [{ who: 'viewer' }] }).catch(() => undefined)
      anchor.send({ msg_type: 'report', logs: [{ who: 'anchor' }] }).catch(() => undefined)
      scheduler.schedule(() => {
        expect(platform.getStorageSync('live-outbox:fake:viewer')).toEqual([expect.objectContaining({ command: expect.objectContaining({ logs: [{ who: 'viewer' }] }) })])
        expect(platform.getStorageSync('live-outbox:fake:anchor')).toEqual([expect.objectContaining({ command: expect.objectContaining({ logs: [{ who: 'anchor' }] }) })])
        viewer.close()
        anchor.close()
      }, 100)
      // The app restarts: new clients on the same storage; this time the server acks.
      const resent: Array<{ token: string; who: unknown }> = []
      scheduler.schedule(() => {
        platform.scripts = [{ reply: asUser }]
        const restarted = [setup(scheduler, { ...options, token: () => 'viewer' }, platform).client, setup(scheduler, { ...options, token: () => 'anchor' }, platform).client]
        for (const c of restarted)
          c.restored$.subscribe((command) => resent.push({ token: c === restarted[0] ? 'viewer' : 'anchor', who: (command as unknown as { logs: Array<{ who: unknown }> }).logs[0].who }))
        restarted.forEach((c) => c.room('r1').subscribe())
      }, 200)
      scheduler.flush()
      expect(resent.sort((a, b) => a.token.localeCompare(b.token))).toEqual([
        { token: 'anchor', who: 'anchor' },
        { token: 'viewer', who: 'viewer' },
      ])
      // Each command went out on a socket authenticated as its own user only.
      for (const task of platform.tasks.slice(2)) {
        const user = (task.sent.find((f) => f.msg_type === 'auth') as { token: string } | undefined)?.token
        for (const f of task.sent.filter((f) => f.msg_type === 'report')) expect((f as unknown as { logs: Array<{ who: string }> }).logs[0].who).toBe(user)
      }
    })
  })
})
