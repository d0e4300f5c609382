/**
 * miniprogram-live-store: the client library. Mini-program safe: no Node built-ins, no `ws`.
 * The Node platform is at `miniprogram-live-store/node`, the reference server at
 * `miniprogram-live-store/server`.
 */
export { createLiveClient, tokenClaims, tokenExpiry } from './connection/client'
export type { CommandInput, HttpFallbackOptions, LiveClient, LiveClientError, LiveClientOptions, LiveClientStats, TokenSource, UrlAttempt, UrlSource } from './connection/client'
export type { ConnectionState, ConnectionStatus, Transport } from './connection/state'
export type { ConnectionLogEvent, ConnectionSummary } from './connection/connectionLog'
export { DEFAULT_REPORTS } from './connection/reporter'
export type { ReportOptions } from './connection/reporter'
export { SOCKET_IS_BACK } from './connection/httpSession'
export { PlainDecoder } from './protocol/plain'
export type { PlainResult } from './protocol/plain'
export type { RoomUpdate } from './connection/rooms'
export type { RttEstimate } from './connection/rtt'
export { nextRttEstimate, pongTimeoutMs } from './connection/rtt'
export { backoffDelayMs, DEFAULT_BACKOFF } from './connection/backoff'
export type { BackoffOptions } from './connection/backoff'
export { DEFAULT_OUTBOX, outboxKeyFor } from './connection/outbox'
export type { CommandResult, OutboxOptions } from './connection/outbox'
export { AckTimeoutError, ClientClosedError, CommandRejectedError, CommandTooLargeError, ConnectionFailedError, OutboxFullError } from './connection/errors'
export { transition } from './connection/lifecycle'
export type { EndCause, LifecycleEvent, LifecyclePolicy, NextStep, Transition } from './connection/lifecycle'
export { createWxPlatform, SOCKET_OPTION_VERSIONS, socketOptionsFor } from './platform/wx'
export type { WxLike } from './platform/wx'
export type * from './platform/types'
export { isValidCloseCode, MAX_CONCURRENT_REQUESTS, MAX_CONCURRENT_SOCKETS, MAX_REQUEST_TIMEOUT_MS } from './platform/types'
export * from './protocol/frames'
export { CloseCode, ErrorCode, closePolicy } from './protocol/codes'
export type { CloseAction, ConnectionPhase, ErrorCodeValue } from './protocol/codes'
export { checkServerFrame, decodeFrame, DEFAULT_MAX_FRAME_BYTES, MAX_CONTENT_LENGTH, normalizeContent, parseClientFrame, parseHttpReply, parseServerFrame, utf8ByteLength } from './protocol/parse'
export type { ContentResult, FrameError, ParseOptions, ParseResult } from './protocol/parse'
export { createLiveRoom } from './stores/liveRoom'
export type { LiveRoom, LiveRoomOptions } from './stores/liveRoom'
export { RoomStore, LIKE_INTERVAL_MS } from './stores/roomStore'
export { CommentStore } from './stores/commentStore'
export type { SendResult } from './stores/commentStore'
export { ShelfStore } from './stores/shelfStore'
export type { CommentItem, CommentStats, Notice } from './stores/types'
export { acquireLiveRoom, DEFAULT_SCOPE, getLiveClient, heldLiveRooms, provideLiveClient, releaseLiveRoom } from './bindings/injection'
export type { LiveRoomHandle } from './bindings/injection'
export { liveRoomBehavior } from './bindings/behavior'
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
export { livePage } from './bindings/livePage'
export type { LivePageInstance, LivePageOptions } from './bindings/livePage'
export { ListBinding } from './bindings/listBinding'
export { SetDataBatcher } from './bindings/setDataBatcher'
export type { SetDataBatcherOptions, SetDataStats, SetDataTarget } from './bindings/setDataBatcher'
export { SetDataBudget } from './bindings/setDataBudget'
export type { BudgetMember } from './bindings/setDataBudget'
