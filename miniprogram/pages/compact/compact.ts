import { describeConnection, livePage, liveRoomBehavior } from 'miniprogram-live-store'

// A compact viewer written with Page() (behaviors in Page need base library 2.9.2+): the room
// comes from the page query (pages/compact/compact?room_id=demo). livePage types `this` with the
// behavior's data and methods (WeChat's Page typings ignore behaviors). The page has its own
// onLoad and onUnload, which hide the behavior's: they call liveRoomLoad and liveRoomUnload.
livePage(
  liveRoomBehavior({
    fields: {
      title: (room) => room.roomStore.title,
      onlineNum: (room) => room.roomStore.onlineNum,
      likeNum: (room) => room.roomStore.likeNum,
      connectionText: (room) => describeConnection(room.roomStore.connection),
    },
    comments: { limit: 20 },
  }),
  {
    onLoad(query) {
      this.liveRoomLoad(query)
    },
    onUnload() {
      this.liveRoomUnload()
    },
  },
)
