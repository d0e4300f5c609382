import { map, scan } from 'rxjs'
import { TestScheduler } from 'rxjs/testing'
import { type EndCause, type LifecycleEvent, type LifecyclePolicy, transition, type Transition } from '../../src/connection/lifecycle'
import { closePolicy } from '../../src/protocol/codes'
import type { ConnectionState } from '../../src/connection/state'

const policy: LifecyclePolicy = { maxAttempts: 3, canRefreshToken: true, delayMs: (attempt, slow) => (slow ? 800 : 100 * attempt) }
const idle: ConnectionState = { status: 'idle', attempt: 0 }
const end = (code: number, reason = '', cause: EndCause = 'closed'): LifecycleEvent => ({ type: 'end', code, reason, cause })

/** Folds events through `transition`, as the client does, from `idle`. */
const run = (events: LifecycleEvent[], p: LifecyclePolicy = policy): Transition[] => {
  const out: Transition[] = []
  let state = idle
  for (const event of events) {
    const t = transition(state, event, p)
    out.push(t)
    state = t.state
  }
  return out
}

describe('the connection lifecycle (pure transition function)', () => {
  it('walks connect, authenticate, open, and reconnects with backoff after a close (marbles)', () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, expectObservable }) => {
      const events = {
        c: { type: 'connect' },
        a: { type: 'authenticate' },
        o: { type: 'open' },
        x: end(1006, 'abnormal'),
        r: { type: 'release' },
      } as const
      const states$ = cold('c-a-o-x-c-x-c-a-o-r', events).pipe(
        scan((t: Transition, e: LifecycleEvent) => transition(t.state, e, policy), { state: idle, next: 'none' } as Transition),
        map((t) => `${t.state.status}#${t.state.attempt}${t.next === 'none' ? '' : `:${t.next}`}`),
      )
      expectObservable(states$).toBe('c-a-o-x-C-y-D-A-O-i', {
        c: 'connecting#0',
        a: 'authenticating#0',
        o: 'open#0',
        x: 'reconnecting#1:retry',
        C: 'connecting#1',
        y: 'reconnecting#2:retry',
        D: 'connecting#2',
        A: 'authenticating#2',
        O: 'open#0',
        i: 'idle#0',
      })
    })
  })

  it('makes close final from every state, and failed final until restart (hot source, marbles)', () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ hot, expectObservable }) => {
      const events = { c: { type: 'connect' }, f: end(4003, 'banned'), s: { type: 'restart' }, q: { type: 'close' } } as const
      //                          a late subscriber (^) sees the same rules
      const source = hot('-c-f-c-s-c-q-c-s', events)
      const states$ = source.pipe(
        scan((t: Transition, e: LifecycleEvent) => transition(t.state, e, policy), { state: idle, next: 'none' } as Transition),
        map((t) => t.state.status),
      )
      expectObservable(states$).toBe('-c-f-f-i-c-x-x-x', { c: 'connecting', f: 'failed', i: 'idle', x: 'closed' })
    })
  })

  it('gives up after maxAttempts and says why, with the close reason', () => {
    const out = run([{ type: 'connect' }, end(1006, 'refused'), { type: 'connect' }, end(1006, 'refused'), { type: 'connect' }, end(1006, 'refused'), { type: 'connect' }, end(1006, 'refused')])
    expect(out.map((t) => t.state.status)).toEqual(['connecting', 'reconnecting', 'connecting', 'reconnecting', 'connecting', 'reconnecting', 'connecting', 'failed'])
    expect(out[7].state).toMatchObject({ code: 1006, reason: 'gave up after 3 attempts: refused' })
    expect(out[7].next).toBe('stop')
  })

  it("puts the server's refusal reason into state.reason", () => {
    const fixedToken = { ...policy, canRefreshToken: false }
    const [, refused] = run([{ type: 'connect' }, end(4001, 'token expired')], fixedToken)
    expect(refused.state).toMatchObject({ status: 'failed', code: 4001, reason: 'token refused (token expired) and no way to get a fresh one' })
    const [, forbidden] = run([{ type: 'connect' }, end(4003, 'not an anchor of this room')])
    expect(forbidden.state.reason).toBe('not an anchor of this room')
    const [, refresh] = run([{ type: 'connect' }, end(4001, 'bad signature')])
    expect(refresh).toMatchObject({ next: 'retry', refreshToken: true, state: { status: 'reconnecting', reason: 'bad signature' } })
  })

  it('reads close codes by phase: 1009 drops the command when open, fails at the handshake; 1013 backs off at the handshake', () => {
    expect(closePolicy(1009, 'open')).toBe('dropCommand')
    expect(closePolicy(1009, 'handshake')).toBe('fail')
    expect(closePolicy(1013, 'handshake')).toBe('reconnectSlow')
    expect(closePolicy(1013, 'open')).toBe('reconnect')
    expect(closePolicy(1012, 'open')).toBe('reconnectNow')
    const restarted = run([{ type: 'connect' }, { type: 'authenticate' }, { type: 'open' }, end(1012, 'service restart')])
    expect(restarted[3]).toMatchObject({ next: 'retry', state: { status: 'reconnecting', attempt: 1, retryInMs: 0 } })
    const opened = run([{ type: 'connect' }, { type: 'authenticate' }, { type: 'open' }, end(1009, 'too big')])
    expect(opened[3]).toMatchObject({ next: 'retry', dropLastCommand: true, moveOn: true, state: { status: 'reconnecting', retryInMs: 100 } })
    const slow = run([{ type: 'connect' }, end(1008, 'flood')])
    expect(slow[1].state.retryInMs).toBe(800)
  })

  it('waits for the network or the app instead of counting attempts', () => {
    const [, offline] = run([{ type: 'connect' }, end(1006, '', 'offline')])
    expect(offline).toEqual({ state: { status: 'offline', attempt: 0, code: 1006, reason: 'offline' }, next: 'waitOnline' })
    const [, hidden] = run([{ type: 'connect' }, end(1000, '', 'hidden')])
    expect(hidden).toMatchObject({ state: { status: 'idle', attempt: 0, reason: 'app hidden' }, next: 'waitVisible' })
  })

  it('says which transport is open, and moves back from the HTTP fallback at once, not as a failed attempt', () => {
    expect(run([{ type: 'connect' }, { type: 'open' }])[1].state).toEqual({ status: 'open', attempt: 0, transport: 'socket' })
    const steps = run([{ type: 'connect' }, end(1006), { type: 'connect' }, { type: 'open', transport: 'http' }, end(1000, 'the socket is back', 'transport')])
    expect(steps[1].state).toMatchObject({ status: 'reconnecting', attempt: 1 })
    expect(steps[3].state).toEqual({ status: 'open', attempt: 0, transport: 'http' })
    expect(steps[4]).toEqual({ state: { status: 'reconnecting', attempt: 0, retryInMs: 0, code: 1000, reason: 'the socket is back' }, next: 'retry' })
  })
})
