/**
 * Room events and refusals as a live.v1 server sends them, for `FakeTask.deliver`: a test plays
 * the moderation of a room (a comment deleted, this user muted or kicked) without a server.
 * `seq` is the room's next one: the client takes a skipped seq for a gap and rejoins to fill it.
 */
import type { AckFrame, ClientFrame, KickedEvent, MessageDeletedEvent, MessageEvent, MutedEvent, UserRef } from '../protocol/frames'

/** The anchor who moderates, unless a test names someone else. */
const ANCHOR: UserRef = { uid: 'anchor', name: 'Anchor' }

/** A comment of the room. */
export function messageEvent(e: { roomId: string; seq: number; msgId: string; from: UserRef; content: string; ts?: number }): MessageEvent {
  return { msg_type: 'message', room_id: e.roomId, seq: e.seq, ts: e.ts ?? e.seq, msg_id: e.msgId, from_uid: e.from.uid, from_name: e.from.name, content: e.content }
}

/** The comment with `targetMsgId` was deleted for everyone. */
export function messageDeletedEvent(e: { roomId: string; seq: number; targetMsgId: string; by?: UserRef }): MessageDeletedEvent {
  return { msg_type: 'message_deleted', room_id: e.roomId, seq: e.seq, target_msg_id: e.targetMsgId, by: e.by ?? ANCHOR }
}

/** `user` is muted until `until` (server ms; 0 lifts the mute). */
export function mutedEvent(e: { roomId: string; seq: number; user: UserRef; until: number; by?: UserRef }): MutedEvent {
  return { msg_type: 'muted', room_id: e.roomId, seq: e.seq, user: e.user, until: e.until, by: e.by ?? ANCHOR }
}

/** `user` was put out of the room; their joins are refused until `until` (server ms). */
export function kickedEvent(e: { roomId: string; seq: number; user: UserRef; until: number; by?: UserRef }): KickedEvent {
  return { msg_type: 'kicked', room_id: e.roomId, seq: e.seq, user: e.user, until: e.until, by: e.by ?? ANCHOR }
}

/**
 * The server's refusal of a command: 4030 muted and 4031 kicked carry `until`, 4032 a content
 * check's verdict, 4003 a command this user may not send.
 */
export function refusal(command: ClientFrame, code: number, options: { reason?: string; until?: number } = {}): AckFrame {
  return {
    msg_type: 'ack',
    msg_id: 'msg_id' in command ? command.msg_id : '',
    ok: false,
    code,
    reason: options.reason ?? `refused (${code})`,
    ...(options.until !== undefined ? { until: options.until } : {}),
  }
}
