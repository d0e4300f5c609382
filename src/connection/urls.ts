import type { UrlSource } from './api'

const isWsUrl = (url: unknown): url is string => typeof url === 'string' && /^wss?:\/\//.test(url)

/**
 * Where each attempt connects: one URL; a list tried in turn (a failed or lost connection
 * moves on to the next, so a dead server process does not strand its viewers); or the app's
 * function, asked before each attempt.
 */
export class UrlRotation {
  private index = 0
  /** The URL of the current (or last) attempt. */
  current: string | undefined
  /** The last connection failed or was lost: the next attempt moves on. */
  moveOn = false

  constructor(
    private readonly source: UrlSource,
    /** The lifecycle's attempt number, told to a URL function. */
    private readonly attempt: () => number,
  ) {
    if (!(isWsUrl(source) || typeof source === 'function' || (Array.isArray(source) && source.length > 0 && source.every(isWsUrl)))) {
      throw new TypeError('createLiveClient: options.url must be a ws:// or wss:// URL, a non-empty list of them, or a function returning one')
    }
  }

  /** The next attempt's URL; throws when the app's function returns something else than a ws(s) URL. */
  next(): string {
    const failed = this.moveOn
    this.moveOn = false
    const source = this.source
    let url: string
    if (typeof source === 'string') url = source
    else if (typeof source === 'function') {
      url = source({ attempt: this.attempt(), previous: this.current, failed })
      if (!isWsUrl(url)) throw new TypeError(`it returned ${String(url)}, not a ws:// or wss:// URL`)
    } else {
      const list = source as readonly string[]
      if (failed && this.current !== undefined) this.index = (this.index + 1) % list.length
      url = list[this.index]
    }
    this.current = url
    return url
  }

  /** The URL known before any attempt (a fixed one, or the first of a list); undefined for a function. */
  get first(): string | undefined {
    const source = this.source
    return typeof source === 'string' ? source : Array.isArray(source) ? (source as readonly string[])[0] : undefined
  }

  /** What `client.url` shows: the current URL, else the one the next attempt would use ('' for a function). */
  get shown(): string {
    const source = this.source
    return this.current ?? (typeof source === 'string' ? source : Array.isArray(source) ? (source as readonly string[])[this.index] : '')
  }
}
