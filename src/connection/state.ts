import { BehaviorSubject, type Observable } from 'rxjs'

export type ConnectionStatus =
  | 'idle'
  | 'connecting'
  | 'authenticating'
  | 'open'
  | 'reconnecting'
  | 'offline'
  | 'closed'
  | 'failed'

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
}

function sameState(a: ConnectionState, b: ConnectionState): boolean {
  return (
    a.status === b.status &&
    a.attempt === b.attempt &&
    a.retryInMs === b.retryInMs &&
    a.code === b.code &&
    a.reason === b.reason
  )
}

/** The one place connection state changes: `set` emits only on a real change. */
export class ConnectionStateMachine {
  private readonly subject = new BehaviorSubject<ConnectionState>({ status: 'idle', attempt: 0 })
  readonly state$: Observable<ConnectionState> = this.subject.asObservable()

  get value(): ConnectionState {
    return this.subject.value
  }

  set(next: ConnectionState): void {
    const current = this.subject.value
    // `closed` and `failed` are final.
    if (current.status === 'closed' || current.status === 'failed') return
    if (sameState(current, next)) return
    this.subject.next(next)
  }

  complete(): void {
    this.subject.complete()
  }
}
