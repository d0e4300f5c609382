import { BehaviorSubject, Subject } from 'rxjs'
import type { Platform } from '../platform/types'

/**
 * The device as the connection sees it: online or not, the app shown or hidden, and the
 * moments to check the link at once (the app shown again: the socket may be half-open after
 * the background). Fed by the platform's signals until `dispose()`.
 */
export class Device {
  readonly online$ = new BehaviorSubject<boolean>(true)
  readonly visible$ = new BehaviorSubject<boolean>(true)
  readonly checkLink$ = new Subject<void>()
  private readonly unsubscribes: Array<() => void>
  private disposed = false

  /** `onOffline`: the network went away (the open link should end now rather than wait for a timeout). */
  constructor(platform: Platform, onOffline: () => void) {
    this.unsubscribes = [
      platform.onNetworkStatusChange(({ isConnected }) => {
        if (isConnected === this.online$.value) return
        this.online$.next(isConnected)
        if (!isConnected) onOffline()
      }),
      platform.onAppHide(() => this.visible$.next(false)),
      platform.onAppShow(() => {
        this.visible$.next(true)
        // Still open? It may be half-open after the background: ping now. Closed? Reconnect now.
        this.checkLink$.next()
      }),
    ]
    platform
      .getNetworkType()
      .then(({ isConnected }) => {
        if (!this.disposed && !isConnected && this.online$.value) {
          this.online$.next(false)
          onOffline()
        }
      })
      .catch(() => undefined)
  }

  get online(): boolean {
    return this.online$.value
  }

  get visible(): boolean {
    return this.visible$.value
  }

  dispose(): void {
    this.disposed = true
    for (const unsubscribe of this.unsubscribes) unsubscribe()
  }
}
