import { describeConnection, liveRoomBehavior } from 'miniprogram-live-store'

// A compact viewer written with Page() (behaviors in Page need base library 2.9.2+): the room
// comes from the page query (pages/compact/compact?room_id=demo), the behavior's onLoad,
// onShow, onHide and onUnload join, resume, pause and release it. Fields are bound from the
// room's stores; the page writes no data of its own.
Page({
  behaviors: [
    liveRoomBehavior({
      fields: {
        title: (room) => room.roomStore.title,
        onlineNum: (room) => room.roomStore.onlineNum,
        likeNum: (room) => room.roomStore.likeNum,
        connectionText: (room) => describeConnection(room.roomStore.connection),
      },
      comments: { limit: 20 },
    }),
  ],
})
