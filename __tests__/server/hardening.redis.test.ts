import { createServer } from '../../server/server'
import { startRedis, type TestRedis } from '../helpers/redisServer'
import { SECRET } from './conformanceSuite'
import { hardeningSuite } from './hardeningSuite'

let redis: TestRedis
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis?.stop()
})

let boots = 0
hardeningSuite('Redis', (options) => createServer({ port: 0, secret: SECRET, redis: { url: redis.url, prefix: `hard${++boots}` }, ...options }))
