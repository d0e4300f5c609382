/// <reference types="miniprogram-api-typings" preserve="true" />
/**
 * The types of what `liveRoomBehavior` adds to a page or component: its data, properties and
 * methods, and the behavior identifier WeChat's typings (miniprogram-api-typings 5) read them from.
 */
import type { LiveRoom, LiveRoomOptions } from '../stores/liveRoom'
import type { DefaultRoomData, FieldReader, RenderedComment } from './roomFields'
import type { SetDataStats } from './setDataBudget'

/** A page's query (`onLoad(query)`): WeChat passes strings. */
export type PageQuery = Record<string, string | undefined>

/** Data key -> store reader; each key's type in `data` is what its reader returns. */
export type FieldReaders<V> = { [K in keyof V]: (room: LiveRoom) => V[K] }

/** The comment list: bound incrementally under `key` (default 'comments'), `limit` rendered (200). False: none. */
export type CommentsOption = { key?: string; limit?: number } | false

/** The data key the comment list is bound under. */
export type CommentKeyOf<C> = C extends false ? never : C extends { key: infer K extends string } ? K : 'comments'

/**
 * The comment list's data: the rendered list, whether it follows the newest comment
 * (`<key>Follow`) and whether comments arrived while it did not (`<key>Unseen`, the pill).
 */
export type CommentsData<K extends string> = { [P in K]: RenderedComment[] } & { [P in `${K}Follow` | `${K}Unseen`]: boolean }

/** Data every room page gets besides its fields and comment list. */
export type LiveRoomBaseData = {
  /** The room bound ('' before one is). */
  liveRoomId: string
  /** The comment input's value: '' after a comment is sent. */
  commentDraft: string
  /** Why the last comment was refused before it left ('' for none). */
  commentError: string
  /** Flags `toggle` flips (`data-key="shelfOpen"` -> `ui.shelfOpen`). */
  ui: Record<string, boolean>
}

/** All the behavior puts into `data`: the fields `V`, the comment list under `K`, the base data. */
export type LiveRoomData<V = DefaultRoomData, K extends string = 'comments'> = V & CommentsData<K> & LiveRoomBaseData

/** The behavior's properties (for `Component()`; WeChat passes the page query into them). */
export type LiveRoomProperties = {
  /** The room, when the page is not opened with `room_id` in its query. */
  roomId: StringConstructor
  /** The room, from the page query (`pages/room/room?room_id=r1`). */
  room_id: StringConstructor
  /** Which provided client to use (see `provideLiveClient`); empty for the app's. */
  liveScope: StringConstructor
}

/** The property values as `data` holds them. */
export type LiveRoomPropertyData = { roomId: string; room_id: string; liveScope: string }

/** An event from WXML, as the behavior's handlers read it (`data-*` on the element, `detail`). */
export interface LiveTapEvent {
  currentTarget?: { dataset?: Record<string, unknown> }
  detail?: { value?: unknown; scrollTop?: number }
}

/** The behavior's methods: WXML handlers, lifecycle hooks a page with its own can call, and access. */
export type LiveRoomMethods = {
  /** Joins the room (query `room_id`); call it from a `Page()`'s own `onLoad`. */
  liveRoomLoad(query?: PageQuery): void
  /** Resumes page updates; call it from a `Page()`'s own `onShow`. */
  liveRoomShow(): void
  /** Holds page updates while hidden; call it from a `Page()`'s own `onHide`. */
  liveRoomHide(): void
  /** Releases the room; call it from a `Page()`'s own `onUnload`. */
  liveRoomUnload(): void
  /** `bindtap="like"`, `data-count` likes at once (default 1). */
  like(event?: LiveTapEvent): void
  /** `bindtap="subscribe"`: follow the anchor. */
  subscribe(): void
  /** `bindtap="buy" data-goods-id="g1"`. */
  buy(event?: LiveTapEvent): void
  /** A form's `bindsubmit` (an input named `content`) or an input's `bindconfirm`. */
  sendComment(event?: LiveTapEvent): void
  /** Anchor: `data-goods-id`, `-goods-name`, `-goods-price`, `-default-image`. */
  putOn(event?: LiveTapEvent): void
  /** Anchor: `data-goods-id`. */
  takeOff(event?: LiveTapEvent): void
  /** Anchor: `bindlongpress="deleteComment" data-index="{{index}}"` (or `data-id`): deletes the comment for everyone. */
  deleteComment(event?: LiveTapEvent): void
  /** Anchor: `data-index` (or `data-uid`), `data-seconds` (default 600): mutes the comment's author. */
  muteCommenter(event?: LiveTapEvent): void
  /** Anchor: `data-index` (or `data-uid`): lifts the author's mute. */
  unmuteCommenter(event?: LiveTapEvent): void
  /** Anchor: `data-index` (or `data-uid`), `data-seconds` (default 3600): puts the author out of the room. */
  kickCommenter(event?: LiveTapEvent): void
  /** `data-key="shelfOpen"` flips `ui.shelfOpen`. */
  toggle(event?: LiveTapEvent): void
  /** The comment scroll-view's `bindscroll`: scrolling up stops following the newest comment. */
  commentsScrolled(event?: LiveTapEvent): void
  /** The scroll-view's `bindscrolltolower`: back at the bottom, follow again. */
  commentsAtBottom(): void
  /** The "new comments" pill's `bindtap`: back to the newest, follow again. */
  followComments(): void
  /** The room's stores, for code that needs more than the bound fields (undefined before a room is bound). */
  liveRoom(): LiveRoom | undefined
  /** setData calls and bytes of the page this one is on (all its bound components); `own`: this one's share. */
  liveSetDataStats(): SetDataStats & { own: SetDataStats }
}

/**
 * What `liveRoomBehavior()` returns: a behavior id (a string at run time) whose type carries the
 * behavior's data, properties and methods, so `Component({ behaviors: [...] })` knows
 * `this.data.onlineNum` is a number and `this.liveRoom()` exists; `livePage` does the same for `Page()`.
 */
export type LiveRoomBehaviorId<D extends WechatMiniprogram.Component.DataOption = LiveRoomData> = WechatMiniprogram.Behavior.Identifier<D, LiveRoomProperties, LiveRoomMethods>

/** Options of `liveRoomBehavior`, with the fields' data `V` and the comments option `C`. */
export interface LiveRoomBehaviorOptions<V = DefaultRoomData, C extends CommentsOption = CommentsOption> {
  /** Data key -> store reader, each typed by what it returns. Default: `DEFAULT_ROOM_FIELDS`. */
  fields?: FieldReaders<V>
  /** Keys of `fields` sent at most once per `throttleMs` (default `DEFAULT_THROTTLED_FIELDS`, 250 ms). */
  throttle?: { keys?: readonly string[]; ms?: number }
  /**
   * setData calls a page and the components bound inside it make together, at most, in any
   * sliding second. Default 20. Read by the first of them to bind (normally the page).
   */
  maxSetDataPerSecond?: number
  /** The comment list, bound incrementally under `key` (default 'comments'), `limit` rendered (200). False: none. */
  comments?: C
  /** Options of the room's stores (used by the first page or component that opens the room). */
  room?: LiveRoomOptions
}

/** Readers of any shape, as the behavior handles them at run time. */
export type AnyFieldReaders = Readonly<Record<string, FieldReader>>
