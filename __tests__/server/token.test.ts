import { signToken, verifyToken } from '../../server/token'

const payload = { uid: 'u1', name: 'Ann', role: 'viewer' as const, exp: 2000000000 }

describe('tokens', () => {
  it('round-trips a signed payload', () => {
    expect(verifyToken(signToken(payload, 's'), 's', 0)).toEqual({ ok: true, payload })
  })

  it('refuses every other spelling of the signature, including ones that decode to the same bytes', () => {
    const token = signToken(payload, 's')
    const body = token.slice(0, -1)
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const accepted = [...alphabet].filter((ch) => verifyToken(body + ch, 's', 0).ok)
    // Only the signature as signed: the last character has padding bits a lenient decoder ignores.
    expect(accepted).toEqual([token.slice(-1)])
  })

  it('refuses a wrong secret, a changed payload and an expired token', () => {
    const token = signToken(payload, 's')
    expect(verifyToken(token, 'other', 0)).toEqual({ ok: false, reason: 'bad signature' })
    const [, sig] = token.split('.')
    const changed = Buffer.from(JSON.stringify({ ...payload, role: 'anchor' })).toString('base64url')
    expect(verifyToken(`${changed}.${sig}`, 's', 0)).toEqual({ ok: false, reason: 'bad signature' })
    expect(verifyToken(token, 's', payload.exp * 1000)).toEqual({ ok: false, reason: 'token expired' })
    expect(verifyToken('garbage', 's', 0).ok).toBe(false)
    expect(verifyToken(42, 's', 0).ok).toBe(false)
  })
})
