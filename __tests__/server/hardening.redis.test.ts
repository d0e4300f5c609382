import { createServer } from '../../server/server'
import { redisForThisFile } from '../helpers/redisServer'
import { SECRET } from './conformanceSuite'
import { hardeningSuite } from './hardeningSuite'

const redis = redisForThisFile()

let boots = 0
hardeningSuite('Redis', (options) => createServer({ port: 0, secret: SECRET, redis: { url: redis.url, prefix: `hard${++boots}` }, ...options }))
