import { liveRoomBehavior } from 'miniprogram-live-store'
import { config } from '../../config'

// The viewer's room page. Everything on it is bound from the room's stores by the
// behavior; the page itself holds no state and never writes its own data.
Component({
  behaviors: [liveRoomBehavior()],
  properties: {
    // WeChat passes the page query (room_id=...) into properties; without one, the demo room.
    roomId: { type: String, value: config.roomId },
  },
})
