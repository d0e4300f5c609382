import { createHmac } from 'crypto'
import { MAX_TOKEN_LIFETIME_S, signToken, verifyToken } from '../../server/token'

const payload = { uid: 'u1', name: 'Ann', role: 'viewer' as const, exp: 2000000000 }
/** An hour before the payload expires. */
const NOW = (payload.exp - 3600) * 1000

describe('tokens', () => {
  it('round-trips a signed payload', () => {
    expect(verifyToken(signToken(payload, 's'), 's', NOW)).toEqual({ ok: true, payload })
  })

  it('refuses every other spelling of the signature, including ones that decode to the same bytes', () => {
    const token = signToken(payload, 's')
    const body = token.slice(0, -1)
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const accepted = [...alphabet].filter((ch) => verifyToken(body + ch, 's', NOW).ok)
    // Only the signature as signed: the last character has padding bits a lenient decoder ignores.
    expect(accepted).toEqual([token.slice(-1)])
  })

  it('refuses a wrong secret, a changed payload and an expired token', () => {
    const token = signToken(payload, 's')
    expect(verifyToken(token, 'other', NOW)).toEqual({ ok: false, reason: 'bad signature' })
    const [, sig] = token.split('.')
    const changed = Buffer.from(JSON.stringify({ ...payload, role: 'anchor' })).toString('base64url')
    expect(verifyToken(`${changed}.${sig}`, 's', NOW)).toEqual({ ok: false, reason: 'bad signature' })
    expect(verifyToken(token, 's', payload.exp * 1000)).toEqual({ ok: false, reason: 'token expired' })
    expect(verifyToken('garbage', 's', 0).ok).toBe(false)
    expect(verifyToken(42, 's', 0).ok).toBe(false)
  })
})

describe('token bounds (issue 11, point 7)', () => {
  /** A token over raw payload text, signed as signToken signs (JSON.stringify cannot write 1e400). */
  const rawToken = (json: string): string => {
    const encoded = Buffer.from(json).toString('base64url')
    return `${encoded}.${createHmac('sha256', 's').update(encoded).digest('base64url')}`
  }

  it('refuses exp 1e400 (Infinity) and an exp further ahead than the lifetime cap', () => {
    expect(verifyToken(rawToken('{"uid":"u","name":"n","role":"viewer","exp":1e400}'), 's', NOW)).toEqual({ ok: false, reason: 'exp missing' })
    const farAhead = signToken({ ...payload, exp: NOW / 1000 + MAX_TOKEN_LIFETIME_S + 60 }, 's')
    expect(verifyToken(farAhead, 's', NOW)).toEqual({ ok: false, reason: 'exp more than 31 days ahead' })
    expect(verifyToken(signToken({ ...payload, exp: NOW / 1000 + MAX_TOKEN_LIFETIME_S - 60 }, 's'), 's', NOW).ok).toBe(true)
  })

  it('refuses a token over 4,096 characters by its length', () => {
    expect(verifyToken('x'.repeat(4097), 's', NOW)).toEqual({ ok: false, reason: 'token longer than 4096 characters' })
  })
})
