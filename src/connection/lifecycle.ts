import { CloseCode, closePolicy, ErrorCode } from '../protocol/codes'
import type { ConnectionState, Transport } from './state'

/**
 * The client's connection lifecycle as one pure function: state + event -> state + what to do
 * next. Every state change of a client goes through `transition`; the client only carries out
 * the decision (wait, reconnect, stop). The diagram (`idle` is where a client starts):
 *
 *   idle ──connect──> connecting ──authenticate──> authenticating ──open──> open
 *    ^                   │                              │                    │
 *    │                   └──────────────end─────────────┴────────────────────┘
 *    │                                                   │
 *    │   end, by the close table (`closePolicy`):         v
 *    │     reconnect / reconnectSlow / dropCommand ─> reconnecting ──connect──> connecting
 *    │     refreshToken (with a token function)   ─> reconnecting (a fresh token first)
 *    │     fail, too many attempts, no token fn   ─> failed ──restart──> idle ──connect──> ...
 *    │     the network is gone                    ─> offline ──connect (online again)──> ...
 *    └─────── release (no subscriber, no command) / end while the app is hidden
 *
 *   close, from any state ─> closed. `closed` is final; `failed` leaves only by `restart`
 *   (`client.reconnect()`) or `close`.
 */
export type LifecycleEvent =
  /** A connection attempt starts. */
  | { type: 'connect' }
  /** The socket is open and the server's `init` came: authenticating. */
  | { type: 'authenticate' }
  /** Authenticated: the link is open, over a socket or the HTTP fallback. */
  | { type: 'open'; transport?: Transport }
  /** The connection ended (or the attempt failed) without the app asking. */
  | { type: 'end'; code: number; reason: string; cause: EndCause }
  /** Nothing needs the link any more (the last subscriber left and the linger ran out). */
  | { type: 'release' }
  /** The app closed the client: final. */
  | { type: 'close' }
  /** The app asks again after `failed` (`client.reconnect()`). */
  | { type: 'restart' }

/**
 * Why a connection ended: a close (or a failed attempt), the network, the app going to the
 * background, or the HTTP fallback seeing the socket work again (`transport`).
 */
export type EndCause = 'closed' | 'offline' | 'hidden' | 'transport'

/** What carries the link: a WebSocket, or the HTTP long-poll fallback. */

/** What the client does after a transition. */
export type NextStep =
  /** Nothing: the state is all there is. */
  | 'none'
  /** Wait `state.retryInMs`, then connect again. */
  | 'retry'
  /** Wait until the network is back, then connect. */
  | 'waitOnline'
  /** Wait until the app is shown, then connect. */
  | 'waitVisible'
  /** Stop: closed, or failed until `restart`. */
  | 'stop'
  /** Connect now (after `restart`). */
  | 'connect'

export interface Transition {
  state: ConnectionState
  next: NextStep
  /** Ask the token function for a fresh token; never send the refused one again. */
  refreshToken?: boolean
  /** The server or the route failed: the next attempt goes to the next URL. */
  moveOn?: boolean
  /** The frame that made the server close with 1009 is dropped, not resent. */
  dropLastCommand?: boolean
}

export interface LifecyclePolicy {
  /** Give up (`failed`) after this many failed attempts in a row. */
  maxAttempts: number
  /** The app gave a token function: a refused token can be replaced. */
  canRefreshToken: boolean
  /** Delay before reconnect attempt `attempt` (1-based); `slow`: the server asked us to back off. */
  delayMs(attempt: number, slow: boolean): number
}

/**
 * The next state and step for `event` in `state`. Pure: no time, no I/O, no randomness of its
 * own (the policy's `delayMs` brings the jitter).
 *
 * @example
 * transition({ status: 'open', attempt: 0 }, { type: 'end', code: 1006, reason: '', cause: 'closed' }, policy)
 * // { state: { status: 'reconnecting', attempt: 1, retryInMs: ..., code: 1006, reason: '' }, next: 'retry', moveOn: true }
 */
export function transition(state: ConnectionState, event: LifecycleEvent, policy: LifecyclePolicy): Transition {
  if (state.status === 'closed') return { state, next: 'stop' }
  if (event.type === 'close') return { state: { status: 'closed', attempt: 0, code: CloseCode.normal, reason: 'closed by the client' }, next: 'stop' }
  if (state.status === 'failed') {
    return event.type === 'restart' ? { state: { status: 'idle', attempt: 0 }, next: 'connect' } : { state, next: 'stop' }
  }
  switch (event.type) {
    case 'restart':
      return { state, next: 'none' }
    case 'connect':
      return { state: { status: 'connecting', attempt: state.attempt }, next: 'none' }
    case 'authenticate':
      return { state: { status: 'authenticating', attempt: state.attempt }, next: 'none' }
    case 'open':
      return { state: { status: 'open', attempt: 0, transport: event.transport ?? 'socket' }, next: 'none' }
    case 'release':
      return { state: { status: 'idle', attempt: 0 }, next: 'none' }
    case 'end':
      return ended(state, event, policy)
  }
}

function ended(state: ConnectionState, event: Extract<LifecycleEvent, { type: 'end' }>, policy: LifecyclePolicy): Transition {
  const { code, reason } = event
  if (event.cause === 'offline') return { state: { status: 'offline', attempt: 0, code: CloseCode.abnormal, reason: 'offline' }, next: 'waitOnline' }
  if (event.cause === 'hidden') return { state: { status: 'idle', attempt: 0, code, reason: 'app hidden' }, next: 'waitVisible' }
  // Back to the socket from the HTTP fallback: at once, and not a failed attempt.
  if (event.cause === 'transport') return { state: { status: 'reconnecting', attempt: 0, retryInMs: 0, code, reason }, next: 'retry' }
  const action = closePolicy(code, state.status === 'open' ? 'open' : 'handshake')
  const fail = (why: string): Transition => ({ state: { status: 'failed', attempt: state.attempt, code, reason: why }, next: 'stop' })
  if (action === 'fail') return fail(reason)
  if (action === 'refreshToken' && !policy.canRefreshToken) return fail(`token refused (${reason || 'no reason given'}) and no way to get a fresh one`)
  const attempt = state.attempt + 1
  if (attempt > policy.maxAttempts) return fail(`gave up after ${policy.maxAttempts} attempts: ${reason}`)
  const retryInMs = action === 'reconnectNow' ? 0 : policy.delayMs(attempt, action === 'reconnectSlow')
  return {
    state: { status: 'reconnecting', attempt, retryInMs, code, reason },
    next: 'retry',
    ...(action === 'refreshToken' ? { refreshToken: true } : { moveOn: true }),
    ...(action === 'dropCommand' ? { dropLastCommand: true } : {}),
  }
}

/** Whether the client may still connect: not closed, not failed. */
export function canConnect(state: ConnectionState): boolean {
  return state.status !== 'closed' && state.status !== 'failed'
}

/** The code a guarded callback's failure ends an attempt with: 4500, reconnect with backoff. */
export const CALLBACK_FAILURE_CODE = ErrorCode.internal
