import { createServer } from '../../server/server'
import { startRedis, type TestRedis } from '../helpers/redisServer'
import { conformanceSuite, SECRET } from './conformanceSuite'

let redis: TestRedis
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis?.stop()
})

// Every server gets keys of its own in the one Redis: tests do not see each other's rooms.
let boots = 0
conformanceSuite('Redis', (options) =>
  createServer({ port: 0, secret: SECRET, redis: { url: redis.url, prefix: `conf${++boots}` }, ...options }),
)
