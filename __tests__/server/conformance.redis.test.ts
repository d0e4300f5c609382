import { createServer } from '../../server/server'
import { redisForThisFile } from '../helpers/redisServer'
import { conformanceSuite, SECRET } from './conformanceSuite'

const redis = redisForThisFile()

// Every server gets keys of its own in the one Redis: tests do not see each other's rooms.
let boots = 0
conformanceSuite('Redis', (options) => createServer({ port: 0, secret: SECRET, redis: { url: redis.url, prefix: `conf${++boots}` }, ...options }))
