import { type Observable, Subject } from 'rxjs'
import type { Transport } from './state'

/** One thing that happened to the client's connection, with the time it happened (ms since the epoch). */
export type ConnectionLogEvent =
  /** A connection attempt starts. */
  | { type: 'attempt'; at: number; transport: Transport; url: string; attempt: number }
  /** The link is open (authenticated); `connectMs` since its attempt started. */
  | { type: 'open'; at: number; transport: Transport; url: string; connectMs: number }
  /** The link (or the attempt) ended: the close code and reason, and how long it had been open (0: never). */
  | { type: 'close'; at: number; transport: Transport; code: number; reason: string; livedMs: number }
  /** The next attempt waits this long. */
  | { type: 'retry'; at: number; attempt: number; delayMs: number }
  /** A ping's round trip. */
  | { type: 'rtt'; at: number; rttMs: number }
  /** The client moved to the HTTP fallback, or back to the socket. */
  | { type: 'fallback'; at: number; to: Transport }
  /** A room was joined again after a reconnect or a gap: `missed` events recovered, or a fresh snapshot. */
  | { type: 'rejoin'; at: number; roomId: string; recovered: boolean; missed?: number }

/** The client's connection life so far, in numbers: for a log line or a report. */
export interface ConnectionSummary {
  attempts: number
  opens: number
  /** Closes by code (a failed attempt counts too). */
  closes: Record<string, number>
  retries: number
  /** Total of the retry delays, ms. */
  retryWaitMs: number
  /** The longest a link stayed open, and all links together, ms (the current one up to now). */
  longestLinkMs: number
  openMs: number
  rttSamples: number
  lastRttMs: number | undefined
  /** Moves to the HTTP fallback. */
  fallbacks: number
  /** Rejoins that recovered missed events, and the events they recovered; rejoins that took a snapshot. */
  recoveredRejoins: number
  recoveredEvents: number
  snapshotRejoins: number
}

/** Keeps the summary and hands each event to whoever listens. */
export class ConnectionLog {
  private readonly subject = new Subject<ConnectionLogEvent>()
  readonly events$: Observable<ConnectionLogEvent> = this.subject.asObservable()
  private readonly totals: ConnectionSummary = {
    attempts: 0,
    opens: 0,
    closes: {},
    retries: 0,
    retryWaitMs: 0,
    longestLinkMs: 0,
    openMs: 0,
    rttSamples: 0,
    lastRttMs: undefined,
    fallbacks: 0,
    recoveredRejoins: 0,
    recoveredEvents: 0,
    snapshotRejoins: 0,
  }
  private attemptAt = 0
  private openAt: number | undefined
  private transport: Transport = 'socket'

  constructor(private readonly now: () => number) {}

  /** An attempt starts; returns the transport it moved to when it is not the last one's. */
  /** The client moved to another transport (it decides; the log records). */
  moved(to: Transport): void {
    if (to === 'http') this.totals.fallbacks++
    this.emit({ type: 'fallback', at: this.now(), to })
  }

  attempt(transport: Transport, url: string, attempt: number): void {
    const at = this.now()
    this.transport = transport
    this.attemptAt = at
    this.totals.attempts++
    this.emit({ type: 'attempt', at, transport, url, attempt })
  }

  open(url: string): void {
    const at = this.now()
    this.openAt = at
    this.totals.opens++
    this.emit({ type: 'open', at, transport: this.transport, url, connectMs: at - this.attemptAt })
  }

  close(code: number, reason: string): void {
    const at = this.now()
    const livedMs = this.openAt === undefined ? 0 : at - this.openAt
    this.openAt = undefined
    this.totals.closes[String(code)] = (this.totals.closes[String(code)] ?? 0) + 1
    this.totals.openMs += livedMs
    this.totals.longestLinkMs = Math.max(this.totals.longestLinkMs, livedMs)
    this.emit({ type: 'close', at, transport: this.transport, code, reason, livedMs })
  }

  retry(attempt: number, delayMs: number): void {
    this.totals.retries++
    this.totals.retryWaitMs += delayMs
    this.emit({ type: 'retry', at: this.now(), attempt, delayMs })
  }

  rtt(rttMs: number): void {
    this.totals.rttSamples++
    this.totals.lastRttMs = rttMs
    this.emit({ type: 'rtt', at: this.now(), rttMs })
  }

  rejoin(roomId: string, recovered: boolean, missed: number | undefined): void {
    if (recovered) {
      this.totals.recoveredRejoins++
      this.totals.recoveredEvents += missed ?? 0
    } else this.totals.snapshotRejoins++
    this.emit({ type: 'rejoin', at: this.now(), roomId, recovered, ...(missed !== undefined ? { missed } : {}) })
  }

  summary(): ConnectionSummary {
    const current = this.openAt === undefined ? 0 : this.now() - this.openAt
    return { ...this.totals, closes: { ...this.totals.closes }, openMs: this.totals.openMs + current, longestLinkMs: Math.max(this.totals.longestLinkMs, current) }
  }

  complete(): void {
    this.subject.complete()
  }

  private emit(event: ConnectionLogEvent): void {
    this.subject.next(event)
  }
}
