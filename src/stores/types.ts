import type { ShelfItem, UserRef } from '../protocol/frames'

/** One comment as pages show it. */
export interface CommentItem {
  /** The sender's `msg_id` (unique per sender), or `seq:<n>` for a comment without one. */
  id: string
  seq?: number
  uid: string
  name: string
  content: string
  ts: number
  /** `pending` until the server's broadcast (or ack) confirms it; `failed` when refused. */
  status: 'sent' | 'pending' | 'failed'
  /** Why the server refused it. */
  reason?: string
  /** Sent by this user. */
  own: boolean
}

/** The "entry train" banner: who came, who followed, who bought. */
export interface Notice {
  id: string
  kind: 'join' | 'leave' | 'subscribe' | 'buy'
  user: UserRef
  text: string
  ts: number
  goodsId?: string
}

export interface CommentStats {
  /** Comments that arrived (live, recovered or in a snapshot). */
  received: number
  /** Comments that made it into `comments`. */
  shown: number
  /** Comments thinned away in a hot room. */
  dropped: number
  /** Comments the room's anchor (or an admin) deleted after they were shown. */
  deleted: number
}

export type { ShelfItem, UserRef }
