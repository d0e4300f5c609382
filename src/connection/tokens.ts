import { defer, from, map, type Observable, of, type SchedulerLike, type Subscription, switchMap, timer } from 'rxjs'
import type { AckFrame } from '../protocol/frames'
import type { TokenSource } from './api'
import type { Link } from './session'

/** A token source's next value (a function is asked each time); an empty or non-string value is its error. */
export function tokenValue(source: TokenSource | undefined): Observable<string | undefined> {
  if (source === undefined || typeof source === 'string') return of(source)
  return defer(() => {
    const value = source()
    return typeof value === 'string' ? of(value) : from(value)
  }).pipe(
    map((value) => {
      if (typeof value !== 'string' || value.length === 0) throw new TypeError(`it returned ${value === '' ? 'an empty string' : String(value)}, not a token`)
      return value
    }),
  )
}

/** Base64url text as a string of bytes (Latin-1): enough to JSON.parse a token payload for its `exp`. */
function base64urlBytes(text: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  let out = ''
  let bits = 0
  let value = 0
  for (const ch of text) {
    const index = alphabet.indexOf(ch)
    if (index === -1) return ''
    value = (value << 6) | index
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out += String.fromCharCode((value >> bits) & 0xff)
    }
  }
  return out
}

/** UTF-8 bytes held as a Latin-1 string, decoded (undefined when they are not UTF-8). */
function utf8Text(bytes: string): string | undefined {
  try {
    return decodeURIComponent(bytes.replace(/[%\x80-\xff]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`))
  } catch {
    return undefined
  }
}

/**
 * What a token says of itself, read from its payload without checking it (the server does):
 * `exp` (unix seconds) and the user it names (`uid`, or a JWT's `sub`). The project's tokens
 * (`payload.signature`) and JWTs (`header.payload.signature`) both qualify; anything else
 * (an opaque session id) tells nothing.
 */
export function tokenClaims(token: string): { exp?: number; uid?: string } {
  const parts = token.split('.')
  const payload = parts.length === 2 ? parts[0] : parts.length === 3 ? parts[1] : undefined
  if (payload === undefined || payload.length > 8192) return {}
  const text = utf8Text(base64urlBytes(payload))
  if (text === undefined) return {}
  try {
    const claims = JSON.parse(text) as { exp?: unknown; uid?: unknown; sub?: unknown } | null
    if (typeof claims !== 'object' || claims === null) return {}
    const uid = typeof claims.uid === 'string' ? claims.uid : claims.sub
    return {
      ...(typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? { exp: claims.exp } : {}),
      ...(typeof uid === 'string' && uid.length > 0 && uid.length <= 128 ? { uid } : {}),
    }
  } catch {
    return {}
  }
}

/** When a token expires (unix seconds), read from its payload without checking it (see `tokenClaims`). */
export function tokenExpiry(token: string): number | undefined {
  return tokenClaims(token).exp
}

/** What the token keeper needs of its client. */
export interface TokenKeeperDeps {
  source: TokenSource | undefined
  scheduler: SchedulerLike
  /** Wall-clock now (ms), to read `exp` against. */
  now(): number
  /** How long before `exp` a fresh token is sent on an open socket (0: never). */
  refreshAheadMs: number
  nextMsgId(): string
  /** The link the refresh was scheduled on is still the client's. */
  isCurrent(link: Link): boolean
  onRefreshed(): void
  onRefreshError(reason: string): void
}

/**
 * The client's token: the one in use, the one the server refused (never sent again), and the
 * refresh before expiry: on a socket link, a fresh token is sent as `auth` `refreshAheadMs`
 * before the current one's `exp` (at most halfway through what is left), and the link stays.
 */
export class TokenKeeper {
  /** The token of the current (or last) attempt. */
  current: string | undefined
  private rejected: string | undefined
  private refreshTimer: Subscription | undefined
  private refreshing: { msgId: string; token: string } | undefined

  constructor(private readonly deps: TokenKeeperDeps) {}

  /** The next attempt's token, or undefined for none. */
  next(): Observable<string | undefined> {
    return tokenValue(this.deps.source)
  }

  /** `value` is the token the server refused last: the source gave it again. */
  isRejected(value: string | undefined): boolean {
    return value !== undefined && value === this.rejected
  }

  /** A connection opened: nothing is refused any more. */
  accepted(): void {
    this.rejected = undefined
  }

  /** The server refused the current token (the lifecycle asks for a fresh one). */
  refuseCurrent(): void {
    if (this.current !== undefined) this.rejected = this.current
  }

  /** (Re)schedules the refresh for `link` (undefined: none). */
  schedule(link: Link | undefined): void {
    this.stop()
    const { deps } = this
    const token = this.current
    if (link === undefined || link.plain || link.stateless || deps.refreshAheadMs <= 0 || typeof deps.source !== 'function' || token === undefined) return
    const exp = tokenExpiry(token)
    if (exp === undefined) return
    const left = exp * 1000 - deps.now()
    const delay = Math.max(1000, left - deps.refreshAheadMs, left / 2)
    this.refreshTimer = timer(delay, deps.scheduler)
      .pipe(switchMap(() => tokenValue(deps.source)))
      .subscribe({
        next: (fresh) => {
          if (fresh === undefined || !deps.isCurrent(link) || fresh === this.current) return
          const msgId = deps.nextMsgId()
          this.refreshing = { msgId, token: fresh }
          link.send({ msg_type: 'auth', msg_id: msgId, token: fresh })
        },
        // Not fatal: at `exp` the server closes with 4001 and the reconnect asks again.
        error: (error: unknown) => deps.onRefreshError(`token() failed: ${error instanceof Error ? error.message : String(error)}`),
      })
  }

  /** The ack of a refresh: true when `ack` was one (accepted: the link lives on under it; refused: the server closes with 4001). */
  handleAck(ack: AckFrame, link: Link | undefined): boolean {
    if (this.refreshing === undefined || ack.msg_id !== this.refreshing.msgId) return false
    if (ack.ok) {
      this.current = this.refreshing.token
      this.deps.onRefreshed()
      this.schedule(link)
    }
    this.refreshing = undefined
    return true
  }

  stop(): void {
    this.refreshTimer?.unsubscribe()
    this.refreshTimer = undefined
    this.refreshing = undefined
  }
}
