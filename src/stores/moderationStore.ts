import { makeObservable, observable } from 'mobx-miniprogram'
import type { CommandInput } from '../connection/api'
import type { LiveClient } from '../connection/client'
import { type AckFrame, MAX_MODERATION_SECONDS } from '../protocol/frames'
import { type ActionState, trackAction } from './actionState'
import type { CommentStore } from './commentStore'

/** A uid and a duration the server takes (seconds from `least` to 30 days), or a TypeError saying what is. */
function check(name: string, uid: string, seconds: number, least: number): void {
  if (typeof uid !== 'string' || uid === '' || !Number.isInteger(seconds) || seconds < least || seconds > MAX_MODERATION_SECONDS) {
    throw new TypeError(`${name}: uid must be a non-empty string, seconds from ${least} to ${MAX_MODERATION_SECONDS}`)
  }
}

/**
 * The room's moderation, for its anchor or an admin (the server refuses anyone else with 4003):
 * delete a comment, mute or kick its author. Each action's course is kept by its target, so a
 * page can show a spinner, a tick or why it failed; what it does to the room arrives as room
 * events (`message_deleted` takes the comment out of `commentStore` for everyone, this page too).
 *
 * @example
 * const { moderationStore, commentStore } = room
 * const troll = commentStore.comments[0]
 * await moderationStore.deleteComment(troll.id)
 * await moderationStore.mute(troll.uid, 600) // 10 minutes; unmute(uid) lifts it
 * await moderationStore.kick(troll.uid, 3600) // out now, joins refused (4031) for an hour
 */
export class ModerationStore {
  /** The last delete of each comment, by comment id. */
  deletes: Record<string, ActionState> = {}
  /** The last mute or unmute of each user, by uid. */
  mutes: Record<string, ActionState> = {}
  /** The last kick of each user, by uid. */
  kicks: Record<string, ActionState> = {}
  /** Why the latest moderation action failed ('' when it did not): for a one-line banner. */
  error = ''

  constructor(
    private readonly client: LiveClient,
    readonly roomId: string,
    private readonly comments: CommentStore,
  ) {
    makeObservable(this, {
      deletes: observable.ref,
      mutes: observable.ref,
      kicks: observable.ref,
      error: observable,
    })
  }

  /**
   * Deletes a comment of the room for everyone (`delete_message`). `id` is the comment's id in
   * `commentStore` (its sender's `msg_id`); a comment from a backend that sent none cannot be named.
   */
  deleteComment(id: string): Promise<AckFrame> {
    // Not a sender's msg_id (a plain backend's comment), or not on the server yet: nothing to name.
    if (typeof id !== 'string' || id === '' || /^(seq|plain):/.test(id) || this.comments.byId(id)?.status === 'pending') {
      throw new TypeError(`deleteComment: ${id} is not a comment on the server`)
    }
    return this.track('deletes', id, { msg_type: 'delete_message', room_id: this.roomId, target_msg_id: id })
  }

  /** Mutes a user in the room for `seconds` (1 .. 30 days): their comments are refused with 4030. */
  mute(uid: string, seconds: number): Promise<AckFrame> {
    check('mute', uid, seconds, 1)
    return this.track('mutes', uid, { msg_type: 'mute', room_id: this.roomId, uid, duration_s: seconds })
  }

  /** Lifts a user's mute. */
  unmute(uid: string): Promise<AckFrame> {
    check('unmute', uid, 0, 0)
    return this.track('mutes', uid, { msg_type: 'mute', room_id: this.roomId, uid, duration_s: 0 })
  }

  /** Puts a user out of the room at once; their joins are refused (4031) for `seconds` (1 .. 30 days). */
  kick(uid: string, seconds: number): Promise<AckFrame> {
    check('kick', uid, seconds, 1)
    return this.track('kicks', uid, { msg_type: 'kick', room_id: this.roomId, uid, duration_s: seconds })
  }

  /** Sends the command; its course goes under `field[key]`, a failure's reason also into `error`. */
  private track(field: 'deletes' | 'mutes' | 'kicks', key: string, command: CommandInput): Promise<AckFrame> {
    return trackAction((state) => {
      this[field] = { ...this[field], [key]: state }
      this.error = state.reason ?? ''
    }, this.client.send(command))
  }
}
