// Every public error class, reached the way an app meets it and matched by its class as
// exported from the package entry (not by message text), in virtual time on the fake platform.
import { TestScheduler } from 'rxjs/testing'
import { AckTimeoutError, ClientClosedError, CommandRejectedError, CommandTooLargeError, ConnectionFailedError, getLiveClient, OutboxFullError, provideLiveClient } from '../../src/index'
import { FakePlatform } from '../../src/testing'
import { fakeClient } from '../helpers/fakeClient'

const newScheduler = (): TestScheduler => new TestScheduler((a, b) => expect(a).toEqual(b))

/** A promise's outcome, readable after the virtual clock and the microtasks have run. */
function outcome<T>(promise: Promise<T>): { value?: T; error?: unknown } {
  const o: { value?: T; error?: unknown } = {}
  promise.then(
    (value) => (o.value = value),
    (error: unknown) => (o.error = error),
  )
  return o
}
const microtasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('public error classes', () => {
  it('CommandRejectedError: the server refused the command; it carries the code, reason and ack', async () => {
    const platform = new FakePlatform()
    platform.scripts = [
      {
        reply: (frame, task) => {
          if (frame.msg_type !== 'message') return false
          task.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: false, code: 4029, reason: 'too many messages' })
          return true
        },
      },
    ]
    let result: { value?: unknown; error?: unknown } = {}
    const scheduler = newScheduler()
    scheduler.run(() => {
      const { client } = fakeClient(scheduler, 5000, {}, platform)
      client.room('r1').subscribe()
      scheduler.schedule(() => (result = outcome(client.send({ msg_type: 'message', room_id: 'r1', content: 'hi' }))), 100)
    })
    await microtasks()
    expect(result.error).toBeInstanceOf(CommandRejectedError)
    expect(result.error).toMatchObject({ code: 4029, reason: 'too many messages', ack: { ok: false, code: 4029 } })
  })

  it('OutboxFullError: past outbox.max unacknowledged commands, a send is refused at once', async () => {
    const platform = new FakePlatform()
    // Nothing is ever acked: every command stays in the outbox.
    platform.scripts = [{ ackCommands: false }]
    const results: Array<{ value?: unknown; error?: unknown }> = []
    const scheduler = newScheduler()
    scheduler.run(() => {
      const { client } = fakeClient(scheduler, 5000, { outbox: { storageKey: false, max: 3 }, ackTimeoutMs: 60000 }, platform)
      scheduler.schedule(() => {
        for (let i = 0; i < 4; i++) results.push(outcome(client.send({ msg_type: 'like', room_id: 'r1', count: 1 })))
      }, 100)
    })
    await microtasks()
    expect(results[3].error).toBeInstanceOf(OutboxFullError)
    expect(results[3].error).toMatchObject({ max: 3 })
    // The three it took were still waiting when the client closed.
    expect(results.slice(0, 3).map((r) => r.error)).toEqual([expect.any(ClientClosedError), expect.any(ClientClosedError), expect.any(ClientClosedError)])
  })

  it('AckTimeoutError, CommandTooLargeError, ConnectionFailedError are the classes the entry exports', async () => {
    const scheduler = newScheduler()
    const timedOut: Array<{ error?: unknown }> = []
    const big: Array<{ error?: unknown }> = []
    const failed: Array<{ error?: unknown }> = []
    scheduler.run(() => {
      const platform = new FakePlatform()
      platform.scripts = [{ ackCommands: false }]
      const { client } = fakeClient(scheduler, 20000, { ackTimeoutMs: 1000 }, platform)
      scheduler.schedule(() => timedOut.push(outcome(client.send({ msg_type: 'like', room_id: 'r1', count: 1 }))), 100)
      scheduler.schedule(() => big.push(outcome(client.send({ msg_type: 'report', logs: [{ blob: 'x'.repeat(70 * 1024) }] }))), 200)
      const refusing = new FakePlatform()
      // 4003 at the handshake means stop: the client fails, and sends are refused.
      refusing.scripts = [{ auth: 4003 }]
      const { client: other } = fakeClient(scheduler, 20000, { token: () => 'tok' }, refusing)
      other.room('r1').subscribe({ error: () => undefined })
      scheduler.schedule(() => failed.push(outcome(other.send({ msg_type: 'like', room_id: 'r1', count: 1 }))), 5000)
    })
    await microtasks()
    expect(timedOut[0].error).toBeInstanceOf(AckTimeoutError)
    expect(big[0].error).toBeInstanceOf(CommandTooLargeError)
    expect(failed[0].error).toBeInstanceOf(ConnectionFailedError)
  })

  it('getLiveClient before provideLiveClient says what to do, naming the scope', () => {
    expect(() => getLiveClient('never-provided')).toThrow("miniprogram-live-store: call provideLiveClient(client, 'never-provided') in app.ts before pages use rooms")
    const platform = new FakePlatform()
    const scheduler = newScheduler()
    scheduler.run(() => {
      const { client } = fakeClient(scheduler, 100, {}, platform)
      provideLiveClient(client, 'provided-later')
      expect(getLiveClient('provided-later')).toBe(client)
    })
  })
})
