// Pages as a team writes them, type-checked (never run): what must compile does, and each
// `@ts-expect-error` line is an error the typings must report (tsc fails when it is not one).
import { createLiveClient, livePage, liveRoomBehavior, provideLiveClient, type LiveRoomData } from 'miniprogram-live-store'

declare function fetchLiveToken(): Promise<string>
provideLiveClient(createLiveClient({ url: 'wss://live.example.com/ws', token: () => fetchLiveToken() }))

// Component() pages: WeChat's typings read the behavior's data, properties and methods.
Component({
  behaviors: [liveRoomBehavior()],
  data: { cheered: 0 },
  methods: {
    cheer() {
      const online: number = this.data.onlineNum
      const title: string = this.data.title
      const follow: boolean = this.data.commentsFollow
      const first = this.data.comments[0]
      const text: string = first === undefined ? '' : `${first.name}: ${first.content}`
      const room: string = this.data.room_id
      this.setData({ cheered: this.data.cheered + 1 })
      this.liveRoom()?.roomStore.like(online > 100 ? 3 : 1)
      const calls: number = this.liveSetDataStats().calls
      this.like()
      return [title, follow, text, room, calls]
    },
    wrong() {
      // @ts-expect-error onlineNum is a number
      const online: string = this.data.onlineNum
      // @ts-expect-error no such field
      const missing = this.data.onlinNum
      // @ts-expect-error no such method
      this.liveRoomLod()
      return [online, missing]
    },
  },
})

// Custom fields and a comment key: typed from the readers.
Component({
  behaviors: [liveRoomBehavior({ fields: { hot: (room) => room.roomStore.onlineNum > 1000, who: (room) => room.roomStore.anchor?.name ?? '' }, comments: { key: 'chat', limit: 50 } })],
  methods: {
    read() {
      const hot: boolean = this.data.hot
      const who: string = this.data.who
      const chat: LiveRoomData['comments'] = this.data.chat
      const unseen: boolean = this.data.chatUnseen
      // @ts-expect-error hot is a boolean
      const wrong: number = this.data.hot
      // @ts-expect-error custom fields replace the defaults
      const gone = this.data.onlineNum
      // @ts-expect-error the list is under its key
      const comments = this.data.comments
      return [hot, who, chat, unseen, wrong, gone, comments]
    },
  },
})

// Page() pages through livePage: the page's own hooks call the behavior's.
livePage(liveRoomBehavior({ comments: { limit: 20 } }), {
  data: { banner: '' },
  onLoad(query) {
    this.liveRoomLoad(query)
    const online: number = this.data.onlineNum
    this.setData({ banner: `${this.data.title} (${online})` })
    this.refresh()
  },
  onUnload() {
    this.liveRoomUnload()
  },
  refresh() {
    const banner: string = this.data.banner
    // @ts-expect-error likeNum is a number
    const likes: string = this.data.likeNum
    // @ts-expect-error no such field
    const nope = this.data.nope
    return [banner, likes, nope]
  },
})

// No comment list: no comment data.
livePage(liveRoomBehavior({ comments: false }), {
  onShow() {
    this.liveRoomShow()
    // @ts-expect-error comments: false binds no list
    const list = this.data.comments
    return list
  },
})

// The README's Page() example, as written there.
livePage(liveRoomBehavior({ fields: { hot: (room) => room.roomStore.onlineNum > 1000 } }), {
  onLoad(query) {
    this.liveRoomLoad(query) // a page's own onLoad hides the behavior's: call it
    if (this.data.hot) this.subscribe() // typed: hot is a boolean, subscribe() the behavior's
  },
})
