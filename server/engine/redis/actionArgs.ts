import type { ShelfItem } from 'miniprogram-live-store/protocol'
import { MAX_MODERATED_USERS, MAX_SHELF_GOODS, type RoomAction } from '../../room'
import { followNotice, presenceNotice } from '../../roomNotices'
import { jsonString } from './roomScript'

/**
 * The room script's arguments for an action (past the fixed ones: the script's `P[1..]`). Events are
 * JSON fragments encoded here, so the script never decodes and re-encodes user data.
 */
export function scriptArgsOf(action: Exclude<RoomAction, { type: 'like' }>): Array<string | number> {
  switch (action.type) {
    case 'join': {
      const user = JSON.stringify(action.user)
      return [
        action.connId,
        user,
        action.anchor ? '1' : '0',
        `{"msg_type":"join","user":${user}`,
        `,"msg_content":${jsonString(presenceNotice(action.user.name, 'join'))}`,
        action.quietAbove === undefined ? '' : String(action.quietAbove),
      ]
    }
    case 'leave':
      return [action.connId, action.quietAbove === undefined ? '' : String(action.quietAbove)]
    case 'message':
      return [
        `{"msg_type":"message","msg_id":${jsonString(action.msgId)},"from_uid":${jsonString(action.user.uid)},"from_name":${jsonString(action.user.name)},"content":${jsonString(action.content)}`,
        action.user.uid,
      ]
    case 'delete_message':
      // The needles the script looks for in the history, encoded as the events were.
      return [
        action.targetMsgId,
        `"msg_id":${jsonString(action.targetMsgId)},`,
        `"target_msg_id":${jsonString(action.targetMsgId)},`,
        `{"msg_type":"message_deleted","target_msg_id":${jsonString(action.targetMsgId)},"by":${JSON.stringify(action.by)}`,
      ]
    case 'mute':
    case 'kick':
      return [action.uid, action.durationMs, JSON.stringify(action.by), MAX_MODERATED_USERS, jsonString(action.uid)]
    case 'subscribe': {
      const user = JSON.stringify(action.user)
      return [action.user.uid, `{"msg_type":"subscribe","user":${user}`, `,"msg_content":${jsonString(followNotice(action.user.name))}`]
    }
    case 'buy':
      return [action.goodsId, JSON.stringify(action.user), action.user.name]
    case 'shelf': {
      const item: ShelfItem = action.item
      const json = JSON.stringify(item)
      return [item.goods_id, item.status, json, `{"msg_type":"on_off_shelf",${json.slice(1, -1)}`, String(MAX_SHELF_GOODS)]
    }
    case 'room_state':
      return [action.status, action.title !== undefined ? '1' : '0', action.title ?? '']
    case 'presence': {
      const user = JSON.stringify(action.user)
      return [`{"msg_type":"${action.kind}","user":${user}`, `,"msg_content":${jsonString(presenceNotice(action.user.name, action.kind))}`]
    }
  }
}
