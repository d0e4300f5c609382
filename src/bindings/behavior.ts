import { reaction } from 'mobx-miniprogram'
import type { Goods } from '../protocol/frames'
import type { LiveRoom } from '../stores/liveRoom'
import type { CommentItem } from '../stores/types'
import { acquireLiveRoom, DEFAULT_SCOPE, getLiveClient, type LiveRoomHandle, releaseLiveRoom } from './injection'
import { ListBinding } from './listBinding'
import { SetDataBatcher } from './setDataBatcher'
import type { AnyFieldReaders, CommentKeyOf, CommentsOption, FieldReaders, LiveRoomBehaviorId, LiveRoomBehaviorOptions, LiveRoomData, LiveTapEvent, PageQuery } from './liveRoomTypes'
import { DEFAULT_ROOM_FIELDS, DEFAULT_THROTTLED_FIELDS, type DefaultRoomData, type RenderedComment } from './roomFields'
import { CommentFollow } from './commentFollow'
import { pageBudget } from './pageBudget'
import type { SetDataStats } from './setDataBudget'

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

interface Live {
  roomId: string
  scope: string
  handle: LiveRoomHandle
  room: LiveRoom
  batcher: SetDataBatcher
  fields: StoreBindingsManager
  disposeList: () => void
  /** Whether the comment list follows the newest comment. */
  follow: CommentFollow
  /** The rendered comment list (undefined with `comments: false`): which comment is at which index. */
  list: ListBinding<CommentItem, Omit<RenderedComment, 'k'>> | undefined
}

interface Instance {
  data: Record<string, unknown>
  setData(data: Record<string, unknown>): void
  /** WeChat (2.8.2+): the component whose template holds this one; null for a page. */
  selectOwnerComponent?: () => Instance | null
  __live?: Live
}

type TapEvent = LiveTapEvent

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
 * `deleteComment`, `muteCommenter`, `unmuteCommenter`, `kickCommenter` (data-index of the comment in the
 * rendered list, or data-id / data-uid; data-seconds), `toggle` (data-key: flips `ui.<key>`, for drawers and panels).
 *
 * Typed: the result carries the behavior's data (`LiveRoomData`: each field typed by what its
 * reader returns, the comment list under its key), properties and methods, so WeChat's typings
 * (miniprogram-api-typings) type `this` in `Component()`; for `Page()`, whose typings ignore
 * behaviors, write the page with `livePage(behavior, { ... })`.
 *
 * @example
 * // A page written with Component(), opened as pages/room/room?room_id=r1:
 * Component({
 *   behaviors: [liveRoomBehavior()],
 *   methods: {
 *     cheer() { if (this.data.onlineNum > 100) this.liveRoom()?.roomStore.like(3) },
 *   },
 * })
 * // Custom fields, typed from their readers (`this.data.hot` is a boolean):
 * liveRoomBehavior({ fields: { hot: (room) => room.roomStore.onlineNum > 1000 }, comments: { key: 'chat', limit: 50 } })
 * // <text>{{onlineNum}} online</text> <button bindtap="like">like {{likeNum}}</button>
 */
export function liveRoomBehavior<const C extends CommentsOption = { key: 'comments' }>(
  options?: LiveRoomBehaviorOptions<DefaultRoomData, C> & { fields?: undefined },
): LiveRoomBehaviorId<LiveRoomData<DefaultRoomData, CommentKeyOf<C>>>
export function liveRoomBehavior<V extends object, const C extends CommentsOption = { key: 'comments' }>(
  options: LiveRoomBehaviorOptions<V, C> & { fields: FieldReaders<V> },
): LiveRoomBehaviorId<LiveRoomData<V, CommentKeyOf<C>>>
export function liveRoomBehavior(options: LiveRoomBehaviorOptions<unknown, CommentsOption> = {}): string {
  const bindings = require('mobx-miniprogram-bindings') as BindingsModule
  const fieldReaders: AnyFieldReaders = (options.fields as AnyFieldReaders | undefined) ?? DEFAULT_ROOM_FIELDS
  const commentOptions = options.comments === false ? undefined : { key: options.comments?.key ?? 'comments', limit: options.comments?.limit ?? 200 }
  const throttledKeys = (options.throttle?.keys ?? DEFAULT_THROTTLED_FIELDS).filter((k) => k in fieldReaders)
  const maxSetDataPerSecond = options.maxSetDataPerSecond ?? 20
  const commentKey = commentOptions?.key ?? 'comments'

  const start = (self: Instance, roomId: string): void => {
    const scope = String(self.data.liveScope || DEFAULT_SCOPE)
    if (self.__live?.roomId === roomId && self.__live.scope === scope) return
    stop(self)
    if (roomId === '') return
    const handle = acquireLiveRoom(roomId, options.room, scope)
    const room = handle.room
    // The page's time is its client's: one virtual scheduler drives client, stores and bindings in a test.
    const scheduler = getLiveClient(scope).scheduler
    const batcher = new SetDataBatcher(self, scheduler, { budget: pageBudget(self, maxSetDataPerSecond, scheduler), throttledKeys, throttleMs: options.throttle?.ms ?? 250 })
    const initial: Record<string, unknown> = { liveRoomId: roomId, commentDraft: '', commentError: '', ui: {} }
    const follow = new CommentFollow(commentKey)
    if (commentOptions) Object.assign(initial, follow.initial())
    batcher.merge(initial)
    // Fields through mobx-miniprogram-bindings, into the batcher rather than straight to setData.
    const fields = bindings.createStoreBindings(
      { setData: (data: Record<string, unknown>) => batcher.merge(data) },
      {
        store: room,
        fields: Object.fromEntries(Object.entries(fieldReaders).map(([key, read]) => [key, () => read(room)])),
      },
    )
    fields.updateStoreBindings()
    batcher.beforeFlush = () => fields.updateStoreBindings()
    const live: Live = { roomId, scope, handle, room, batcher, fields, disposeList: () => undefined, follow, list: undefined }
    if (commentOptions) {
      const list = (live.list = new ListBinding<CommentItem, Omit<RenderedComment, 'k'>>(commentOptions.key, commentOptions.limit, (c) => {
        const rendered: Omit<RenderedComment, 'k'> = { name: c.name, content: c.content }
        if (c.status !== 'sent') rendered.status = c.status
        if (c.status === 'failed' && c.reason) rendered.reason = c.reason
        if (c.own) rendered.own = true
        return rendered
      }))
      live.disposeList = reaction(
        () => [room.commentStore.comments, room.commentStore.generation] as const,
        ([comments, generation]) => {
          const { patch, added } = list.patch(comments, generation)
          batcher.merge({ ...patch, ...follow.arrived(added) })
        },
        { fireImmediately: true },
      )
    }
    self.__live = live
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

  /** The comment a moderation handler names: `data-index` (its place in the rendered list) or `data-id`. */
  const commentOf = (self: Instance, event?: TapEvent): CommentItem | undefined => {
    const d = dataset(event)
    const live = self.__live
    if (live === undefined) return undefined
    if (typeof d.id === 'string') return live.room.commentStore.byId(d.id)
    const index = Number(d.index)
    return Number.isInteger(index) ? live.list?.itemAt(index) : undefined
  }
  /** The user a moderation handler names: `data-uid`, or the author of the comment it names. */
  const uidOf = (self: Instance, event?: TapEvent): string | undefined => {
    const uid = dataset(event).uid
    return typeof uid === 'string' && uid !== '' ? uid : commentOf(self, event)?.uid
  }
  const secondsOf = (event: TapEvent | undefined, fallback: number): number => {
    const seconds = Number(dataset(event).seconds ?? fallback)
    return Number.isInteger(seconds) && seconds > 0 ? seconds : fallback
  }
  /** Sends a moderation command; its course (and why it failed) is in `moderationStore`. */
  const moderate = (self: Instance, act: (room: LiveRoom) => Promise<unknown>): void => {
    const live = self.__live
    if (!live) return
    try {
      act(live.room).catch(() => undefined)
    } catch {
      // A comment with no place on the server (still pending, no msg_id): nothing to send.
    }
  }

  const followNewest = (self: Instance): void => {
    const patch = self.__live?.follow.follow()
    if (patch) self.__live?.batcher.merge(patch)
  }

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
        room(this)
          ?.roomStore.subscribe()
          .catch(() => undefined)
      },
      buy(this: Instance, event?: TapEvent) {
        const goodsId = dataset(event).goodsId
        if (typeof goodsId === 'string')
          room(this)
            ?.shelfStore.buy(goodsId)
            .catch(() => undefined)
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
        room(this)
          ?.shelfStore.putOn(goods)
          .catch(() => undefined)
      },
      takeOff(this: Instance, event?: TapEvent) {
        const goodsId = dataset(event).goodsId
        if (typeof goodsId === 'string')
          room(this)
            ?.shelfStore.takeOff(goodsId)
            .catch(() => undefined)
      },
      /** Anchor: deletes a comment for everyone (`bindlongpress="deleteComment" data-index="{{index}}"`, or `data-id`). */
      deleteComment(this: Instance, event?: TapEvent) {
        const comment = commentOf(this, event)
        if (comment) moderate(this, (r) => r.moderationStore.deleteComment(comment.id))
      },
      /** Anchor: mutes a comment's author (`data-index`, or `data-uid`) for `data-seconds` (default 600). */
      muteCommenter(this: Instance, event?: TapEvent) {
        const uid = uidOf(this, event)
        if (uid) moderate(this, (r) => r.moderationStore.mute(uid, secondsOf(event, 600)))
      },
      /** Anchor: lifts a mute (`data-index`, or `data-uid`). */
      unmuteCommenter(this: Instance, event?: TapEvent) {
        const uid = uidOf(this, event)
        if (uid) moderate(this, (r) => r.moderationStore.unmute(uid))
      },
      /** Anchor: puts a comment's author out of the room (`data-index`, or `data-uid`) for `data-seconds` (default 3600). */
      kickCommenter(this: Instance, event?: TapEvent) {
        const uid = uidOf(this, event)
        if (uid) moderate(this, (r) => r.moderationStore.kick(uid, secondsOf(event, 3600)))
      },
      /** Flips a UI flag (a drawer, a panel): `data-key="shelfOpen"` toggles `ui.shelfOpen`. */
      toggle(this: Instance, event?: TapEvent) {
        const key = dataset(event).key
        const live = this.__live
        if (typeof key !== 'string' || !/^\w+$/.test(key) || !live) return
        const ui = (this.data.ui ?? {}) as Record<string, unknown>
        live.batcher.merge({ [`ui.${key}`]: !ui[key] })
      },
      /**
       * The comment scroll-view's `bindscroll`: scrolling up stops following the newest comment
       * (the "new comments" pill shows when more arrive); following scrolls never go up.
       */
      commentsScrolled(this: Instance, event?: TapEvent) {
        const live = this.__live
        const top = Number(event?.detail?.scrollTop)
        if (!live || !Number.isFinite(top)) return
        const patch = live.follow.scrolled(top)
        if (patch) live.batcher.merge(patch)
      },
      /** The scroll-view's `bindscrolltolower`: back at the bottom, follow again. */
      commentsAtBottom(this: Instance) {
        followNewest(this)
      },
      /** The "new comments" pill's `bindtap`: back to the newest, follow again. */
      followComments(this: Instance) {
        followNewest(this)
      },
      /** The room's stores, for code that needs more than the bound fields. */
      liveRoom(this: Instance): LiveRoom | undefined {
        return room(this)
      },
      /**
       * setData calls and bytes of the page this page or component is on: the page and every
       * component bound inside it together (one budget); `own` is this one's share.
       */
      liveSetDataStats(this: Instance): SetDataStats & { own: SetDataStats } {
        const live = this.__live
        if (!live) return { calls: 0, bytes: 0, largest: 0, own: { calls: 0, bytes: 0, largest: 0 } }
        return { ...live.batcher.budget.stats, own: { ...live.batcher.stats } }
      },
    },
  })
}
