/**
 * The client's stream rules drawn as marble diagrams, in virtual time on the fake platform:
 * one frame is 1 ms. The fake server opens a socket 1 ms after it is asked for, answers `auth`,
 * `join` and commands at once and a ping 1 ms later; jitter is fixed (`random` = 1), so a
 * reconnect waits exactly the backoff ceiling: 100 ms, then 200, 400, 800.
 *
 * Letters used for `state$`: c connecting, a authenticating, o open, r reconnecting, f failed,
 * i idle, x closed.
 */
import { filter, map, type Observable, Subject } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'
import type { LiveClient, LiveClientOptions } from '../../src/connection/client'
import type { RoomUpdate } from '../../src/connection/rooms'
import type { ConnectionState } from '../../src/connection/state'
import type { ClientFrame } from '../../src/protocol/frames'
import { createLiveRoom } from '../../src/stores/liveRoom'
import { FakePlatform } from '../../src/testing'
import { fakeClient } from '../helpers/fakeClient'

const newScheduler = (): TestScheduler => new TestScheduler((actual, expected) => expect(actual).toEqual(expected))

const LETTER: Record<ConnectionState['status'], string> = {
  idle: 'i',
  connecting: 'c',
  authenticating: 'a',
  open: 'o',
  reconnecting: 'r',
  offline: 'n',
  failed: 'f',
  closed: 'x',
}
/** `state$` as letters, from the moment of subscription (its current value first). */
const states = (client: LiveClient): Observable<string> => client.state$.pipe(map((s) => LETTER[s.status]))
/** Frames of one type the client sent, as the letter `v` (or what `name` makes of them). */
const sent = (platform: FakePlatform, type: ClientFrame['msg_type'], name: (f: ClientFrame) => string = () => 'v'): Observable<string> =>
  platform.sent$.pipe(
    filter((f) => f.msg_type === type),
    map(name),
  )

const setup = (scheduler: TestScheduler, extra: Partial<LiveClientOptions> = {}, platform = new FakePlatform()): { platform: FakePlatform; client: LiveClient } =>
  fakeClient(scheduler, 5000, { heartbeatMs: 1000, pongTimeoutMs: 5, ...extra }, platform)

describe('reconnect schedule per close code (marbles)', () => {
  // Sockets take 5 ms to open here; the server closes the open one at 20 ms. What follows, per code
  // (a group such as (ao) is one instant, and takes as many frames as it has characters):
  const cases: Array<[number, string, string]> = [
    // abnormal: reconnect after the first backoff step (100 ms).
    [1006, 'a broken link', 'c 4ms (ao) 11ms r 99ms c 4ms (ao)'],
    // the server says we flooded it: backoff starts at its ceiling (800 ms).
    [1008, 'flooding', 'c 4ms (ao) 11ms r 799ms c 4ms (ao)'],
    // the room service restarted on purpose: reconnect at once.
    [1012, 'service restart', 'c 4ms (ao) 11ms (rc) 1ms (ao)'],
    // the token expired: a fresh one, then reconnect with backoff.
    [4001, 'token expired', 'c 4ms (ao) 11ms r 99ms c 4ms (ao)'],
    // forbidden: stop for good; no attempt follows.
    [4003, 'banned', 'c 4ms (ao) 11ms f'],
  ]
  it.each(cases)('close %i (%s)', (code, reason, diagram) => {
    const scheduler = newScheduler()
    scheduler.run(({ expectObservable }) => {
      let n = 0
      const platform = new FakePlatform()
      platform.scripts = [{ openMs: 5 }]
      const { client } = setup(scheduler, { token: () => `tok${++n}` }, platform)
      client.frames$.subscribe()
      scheduler.schedule(() => platform.last.serverClose(code, reason), 20)
      expectObservable(states(client), '^ 1000ms !').toBe(diagram)
    })
  })

  it('backoff grows 100, 200, 400, 800 while every attempt is refused (each refusal takes 1 ms)', () => {
    const scheduler = newScheduler()
    scheduler.run(({ expectObservable }) => {
      const { platform, client } = setup(scheduler)
      platform.scripts = [{ refuse: true }, { refuse: true }, { refuse: true }, { refuse: true }, {}]
      client.frames$.subscribe()
      expectObservable(states(client), '^ 1600ms !').toBe('c r 99ms c r 199ms c r 399ms c r 799ms c (ao)')
    })
  })
})

describe('heartbeat and pong timeout (marbles)', () => {
  it('pings every heartbeatMs while pongs come; a ping with no pong in pongTimeoutMs ends the link', () => {
    const scheduler = newScheduler()
    scheduler.run(({ expectObservable }) => {
      const { platform, client } = setup(scheduler, { heartbeatMs: 20 })
      client.frames$.subscribe()
      // The server stops answering at 50: the ping at 61 gets no pong by 66, the link is dead.
      scheduler.schedule(() => platform.last.goSilent(), 50)
      //                                            pings at 21, 41, 61; after the reconnect at 166, 187
      expectObservable(sent(platform, 'ping'), '^ 200ms !').toBe('21ms v 19ms v 19ms v 125ms v')
      expectObservable(states(client), '^ 200ms !').toBe('c (ao) 61ms r 99ms c (ao)')
    })
  })
})

describe('state$ across a drop and a refusal (marbles)', () => {
  it('drop: reconnect with backoff; refusal of the next attempts: backoff grows; then open with the count reset', () => {
    const scheduler = newScheduler()
    scheduler.run(({ expectObservable }) => {
      const { platform, client } = setup(scheduler)
      platform.scripts = [{}, { refuse: true }, {}]
      client.frames$.subscribe()
      scheduler.schedule(() => platform.last.serverClose(1006, 'drop'), 10)
      // drop at 10, retry at 110 refused at 111, retry at 311 (200 ms) opens at 312.
      expectObservable(states(client), '^ 400ms !').toBe('c (ao) 5ms r 99ms c r 199ms c (ao)')
      scheduler.schedule(() => expect(client.state).toMatchObject({ status: 'open', attempt: 0 }), 400)
    })
  })

  it('a late subscriber gets the current state first, then the same changes (hot)', () => {
    const scheduler = newScheduler()
    scheduler.run(({ expectObservable }) => {
      const { platform, client } = setup(scheduler)
      client.frames$.subscribe()
      scheduler.schedule(() => platform.last.serverClose(1006, 'drop'), 10)
      // Subscribed at 50, while reconnecting.
      expectObservable(states(client), '50ms ^ 100ms !').toBe('50ms r 59ms c (ao)')
    })
  })
})

describe('the outbox across a reconnect (marbles)', () => {
  it('resends what was not acked, with the same msg_id, after the rejoin; acked commands never again', async () => {
    const scheduler = newScheduler()
    const acked: string[] = []
    scheduler.run(({ expectObservable }) => {
      const platform = new FakePlatform()
      // First socket: acks only `a`; it dies at 20 with `b` and `c` unacked.
      platform.scripts = [{ reply: (frame) => frame.msg_type === 'message' && frame.content !== 'a' }, {}]
      const { client } = setup(scheduler, { ackTimeoutMs: 10000 }, platform)
      client.room('r1').subscribe()
      scheduler.schedule(() => {
        for (const content of ['a', 'b', 'c']) void client.send({ msg_type: 'message', room_id: 'r1', content }).then(() => acked.push(content))
      }, 5)
      scheduler.schedule(() => platform.last.serverClose(1006, 'drop'), 20)
      const ids = new Map<string, string>()
      const messages = sent(platform, 'message', (f) => {
        const m = f as { msg_id: string; content: string }
        const first = ids.get(m.content)
        ids.set(m.content, m.msg_id)
        // Upper case: a resend, with the msg_id of the first send.
        return first === undefined ? m.content : first === m.msg_id ? m.content.toUpperCase() : '!'
      })
      // Sent at 5; the reconnect opens at 121 and rejoins: b and c again, a not.
      expectObservable(messages, '^ 200ms !').toBe('5ms (abc) 111ms (BC)')
    })
    // Each send's promise settled once (its callbacks run as microtasks, after virtual time).
    await new Promise((resolve) => setImmediate(resolve))
    expect(acked).toEqual(['a', 'b', 'c'])
  })
})

describe('a room stream across a rejoin (marbles)', () => {
  it('joined, snapshot, events; after a drop: left, joined again with recovery, then the missed events, never a snapshot twice', () => {
    const scheduler = newScheduler()
    scheduler.run(({ expectObservable, hot }) => {
      const platform = new FakePlatform()
      let recoveredJoin = false
      platform.scripts = [
        {},
        {
          // The second socket's join carries since_seq and epoch: recovery, with the two events missed meanwhile.
          reply: (frame, task) => {
            if (frame.msg_type !== 'join') return false
            recoveredJoin = frame.since_seq === 2 && frame.epoch === 'e1'
            task.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: true, room_id: 'r1', epoch: 'e1', seq: 4, recovered: true })
            for (const seq of [3, 4]) task.deliver({ msg_type: 'like', room_id: 'r1', seq, ts: 0, like_num: seq, delta: 1 })
            return true
          },
        },
      ]
      const { client } = setup(scheduler, {}, platform)
      const LETTERS: Record<RoomUpdate['type'], string> = { joined: 'j', snapshot: 's', event: 'e', left: 'l', error: 'E' }
      const room$ = client.room('r1').pipe(map((u) => (u.type === 'event' && u.recovered ? 'R' : LETTERS[u.type])))
      // Live events from the server, as a hot source on the first socket.
      const server = hot('10ms a 4ms b', { a: 1, b: 2 })
      server.subscribe((seq) => platform.tasks[0].deliver({ msg_type: 'like', room_id: 'r1', seq, ts: 0, like_num: seq, delta: 1 }))
      scheduler.schedule(() => platform.tasks[0].serverClose(1006, 'drop'), 30)
      // join and snapshot at 1, events at 10 and 15, left at 30, back at 131 with the two missed, replayed.
      expectObservable(room$, '^ 200ms !').toBe('1ms (js) 5ms e 4ms e 14ms l 100ms (jRR)')
      scheduler.schedule(() => expect(recoveredJoin).toBe(true), 200)
    })
  })
})

describe('what a room store subscribes and lets go (marbles, expectSubscriptions)', () => {
  it('createLiveRoom subscribes to client.room() once, at creation, and lets it go on dispose', () => {
    const scheduler = newScheduler()
    scheduler.run(({ cold, expectSubscriptions, flush }) => {
      const { client } = setup(scheduler)
      // The room as the server would give it: joined, a snapshot, then an event every 10 ms.
      const snapshot = {
        msg_type: 'snapshot',
        room_id: 'r1',
        epoch: 'e1',
        seq: 0,
        room: { title: 'T', status: 'live', anchor: { uid: 'a', name: 'A' }, online_num: 3, like_num: 0, subscribe_num: 0 },
        message_list: [],
        shelf: [],
      } as const
      const updates = {
        j: { type: 'joined', roomId: 'r1', epoch: 'e1', seq: 0, recovered: false },
        s: { type: 'snapshot', roomId: 'r1', snapshot },
        k: { type: 'event', roomId: 'r1', recovered: false, event: { msg_type: 'like', room_id: 'r1', seq: 1, ts: 0, like_num: 7, delta: 7 } },
      } as const
      const room$ = cold<RoomUpdate>('(js) 9ms k', updates as unknown as Record<string, RoomUpdate>)
      const stub: LiveClient = Object.create(client) as LiveClient
      ;(stub as { room: LiveClient['room'] }).room = () => room$
      const dispose = new Subject<void>()
      let store: ReturnType<typeof createLiveRoom> | undefined
      scheduler.schedule(() => (store = createLiveRoom(stub, 'r1', { scheduler, flushMs: 5 })), 20)
      scheduler.schedule(() => dispose.next(), 100)
      dispose.subscribe(() => store?.dispose())
      expectSubscriptions(room$.subscriptions).toBe('20ms ^ 79ms !')
      flush()
      expect(store?.roomStore.onlineNum).toBe(3)
      expect(store?.roomStore.likeNum).toBe(7)
    })
  })
})
