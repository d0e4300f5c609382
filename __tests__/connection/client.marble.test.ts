import { filter, map } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'
import { createLiveClient, type LiveClientOptions } from '../../src/connection/client'
import type { ConnectionState } from '../../src/connection/state'
import { FakePlatform, type FakeTask } from '../../src/testing'
import { fakeClient } from '../helpers/fakeClient'

function makeScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected))
}

/** Every test ends its client within this many virtual ms, so heartbeats and retries stop. */
const END_MS = 20000

// Guard against a runaway test: nothing past END_MS runs.
const setup = (scheduler: TestScheduler, extra: Partial<LiveClientOptions> = {}): ReturnType<typeof fakeClient> => fakeClient(scheduler, END_MS, { heartbeatMs: 10, pongTimeoutMs: 5, ...extra })

/** [virtual time, state] for every state change. */
function recordStates(scheduler: TestScheduler, client: ReturnType<typeof setup>['client']): Array<[number, string]> {
  const seen: Array<[number, string]> = []
  client.state$.subscribe((s: ConnectionState) =>
    seen.push([scheduler.now(), `${s.status}#${s.attempt}${s.retryInMs !== undefined ? `/${s.retryInMs}` : ''}${s.code !== undefined ? `@${s.code}` : ''}`]),
  )
  return seen
}

describe('connection pipeline (virtual time)', () => {
  it('backs off exponentially with full jitter, capped at maxMs', () => {
    const scheduler = makeScheduler()
    scheduler.run(() => {
      const { platform, client } = setup(scheduler)
      platform.scripts = [{ refuse: true }]
      client.frames$.subscribe()
      scheduler.schedule(() => expect(client.state).toMatchObject({ status: 'reconnecting', attempt: 6, retryInMs: 800 }), 2400)
      scheduler.flush()
      // random() = 1: delays are the ceilings 100, 200, 400, 800, 800 after each refusal (1 ms each).
      expect(platform.connectTimes.slice(0, 6)).toEqual([0, 101, 302, 703, 1504, 2305])
    })
  })

  it('uses the injected random for jitter: random() = 0.25 gives a quarter of each ceiling', () => {
    const scheduler = makeScheduler()
    scheduler.run(() => {
      const { platform, client } = setup(scheduler, { random: () => 0.25, backoff: { minMs: 400, maxMs: 3200, maxAttempts: 4 } })
      platform.scripts = [{ refuse: true }]
      const states = recordStates(scheduler, client)
      client.frames$.subscribe()
      scheduler.flush()
      expect(states.filter(([, s]) => s.startsWith('reconnecting')).map(([, s]) => s)).toEqual([
        'reconnecting#1/100@1006',
        'reconnecting#2/200@1006',
        'reconnecting#3/400@1006',
        'reconnecting#4/800@1006',
      ])
      // maxAttempts 4: the fifth failure ends in `failed`, which holds until the app closes the client.
      expect(states.map(([, s]) => s).slice(-2)).toEqual(['failed#4@1006', 'closed#0@1000'])
      expect(platform.tasks).toHaveLength(5)
    })
  })

  it('resets the attempt count once auth succeeds', () => {
    const scheduler = makeScheduler()
    scheduler.run(() => {
      const { platform, client } = setup(scheduler)
      // Two refusals, one good connection that the server then closes, then refusals again.
      platform.scripts = [{ refuse: true }, { refuse: true }, {}, { refuse: true }]
      const states = recordStates(scheduler, client)
      client.frames$.subscribe()
      scheduler.schedule(() => platform.tasks[2].serverClose(1001, 'deploy'), 400)
      scheduler.schedule(() => client.close(), 700)
      scheduler.flush()
      expect(states.map(([t, s]) => `${t} ${s}`)).toEqual([
        '0 idle#0',
        '0 connecting#0',
        '1 reconnecting#1/100@1006',
        '101 connecting#1',
        '102 reconnecting#2/200@1006',
        '302 connecting#2',
        '303 authenticating#2',
        '303 open#0',
        // After a successful auth the next failure is attempt 1 again, with the first delay.
        '400 reconnecting#1/100@1001',
        '500 connecting#1',
        '501 reconnecting#2/200@1006',
        '700 closed#0@1000',
      ])
    })
  })

  describe('close-code policy (protocol.md table)', () => {
    const cases: Array<[number, string, 'reconnect' | 'slow' | 'failed']> = [
      [1000, 'interrupted', 'reconnect'],
      [0, '', 'reconnect'],
      [1001, 'going away', 'reconnect'],
      [1006, 'abnormal closure', 'reconnect'],
      [1008, 'flood', 'slow'],
      [1009, 'too big', 'reconnect'],
      [1011, 'server error', 'reconnect'],
      [1013, 'try again later', 'reconnect'],
      [4001, 'bad token', 'reconnect'],
      [4003, 'forbidden', 'failed'],
      [4008, 'heartbeat timeout', 'reconnect'],
      [4999, 'anything else', 'reconnect'],
    ]
    it.each(cases)('close %i "%s" -> %s', (code, reason, expected) => {
      const scheduler = makeScheduler()
      scheduler.run(() => {
        let n = 0
        const { platform, client } = setup(scheduler, { token: () => `tok${++n}` })
        const states = recordStates(scheduler, client)
        client.frames$.subscribe()
        scheduler.schedule(() => platform.last.serverClose(code, reason), 5)
        scheduler.flush()
        const after = states.filter(([t]) => t >= 5).map(([, s]) => s)
        if (expected === 'failed') {
          // Nothing between the failure and the app's close at the end.
          expect(after).toEqual([`failed#0@${code}`, 'closed#0@1000'])
          expect(platform.tasks).toHaveLength(1)
        } else {
          // 1008 starts at the maximum delay (800); everything else at the first (100).
          const delay = expected === 'slow' ? 800 : 100
          expect(after[0]).toBe(`reconnecting#1/${delay}@${code}`)
          expect(platform.connectTimes[1]).toBe(5 + delay)
          expect(states.map(([t, st]) => `${t} ${st}`)).toContain(`${5 + delay + 1} open#0`)
        }
      })
    })

    it('fetches a fresh token after 4001 and never sends the rejected one again', () => {
      const scheduler = makeScheduler()
      scheduler.run(() => {
        const tokens = ['t1', 't1', 't2']
        const { platform, client } = setup(scheduler, { token: () => tokens.shift() ?? 't3', tokenIn: 'frame' })
        platform.scripts = [{ auth: 4001 }, {}]
        const states = recordStates(scheduler, client)
        client.frames$.subscribe()
        scheduler.flush()
        const authTokens = platform.tasks.flatMap((t) => t.sent.filter((f) => f.msg_type === 'auth').map((f) => (f as { token: string }).token))
        // t1 was refused; the source then returned t1 again (skipped, not sent), then t2.
        expect(authTokens).toEqual(['t1', 't2'])
        expect(states.map(([, st]) => st)).toContain('open#0')
      })
    })

    it('ends in failed after 4001 when the token is a fixed string', () => {
      const scheduler = makeScheduler()
      scheduler.run(() => {
        const { platform, client } = setup(scheduler, { token: 'fixed', tokenIn: 'frame' })
        platform.scripts = [{ auth: 4001 }]
        client.frames$.subscribe()
        scheduler.schedule(() => expect(client.state).toMatchObject({ status: 'failed', code: 4001 }), END_MS - 2)
        scheduler.flush()
        expect(platform.tasks).toHaveLength(1)
      })
    })
  })

  it('sends a ping with t every heartbeatMs while open', () => {
    const scheduler = makeScheduler()
    scheduler.run(({ expectObservable }) => {
      const { platform, client } = setup(scheduler)
      const pings$ = platform.sent$.pipe(
        filter((f) => f.msg_type === 'ping'),
        map((f) => ((f as { t: number }).t === scheduler.now() ? 'p' : 'x')),
      )
      client.frames$.subscribe()
      // open and authenticated at 1; pings at 11, 21, 31
      expectObservable(pings$, '^ 35ms !').toBe('11ms p 9ms p 9ms p')
    })
  })

  it('uses the server heartbeat_ms when no heartbeatMs option is given', () => {
    const scheduler = makeScheduler()
    scheduler.run(({ expectObservable }) => {
      const { platform, client } = setup(scheduler, { heartbeatMs: undefined })
      platform.scripts = [{ init: { msg_type: 'init', client_id: 'c', epoch: 'e', heartbeat_ms: 20 } }]
      client.frames$.subscribe()
      expectObservable(
        platform.sent$.pipe(
          filter((f) => f.msg_type === 'ping'),
          map(() => 'p'),
        ),
        '^ 45ms !',
      ).toBe('21ms p 19ms p')
    })
  })

  it('declares the link dead when no pong comes within pongTimeoutMs, and reconnects', () => {
    const scheduler = makeScheduler()
    scheduler.run(() => {
      const { platform, client } = setup(scheduler)
      platform.scripts = [{ pongMs: 'never' }, {}]
      const states = recordStates(scheduler, client)
      client.frames$.subscribe()
      scheduler.schedule(() => client.close(), 200)
      scheduler.flush()
      // ping at 11, no pong by 16: dead, closed by the client, reconnect after 100.
      expect(states.map(([t, s]) => `${t} ${s}`)).toContain('16 reconnecting#1/100@1006')
      expect(platform.tasks[0].closedBy).toMatchObject({ code: 4000 })
      expect(platform.connectTimes).toEqual([0, 116])
    })
  })

  it('estimates RTT from pongs (RFC 6298) and derives the pong timeout from RTO', () => {
    const scheduler = makeScheduler()
    scheduler.run(() => {
      const { platform, client } = setup(scheduler, { pongTimeoutMs: undefined })
      platform.scripts = [{ pongMs: 4 }]
      const estimates: number[][] = []
      client.rtt$.subscribe((e) => estimates.push([e.lastMs, e.srttMs, e.rttvarMs, e.rtoMs]))
      client.frames$.subscribe()
      scheduler.schedule(() => client.close(), 30)
      scheduler.flush()
      expect(estimates).toEqual([
        [4, 4, 2, 12],
        [4, 4, 1.5, 10],
      ])
    })
  })

  it('stays offline with no attempts while the network is down, then reconnects at once with the backoff reset', () => {
    const scheduler = makeScheduler()
    scheduler.run(() => {
      const { platform, client } = setup(scheduler)
      const states = recordStates(scheduler, client)
      client.frames$.subscribe()
      scheduler.schedule(() => platform.setOnline(false), 50)
      scheduler.schedule(() => platform.setOnline(true), 5000)
      scheduler.schedule(() => client.close(), 5100)
      scheduler.flush()
      expect(platform.connectTimes).toEqual([0, 5000])
      expect(states.map(([t, s]) => `${t} ${s}`)).toEqual([
        '0 idle#0',
        '0 connecting#0',
        '1 authenticating#0',
        '1 open#0',
        '50 offline#0@1006',
        '5000 connecting#0',
        '5001 authenticating#0',
        '5001 open#0',
        '5100 closed#0@1000',
      ])
      expect(client.stats.reconnects).toBe(1)
    })
  })

  it('closes the socket backgroundCloseMs after the app is hidden and reconnects at once when shown', () => {
    const scheduler = makeScheduler()
    scheduler.run(() => {
      const { platform, client } = setup(scheduler, { backgroundCloseMs: 40 })
      const states = recordStates(scheduler, client)
      client.frames$.subscribe()
      scheduler.schedule(() => platform.hide(), 100)
      scheduler.schedule(() => platform.show(), 1000)
      scheduler.schedule(() => client.close(), 1100)
      scheduler.flush()
      expect(platform.tasks[0].closedBy).toEqual({ code: 1000, reason: 'client closed' })
      expect(platform.connectTimes).toEqual([0, 1000])
      expect(states.map(([t, s]) => `${t} ${s}`)).toContain('140 idle#0@1000')
      expect(states.map(([t, s]) => `${t} ${s}`)).toContain('1001 open#0')
    })
  })

  it('keeps the socket when the app is shown again before backgroundCloseMs, and checks it with a ping at once', () => {
    const scheduler = makeScheduler()
    scheduler.run(({ expectObservable }) => {
      const { platform, client } = setup(scheduler, { backgroundCloseMs: 40, heartbeatMs: 1000 })
      client.frames$.subscribe()
      scheduler.schedule(() => platform.hide(), 100)
      scheduler.schedule(() => platform.show(), 120)
      expectObservable(
        platform.sent$.pipe(
          filter((f) => f.msg_type === 'ping'),
          map(() => 'p'),
        ),
        '^ 200ms !',
      ).toBe('120ms p')
      scheduler.schedule(() => expect(platform.tasks).toHaveLength(1), 199)
    })
  })

  it('reconnects when the link went half-open in the background: the ping on show gets no pong', () => {
    const scheduler = makeScheduler()
    scheduler.run(() => {
      const { platform, client } = setup(scheduler, { backgroundCloseMs: 40, heartbeatMs: 1000 })
      client.frames$.subscribe()
      scheduler.schedule(() => {
        platform.hide()
        platform.last.goSilent()
      }, 100)
      scheduler.schedule(() => platform.show(), 120)
      scheduler.schedule(() => client.close(), 400)
      scheduler.flush()
      // ping at 120, no pong by 125: dead; reconnect after 100 ms.
      expect(platform.connectTimes).toEqual([0, 225])
    })
  })

  it('sends queued commands in order after auth and room commands after the room is joined', () => {
    const scheduler = makeScheduler()
    scheduler.run(() => {
      const { platform, client } = setup(scheduler)
      platform.scripts = [{ openMs: 10, replyMs: 2 }]
      const acks: string[] = []
      // Queued before the socket is open.
      void client.send({ msg_type: 'message', room_id: 'r1', content: 'one' }).then((a) => acks.push(a.msg_id))
      void client.send({ msg_type: 'report', logs: [{ e: 'a' }] }).then((a) => acks.push(a.msg_id))
      void client.send({ msg_type: 'message', room_id: 'r1', content: 'two' }).then((a) => acks.push(a.msg_id))
      client.room('r1').subscribe()
      scheduler.schedule(() => client.close(), 50)
      scheduler.flush()
      const order = platform.tasks[0].sent.filter((f) => f.msg_type !== 'ping').map((f) => `${f.msg_type}${'content' in f ? ':' + f.content : ''}`)
      // The report needs no room: it goes right after auth. The room's commands wait for the join, in order.
      expect(order).toEqual(['auth', 'join', 'report', 'message:one', 'message:two'])
    })
  })

  it('resends unacked commands with the same msg_id after a reconnect', () => {
    const scheduler = makeScheduler()
    scheduler.run(() => {
      const { platform, client } = setup(scheduler)
      platform.scripts = [{ ackCommands: true }, {}]
      client.room('r1').subscribe()
      let acked = 0
      scheduler.schedule(() => {
        platform.last.script.ackCommands = false
        void client.send({ msg_type: 'like', room_id: 'r1', count: 3 }).then(() => acked++)
      }, 5)
      scheduler.schedule(() => platform.last.serverClose(1006), 6)
      scheduler.schedule(() => client.close(), 300)
      scheduler.flush()
      const first = platform.tasks[0].sent.find((f) => f.msg_type === 'like')
      const second = platform.tasks[1].sent.find((f) => f.msg_type === 'like')
      expect(first).toBeDefined()
      expect(second).toEqual(first)
      expect(client.stats.reconnects).toBe(1)
    })
  })

  it('refuses a command when the outbox is full instead of dropping one', async () => {
    const scheduler = makeScheduler()
    const { client } = setup(scheduler, { outbox: { max: 2, storageKey: false } })
    void client.send({ msg_type: 'subscribe', room_id: 'r' }).catch(() => undefined)
    void client.send({ msg_type: 'subscribe', room_id: 'r' }).catch(() => undefined)
    await expect(client.send({ msg_type: 'subscribe', room_id: 'r' })).rejects.toThrow(/outbox full/)
    expect(client.pendingCommands).toBe(2)
    client.close()
  })

  it('shares one socket between every subscriber and closes it lingerMs after the last leaves', () => {
    const scheduler = makeScheduler()
    scheduler.run(() => {
      const { platform, client } = setup(scheduler, { lingerMs: 30 })
      const states = recordStates(scheduler, client)
      const a = client.frames$.subscribe()
      const b = client.room('r1').subscribe()
      const c = client.room('r1').subscribe()
      scheduler.schedule(() => {
        a.unsubscribe()
        b.unsubscribe()
        c.unsubscribe()
      }, 50)
      scheduler.flush()
      expect(platform.tasks).toHaveLength(1)
      // one join for two subscribers of r1, one leave after the last left
      expect(platform.tasks[0].sent.filter((f) => f.msg_type === 'join')).toHaveLength(1)
      expect(platform.tasks[0].sent.filter((f) => f.msg_type === 'leave')).toHaveLength(1)
      expect(platform.tasks[0].closedBy).toEqual({ code: 1000, reason: 'client closed' })
      expect(states.map(([t, st]) => `${t} ${st}`)).toContain('80 idle#0')
    })
  })

  describe('several URLs', () => {
    it('moves to the next URL after a failed or lost connection, round the list, and stays after a 4001', () => {
      const scheduler = makeScheduler()
      scheduler.run(() => {
        const urls = ['ws://a/ws', 'ws://b/ws', 'ws://c/ws']
        let n = 0
        const { platform, client } = setup(scheduler, { url: urls, token: () => `tok${++n}` })
        platform.scripts = [{ refuse: true }, {}, {}, {}, {}]
        client.frames$.subscribe()
        scheduler.schedule(() => platform.last.serverClose(1011, 'crash'), 300)
        scheduler.schedule(() => platform.last.serverClose(4001, 'token expired'), 600)
        scheduler.schedule(() => platform.last.serverClose(1001, 'deploy'), 900)
        scheduler.schedule(() => client.close(), 1200)
        scheduler.flush()
        // a refused -> b; b lost -> c; c refused the token -> c again (the server is fine); c went away -> a.
        expect(platform.tasks.map((t) => t.options.url)).toEqual(['ws://a/ws', 'ws://b/ws', 'ws://c/ws', 'ws://c/ws', 'ws://a/ws'])
        expect(client.url).toBe('ws://a/ws')
      })
    })

    it('asks a URL function for each attempt, telling it whether the last one failed', () => {
      const scheduler = makeScheduler()
      scheduler.run(() => {
        const asked: Array<{ attempt: number; previous: string | undefined; failed: boolean }> = []
        const { platform, client } = setup(scheduler, {
          url: (a) => {
            asked.push(a)
            return `ws://node${asked.length}/ws`
          },
        })
        platform.scripts = [{ refuse: true }, {}]
        client.frames$.subscribe()
        scheduler.schedule(() => client.close(), 500)
        scheduler.flush()
        expect(asked).toEqual([
          { attempt: 0, previous: undefined, failed: false },
          { attempt: 1, previous: 'ws://node1/ws', failed: true },
        ])
        expect(platform.tasks.map((t) => t.options.url)).toEqual(['ws://node1/ws', 'ws://node2/ws'])
      })
    })

    it('refuses a list with a URL that is not ws:// or wss://', () => {
      expect(() => createLiveClient({ url: ['ws://a/ws', 'http://b/'], platform: new FakePlatform() })).toThrow(TypeError)
      expect(() => createLiveClient({ url: [], platform: new FakePlatform() })).toThrow(TypeError)
    })
  })

  it('joins again after a backoff when the server refuses a join it may take later (4500), and not after a 4004', () => {
    const scheduler = makeScheduler()
    scheduler.run(() => {
      const { platform, client } = setup(scheduler)
      let refusals = 2
      platform.scripts = [
        {
          reply: (frame, task) => {
            if (frame.msg_type !== 'join') return false
            if (frame.room_id === 'gone') {
              task.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: false, code: 4004, reason: 'no room gone' })
              return true
            }
            if (refusals-- > 0) {
              task.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: false, code: 4500, reason: 'room service unavailable' })
              return true
            }
            return false
          },
        },
      ]
      const seen: string[] = []
      client.room('r1').subscribe((u) => seen.push(u.type === 'error' ? `error ${u.code}` : u.type))
      client.room('gone').subscribe()
      scheduler.schedule(() => client.close(), 2000)
      scheduler.flush()
      const joins = platform.last.sent.filter((f) => f.msg_type === 'join')
      expect(joins.filter((f) => 'room_id' in f && f.room_id === 'r1')).toHaveLength(3)
      expect(joins.filter((f) => 'room_id' in f && f.room_id === 'gone')).toHaveLength(1)
      expect(seen).toEqual(['error 4500', 'error 4500', 'joined', 'snapshot'])
    })
  })

  describe('room recovery', () => {
    const like = (seq: number) => ({ msg_type: 'like', room_id: 'r1', seq, ts: 0, like_num: seq })
    /** A room stream, as `e<seq>` (`r`: recovered) and update types, and its platform and client. */
    const watched = (scheduler: TestScheduler): ReturnType<typeof setup> & { seen: string[] } => {
      const parts = setup(scheduler)
      const seen: string[] = []
      parts.client.room('r1').subscribe((u) => seen.push(u.type === 'event' ? `e${u.event.seq}${u.recovered ? 'r' : ''}` : u.type))
      return { ...parts, seen }
    }
    /** The server's ack of the client's last join: recovered up to `head`. */
    const ackRejoin = (t: FakeTask, head: number): void => {
      const join = t.sent.filter((f) => f.msg_type === 'join').pop() as { msg_id: string }
      t.deliver({ msg_type: 'ack', msg_id: join.msg_id, ok: true, room_id: 'r1', epoch: 'e1', seq: head, recovered: true })
    }

    it('drops duplicate seqs, detects a gap and rejoins with since_seq and epoch to fill it', () => {
      const scheduler = makeScheduler()
      scheduler.run(() => {
        const { platform, client, seen } = watched(scheduler)
        scheduler.schedule(() => {
          const t = platform.last
          t.script.ackCommands = false // this test answers the rejoin itself
          for (const seq of [1, 2, 2, 1, 5, 6]) t.deliver(like(seq))
        }, 5)
        scheduler.schedule(() => {
          // The server answers the rejoin: recovered, head 6, then replays 3..6.
          const t = platform.last
          ackRejoin(t, 6)
          for (const seq of [3, 4, 5, 6]) t.deliver(like(seq))
          t.deliver(like(7))
        }, 8)
        scheduler.schedule(() => client.close(), 10)
        scheduler.flush()
        const joins = platform.last.sent.filter((f) => f.msg_type === 'join')
        expect(joins).toHaveLength(2)
        expect(joins[1]).toMatchObject({ room_id: 'r1', since_seq: 2, epoch: 'e1' })
        expect(seen).toEqual(['joined', 'snapshot', 'e1', 'e2', 'joined', 'e3r', 'e4r', 'e5r', 'e6r', 'e7'])
        expect(client.stats.duplicatesDropped).toBe(2)
        expect(client.stats.gapsDetected).toBe(1)
      })
    })

    it('unpacks a batch frame into the same per-event stream: duplicates dropped, a gap inside a batch detected and recovered', () => {
      const scheduler = makeScheduler()
      scheduler.run(() => {
        const { platform, client, seen } = watched(scheduler)
        scheduler.schedule(() => {
          const t = platform.last
          t.script.ackCommands = false
          t.deliver({ msg_type: 'batch', events: [like(1), like(2), like(2)] })
          t.deliver({ msg_type: 'batch', events: [like(3), like(5), like(6)] })
        }, 5)
        scheduler.schedule(() => {
          const t = platform.last
          ackRejoin(t, 6)
          t.deliver({ msg_type: 'batch', events: [like(4), like(5), like(6), like(7)] })
        }, 8)
        scheduler.schedule(() => client.close(), 10)
        scheduler.flush()
        // The client offered batched delivery (and compression) before plain live.v1.
        expect(platform.last.options.protocols).toEqual(['live.v1.batch', 'live.v1'])
        expect(platform.last.options.perMessageDeflate).toBe(true)
        // And no Nagle wait for its small frames (the wx platform drops it for base libraries before 2.4.0).
        expect(platform.last.options.tcpNoDelay).toBe(true)
        expect(seen).toEqual(['joined', 'snapshot', 'e1', 'e2', 'e3', 'joined', 'e4r', 'e5r', 'e6r', 'e7'])
        expect(client.stats.duplicatesDropped).toBe(1)
        expect(client.stats.gapsDetected).toBe(1)
        expect(client.stats.badFrames).toBe(0)
      })
    })

    it('rejoins after a reconnect with since_seq, and takes a snapshot as a replacement when the epoch changed', () => {
      const scheduler = makeScheduler()
      scheduler.run(() => {
        const { platform, client } = setup(scheduler)
        platform.scripts = [{ headSeq: 4 }, { headSeq: 9 }]
        const seen: string[] = []
        client.room('r1').subscribe((u) => seen.push(u.type === 'snapshot' ? `snapshot@${u.snapshot.seq}` : u.type === 'event' ? `e${u.event.seq}` : u.type))
        scheduler.schedule(() => platform.last.deliver(like(5)), 3)
        scheduler.schedule(() => platform.last.serverClose(1001, 'restart'), 4)
        scheduler.schedule(() => client.close(), 200)
        scheduler.flush()
        expect(platform.tasks[1].sent.find((f) => f.msg_type === 'join')).toMatchObject({ since_seq: 5, epoch: 'e1' })
        expect(seen).toEqual(['joined', 'snapshot@4', 'e5', 'left', 'joined', 'snapshot@9'])
      })
    })
  })

  it('joins again when the snapshot after a join never arrives (or was unreadable)', () => {
    const scheduler = makeScheduler()
    scheduler.run(() => {
      let joins = 0
      const { platform, client } = setup(scheduler, { ackTimeoutMs: 50 })
      platform.scripts = [
        {
          reply: (frame, task) => {
            if (frame.msg_type !== 'join') return false
            joins++
            task.deliver({ msg_type: 'ack', msg_id: frame.msg_id, ok: true, room_id: 'r1', epoch: 'e1', seq: 3, recovered: false })
            const snapshot = {
              msg_type: 'snapshot',
              room_id: 'r1',
              epoch: 'e1',
              seq: 3,
              room: { title: 't', status: 'live', anchor: { uid: 'a', name: 'A' }, online_num: 1, like_num: 0, subscribe_num: 0 },
              message_list: [],
              shelf: [],
            }
            // The first snapshot is unreadable (a count of the wrong type): dropped as a bad frame.
            task.deliver(joins === 1 ? { ...snapshot, room: { ...snapshot.room, online_num: 'one' } } : snapshot)
            return true
          },
        },
      ]
      const seen: string[] = []
      client.room('r1').subscribe((u) => seen.push(u.type === 'snapshot' ? `snapshot@${u.snapshot.seq}` : u.type))
      scheduler.schedule(() => client.close(), 200)
      scheduler.flush()
      expect(joins).toBe(2)
      expect(client.stats.badFrames).toBe(1)
      expect(seen).toEqual(['joined', 'joined', 'snapshot@3'])
    })
  })

  it('counts no ack timeout for commands and joins acked at once', () => {
    const scheduler = makeScheduler()
    scheduler.run(() => {
      const { client } = setup(scheduler, { ackTimeoutMs: 30 })
      const results: string[] = []
      client.results$.subscribe((r) => results.push(r.ack?.ok ? 'ok' : 'failed'))
      client.room('r1').subscribe()
      scheduler.schedule(() => void client.send({ msg_type: 'subscribe', room_id: 'r1' }), 5)
      scheduler.schedule(() => client.close(), 500)
      scheduler.flush()
      expect(results).toEqual(['ok'])
      expect(client.stats.acksTimedOut).toBe(0)
      expect(client.stats.reconnects).toBe(0)
    })
  })
})
