/// <reference types="miniprogram-api-typings" preserve="true" />
import type { LiveRoomBehaviorId, LiveRoomMethods, LiveRoomPropertyData } from './liveRoomTypes'

// The mini-program's global, seen from this module only (the library is typed without them).
declare const Page: (options: Record<string, unknown>) => void

type DataOption = WechatMiniprogram.Page.DataOption
type CustomOption = WechatMiniprogram.Page.CustomOption

/** `this` in a page written with `livePage`: the page's own data and methods, and the behavior's. */
export type LivePageInstance<D extends DataOption, TData extends DataOption, TCustom extends CustomOption> = WechatMiniprogram.Page.Instance<
  TData & D & LiveRoomPropertyData,
  TCustom & LiveRoomMethods
>

/** What `livePage` takes: `Page()`'s options (its own data, lifecycle hooks, methods), typed with the behavior's. */
export type LivePageOptions<D extends DataOption, TData extends DataOption, TCustom extends CustomOption> = (TCustom &
  Partial<WechatMiniprogram.Page.Data<TData>> &
  Partial<WechatMiniprogram.Page.ILifetime> & {
    options?: WechatMiniprogram.Component.ComponentOptions
    /** More behaviors, after the room's. */
    behaviors?: string[]
  }) &
  ThisType<LivePageInstance<D, TData, TCustom>>

/**
 * Registers a `Page()` with a room behavior, typed: WeChat's `Page` typings do not look at
 * behaviors, so `Page({ behaviors: [liveRoomBehavior()] })` compiles but `this.data.onlineNum` is
 * untyped and `this.liveRoomLoad` is an error. `livePage` calls `Page()` with the behavior first in
 * `behaviors` (base library 2.9.2+) and types `this` with the behavior's data and methods.
 *
 * A page's own `onLoad`, `onShow`, `onHide` or `onUnload` hides the behavior's (WeChat's rule):
 * call `this.liveRoomLoad(query)`, `liveRoomShow()`, `liveRoomHide()`, `liveRoomUnload()` from it.
 *
 * @example
 * // pages/compact/compact.ts, opened as pages/compact/compact?room_id=r1
 * livePage(liveRoomBehavior({ comments: { limit: 20 } }), {
 *   onLoad(query) {
 *     this.liveRoomLoad(query)
 *     const online: number = this.data.onlineNum // typed from the behavior's fields
 *   },
 *   onUnload() {
 *     this.liveRoomUnload()
 *   },
 * })
 */
export function livePage<D extends DataOption, TData extends DataOption = Record<never, never>, TCustom extends CustomOption = Record<never, never>>(
  behavior: LiveRoomBehaviorId<D>,
  options: LivePageOptions<D, TData, TCustom>,
): void {
  const { behaviors, ...rest } = options as { behaviors?: string[] } & Record<string, unknown>
  Page({ ...rest, behaviors: [behavior, ...(behaviors ?? [])] })
}
