/**
 * The one table of codes: `ack.code` / `error.code` values and WebSocket close codes
 * used by the `live.v1` protocol, with what a client does about each close.
 */

/** `ack.code` and `error.code` values. */
export const ErrorCode = {
  badRequest: 4000,
  unauthorized: 4001,
  forbidden: 4003,
  notFound: 4004,
  tooLarge: 4013,
  rateLimited: 4029,
  /** Muted in this room: the ack carries `until` (moderation). */
  muted: 4030,
  /** Kicked from this room: its joins are refused until `until`. */
  kicked: 4031,
  /** Refused by the server's content check. */
  contentRefused: 4032,
  internal: 4500,
} as const

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode]

/** WebSocket close codes that mean something in this protocol. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  abnormal: 1006,
  /** WeChat reports 0 for some abnormal closes. */
  wechatAbnormal: 0,
  policyViolation: 1008,
  tooBig: 1009,
  serverError: 1011,
  /** The server lost its history (its store was emptied): reconnect, rejoin, take snapshots. */
  serviceRestart: 1012,
  tryAgainLater: 1013,
  unauthorized: 4001,
  forbidden: 4003,
  heartbeatTimeout: 4008,
} as const

/** Where in a connection's life a close came: before `open` (connect, `init`, auth) or after. */
export type ConnectionPhase = 'handshake' | 'open'

/**
 * What a close the client did not ask for means (docs/protocol.md, "Close codes"):
 * - `reconnect`: backoff as usual; `reconnectSlow`: backoff starts at its maximum;
 * - `reconnectNow`: at once (the server restarted on purpose; backoff applies if that fails);
 * - `dropCommand`: reconnect, dropping the frame that caused the close;
 * - `refreshToken`: a fresh token, then reconnect; `fail`: stop for good.
 */
export type CloseAction = 'reconnect' | 'reconnectSlow' | 'reconnectNow' | 'dropCommand' | 'refreshToken' | 'fail'

/** The one table of close codes, by phase. */
const CLOSE_TABLE: ReadonlyMap<number, Readonly<Record<ConnectionPhase, CloseAction>>> = new Map([
  // The server says we flooded it.
  [CloseCode.policyViolation, { handshake: 'reconnectSlow', open: 'reconnectSlow' }],
  // A frame over the server's limit: before `open` it is our auth (a token that will never fit).
  [CloseCode.tooBig, { handshake: 'fail', open: 'dropCommand' }],
  // The room service lost its state (a new epoch): reconnect at once, the rejoin takes a snapshot.
  [CloseCode.serviceRestart, { handshake: 'reconnect', open: 'reconnectNow' }],
  // Before `open`: the server is overloaded; after: we read too slowly (the slow-reader bound).
  [CloseCode.tryAgainLater, { handshake: 'reconnectSlow', open: 'reconnect' }],
  // A bad token at auth, or one that expired while open.
  [CloseCode.unauthorized, { handshake: 'refreshToken', open: 'refreshToken' }],
  [CloseCode.forbidden, { handshake: 'fail', open: 'fail' }],
])

/**
 * What the client does after a close it did not ask for, in `phase` (default `open`). Every
 * code not in the table (1000 "interrupted", 0, 1001, 1006, 1011, 4008, anything else)
 * is treated like 1006: reconnect with backoff.
 *
 * @example
 * closePolicy(1009, 'open') // 'dropCommand'
 */
export function closePolicy(code: number, phase: ConnectionPhase = 'open'): CloseAction {
  return CLOSE_TABLE.get(code)?.[phase] ?? 'reconnect'
}

/**
 * The HTTP fallback's statuses, one per error code: the server answers a refused request with
 * `httpStatusOf(code)`, the client reads a failed request's status back with `codeOfHttpStatus`.
 */
const HTTP_STATUS: ReadonlyMap<number, number> = new Map([
  [ErrorCode.badRequest, 400],
  [ErrorCode.unauthorized, 401],
  [ErrorCode.forbidden, 403],
  [ErrorCode.notFound, 404],
  [ErrorCode.tooLarge, 413],
  [ErrorCode.rateLimited, 429],
  [ErrorCode.muted, 403],
  [ErrorCode.kicked, 403],
  [ErrorCode.contentRefused, 422],
  [ErrorCode.internal, 503],
])

/** The HTTP status a refusal with `code` is answered with (400 for a code not in the table). */
export function httpStatusOf(code: number): number {
  return HTTP_STATUS.get(code) ?? 400
}

/** The error code an HTTP status stands for, or undefined (a status the protocol does not use, or a failed request: 0). */
export function codeOfHttpStatus(status: number): ErrorCodeValue | undefined {
  for (const [code, each] of HTTP_STATUS) if (each === status) return code as ErrorCodeValue
  return undefined
}
