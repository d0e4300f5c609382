import { BehaviorSubject, type Observable } from 'rxjs'

/** How the client reaches the server: its WebSocket, or the HTTP fallback. */
export type Transport = 'socket' | 'http'

export type ConnectionStatus = 'idle' | 'connecting' | 'authenticating' | 'open' | 'reconnecting' | 'offline' | 'closed' | 'failed'

/** What a page shows in its connection banner, e.g. "reconnecting in 3 s, attempt 2". */
export interface ConnectionState {
  status: ConnectionStatus
  /** Failed attempts in a row since the last successful auth. */
  attempt: number
  /** While `reconnecting`: how long until the next attempt. */
  retryInMs?: number
  /** Close code (or error code) behind the change, from the protocol's codes table. */
  code?: number
  reason?: string
  /** While `open`: a WebSocket, or the HTTP long-poll fallback (`httpFallback`). */
  transport?: Transport
}

function sameState(a: ConnectionState, b: ConnectionState): boolean {
  return a.status === b.status && a.attempt === b.attempt && a.retryInMs === b.retryInMs && a.code === b.code && a.reason === b.reason && a.transport === b.transport
}

/** The connection state as an observable value: `set` emits only on a real change. */
export class ConnectionStateSubject {
  private readonly subject = new BehaviorSubject<ConnectionState>({ status: 'idle', attempt: 0 })
  readonly state$: Observable<ConnectionState> = this.subject.asObservable()

  get value(): ConnectionState {
    return this.subject.value
  }

  /** Emits `next` if it differs; which states may follow which is `transition`'s (lifecycle.ts). */
  set(next: ConnectionState): void {
    const current = this.subject.value
    if (sameState(current, next)) return
    this.subject.next(next)
  }

  complete(): void {
    this.subject.complete()
  }
}
