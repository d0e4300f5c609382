import { DEFAULT_ROOM_FIELDS, liveRoomBehavior } from 'miniprogram-live-store'
import { catalogue, config } from '../../config'

// The anchor console: the goods catalogue with put on / take off, the live comments (long-press
// to delete one; mute or kick its author) and the latest purchases. Needs an anchor token for the
// room (or an admin's).
Component({
  behaviors: [
    liveRoomBehavior({
      fields: {
        ...DEFAULT_ROOM_FIELDS,
        onShelf: (room) => room.shelfStore.goods.map((g) => g.goods_id),
        purchases: (room) =>
          room.roomStore.notices
            .filter((n) => n.kind === 'buy')
            .slice(-10)
            .reverse(),
      },
    }),
  ],
  properties: {
    roomId: { type: String, value: config.roomId },
  },
  data: {
    catalogue,
  },
})
