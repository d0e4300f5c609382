import type { AckFrame } from '../protocol/frames'

/** The server refused a command (`ack` with `ok: false`). */
export class CommandRejectedError extends Error {
  override readonly name = 'CommandRejectedError'
  constructor(
    readonly msgId: string,
    readonly code: number,
    readonly reason: string,
    readonly ack: AckFrame,
  ) {
    super(`command ${msgId} refused: ${code} ${reason}`)
  }
}

/** No ack came back for a command, after every resend. */
export class AckTimeoutError extends Error {
  override readonly name = 'AckTimeoutError'
  constructor(
    readonly msgId: string,
    readonly attempts: number,
  ) {
    super(`no ack for command ${msgId} after ${attempts} attempts`)
  }
}

/** The outbox holds its maximum of unacknowledged commands; this one was not taken. */
export class OutboxFullError extends Error {
  override readonly name = 'OutboxFullError'
  constructor(readonly max: number) {
    super(`outbox full: ${max} commands wait for an ack; this one was not queued`)
  }
}

/**
 * A command larger than the server takes in one frame (`init.max_frame_bytes`, else the
 * protocol's 64 KiB). Refused before it leaves: sending it would only get the socket closed
 * with 1009, and resending it after the reconnect would do the same again.
 */
export class CommandTooLargeError extends Error {
  override readonly name = 'CommandTooLargeError'
  constructor(
    readonly msgId: string,
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`command ${msgId} is ${bytes} bytes, over the server's frame limit of ${maxBytes}: not sent`)
  }
}

/** The client was closed (or failed) before the command could be acknowledged. */
export class ClientClosedError extends Error {
  override readonly name = 'ClientClosedError'
  constructor(readonly msgId: string) {
    super(`client closed before command ${msgId} was acknowledged`)
  }
}

/**
 * The client is `failed` (a close that means stop, or too many failed attempts): the command
 * was not sent, or its wait ended. `client.reconnect()` starts over.
 */
export class ConnectionFailedError extends Error {
  override readonly name = 'ConnectionFailedError'
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(`the connection failed (${code}${reason ? ` ${reason}` : ''}): command not delivered`)
  }
}

/**
 * How one connection ended, as the retry policy sees it. Internal to the pipeline:
 * it carries the close code the policy table is keyed on.
 */
export class SessionEnd extends Error {
  override readonly name = 'SessionEnd'
  constructor(
    readonly code: number,
    readonly reason: string,
    /**
     * `offline`: the network went away; `hidden`: the app went to the background; `transport`:
     * the HTTP fallback saw the socket open again (move back at once, not a failure).
     */
    readonly cause: 'closed' | 'offline' | 'hidden' | 'transport' = 'closed',
  ) {
    super(`connection ended: ${code} ${reason}`)
  }
}
