import { createHmac, createPublicKey, timingSafeEqual } from 'crypto'
import * as fs from 'fs'
import type { JSONWebKeySet, JWTPayload, JWTVerifyOptions, KeyLike } from 'jose'

type Jose = typeof import('jose')
/** jose, loaded when the first JWT is checked (a server of the project's own tokens never loads it). */
let joseModule: Jose | undefined
// eslint-disable-next-line @typescript-eslint/no-require-imports
const jose = (): Jose => (joseModule ??= require('jose') as Jose)
import type { Role, UserRef } from 'miniprogram-live-store/protocol'

/** What a token says about its holder (docs/protocol.md, "Tokens"). */
export interface TokenPayload {
  uid: string
  name: string
  role: Role
  /** Rooms an anchor manages. */
  rooms?: string[]
  /** Expiry, unix seconds. */
  exp: number
  /** Issuer: required (and checked) when the server is configured with `issuer`. */
  iss?: string
  /** Audience: required (and checked) when the server is configured with `audience`. */
  aud?: string | string[]
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
  return identityOf(payload as Record<string, unknown>, 'uid', nowMs)
}

/**
 * The holder a token's claims name, by the same rules for both formats (the user's id is `uid`
 * in the project's tokens, `sub` in a JWT). `exp` is strict and at most 31 days ahead.
 */
function identityOf(p: Record<string, unknown>, idClaim: 'uid' | 'sub', nowMs: number): TokenCheck {
  const uid = p[idClaim]
  if (typeof uid !== 'string' || uid.length === 0 || uid.length > 128) return { ok: false, reason: `${idClaim} missing` }
  if (typeof p.name !== 'string' || p.name.length > 256) return { ok: false, reason: 'name missing' }
  if (p.role !== 'viewer' && p.role !== 'anchor' && p.role !== 'admin') return { ok: false, reason: 'bad role' }
  if (p.rooms !== undefined && !(Array.isArray(p.rooms) && p.rooms.every((r) => typeof r === 'string'))) {
    return { ok: false, reason: 'bad rooms' }
  }
  if (typeof p.exp !== 'number' || !Number.isFinite(p.exp)) return { ok: false, reason: 'exp missing' }
  if (p.exp * 1000 <= nowMs) return { ok: false, reason: 'token expired' }
  // `exp: 1e400` parses as Infinity (caught above); a far future is refused too.
  if (p.exp * 1000 > nowMs + MAX_TOKEN_LIFETIME_S * 1000) return { ok: false, reason: `exp more than ${MAX_TOKEN_LIFETIME_S / 86400} days ahead` }
  return {
    ok: true,
    payload: {
      uid,
      name: p.name,
      role: p.role,
      exp: p.exp,
      ...(p.rooms ? { rooms: p.rooms as string[] } : {}),
      ...(typeof p.iss === 'string' ? { iss: p.iss } : {}),
      ...(typeof p.aud === 'string' || (Array.isArray(p.aud) && p.aud.every((a) => typeof a === 'string')) ? { aud: p.aud as string | string[] } : {}),
    },
  }
}

/**
 * `iss` and `aud` as configured, for the project's own tokens as for JWTs (jose checks a JWT's):
 * a server that names an issuer or an audience takes no token without them.
 */
function issuerAndAudience(payload: TokenPayload, options: Pick<TokenVerifierOptions, 'issuer' | 'audience'>): string | undefined {
  if (options.issuer !== undefined && payload.iss !== options.issuer) return 'bad iss'
  if (options.audience !== undefined) {
    const wanted = Array.isArray(options.audience) ? options.audience : [options.audience]
    const given = payload.aud === undefined ? [] : Array.isArray(payload.aud) ? payload.aud : [payload.aud]
    if (!given.some((a) => wanted.includes(a))) return 'bad aud'
  }
  return undefined
}

// ------------------------------------------------------------------ standard JWTs (docs/protocol.md, "Tokens")

/** The algorithms a JWT may name: HS256 with the shared secret, RS256 / ES256 with a public key. */
export const JWT_ALGORITHMS = ['HS256', 'RS256', 'ES256'] as const

/** How far ahead of this server's clock a token's `nbf` and `iat` may be (another machine's clock), seconds. */
export const CLOCK_TOLERANCE_S = 30

export interface TokenVerifierOptions {
  /** HMAC secret: the project's own tokens and HS256 JWTs. Without it, neither is accepted. */
  secret?: string
  /** PEM (SPKI) public key for RS256 or ES256 JWTs. */
  publicKey?: string
  /**
   * A JWKS: the file's path (re-read when it changes: rotate keys without a restart), or the
   * set itself. A JWT's `kid` and `alg` pick the key.
   */
  jwks?: string | JSONWebKeySet
  /** `iss` every token must carry, when set (a JWT's claim, or the project's token's `iss`). */
  issuer?: string
  /** `aud` every token must carry (one of them, for an array), when set. */
  audience?: string | string[]
}

/**
 * Checks tokens of both kinds: the project's own (`payload.signature`, HMAC with the secret)
 * and standard JWTs (`header.payload.signature`), verified with `jose`: HS256 with the same
 * secret, RS256 / ES256 with the configured public key or JWKS (then the server need hold no
 * signing secret). Claims: `sub` (the uid), `name`, `role`, `rooms`?, `exp` (required), `nbf`?,
 * `iat`?; `iss` and `aud` when configured. Any other algorithm, `none` included, is refused, and
 * an algorithm is only ever checked with its own kind of key (no HS256 "signed" with a public
 * key). `exp` is strict; `nbf` and `iat` may be up to {@link CLOCK_TOLERANCE_S} ahead.
 *
 * @example
 * const verifier = new TokenVerifier({ publicKey: fs.readFileSync('live.pub', 'utf8'), issuer: 'https://auth.example.com' })
 * const check = await verifier.verify(token, Date.now())
 */
export class TokenVerifier {
  private hmacKey: Uint8Array | undefined
  private publicKey: Promise<KeyLike> | undefined
  private publicKeyAlg: 'RS256' | 'ES256' | undefined
  private jwks: { resolve: ReturnType<Jose['createLocalJWKSet']>; mtimeMs: number; checkedAt: number } | undefined

  constructor(private readonly options: TokenVerifierOptions) {
    if (options.secret === undefined && options.publicKey === undefined && options.jwks === undefined) {
      throw new TypeError('tokens: a secret, a public key or a JWKS is required')
    }
    if (options.secret !== undefined) this.hmacKey = Buffer.from(options.secret, 'utf8')
    if (options.publicKey !== undefined) {
      const pem = options.publicKey
      // The key's type says its algorithm: an RSA key verifies RS256 only, an EC P-256 key ES256 only.
      const type = createPublicKey(pem).asymmetricKeyType
      if (type !== 'rsa' && type !== 'ec') throw new TypeError(`tokens: the public key must be RSA (RS256) or EC P-256 (ES256), not ${String(type)}`)
      this.publicKeyAlg = type === 'rsa' ? 'RS256' : 'ES256'
      const alg = this.publicKeyAlg
      this.publicKey = Promise.resolve().then(() => jose().importSPKI(pem, alg))
      this.publicKey.catch(() => undefined)
    }
    // A JWKS file that cannot be read or is not a JWKS fails here, at start, not at the first token.
    if (typeof options.jwks === 'string') {
      const set = JSON.parse(fs.readFileSync(options.jwks, 'utf8')) as JSONWebKeySet
      if (!Array.isArray(set?.keys)) throw new TypeError(`${options.jwks}: not a JWKS (no "keys" array)`)
    }
  }

  /** Whether the project's own (HMAC) tokens can be checked: only with a secret. */
  get hasSecret(): boolean {
    return this.options.secret !== undefined
  }

  /** Checks a token of either kind. Never rejects. */
  async verify(token: unknown, nowMs: number): Promise<TokenCheck> {
    if (typeof token !== 'string') return { ok: false, reason: 'token must be a string' }
    if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: `token longer than ${MAX_TOKEN_LENGTH} characters` }
    const parts = token.split('.').length
    if (parts === 2) {
      if (this.options.secret === undefined) return { ok: false, reason: 'this server takes only JWTs signed with its public keys' }
      const check = verifyToken(token, this.options.secret, nowMs)
      const refused = check.ok ? issuerAndAudience(check.payload, this.options) : undefined
      return refused === undefined ? check : { ok: false, reason: refused }
    }
    if (parts !== 3) return { ok: false, reason: 'malformed token' }
    return this.verifyJwt(token, nowMs)
  }

  private async verifyJwt(token: string, nowMs: number): Promise<TokenCheck> {
    const j = jose()
    let alg: unknown
    try {
      alg = j.decodeProtectedHeader(token).alg
    } catch {
      return { ok: false, reason: 'malformed token' }
    }
    if (!(JWT_ALGORITHMS as readonly unknown[]).includes(alg)) return { ok: false, reason: `algorithm ${JSON.stringify(alg)} is not accepted (HS256, RS256, ES256)` }
    const options: JWTVerifyOptions = {
      algorithms: [alg as string],
      currentDate: new Date(nowMs),
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ['exp', 'sub'],
      ...(this.options.issuer !== undefined ? { issuer: this.options.issuer } : {}),
      ...(this.options.audience !== undefined ? { audience: this.options.audience } : {}),
    }
    let payload: JWTPayload
    try {
      if (alg === 'HS256') {
        if (this.hmacKey === undefined) return { ok: false, reason: 'HS256 tokens need a secret this server does not have' }
        payload = (await j.jwtVerify(token, this.hmacKey, options)).payload
      } else if (this.options.jwks !== undefined) {
        const jwks = this.loadJwks(j, nowMs)
        payload = (await j.jwtVerify(token, jwks, options)).payload
      } else if (this.publicKey !== undefined && alg === this.publicKeyAlg) {
        payload = (await j.jwtVerify(token, await this.publicKey, options)).payload
      } else {
        return { ok: false, reason: `no key for ${String(alg)} tokens` }
      }
    } catch (error) {
      return { ok: false, reason: jwtReason(error) }
    }
    return this.claims(payload, nowMs)
  }

  private claims(p: JWTPayload, nowMs: number): TokenCheck {
    // `iat` may be ahead by the skew tolerance at most; the rest as for the project's tokens (`exp`
    // strict: jose allowed the tolerance, an open connection is closed at `exp` too).
    if (typeof p.iat === 'number' && p.iat * 1000 > nowMs + CLOCK_TOLERANCE_S * 1000) return { ok: false, reason: 'iat in the future' }
    return identityOf(p, 'sub', nowMs)
  }

  /** The JWKS, read again from its file when the file changed (checked at most every 5 s). */
  private loadJwks(j: Jose, nowMs: number): ReturnType<Jose['createLocalJWKSet']> {
    const source = this.options.jwks as string | JSONWebKeySet
    if (typeof source !== 'string') {
      this.jwks ??= { resolve: j.createLocalJWKSet(source), mtimeMs: 0, checkedAt: nowMs }
      return this.jwks.resolve
    }
    const current = this.jwks
    if (current !== undefined && nowMs - current.checkedAt < 5000) return current.resolve
    const mtimeMs = fs.statSync(source).mtimeMs
    if (current !== undefined && current.mtimeMs === mtimeMs) {
      current.checkedAt = nowMs
      return current.resolve
    }
    const set = JSON.parse(fs.readFileSync(source, 'utf8')) as JSONWebKeySet
    if (!Array.isArray(set?.keys)) throw new TypeError(`${source}: not a JWKS (no "keys" array)`)
    this.jwks = { resolve: j.createLocalJWKSet(set), mtimeMs, checkedAt: nowMs }
    return this.jwks.resolve
  }
}

/** jose's refusal as a reason a client can act on. */
function jwtReason(error: unknown): string {
  const code = (error as { code?: string }).code
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'token expired'
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = (error as { claim?: string }).claim
      return claim === 'nbf' ? 'token not yet valid' : `bad ${claim ?? 'claim'}`
    }
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'bad signature'
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'algorithm not accepted'
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'no key for this token (kid)'
    default:
      return `bad token (${code ?? (error instanceof Error ? error.message : 'unknown')})`
  }
}

/** The user as room events name them. */
export const userRef = (user: TokenPayload): UserRef => ({ uid: user.uid, name: user.name })

/** The user as `init` and `auth` acks tell them to the client. */
export const publicUser = (user: TokenPayload): { uid: string; name: string; role: TokenPayload['role'] } => ({ uid: user.uid, name: user.name, role: user.role })
