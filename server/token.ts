import { createHmac, timingSafeEqual } from 'crypto'
import type { Role } from 'miniprogram-live-store/protocol'

/** What a token says about its holder (protocol.md, "Identity"). */
export interface TokenPayload {
  uid: string
  name: string
  role: Role
  /** Rooms an anchor manages. */
  rooms?: string[]
  /** Expiry, unix seconds. */
  exp: number
}

export type TokenCheck = { ok: true; payload: TokenPayload } | { ok: false; reason: string }

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url')
}

function signature(secret: string, encodedPayload: string): string {
  return base64url(createHmac('sha256', secret).update(encodedPayload).digest())
}

/**
 * Makes a token in the protocol's format:
 * `base64url(payload_json) + "." + base64url(HMAC_SHA256(secret, base64url(payload_json)))`.
 *
 * @example
 * signToken({ uid: 'u1', name: 'Ann', role: 'viewer', exp: Math.floor(Date.now() / 1000) + 3600 }, secret)
 */
export function signToken(payload: TokenPayload, secret: string): string {
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('signToken: secret must be a non-empty string')
  const encoded = base64url(JSON.stringify(payload))
  return `${encoded}.${signature(secret, encoded)}`
}

/** Longest token accepted, in characters. */
export const MAX_TOKEN_LENGTH = 4096
/** Furthest `exp` accepted: a token that lives longer than this is refused, not trusted forever. */
export const MAX_TOKEN_LIFETIME_S = 31 * 24 * 3600

/** Checks a token's signature, shape and expiry. Never throws. */
export function verifyToken(token: unknown, secret: string, nowMs: number): TokenCheck {
  if (typeof token !== 'string') return { ok: false, reason: 'token must be a string' }
  if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: `token longer than ${MAX_TOKEN_LENGTH} characters` }
  const dot = token.indexOf('.')
  if (dot <= 0 || dot !== token.lastIndexOf('.')) return { ok: false, reason: 'malformed token' }
  const encoded = token.slice(0, dot)
  // Compare the text, not decoded bytes: base64url's last character carries padding bits,
  // so several spellings decode to the same bytes and a decoded comparison would accept them.
  const given = Buffer.from(token.slice(dot + 1), 'utf8')
  const expected = Buffer.from(signature(secret, encoded), 'utf8')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'bad signature' }
  let payload: unknown
  try {
    payload = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'))
  } catch {
    return { ok: false, reason: 'malformed payload' }
  }
  if (typeof payload !== 'object' || payload === null) return { ok: false, reason: 'malformed payload' }
  const p = payload as Record<string, unknown>
  if (typeof p.uid !== 'string' || p.uid.length === 0 || p.uid.length > 128) return { ok: false, reason: 'uid missing' }
  if (typeof p.name !== 'string' || p.name.length > 256) return { ok: false, reason: 'name missing' }
  if (p.role !== 'viewer' && p.role !== 'anchor') return { ok: false, reason: 'bad role' }
  if (p.rooms !== undefined && !(Array.isArray(p.rooms) && p.rooms.every((r) => typeof r === 'string'))) {
    return { ok: false, reason: 'bad rooms' }
  }
  if (typeof p.exp !== 'number' || !Number.isFinite(p.exp)) return { ok: false, reason: 'exp missing' }
  if (p.exp * 1000 <= nowMs) return { ok: false, reason: 'token expired' }
  // `exp: 1e400` parses as Infinity (caught above); a far future is refused too.
  if (p.exp * 1000 > nowMs + MAX_TOKEN_LIFETIME_S * 1000) return { ok: false, reason: `exp more than ${MAX_TOKEN_LIFETIME_S / 86400} days ahead` }
  return {
    ok: true,
    payload: { uid: p.uid, name: p.name, role: p.role, exp: p.exp, ...(p.rooms ? { rooms: p.rooms as string[] } : {}) },
  }
}
