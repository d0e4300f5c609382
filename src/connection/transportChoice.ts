import type { HttpFallbackOptions } from './api'
import type { EndCause } from './lifecycle'
import type { Transport } from './state'

/** The HTTP fallback's settings, defaults filled in. */
export type FallbackSettings = Required<Omit<HttpFallbackOptions, 'url'>> & Pick<HttpFallbackOptions, 'url'>

export const DEFAULT_FALLBACK: Readonly<Omit<FallbackSettings, 'url'>> = {
  afterFailures: 3,
  waitMs: 25000,
  maxRequests: 6,
  probeDelayMs: (n: number) => Math.min(60000, 2000 * 2 ** Math.min(n - 1, 5)),
}

/**
 * Socket or HTTP, attempt by attempt: the socket while it works; HTTP after `afterFailures`
 * socket attempts in a row never opened, or when the app asks (`useHttp()`); back to the
 * socket when a probe finds it working again.
 */
export class TransportChoice {
  /** Socket attempts that failed in a row (never opened). */
  private socketFailures = 0
  /** The app asked for HTTP, until a probe finds the socket working. */
  private httpAsked = false
  /** What the current (or last) attempt used, and whether it opened. */
  transport: Transport = 'socket'
  private opened = false

  /** `fallback`: undefined when there is none (turned off, a plain backend, a platform without requests). */
  constructor(readonly fallback: FallbackSettings | undefined) {}

  /** The next attempt's transport, and whether it is a move from the last attempt's (`moved`). */
  choose(): { transport: Transport; moved: boolean } {
    this.opened = false
    const fallback = this.fallback
    const before = this.transport
    this.transport = fallback !== undefined && (this.httpAsked || this.socketFailures >= fallback.afterFailures) ? 'http' : 'socket'
    return { transport: this.transport, moved: this.transport !== before }
  }

  /** The attempt opened. */
  open(): void {
    this.opened = true
    if (this.transport === 'socket') this.socketFailures = 0
  }

  /** The attempt ended with `cause`. */
  ended(cause: EndCause | undefined): void {
    if (cause === 'transport') {
      // A probe found the socket working: back to it.
      this.socketFailures = 0
      this.httpAsked = false
    } else if (this.transport === 'socket' && !this.opened && cause === 'closed') this.socketFailures++
  }

  /** The app asks for HTTP: true when it was not asked yet and there is a fallback (a socket link should end now). */
  ask(): boolean {
    if (this.fallback === undefined || this.httpAsked) return false
    this.httpAsked = true
    return true
  }
}
