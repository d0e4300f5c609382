import { liveRoomBehavior } from 'miniprogram-live-store'

// A component that shows the same room as its page: it shares the page's stores and
// join (the behavior takes the room from the provided client's registry).
Component({
  behaviors: [
    liveRoomBehavior({
      fields: { likeNum: (room) => room.roomStore.likeNum },
      comments: false,
    }),
  ],
})
