/**
 * Token refresh on an open socket (issue 15), in virtual time: before `exp` the client sends a
 * fresh token as `auth` on the same socket; never a second socket, never a loop.
 */
import { TestScheduler } from 'rxjs/testing'
import { type LiveClientError, tokenExpiry } from '../../src/connection/client'
import type { ClientFrame } from '../../src/protocol/frames'
import { fakeClient } from '../helpers/fakeClient'

const END_MS = 400000
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
/** A token of the project's format with `exp` (the fake server does not check signatures). */
const tokenUntil = (expS: number, n: number): string => `${b64({ uid: 'u1', name: 'U', role: 'viewer', exp: expS, n })}.sig`

describe('token refresh before expiry (virtual time)', () => {
  it('reads exp from both token formats, and nothing from anything else', () => {
    expect(tokenExpiry(`${b64({ uid: 'u', exp: 1700000000 })}.abc`)).toBe(1700000000)
    expect(tokenExpiry(`${b64({ alg: 'RS256' })}.${b64({ sub: 'u', name: 'Zoë', exp: 1800000000 })}.sig`)).toBe(1800000000)
    expect(tokenExpiry('tok')).toBeUndefined()
    expect(tokenExpiry(`${b64({ uid: 'u' })}.abc`)).toBeUndefined()
    expect(tokenExpiry('!!!.abc')).toBeUndefined()
  })

  it('sends a fresh token on the same socket ahead of exp, at most halfway through what is left, and again for the next', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    scheduler.run(() => {
      let minted = 0
      // Each token lives 120 s of virtual time from when it is asked for.
      const { platform, client } = fakeClient(scheduler, END_MS, { heartbeatMs: 10000, token: () => tokenUntil(Math.floor(scheduler.now() / 1000) + 120, ++minted), refreshTokenAheadMs: 60000 })
      client.room('r').subscribe()
      const auths: Array<[number, number]> = []
      platform.sent$.subscribe((f: ClientFrame) => {
        if (f.msg_type === 'auth') auths.push([scheduler.now(), minted])
      })
      scheduler.schedule(() => client.close(), 250000)
      scheduler.flush()
      // The first auth at connect (frame auth: the fake's init has no user), then one per token
      // 60 s before its exp: at 60 s (exp 120) and at 120 s (exp 180 ...).
      expect(auths.map(([t]) => Math.round(t / 1000))).toEqual([0, 60, 120, 180, 240])
      expect(platform.tasks).toHaveLength(1)
      expect(client.stats.tokenRefreshes).toBe(4)
      expect(client.stats.reconnects).toBe(0)
    })
  })

  it('short-lived tokens: halfway, not in a loop; a token function that fails is reported and the link stays', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b))
    scheduler.run(() => {
      let calls = 0
      const { platform, client } = fakeClient(scheduler, END_MS, {
        heartbeatMs: 10000,
        // 10 s tokens with a 60 s lead: refreshed every 5 s, not every second. The third call fails.
        token: () => {
          calls++
          if (calls === 3) throw new Error('auth service down')
          return tokenUntil(Math.floor(scheduler.now() / 1000) + 10, calls)
        },
      })
      const errors: LiveClientError[] = []
      client.errors$.subscribe((e) => errors.push(e))
      client.room('r').subscribe()
      scheduler.schedule(() => client.close(), 12000)
      scheduler.flush()
      const auths = platform.tasks[0].sent.filter((f) => f.msg_type === 'auth')
      expect(auths).toHaveLength(2)
      expect(errors).toEqual([expect.objectContaining({ kind: 'callback', callback: 'token' })])
      expect(platform.tasks).toHaveLength(1)
    })
  })
})
