import type { ClientCommand } from '../protocol/frames'
import type { CommandInput } from './api'

/** What the app hands the client, checked at the door: a TypeError says what is wrong. */

/** Commands the client manages itself: never through `send`. */
const MANAGED = new Set(['auth', 'join', 'leave', 'ping'])

/** What `send(input)` queues: the input with its `msg_id` (given, or the next one); throws on a command the client manages or a bad id. */
export function commandOf(input: CommandInput, nextMsgId: () => string): ClientCommand {
  const type = (input as { msg_type?: unknown })?.msg_type
  if (typeof type === 'string' && MANAGED.has(type)) throw new TypeError(`send: "${type}" is managed by the client; use client.room(roomId) to join and leave`)
  const msgId = input.msg_id ?? nextMsgId()
  if (typeof msgId !== 'string' || msgId.length === 0 || msgId.length > 64) throw new TypeError('send: msg_id must be a string of 1..64 characters')
  return { ...input, msg_id: msgId } as ClientCommand
}

/** `value` when it is a plain object; a TypeError naming `what` otherwise. */
export function checkedObject<T>(what: string, value: T): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`${what} must be an object`)
  return value
}
