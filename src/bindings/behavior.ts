import { reaction } from 'mobx-miniprogram'
import type { ConnectionState } from '../connection/state'
import type { Goods } from '../protocol/frames'
import type { LiveRoom, LiveRoomOptions } from '../stores/liveRoom'
import type { CommentItem } from '../stores/types'
import { acquireLiveRoom, DEFAULT_SCOPE, type LiveRoomHandle, releaseLiveRoom } from './injection'
import { ListBinding } from './listBinding'
import { SetDataBatcher } from './setDataBatcher'

// The mini-program's globals, seen from this module only (the library is typed without them).
declare const Behavior: (definition: Record<string, unknown>) => string
declare const require: (id: string) => unknown

interface StoreBindingsManager {
  updateStoreBindings(): void
  destroyStoreBindings(): void
}
interface BindingsModule {
  createStoreBindings(target: object, options: { store: object; fields: Record<string, (store: LiveRoom) => unknown> }): StoreBindingsManager
}

/** A field a page binds: its data key and how to read it from the room's stores. */
export type FieldReader = (room: LiveRoom) => unknown

/** The room's fields every room page needs; pass `fields` to add or replace. */
export const DEFAULT_ROOM_FIELDS: Readonly<Record<string, FieldReader>> = {
  title: (r) => r.roomStore.title,
  status: (r) => r.roomStore.status,
  anchor: (r) => r.roomStore.anchor,
  onlineNum: (r) => r.roomStore.onlineNum,
  likeNum: (r) => r.roomStore.likeNum,
  subscribeNum: (r) => r.roomStore.subscribeNum,
  subscribed: (r) => r.roomStore.subscribed,
  joined: (r) => r.roomStore.joined,
  connectionText: (r) => describeConnection(r.roomStore.connection),
  latestNotice: (r) => {
    const notices = r.roomStore.notices
    return notices.length > 0 ? notices[notices.length - 1] : null
  },
  goods: (r) => r.shelfStore.goods,
  currentGoods: (r) => r.shelfStore.current,
  /** `{ [goods_id]: { status, reason? } }`: the last purchase of each goods. */
  buys: (r) => r.shelfStore.buys,
  /** Why the last follow failed, or null (the Follow button is back to unfollowed). */
  subscribeError: (r) => r.roomStore.subscribeError,
}

export interface LiveRoomBehaviorOptions {
  /** Data key -> store reader. Default: `DEFAULT_ROOM_FIELDS`. */
  fields?: Record<string, FieldReader>
  /** The comment list, bound incrementally under `key` (default 'comments'), `limit` rendered. False: none. */
  comments?: { key?: string; limit?: number } | false
  /** Options of the room's stores (used by the first page or component that opens the room). */
  room?: LiveRoomOptions
}

/** "open", "reconnecting in 3 s (attempt 2)" ...: the connection banner's text. */
export function describeConnection(state: ConnectionState): string {
  switch (state.status) {
    case 'reconnecting':
      return `reconnecting in ${Math.ceil((state.retryInMs ?? 0) / 1000)} s (attempt ${state.attempt})`
    case 'offline':
      return 'offline: waiting for the network'
    case 'failed':
      return `disconnected: ${state.reason ?? 'failed'}`
    default:
      return state.status
  }
}

/** A comment as the list renders it: only what the WXML uses. */
export interface RenderedComment {
  id: string
  name: string
  content: string
  status: CommentItem['status']
  own: boolean
}

interface Live {
  roomId: string
  scope: string
  handle: LiveRoomHandle
  room: LiveRoom
  batcher: SetDataBatcher
  fields: StoreBindingsManager
  disposeList: () => void
}

interface Instance {
  data: Record<string, unknown>
  setData(data: Record<string, unknown>): void
  __live?: Live
}

interface TapEvent {
  currentTarget?: { dataset?: Record<string, unknown> }
  detail?: { value?: unknown }
}

/** A page's query (`onLoad(query)`): WeChat passes strings. */
export type PageQuery = Record<string, string | undefined>

/** The room a page or component shows: the page query's `room_id` wins over a `roomId` default. */
function roomIdOf(self: Instance, query?: PageQuery): string {
  return String(query?.room_id || query?.roomId || self.data.room_id || self.data.roomId || '')
}

function dataset(event: TapEvent | undefined): Record<string, unknown> {
  return event?.currentTarget?.dataset ?? {}
}

/**
 * A Behavior for room pages and components: `Component({ behaviors: [...] })` for components
 * and pages built with Component, and `Page({ behaviors: [...] })` (base library 2.9.2+).
 * It takes the room from the page query `room_id` (`onLoad(query)`; for components, WeChat
 * passes the query into properties) or the `roomId` property/data, gets the room's shared stores from the provided client,
 * binds fields into `data` through mobx-miniprogram-bindings, binds the comment list
 * incrementally, sends nothing while the page is hidden, and leaves on `detached` / `onUnload`.
 * A Page() that defines its own `onLoad`, `onShow`, `onHide` or `onUnload` hides the behavior's
 * method of that name (WeChat's rule: the page's own method wins): call `this.liveRoomLoad(query)`,
 * `liveRoomShow()`, `liveRoomHide()` or `liveRoomUnload()` from it.
 *
 * Methods for WXML: `like` (data-count), `subscribe`, `buy` (data-goods-id),
 * `sendComment` (a form submit with an input named `content`, or a confirm event),
 * `putOn` (data-goods-id / -goods-name / -goods-price / -default-image), `takeOff` (data-goods-id),
 * `toggle` (data-key: flips `ui.<key>`, for drawers and panels).
 *
 * @example
 * Component({ behaviors: [liveRoomBehavior()], methods: {} })
 * // or, a page opened as pages/room/room?room_id=r1:
 * Page({ behaviors: [liveRoomBehavior()] })
 * // <text>{{onlineNum}} online</text> <button bindtap="like">like {{likeNum}}</button>
 */
export function liveRoomBehavior(options: LiveRoomBehaviorOptions = {}): string {
  const bindings = require('mobx-miniprogram-bindings') as BindingsModule
  const fieldReaders = options.fields ?? DEFAULT_ROOM_FIELDS
  const commentOptions = options.comments === false ? undefined : { key: options.comments?.key ?? 'comments', limit: options.comments?.limit ?? 200 }

  const start = (self: Instance, roomId: string): void => {
    const scope = String(self.data.liveScope || DEFAULT_SCOPE)
    if (self.__live?.roomId === roomId && self.__live.scope === scope) return
    stop(self)
    if (roomId === '') return
    const handle = acquireLiveRoom(roomId, options.room, scope)
    const room = handle.room
    const batcher = new SetDataBatcher(self)
    const initial: Record<string, unknown> = { liveRoomId: roomId, commentDraft: '', commentError: '', ui: {} }
    batcher.merge(initial)
    // Fields through mobx-miniprogram-bindings, into the batcher rather than straight to setData.
    const fields = bindings.createStoreBindings({ setData: (data: Record<string, unknown>) => batcher.merge(data) }, {
      store: room,
      fields: Object.fromEntries(Object.entries(fieldReaders).map(([key, read]) => [key, () => read(room)])),
    })
    fields.updateStoreBindings()
    batcher.beforeFlush = () => fields.updateStoreBindings()
    let disposeList = (): void => undefined
    if (commentOptions) {
      const list = new ListBinding<CommentItem, RenderedComment>(
        commentOptions.key,
        commentOptions.limit,
        (c) => ({ id: c.id, name: c.name, content: c.content, status: c.status, own: c.own }),
        (c) => c.status,
      )
      disposeList = reaction(
        () => [room.commentStore.comments, room.commentStore.generation] as const,
        ([comments, generation]) => batcher.merge(list.patch(comments, generation)),
        { fireImmediately: true },
      )
    }
    self.__live = { roomId, scope, handle, room, batcher, fields, disposeList }
  }

  const stop = (self: Instance): void => {
    const live = self.__live
    if (live === undefined) return
    self.__live = undefined
    live.disposeList()
    live.fields.destroyStoreBindings()
    live.batcher.dispose()
    releaseLiveRoom(live.handle)
  }

  const room = (self: Instance): LiveRoom | undefined => self.__live?.room

  // Page() pages: WeChat merges a behavior's data and methods into the page (2.9.2+); its
  // properties and lifetimes are not the page's. So the page hooks are methods too, and are
  // idempotent, for Component() pages that also get attached/detached and pageLifetimes.
  const load = (self: Instance, query?: PageQuery): void => {
    const roomId = roomIdOf(self, query)
    if (roomId !== '') start(self, roomId)
  }
  const unload = (self: Instance): void => stop(self)
  const show = (self: Instance): void => self.__live?.batcher.resume()
  const hide = (self: Instance): void => self.__live?.batcher.pause()

  return Behavior({
    properties: {
      roomId: { type: String, value: '' },
      room_id: { type: String, value: '' },
      /** Which provided client to use (see `provideLiveClient`); empty for the app's. */
      liveScope: { type: String, value: '' },
    },
    lifetimes: {
      attached(this: Instance) {
        load(this)
      },
      detached(this: Instance) {
        unload(this)
      },
    },
    observers: {
      'roomId, room_id, liveScope'(this: Instance) {
        if (this.__live !== undefined || this.data.roomId || this.data.room_id) start(this, roomIdOf(this))
      },
    },
    pageLifetimes: {
      hide(this: Instance) {
        hide(this)
      },
      show(this: Instance) {
        show(this)
      },
    },
    methods: {
      // Page() pages: WeChat calls these (a page's own hook of the same name wins; call
      // `liveRoomLoad(query)` etc. from it). Component() pages get the same from their lifetimes.
      onLoad(this: Instance, query?: PageQuery) {
        load(this, query)
      },
      onShow(this: Instance) {
        show(this)
      },
      onHide(this: Instance) {
        hide(this)
      },
      onUnload(this: Instance) {
        unload(this)
      },
      /** Joins the page's room (query `room_id`); for a Page() whose own `onLoad` hides the behavior's. */
      liveRoomLoad(this: Instance, query?: PageQuery) {
        load(this, query)
      },
      /** Resumes page updates; for a Page() with its own `onShow`. */
      liveRoomShow(this: Instance) {
        show(this)
      },
      /** Holds page updates while hidden; for a Page() with its own `onHide`. */
      liveRoomHide(this: Instance) {
        hide(this)
      },
      /** Releases the room; for a Page() with its own `onUnload`. */
      liveRoomUnload(this: Instance) {
        unload(this)
      },
      like(this: Instance, event?: TapEvent) {
        const count = Number(dataset(event).count ?? 1)
        room(this)?.roomStore.like(Number.isInteger(count) && count > 0 ? count : 1)
      },
      subscribe(this: Instance) {
        room(this)?.roomStore.subscribe().catch(() => undefined)
      },
      buy(this: Instance, event?: TapEvent) {
        const goodsId = dataset(event).goodsId
        if (typeof goodsId === 'string') room(this)?.shelfStore.buy(goodsId).catch(() => undefined)
      },
      sendComment(this: Instance, event?: TapEvent) {
        const value = event?.detail?.value
        const content = typeof value === 'string' ? value : String((value as { content?: unknown } | undefined)?.content ?? '')
        const live = this.__live
        if (!live) return
        const result = live.room.commentStore.send(content)
        // Clears the input on success, shows the rule on failure.
        live.batcher.merge(result.ok ? { commentDraft: '', commentError: '' } : { commentError: result.reason })
      },
      putOn(this: Instance, event?: TapEvent) {
        const d = dataset(event)
        const goods: Goods = {
          goods_id: String(d.goodsId ?? ''),
          goods_name: String(d.goodsName ?? ''),
          goods_price: Number(d.goodsPrice ?? 0),
          default_image: String(d.defaultImage ?? ''),
        }
        room(this)?.shelfStore.putOn(goods).catch(() => undefined)
      },
      takeOff(this: Instance, event?: TapEvent) {
        const goodsId = dataset(event).goodsId
        if (typeof goodsId === 'string') room(this)?.shelfStore.takeOff(goodsId).catch(() => undefined)
      },
      /** Flips a UI flag (a drawer, a panel): `data-key="shelfOpen"` toggles `ui.shelfOpen`. */
      toggle(this: Instance, event?: TapEvent) {
        const key = dataset(event).key
        const live = this.__live
        if (typeof key !== 'string' || !/^\w+$/.test(key) || !live) return
        const ui = (this.data.ui ?? {}) as Record<string, unknown>
        live.batcher.merge({ [`ui.${key}`]: !ui[key] })
      },
      /** The room's stores, for code that needs more than the bound fields. */
      liveRoom(this: Instance): LiveRoom | undefined {
        return room(this)
      },
      /** setData calls and bytes this page or component sent through the behavior. */
      liveSetDataStats(this: Instance) {
        return this.__live ? { ...this.__live.batcher.stats } : { calls: 0, bytes: 0, largest: 0 }
      },
    },
  })
}
