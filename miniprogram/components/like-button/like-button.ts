import { liveRoomBehavior } from 'miniprogram-live-store'

// A component that shows the same room as its page: it shares the page's stores and join
// (the behavior takes the room from the provided client's registry), and its setData budget.
// It binds no field of its own: the count it shows is the page's, passed as a property
// (`like-num="{{likeNum}}"`), so it rides in the page's setData instead of making a second
// stream of calls for the same number.
Component({
  behaviors: [liveRoomBehavior({ fields: {}, comments: false })],
  properties: {
    likeNum: { type: Number, value: 0 },
  },
})
