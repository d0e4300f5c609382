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

/**
 * What the client does after a close it did not ask for (protocol.md, "Close codes").
 * - `reconnect`: backoff as usual.
 * - `reconnectSlow`: backoff starts at its maximum (the server said we flooded it).
 * - `refreshToken`: fetch a fresh token, then reconnect; never reuse the rejected one.
 * - `fail`: stop for good, state `failed`.
 */
export type ClosePolicy = 'reconnect' | 'reconnectSlow' | 'refreshToken' | 'fail'

const CLOSE_POLICIES: ReadonlyMap<number, ClosePolicy> = new Map<number, ClosePolicy>([
  [CloseCode.policyViolation, 'reconnectSlow'],
  [CloseCode.unauthorized, 'refreshToken'],
  [CloseCode.forbidden, 'fail'],
])

/**
 * Policy for a close the client did not ask for. Every code not in the table
 * (1000 `"interrupted"`, 0, 1001, 1006, 1009, 1011, 1013, 4008, anything else)
 * is treated like 1006: reconnect with backoff.
 */
export function closePolicy(code: number): ClosePolicy {
  return CLOSE_POLICIES.get(code) ?? 'reconnect'
}
