/**
 * miniprogram-live-store: the client library (mini-program safe: no Node built-ins, no `ws`).
 * This entry is what the README documents: the client, its stores, the page bindings, the wx
 * platform, and the protocol's types and codes. The wire protocol's parsers and constants are
 * at `miniprogram-live-store/protocol`, the platform contract at `miniprogram-live-store/platform`,
 * the test kit at `miniprogram-live-store/testing`; the reference server and the Node platform
 * are the package `miniprogram-live-store-server` (and its `/node` entry).
 */
// The client
export { createLiveClient, tokenClaims, tokenExpiry } from './connection/client'
export type { CommandInput, HttpFallbackOptions, LiveClient, LiveClientError, LiveClientOptions, LiveClientStats, TokenSource, UrlAttempt, UrlSource } from './connection/client'
export type { ConnectionState, ConnectionStatus, Transport } from './connection/state'
export type { ConnectionLogEvent, ConnectionSummary } from './connection/connectionLog'
export type { ReportOptions } from './connection/reporter'
export type { RoomUpdate } from './connection/rooms'
export type { RttEstimate } from './connection/rtt'
export type { BackoffOptions } from './connection/backoff'
export type { CommandResult, OutboxOptions } from './connection/outbox'
export { AckTimeoutError, ClientClosedError, CommandRejectedError, CommandTooLargeError, ConnectionFailedError, OutboxFullError } from './connection/errors'
export type { EndCause } from './connection/lifecycle'
// The platform
export { createWxPlatform } from './platform/wx'
export type { WxLike } from './platform/wx'
export type * from './platform/types'
// The protocol's frames (types) and codes
export type * from './protocol/frames'
export { CloseCode, ErrorCode, closePolicy } from './protocol/codes'
export type { CloseAction, ConnectionPhase, ErrorCodeValue } from './protocol/codes'
// Stores
export { createLiveRoom } from './stores/liveRoom'
export type { LiveRoom, LiveRoomOptions } from './stores/liveRoom'
export type { RoomStore } from './stores/roomStore'
export type { CommentStore, SendResult } from './stores/commentStore'
export type { GoodsActionState, ShelfStore } from './stores/shelfStore'
export type { ModerationStore } from './stores/moderationStore'
export type { ActionState } from './stores/actionState'
export type { CommentItem, CommentStats, Notice } from './stores/types'
// Pages
export { acquireLiveRoom, getLiveClient, heldLiveRooms, provideLiveClient, releaseLiveRoom } from './bindings/injection'
export type { LiveRoomHandle } from './bindings/injection'
export { liveRoomBehavior } from './bindings/behavior'
export { livePage } from './bindings/livePage'
export type { LivePageInstance, LivePageOptions } from './bindings/livePage'
export { DEFAULT_ROOM_FIELDS, DEFAULT_THROTTLED_FIELDS, describeConnection } from './bindings/roomFields'
export type { DefaultRoomData, FieldReader, FieldValues, RenderedComment } from './bindings/roomFields'
export type {
  CommentKeyOf,
  CommentsData,
  CommentsOption,
  FieldReaders,
  LiveRoomBaseData,
  LiveRoomBehaviorId,
  LiveRoomBehaviorOptions,
  LiveRoomData,
  LiveRoomMethods,
  LiveRoomProperties,
  LiveRoomPropertyData,
  LiveTapEvent,
  PageQuery,
} from './bindings/liveRoomTypes'
export type { SetDataStats } from './bindings/setDataBudget'
