import { BehaviorSubject, filter, type Observable, type SchedulerLike, take, timer } from 'rxjs'

/**
 * Sockets this client closed whose `onClose` has not come yet. A new connect waits for them
 * (at most `waitMs` each), so a quick leave and rejoin never holds two sockets.
 */
export class ClosingSockets {
  private readonly count$ = new BehaviorSubject<number>(0)

  constructor(
    private readonly scheduler: SchedulerLike,
    private readonly waitMs: number,
  ) {}

  /** A socket is closing: the function returned settles it (its `onClose` came), at the latest after `waitMs`. */
  closing(): () => void {
    this.count$.next(this.count$.value + 1)
    let done = false
    const settle = (): void => {
      if (done) return
      done = true
      wait.unsubscribe()
      this.count$.next(this.count$.value - 1)
    }
    const wait = timer(this.waitMs, this.scheduler).subscribe(settle)
    return settle
  }

  /** Emits once when no socket is closing. */
  none(): Observable<number> {
    return this.count$.pipe(
      filter((n) => n === 0),
      take(1),
    )
  }
}
