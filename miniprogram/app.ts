import { createLiveClient, provideLiveClient } from 'miniprogram-live-store'
import { config } from './config'

// One client for the whole app: every page and component shares its one socket.
provideLiveClient(
  createLiveClient({
    url: config.url,
    token: () => config.token,
  }),
)

App({})
