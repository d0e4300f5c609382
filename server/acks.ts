/**
 * Refusals: every ack that says no, and the wording both transports use for the same refusal
 * (a socket's ack or close reason, the HTTP fallback's answer).
 */
import { type AckFrame, ErrorCode } from 'miniprogram-live-store/protocol'

/** Why a user may not do something: the ack's (or HTTP answer's) code and reason. */
export interface Refusal {
  code: number
  reason: string
  /** Muted (4030) or kicked (4031) until then, server ms. */
  until?: number
}

/** A command refused: the ack a socket sends, or an HTTP command's entry. */
export const refusal = (msgId: string, code: number, reason: string, until?: number): AckFrame => ({
  msg_type: 'ack',
  msg_id: msgId,
  ok: false,
  code,
  reason,
  ...(until !== undefined ? { until } : {}),
})

/** An answer a resend would get again whatever happens meanwhile: an applied command, or one malformed in itself (4000). */
export const isFinal = (ack: AckFrame): boolean => ack.ok || ack.code === ErrorCode.badRequest

/** What a client is told when the room engine's store failed under a command: it was not applied. */
export const unavailableReason = (error: Error): string => `room service unavailable, try again: ${error.message}`

/** A join (or poll) while the room engine's store is unreachable: rooms joined already keep being served. */
export const STORE_UNREACHABLE: Refusal = { code: ErrorCode.internal, reason: 'room service unavailable (its store is unreachable), try again' }

/** One connection more than a user may hold (4029 on `auth`, then the socket closes with 1008). */
export const tooManyConnections = (max: number): Refusal => ({ code: ErrorCode.rateLimited, reason: `more than ${max} connections for this user` })

/** One room more than a user may be in at once. */
export const tooManyRooms = (max: number): Refusal => ({ code: ErrorCode.rateLimited, reason: `in too many rooms: a user may be in ${max} rooms at once (leave one first)` })
