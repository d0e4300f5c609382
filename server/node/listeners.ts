import type { PlatformResult, Unsubscribe } from 'miniprogram-live-store/platform'

/** Listeners of one kind of event: added, removed by the function `add` returns, called in order. */
export class Listeners<T> {
  private list: Array<(value: T) => void> = []
  add(listener: (value: T) => void): Unsubscribe {
    this.list.push(listener)
    return () => {
      this.list = this.list.filter((l) => l !== listener)
    }
  }
  emit(value: T): void {
    for (const listener of this.list.slice()) listener(value)
  }
  clear(): void {
    this.list = []
  }
  get size(): number {
    return this.list.length
  }
}

/** Calls WeChat-style callbacks (`success` / `fail`, then `complete`) with `errMsg`. */
export function result(errMsg: string, ...callbacks: Array<((res: PlatformResult) => void) | undefined>): void {
  for (const cb of callbacks) cb?.({ errMsg })
}
