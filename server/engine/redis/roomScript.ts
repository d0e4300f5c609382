import type { AckFrame, RoomEvent } from 'miniprogram-live-store/protocol'
import type { RoomConfig } from '../../room'
import type { ApplyResult, CommandKey } from '../types'
import type { RedisKeys } from './keys'

/**
 * The room script's calling convention, in one place: the names of its KEYS and of its fixed
 * ARGV, in order. The call (`roomScriptArgv`) orders a named object by these lists, and the
 * script (scripts.ts) reads the same names (`K.meta`, `A.dedupTtlMs`) from tables built from
 * them, so neither side counts positions by hand. ARGV past the fixed ones are the op's own.
 */

/** KEYS, in order. */
export const ROOM_SCRIPT_KEYS = [
  /** The room's hash: seq, title, status, anchor, like_num, its epoch. */
  'meta',
  /** The history: a Stream capped at the history length. */
  'hist',
  /** online_num. */
  'online',
  /** The room's members on one process (connection id -> user). */
  'members',
  /** Followers. */
  'subs',
  'shelf',
  'shelfOrder',
  /** The last comments, for snapshots. */
  'msgs',
  /** Likes waiting for the window's flush. */
  'likes',
  'likeWindow',
  /** The command's dedup record, in the room's slot (a room's placeholder when there is no command). */
  'dedup',
  /** Connections in the room per uid: online_num counts users, not connections. */
  'users',
  /** The names of the users in the room (uid -> name), for the notices of moderation. */
  'names',
  /** Muted and kicked users: uid -> until (server ms). */
  'mutes',
  'kicks',
] as const

/** ARGV before the op's own arguments, in order. */
export const ROOM_SCRIPT_ARGS = [
  'op',
  /** An epoch never used before: the room's if it is created now, or its history went back. */
  'freshEpoch',
  /** The epoch and seq this process last delivered for the room ('' and 0: it does not follow it). */
  'knownEpoch',
  'knownSeq',
  'historySize',
  /** PUBLISH, or SPUBLISH on a cluster. */
  'publish',
  /** The room's channel (its hash tag: the room's slot). */
  'channel',
  /** Now, in ms. */
  'now',
  /** ',"room_id":<json>': spliced into every event. */
  'roomIdFragment',
  'roomId',
  /** '0': no dedup record. */
  'dedupTtlMs',
  /** The ok ack's head, closed with '}' by the script. */
  'ackHead',
  /** A room nobody configured expires sooner ('0' for a configured one). */
  'emptyRoomMs',
  'title',
  'anchorJson',
  'anchorUid',
  /** '0': never expire. */
  'idleRoomMs',
] as const

export type RoomScriptKeys = Record<(typeof ROOM_SCRIPT_KEYS)[number], string>
export type RoomScriptArgs = Record<(typeof ROOM_SCRIPT_ARGS)[number], string | number>

/** The script's arguments (numKeys, KEYS..., ARGV...) from named ones. */
export function roomScriptArgv(keys: RoomScriptKeys, args: RoomScriptArgs, opArgs: ReadonlyArray<string | number>): [number, ...Array<string | number>] {
  return [ROOM_SCRIPT_KEYS.length, ...ROOM_SCRIPT_KEYS.map((name) => keys[name]), ...ROOM_SCRIPT_ARGS.map((name) => args[name]), ...opArgs]
}

/** The Lua tables `K` and `A` the script reads its keys and fixed arguments from, by name. */
export const ROOM_SCRIPT_PRELUDE = [
  `local K = {${ROOM_SCRIPT_KEYS.map((name, i) => `${name} = KEYS[${i + 1}]`).join(', ')}}`,
  `local A = {${ROOM_SCRIPT_ARGS.map((name, i) => `${name} = ARGV[${i + 1}]`).join(', ')}}`,
  // The op's own arguments: P[1], P[2], ...
  `local P = {}`,
  `for i = ${ROOM_SCRIPT_ARGS.length + 1}, #ARGV do P[i - ${ROOM_SCRIPT_ARGS.length}] = ARGV[i] end`,
].join('\n')

/** A string as a JSON fragment. */
export const jsonString = (value: string): string => JSON.stringify(value)

/** The engine's settings the script is told on every call. */
export interface RoomScriptSettings {
  historySize: number
  dedupTtlMs: number
  emptyRoomMs: number
  idleRoomMs: number
  /** `PUBLISH`, or `SPUBLISH` on a cluster. */
  publish: 'PUBLISH' | 'SPUBLISH'
}

/** One call: the op, on which room, for which process (its members), under which command's dedup. */
export interface RoomScriptCall {
  roomId: string
  processId: string
  op: string
  freshEpoch: string
  /** What this process last delivered for the room, when it follows it. */
  known: { epoch: string; seq: number } | undefined
  now: number
  config: RoomConfig | undefined
  command: CommandKey | undefined
}

/** The script's whole argument list for one call. */
export function roomScriptCall(names: RedisKeys, call: RoomScriptCall, settings: RoomScriptSettings, opArgs: ReadonlyArray<string | number>): [number, ...Array<string | number>] {
  const keys = names.room(call.roomId)
  const { roomId, processId, command, config } = call
  const anchor = config?.anchor ?? { uid: '', name: '' }
  const scriptKeys: RoomScriptKeys = {
    meta: keys.meta,
    hist: keys.hist,
    online: keys.online,
    members: names.members(roomId, processId),
    subs: keys.subs,
    shelf: keys.shelf,
    shelfOrder: keys.shelfOrder,
    msgs: keys.msgs,
    likes: keys.likes,
    likeWindow: keys.likeWindow,
    dedup: command ? names.dedup(command.uid, command.msgId, roomId) : keys.noDedup,
    users: keys.users,
    names: keys.names,
    mutes: keys.mutes,
    kicks: keys.kicks,
  }
  const scriptArgs: RoomScriptArgs = {
    op: call.op,
    freshEpoch: call.freshEpoch,
    knownEpoch: call.known?.epoch ?? '',
    knownSeq: call.known?.seq ?? 0,
    historySize: settings.historySize,
    publish: settings.publish,
    channel: keys.channel,
    now: call.now,
    roomIdFragment: `,"room_id":${jsonString(roomId)}`,
    roomId,
    dedupTtlMs: command ? settings.dedupTtlMs : 0,
    ackHead: command ? `{"msg_type":"ack","msg_id":${jsonString(command.msgId)},"ok":true,"room_id":${jsonString(roomId)}` : '',
    emptyRoomMs: config === undefined ? settings.emptyRoomMs : 0,
    title: config?.title ?? roomId,
    anchorJson: JSON.stringify({ uid: anchor.uid, name: anchor.name }),
    anchorUid: anchor.uid,
    idleRoomMs: settings.idleRoomMs,
  }
  return roomScriptArgv(scriptKeys, scriptArgs, opArgs)
}

/** The script's reply: {'OK', event JSON or ''}, {'QUIET'}, {'NO', code, reason}, {'DUP', ack JSON}. */
export type ScriptReply = [string, string | number, string?, (string | number)?]

/** What a reply means to the engine's callers. */
export function resultOf(reply: ScriptReply): ApplyResult {
  switch (reply[0]) {
    case 'OK':
      return reply[1] === '' ? { ok: true } : { ok: true, event: JSON.parse(String(reply[1])) as RoomEvent }
    case 'QUIET':
      return { ok: true, quiet: true }
    case 'NO':
      return { ok: false, code: Number(reply[1]), reason: String(reply[2]), ...(reply[3] !== undefined ? { until: Number(reply[3]) } : {}) }
    case 'DUP':
      return { repeat: JSON.parse(String(reply[1])) as AckFrame }
    default:
      throw new Error(`unexpected reply from the room script: ${String(reply[0])}`)
  }
}
